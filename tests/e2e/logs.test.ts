/**
 * The coordinator's log lines, read from a real process's output: one line per request with reqId,
 * method, route, status, duration and the caller (actor or agentId); `x-request-id` on every
 * response names that line; operator writes and refusals at info, reads and successful gateway calls
 * at debug only; job results at debug, failed ones at info with jobId, credentialId and agentId; and
 * nowhere a secret.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { request } from 'undici';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  held,
} from '../support/fixtures.js';
import { api } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startCoordinator, stopAll, type CoordinatorProcess, type LogEntry } from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

let database: TestDatabase;
let coordinator: CoordinatorProcess;

beforeAll(async () => {
  database = await createTestDatabase('logs');
  coordinator = await startCoordinator(
    {
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: uniquePrefix('logs'),
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: newMasterKey(),
      RUN_SCHEDULER: 'false',
      LOG_LEVEL: 'debug',
    },
    { label: 'logs-coordinator' },
  );
}, 60_000);

afterAll(async () => {
  await stopAll();
  await database?.drop();
});

const entries = (): LogEntry[] =>
  coordinator
    .logs()
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEntry);

/** The request line of a request id (it is written once the response is sent). */
const lineOf = (reqId: string) =>
  waitFor(() => entries().find((e) => e.reqId === reqId && typeof e.route === 'string'), {
    timeoutMs: 5_000,
    message: `the log line of request ${reqId}`,
  }) as Promise<LogEntry>;

async function call(method: 'GET' | 'POST', path: string, body?: unknown, token = ADMIN_TOKEN) {
  const res = await request(`${coordinator.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await res.body.dump();
  const reqId = res.headers['x-request-id'];
  expect(typeof reqId).toBe('string');
  return { status: res.statusCode, reqId: reqId as string };
}

it('writes one line per request with its id, route, status, duration and caller; x-request-id names it', async () => {
  const write = await call('POST', '/api/v1/sites', { name: 'logs-site' });
  expect(write.status).toBe(201);
  expect(await lineOf(write.reqId)).toMatchObject({
    level: LEVEL.info,
    reqId: write.reqId,
    method: 'POST',
    route: '/api/v1/sites',
    status: 201,
    actor: 'bootstrap-admin',
    msg: 'POST /api/v1/sites 201',
  });
  expect(typeof (await lineOf(write.reqId)).durationMs).toBe('number');

  // Reads (the dashboard polls them) only at debug; the route is the pattern, never an id.
  const read = await call('GET', '/api/v1/summary');
  expect(await lineOf(read.reqId)).toMatchObject({
    level: LEVEL.debug,
    route: '/api/v1/summary',
    status: 200,
  });
  const one = await call('GET', '/api/v1/credentials/00000000-0000-4000-8000-000000000000');
  expect(await lineOf(one.reqId)).toMatchObject({
    level: LEVEL.info,
    route: '/api/v1/credentials/:id',
    status: 404,
  });

  // Refusals at info: a bad body, a bad token (no actor then).
  const bad = await call('POST', '/api/v1/sites', { name: '' });
  expect(bad.status).toBe(400);
  expect(await lineOf(bad.reqId)).toMatchObject({ level: LEVEL.info, status: 400 });
  const denied = await call('GET', '/api/v1/summary', undefined, 'not-the-right-token-at-all');
  expect(denied.status).toBe(401);
  const deniedLine = await lineOf(denied.reqId);
  expect(deniedLine).toMatchObject({ level: LEVEL.info, status: 401 });
  expect(deniedLine.actor).toBeUndefined();

  // A caller's own request id is kept (a proxy's), a malformed one replaced.
  const res = await request(`${coordinator.url}/healthz`, { headers: { 'x-request-id': 'proxy-abc.123' } });
  await res.body.dump();
  expect(res.headers['x-request-id']).toBe('proxy-abc.123');
  const odd = await request(`${coordinator.url}/healthz`, {
    headers: { 'x-request-id': 'has spaces <and> "quotes"' },
  });
  await odd.body.dump();
  expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
});

it('gateway calls at debug with the agent; job results at debug, failures at info with job, credential and agent', async () => {
  const admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
  const { id: siteId } = await createSite(admin, 'logs-jobs');
  const good = await createTarget(admin, siteId, {}, 'logs-good');
  const bad = await createTarget(admin, siteId, {}, 'logs-bad');
  const ok = await createCredential(admin, good, { password: 'ok-secret-7f3a' });
  const failing = await createCredential(admin, bad, { password: 'bad-secret-91c2' });
  const agent = await FakeAgent.enroll(coordinator.url, admin, siteId);
  const jobs = await agent.claim(2, 2000);
  expect(jobs).toHaveLength(2);
  const okJob = jobs.find((j) => j.credentialId === ok.id)!;
  const badJob = jobs.find((j) => j.credentialId === failing.id)!;
  await agent.report([held(okJob)]);
  await agent.report([held(badJob)], { outcome: 'failed', reason: 'mismatch', message: 'login refused' });

  const failed = await waitFor(() => entries().find((e) => e.msg === 'job failed'), {
    timeoutMs: 5_000,
    message: 'the failed job line',
  });
  expect(failed).toMatchObject({
    level: LEVEL.info,
    jobId: badJob.jobId,
    credentialId: failing.id,
    agentId: agent.agentId,
    siteId,
    kind: 'verify',
    reason: 'mismatch',
    message: 'login refused',
  });
  const result = entries().find((e) => e.msg === 'job result');
  expect(result).toMatchObject({
    level: LEVEL.debug,
    jobId: okJob.jobId,
    credentialId: ok.id,
    agentId: agent.agentId,
  });

  const gateway = entries().filter(
    (e) => typeof e.route === 'string' && String(e.route).startsWith('/agent/v1/'),
  );
  const claims = gateway.filter((e) => e.route === GATEWAY_PATHS.claim);
  expect(claims.length).toBeGreaterThan(0);
  for (const e of claims)
    expect(e).toMatchObject({ level: LEVEL.debug, agentId: agent.agentId, siteId, status: 200 });
  const claimed = entries().find((e) => e.msg === 'jobs claimed');
  expect(claimed).toMatchObject({ agentId: agent.agentId, jobIds: expect.arrayContaining([okJob.jobId]) });

  // No secret in any line, at any level.
  const text = coordinator.logs().join('\n');
  for (const secret of [ok.password, failing.password, ADMIN_TOKEN, agent.token])
    expect(text).not.toContain(secret);
  await expectStatus(admin.get('/summary'), 200);
});
