import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCoordinatorConfig } from '../../coordinator/config.js';
import { SyncError } from '../../shared/errors.js';
import { VERSION } from '../../shared/version.js';

const key = randomBytes(32).toString('base64');
const good = { COORDINATOR_ADMIN_TOKEN: 'a'.repeat(20), COORDINATOR_MASTER_KEY: key };

function errorOf(env: NodeJS.ProcessEnv): SyncError {
  try {
    loadCoordinatorConfig(env);
  } catch (err) {
    if (err instanceof SyncError) return err;
    throw err;
  }
  throw new Error('expected a configuration error');
}

describe('coordinator configuration', () => {
  it('applies the documented defaults', () => {
    const c = loadCoordinatorConfig(good);
    expect(c.PORT).toBe(8080);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.REDIS_REQUEST_TIMEOUT_MS).toBe(1000);
    expect(c.masterKey.key.length).toBe(32);
    // docs/sync-runs.md: a run item waits 10 minutes for an agent able to take it.
    expect(c.RUN_AGENT_WAIT_MS).toBe(600_000);
    expect(loadCoordinatorConfig({ ...good, RUN_AGENT_WAIT_MS: '1000' }).RUN_AGENT_WAIT_MS).toBe(1000);
    // docs/sync-runs.md: a run marks 1,000 credentials a transaction.
    expect(c.RUN_MARK_CHUNK).toBe(1000);
    // docs/alerts.md: events are kept 30 days.
    expect(c.ALERT_EVENT_RETENTION_MS).toBe(30 * 86_400_000);
  });

  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['REDIS_URL', { REDIS_URL: 'not a url' }],
    ['REDIS_REQUEST_TIMEOUT_MS', { REDIS_REQUEST_TIMEOUT_MS: '50' }],
    ['REDIS_REQUEST_TIMEOUT_MS', { REDIS_REQUEST_TIMEOUT_MS: 'soon' }],
    ['COORDINATOR_ADMIN_TOKEN', { COORDINATOR_ADMIN_TOKEN: 'short' }],
    ['COORDINATOR_MASTER_KEY', { COORDINATOR_MASTER_KEY: Buffer.alloc(16).toString('base64') }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['QUEUE_PREFIX', { QUEUE_PREFIX: 'has:colon' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'yes please' }],
    ['AGENT_MIN_VERSION', { AGENT_MIN_VERSION: '1.2' }],
    ['AGENT_MAX_VERSION', { AGENT_MAX_VERSION: 'latest' }],
    ['AGENT_MAX_VERSION', { AGENT_MIN_VERSION: '2.0.0', AGENT_MAX_VERSION: '1.9.9' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/33' }],
    ['TRUST_PROXY', { TRUST_PROXY: '0' }],
    ['METRICS_TOKEN', { METRICS_TOKEN: 'short' }],
    ['RUN_AGENT_WAIT_MS', { RUN_AGENT_WAIT_MS: '999' }],
    ['RUN_AGENT_WAIT_MS', { RUN_AGENT_WAIT_MS: 'ten minutes' }],
    ['RUN_MARK_CHUNK', { RUN_MARK_CHUNK: '99' }],
    ['REDIS_CLUSTER_NODES', { REDIS_CLUSTER_NODES: '10.0.0.1' }],
    ['REDIS_CLUSTER_NODES', { REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:99999' }],
    ['REDIS_CLUSTER_NODES', { REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000' }],
    ['REDIS_URL', { REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_URL: 'redis://10.0.0.1:7000/2' }],
    ['REDIS_SENTINELS', { REDIS_SENTINELS: 'a:26379', REDIS_CLUSTER_NODES: 'b:7000' }],
    ['REDIS_SENTINELS', { REDIS_SENTINELS: ',' }],
    ['REDIS_SENTINEL_NAME', { REDIS_SENTINELS: 'a:26379' }],
    ['REDIS_SENTINEL_NAME', { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'has space' }],
    ['REDIS_SENTINELS', { REDIS_SENTINEL_NAME: 'mymaster' }],
    ['ALERT_EVENT_RETENTION_MS', { ALERT_EVENT_RETENTION_MS: '60000' }],
    ['ALERT_EVENT_RETENTION_MS', { ALERT_EVENT_RETENTION_MS: 'a month' }],
    ['ALERT_EVENT_RETENTION_MS', { ALERT_EVENT_RETENTION_MS: '3600000', ALERT_FLAP_WINDOW_MS: '7200000' }],
    ['RUN_SCHEDULER', { RUN_SCHEDULER: 'maybe' }],
    ['DATABASE_CONNECT_TIMEOUT_MS', { DATABASE_CONNECT_TIMEOUT_MS: '99' }],
    ['DATABASE_QUERY_TIMEOUT_MS', { DATABASE_QUERY_TIMEOUT_MS: '999' }],
    // A file that holds no PEM: named at the start, not an OpenSSL error when listening.
    ['TLS_CERT_FILE', { TLS_CERT_FILE: 'package.json', TLS_KEY_FILE: 'package.json' }],
    ['ALERT_SMTP_CA_FILE', { ALERT_SMTP_CA_FILE: 'package.json' }],
  ])('names %s when it is wrong', (variable, patch) => {
    const err = errorOf({ ...good, ...patch });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(variable);
    expect(err.issues?.map((i) => i.field)).toContain(variable);
  });

  it('supports agents from the first compatible release up to its own version unless told otherwise', () => {
    const [major, minor] = VERSION.split('.').map(Number);
    const first = major! >= 1 ? `${major}.0.0` : `0.${minor}.0`;
    expect(loadCoordinatorConfig(good).agentVersions).toEqual({ min: first, max: VERSION, latest: VERSION });
    expect(
      loadCoordinatorConfig({ ...good, AGENT_MIN_VERSION: '0.0.1', AGENT_MAX_VERSION: '99.0.0' })
        .agentVersions,
    ).toEqual({ min: '0.0.1', max: '99.0.0', latest: VERSION });
  });

  it('connects to one Redis, a Redis Cluster or the master of a set of sentinels', () => {
    expect(loadCoordinatorConfig(good).redis).toEqual({ mode: 'single', url: 'redis://127.0.0.1:6379' });
    expect(
      loadCoordinatorConfig({
        ...good,
        REDIS_URL: 'rediss://app:secret@ignored:6379',
        REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-2.internal:7001,[fd00::3]:7002 ',
      }).redis,
    ).toEqual({
      mode: 'cluster',
      url: 'rediss://app:secret@ignored:6379',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-2.internal', port: 7001 },
        { host: 'fd00::3', port: 7002 },
      ],
    });
    expect(
      loadCoordinatorConfig({
        ...good,
        REDIS_SENTINELS: 's1:26379,s2:26379',
        REDIS_SENTINEL_NAME: 'pws-master',
        REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      }).redis,
    ).toEqual({
      mode: 'sentinel',
      url: 'redis://127.0.0.1:6379',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'pws-master',
      sentinelPassword: 'sentinel-secret',
    });
  });

  it('parses TRUST_PROXY as Fastify takes it (default: trust no proxy)', () => {
    expect(loadCoordinatorConfig(good).trustProxy).toBe(false);
    expect(loadCoordinatorConfig({ ...good, TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadCoordinatorConfig({ ...good, TRUST_PROXY: 'TRUE' }).trustProxy).toBe(true);
    expect(loadCoordinatorConfig({ ...good, TRUST_PROXY: 'False' }).trustProxy).toBe(false);
    expect(loadCoordinatorConfig({ ...good, TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(
      loadCoordinatorConfig({ ...good, TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,fd00::/8,loopback' }).trustProxy,
    ).toEqual(['10.0.0.0/8', '127.0.0.1', 'fd00::/8', 'loopback']);
  });

  it('takes a boolean in any case (docs/configuration.md "Allowed values")', () => {
    for (const [value, expected] of [
      ['FALSE', false],
      [' No ', false],
      ['True', true],
      ['YES', true],
      ['1', true],
    ] as const)
      expect(loadCoordinatorConfig({ ...good, RUN_SCHEDULER: value }).RUN_SCHEDULER).toBe(expected);
  });

  it('names a missing admin token and master key', () => {
    expect(errorOf({ COORDINATOR_MASTER_KEY: key }).message).toContain('COORDINATOR_ADMIN_TOKEN');
    expect(errorOf({ COORDINATOR_ADMIN_TOKEN: 'a'.repeat(20) }).message).toContain('COORDINATOR_MASTER_KEY');
  });

  it('never echoes a secret value in the message', () => {
    const err = errorOf({ ...good, COORDINATOR_MASTER_KEY: 'c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0' });
    expect(err.message).not.toContain('c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0');
  });

  describe('the master key is checked strictly: exactly 32 bytes in standard base64', () => {
    // Buffer.from(…, 'base64') skips what is not base64 and accepts the URL-safe alphabet: each of
    // these decoded to 32 bytes and was accepted before, as some key other than the one meant.
    const bytes = randomBytes(32);
    bytes[0] = 0xfb; // the first character is then '+' or '/' territory: base64url would differ
    const std = bytes.toString('base64');
    it.each([
      ['a character that is not base64 inside', `${std.slice(0, 20)}!${std.slice(20)}`],
      ['a space inside', `${std.slice(0, 20)} ${std.slice(20)}`],
      ['the URL-safe alphabet', bytes.toString('base64url')],
      ['the padding left off', std.replace(/=$/, '')],
      ['a key of 33 bytes', randomBytes(33).toString('base64')],
      ['a key of 31 bytes', randomBytes(31).toString('base64')],
      ['an empty value', ''],
    ])('refuses %s, naming COORDINATOR_MASTER_KEY', (_what, value) => {
      const err = errorOf({ ...good, COORDINATOR_MASTER_KEY: value });
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.issues?.map((i) => i.field)).toEqual(['COORDINATOR_MASTER_KEY']);
    });

    it('takes what openssl rand -base64 32 prints, surrounding whitespace included', () => {
      expect(loadCoordinatorConfig({ ...good, COORDINATOR_MASTER_KEY: ` ${std}\n` }).masterKey.key).toEqual(
        bytes,
      );
    });

    it('applies the same check to COORDINATOR_PREVIOUS_MASTER_KEYS and the key file', () => {
      const bad = `${std.slice(0, 20)}!${std.slice(20)}`;
      expect(errorOf({ ...good, COORDINATOR_PREVIOUS_MASTER_KEYS: `${key},${bad}` }).message).toContain(
        'COORDINATOR_PREVIOUS_MASTER_KEYS',
      );
      const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
      const file = join(dir, 'master.key');
      writeFileSync(file, `${bad}\n`);
      expect(
        errorOf({ COORDINATOR_ADMIN_TOKEN: 'a'.repeat(20), COORDINATOR_MASTER_KEY_FILE: file }).message,
      ).toContain('COORDINATOR_MASTER_KEY_FILE');
    });
  });

  it('reads the master key from COORDINATOR_MASTER_KEY_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'master.key');
    writeFileSync(file, `${key}\n`);
    const c = loadCoordinatorConfig({
      COORDINATOR_ADMIN_TOKEN: 'a'.repeat(20),
      COORDINATOR_MASTER_KEY_FILE: file,
    });
    expect(c.masterKey.key.toString('base64')).toBe(key);
    writeFileSync(file, 'garbage');
    expect(
      errorOf({ COORDINATOR_ADMIN_TOKEN: 'a'.repeat(20), COORDINATOR_MASTER_KEY_FILE: file }).message,
    ).toContain('COORDINATOR_MASTER_KEY_FILE');
  });
});
