import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig, plaintextWarning } from '../../agent/config.js';
import { SyncError } from '../../shared/errors.js';
import { createPki } from '../support/tls.js';

const base = { COORDINATOR_URL: 'https://coordinator.example:8443' };

const errorOf = (env: NodeJS.ProcessEnv): SyncError => {
  try {
    loadAgentConfig(env);
  } catch (err) {
    return err as SyncError;
  }
  throw new Error('expected a config error');
};

describe('agent config', () => {
  it('applies the defaults', () => {
    expect(loadAgentConfig(base)).toEqual({
      coordinatorUrl: 'https://coordinator.example:8443',
      enrollmentToken: undefined,
      stateDir: path.resolve('./.agent-state'),
      concurrency: 10,
      name: os.hostname(),
      perHostLimit: 4,
      claimWaitMs: 20_000,
      shutdownGraceMs: 20_000,
      reportFlushMs: 20,
      logLevel: 'info',
    });
  });

  it('takes numbers in digits only: 0x10, 1e2 and 12.0 are refused naming the variable', () => {
    for (const value of ['0x10', '1e2', '12.0', '-1', '1_000']) {
      const err = errorOf({ ...base, AGENT_CONCURRENCY: value });
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.message).toContain('AGENT_CONCURRENCY: expected a whole number (digits only)');
    }
    expect(loadAgentConfig({ ...base, AGENT_CONCURRENCY: ' 16 ' }).concurrency).toBe(16);
    expect(errorOf({ ...base, AGENT_CONCURRENCY: '1001' }).message).toContain('AGENT_CONCURRENCY');
  });

  it('reads every variable', () => {
    const config = loadAgentConfig({
      ...base,
      ENROLLMENT_TOKEN: 'pwe_AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789-abcd',
      AGENT_STATE_DIR: '/var/lib/sync-agent',
      AGENT_CONCURRENCY: '100',
      AGENT_NAME: 'dc1-agent',
      AGENT_PER_HOST_LIMIT: '2',
      AGENT_CLAIM_WAIT_MS: '5000',
      AGENT_SHUTDOWN_GRACE_MS: '1000',
      AGENT_REPORT_FLUSH_MS: '50',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      concurrency: 100,
      name: 'dc1-agent',
      stateDir: '/var/lib/sync-agent',
      logLevel: 'debug',
    });
  });

  it.each([
    [{}, 'COORDINATOR_URL'],
    [{ COORDINATOR_URL: 'ftp://x' }, 'COORDINATOR_URL'],
    [{ ...base, AGENT_CONCURRENCY: '0' }, 'AGENT_CONCURRENCY'],
    [{ ...base, AGENT_CONCURRENCY: '1001' }, 'AGENT_CONCURRENCY'],
    [{ ...base, AGENT_CONCURRENCY: 'ten' }, 'AGENT_CONCURRENCY'],
    [{ ...base, AGENT_CLAIM_WAIT_MS: '60000' }, 'AGENT_CLAIM_WAIT_MS'],
    [{ ...base, AGENT_PER_HOST_LIMIT: '-1' }, 'AGENT_PER_HOST_LIMIT'],
    [{ ...base, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ ...base, ENROLLMENT_TOKEN: 'short' }, 'ENROLLMENT_TOKEN'],
    // Not what syncctl sites token prints: an agent's own credential, a pasted header, quotes.
    [
      { ...base, ENROLLMENT_TOKEN: 'pwa_0f6c1d2e-8a4b-4c5d-9e6f-7a8b9c0d1e2f.abcdefghijklmnopqrstuvwxyz' },
      'ENROLLMENT_TOKEN',
    ],
    [{ ...base, ENROLLMENT_TOKEN: 'Bearer pwe_abcdefghijklmnopqrstuvwxyz' }, 'ENROLLMENT_TOKEN'],
    [{ ...base, ENROLLMENT_TOKEN: '"pwe_abcdefghijklmnopqrstuvwxyz"' }, 'ENROLLMENT_TOKEN'],
    [{ ...base, AGENT_TLS_CA_FILE: '/nonexistent/ca.pem' }, 'AGENT_TLS_CA_FILE'],
    [{ ...base, AGENT_TLS_CERT_FILE: '/nonexistent/agent.pem' }, 'AGENT_TLS_KEY_FILE'],
    [{ ...base, AGENT_TLS_KEY_FILE: '/nonexistent/agent.key' }, 'AGENT_TLS_CERT_FILE'],
  ])('%j: an error naming %s', (env, variable) => {
    const err = errorOf(env);
    expect(err).toBeInstanceOf(SyncError);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(`${variable}:`);
  });

  it('reads the TLS files at start-up: unreadable or not PEM stops it naming the variable', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'agent-tls-'));
    try {
      const pki = createPki();
      const client = pki.issue('agent', 'client');
      const loaded = loadAgentConfig({
        ...base,
        AGENT_TLS_CA_FILE: pki.caCert,
        AGENT_TLS_CERT_FILE: client.cert,
        AGENT_TLS_KEY_FILE: client.key,
      });
      expect(loaded.tls?.ca?.toString()).toBe(pki.pem(pki.caCert).toString());
      expect(loaded.tls?.key?.toString()).toContain('PRIVATE KEY');

      const notPem = path.join(dir, 'ca.txt');
      await writeFile(notPem, 'hello');
      expect(errorOf({ ...base, AGENT_TLS_CA_FILE: notPem }).message).toMatch(
        /AGENT_TLS_CA_FILE: .*ca\.txt holds no PEM certificate/,
      );
      expect(errorOf({ ...base, AGENT_TLS_CA_FILE: dir }).message).toMatch(/AGENT_TLS_CA_FILE: cannot read/);
      expect(errorOf({ ...base, AGENT_TLS_CA_FILE: '/nonexistent/ca.pem' }).message).toContain(
        'AGENT_TLS_CA_FILE: cannot read the file it names, /nonexistent/ca.pem (no such file)',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never echoes a value', () => {
    expect(errorOf({ ...base, ENROLLMENT_TOKEN: 'tiny' }).message).not.toContain('tiny');
  });
});

/** The real entry point, run with tsx: exit code and stderr. */
async function runMain(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const tsx = path.resolve('node_modules/.bin/tsx');
  const child = spawn(tsx, ['agent/main.ts'], { env: { PATH: process.env.PATH, ...env }, stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stderr };
}

describe('sync-agent start-up errors', () => {
  it('a bad variable: its name on stderr, exit 1', async () => {
    const { code, stderr } = await runMain({
      COORDINATOR_URL: 'http://127.0.0.1:9',
      AGENT_CONCURRENCY: 'many',
    });
    expect(code).toBe(1);
    expect(stderr).toContain('AGENT_CONCURRENCY');
  });

  it('first start without identity and ENROLLMENT_TOKEN: clear error, exit 1', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'agent-main-'));
    try {
      const { code, stderr } = await runMain({ COORDINATOR_URL: 'http://127.0.0.1:9', AGENT_STATE_DIR: dir });
      expect(code).toBe(1);
      expect(stderr).toContain('ENROLLMENT_TOKEN: required on the first start');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('plaintext HTTP to the coordinator', () => {
  it('is warned about unless the coordinator is on loopback', () => {
    for (const url of ['http://coordinator.example:8080', 'http://10.1.2.3', 'http://[2001:db8::1]:8080']) {
      expect(plaintextWarning(url), url).toMatch(/plain http:\/\/.*use https:\/\//);
    }
    for (const url of [
      'https://coordinator.example',
      'http://127.0.0.1:8080',
      'http://localhost',
      'http://[::1]:80',
    ]) {
      expect(plaintextWarning(url), url).toBeUndefined();
    }
  });
});
