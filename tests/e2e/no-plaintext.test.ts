/**
 * "No plaintext anywhere but memory" (issue 5): recognisable passwords go through verifications and
 * changes on the real processes at debug log level; afterwards a PostgreSQL dump, every Redis key and
 * value of the run, every log line of the coordinator and the agent, and the agent's state folder
 * are scanned: no password appears, neither the given ones nor the generated ones.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  createCredential,
  type CreatedCredential,
  createEnrollmentToken,
  createSite,
  createTarget,
  expectStatus,
  getCredential,
  waitForValue,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  startAgent,
  startCoordinator,
  stopAll,
  type CoordinatorProcess,
  type ManagedProcess,
} from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';

let database: TestDatabase;
let coordinator: CoordinatorProcess;
let agent: ManagedProcess;
let admin: ApiClient;
let stateDir: string;
const prefix = uniquePrefix('e2e-plaintext');

beforeAll(async () => {
  database = await createTestDatabase('e2e-plaintext');
  stateDir = mkdtempSync(join(tmpdir(), 'agent-state-'));
  coordinator = await startCoordinator(
    {
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: prefix,
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: newMasterKey(),
      LOG_LEVEL: 'trace',
    },
    { label: 'e2e-plaintext-coordinator' },
  );
  admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
}, 60_000);

afterAll(async () => {
  await stopAll();
  await database?.drop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

async function redisDump(url: string): Promise<string> {
  const redis = new Redis(url);
  const parts: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        parts.push(key);
        if (type === 'string') parts.push((await redis.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return parts.join('\n');
}

it('no password in PostgreSQL, Redis, logs at trace level, or the agent state folder', async () => {
  const site = await createSite(admin);
  agent = await startAgent(
    {
      COORDINATOR_URL: coordinator.url,
      ENROLLMENT_TOKEN: await createEnrollmentToken(admin, site.id),
      AGENT_STATE_DIR: stateDir,
      LOG_LEVEL: 'trace',
    },
    { label: 'e2e-plaintext-agent' },
  );
  const target = await createTarget(admin, site.id);
  const failing = await createTarget(admin, site.id, { failRate: 1, failReason: 'unreachable' });
  const given = Array.from({ length: 4 }, (_, i) => `Canary-Plaintext-${i}-${Date.now()}`);
  const creds: CreatedCredential[] = [];
  for (const [i, password] of given.entries()) {
    creds.push(await createCredential(admin, i === 3 ? failing : target, { password }));
  }
  // Verifications, then changes: a generated password and an operator-given one.
  await waitForValue(async () => (await getCredential(admin, creds[0]!.id)).status === 'in_sync');
  const operatorGiven = `Canary-Given-Change-${Date.now()}`;
  await expectStatus(admin.post(`/credentials/${creds[0]!.id}/change`, {}), 202);
  await expectStatus(admin.post(`/credentials/${creds[1]!.id}/change`, { password: operatorGiven }), 202);
  for (const c of creds.slice(0, 2)) {
    await waitForValue(async () => {
      const v = await getCredential(admin, c.id);
      return v.status === 'in_sync' && v.lastChangedAt !== null;
    });
  }
  await waitForValue(async () => (await getCredential(admin, creds[3]!.id)).status === 'out_of_sync');

  // The passwords now in force (generated ones included), read through the audited reveal.
  const current: string[] = [];
  for (const c of creds) {
    current.push(
      (await expectStatus<{ password: string }>(admin.get(`/credentials/${c.id}/password`), 200)).password,
    );
  }
  expect(current[1]).toBe(operatorGiven);
  const secrets = [...new Set([...given, ...current])];
  expect(secrets.length).toBeGreaterThanOrEqual(6);

  // Flush the agent's outbox and logs: a graceful stop.
  await agent.stop();
  const places: Record<string, string> = {
    'PostgreSQL dump': execFileSync('pg_dump', ['--data-only', database.url], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    }),
    Redis: await redisDump(inject('redisUrl')),
    'coordinator log': coordinator.logs().join('\n'),
    'agent log': agent.logs().join('\n'),
    'agent state folder': filesUnder(stateDir)
      .map((f) => `${f}\n${readFileSync(f, 'utf8')}`)
      .join('\n'),
  };
  expect(places['PostgreSQL dump']).toContain(creds[0]!.id); // the dump is real, with our rows in it
  expect(places.Redis!.length).toBeGreaterThan(0);
  expect(places['agent log']).toContain('"level":20'); // debug lines were written
  expect(places['coordinator log']).toContain('"level":20');
  const leaks = Object.entries(places).flatMap(([place, text]) =>
    secrets.filter((s) => text.includes(s)).map((s) => `${place} contains a password (${s.slice(0, 8)}…)`),
  );
  expect(leaks).toEqual([]);
}, 90_000);
