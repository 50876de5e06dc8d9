import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../agent/gateway.js';
import { JsonHttpClient } from '../../agent/http.js';
import { Outbox, outboxPath } from '../../agent/outbox.js';
import { Reporter } from '../../agent/reporter.js';
import { GATEWAY_PATHS, type ClaimedJob } from '../../shared/contracts/gateway.js';
import { jobIdFor } from '../../shared/contracts/jobs.js';
import { createLogger } from '../../shared/logger.js';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  waitForValue,
  type Held,
} from '../support/fixtures.js';
import { api } from '../support/http.js';
import { loginSiteConnection } from '../support/login-site.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

/**
 * Redis stopped, and Redis hanging (frozen with SIGSTOP: connections open, no answers): every route
 * of the route table (read from /openapi.json, so a route added later is called too) answers
 * within BOUND_MS, as it does with Redis up, except where its document says 503, which then
 * carries {error: {code: UNAVAILABLE, message}}. Then Redis comes back and the coordinator
 * recovers by itself: what was written meanwhile is queued and done, reports kept by the agent
 * are taken, the scheduler ticks, the stalled-job checker and the wake-up channel work again.
 */
const BOUND_MS = 3_000;

/** A web target's connection (login trials need one); nothing listens there: trials only queue. */
const WEB = loginSiteConnection('http://127.0.0.1:9');

let redis: PrivateRedis;
let c: InProcessCoordinator;

beforeAll(async () => {
  // Stopped and started again with its keys (an append-only file): a lock held before the outage
  // is still held after it, so a report the agent kept can be taken.
  redis = await startPrivateRedis({ persistent: true });
  c = await startInProcessCoordinator('redis-outage', redis.url, {
    // The real scheduler: its BullMQ worker and job schedulers must come back by themselves.
    RUN_SCHEDULER: 'true',
    SCHEDULER_TICK_MS: '500',
    // Not the reconciler: work written while Redis was down must be queued without it.
    RECONCILE_EVERY_MS: '3600000',
    STALLED_CHECK_MS: '1000',
    // Every 503 below is logged as an error, on purpose.
    LOG_LEVEL: 'fatal',
  });
});
afterAll(async () => {
  redis?.resume();
  await c?.close();
  await redis?.stop();
});

const uniq = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

/** A new sync group's body over two idle credentials (taken off the list). */
const groupBody = (idle: string[]) => ({
  name: uniq('group'),
  primaryCredentialId: idle.pop(),
  memberCredentialIds: [idle.pop()],
});

interface Operation {
  method: string;
  /** As in /openapi.json: `/api/v1/credentials/{id}`. */
  path: string;
  auth: string;
  hasBody: boolean;
  /** The status the route answers on success. */
  success: number;
  /** Documented (`x-redis-required`): the route may answer 503 while Redis is unreachable. */
  unavailable: boolean;
}

async function routeTable(): Promise<Operation[]> {
  type Op = {
    'x-required-role': string;
    'x-redis-required'?: boolean;
    requestBody?: unknown;
    responses: Record<string, unknown>;
  };
  const doc = await expectStatus<{ paths: Record<string, Record<string, Op>> }>(
    api(c.url).get('/openapi.json'),
    200,
  );
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      auth: op['x-required-role'],
      hasBody: op.requestBody !== undefined,
      success: Number(Object.keys(op.responses).find((s) => s.startsWith('2')) ?? 200),
      unavailable: op['x-redis-required'] === true,
    })),
  );
}

/** What the calls of one pass use: made while Redis is up, fresh for each pass (some calls revoke or delete). */
interface World {
  siteId: string;
  targetId: string;
  agent: FakeAgent;
  /** A job the agent holds (claimed before the outage). */
  held: Held;
  heldCredentialId: string;
  /** Idle, verified credentials: one per credential route, two for a new sync group. */
  idle: string[];
  groupId: string;
  policyId: string;
  runId: string;
  spareSiteId: string;
  spareAgentId: string;
  spareTokenId: string;
  spareEnrollmentTokenId: string;
  enrollmentToken: string;
  channelId: string;
  /** Another idle credential: the one a new dependency names. */
  chainedCredentialId: string;
  /**
   * The object of a route that needs one of its own, by route: one it deletes (the shared one is
   * used by later routes of the table), or one in a state of its own (an agent awaiting approval,
   * a credential with dependencies).
   */
  own: Record<string, string>;
  /** A web target of the spare site, one of its credentials, and a login trial of it. */
  trial: { targetId: string; credentialId: string; trialId: string };
}

async function makeWorld(credentialRoutes: number): Promise<World> {
  const admin = c.admin;
  const siteId = (await createSite(admin)).id;
  const targetId = await createTarget(admin, siteId);
  const agent = await FakeAgent.enroll(c.url, admin, siteId);
  const idle: string[] = [];
  // Two for the world's sync groups, two for a new one, one to chain to.
  for (let i = 0; i < credentialRoutes + 7; i++) idle.push((await createCredential(admin, targetId)).id);
  const first = await agent.claimAll(idle.length);
  expect(first).toHaveLength(idle.length);
  await agent.report(first.map(held));
  const newGroup = async () =>
    (await expectStatus<{ id: string }>(admin.post('/sync-groups', groupBody(idle)), 201)).id;
  const groupId = await newGroup();
  const heldCredentialId = (await createCredential(admin, targetId)).id;
  const [job] = await agent.claim(1, 2_000);
  expect(job?.credentialId).toBe(heldCredentialId);
  const policyId = (await expectStatus<{ id: string }>(admin.post('/policies', { name: uniq('p') }), 201)).id;
  const spareSiteId = (await createSite(admin)).id;
  const spareTarget = await createTarget(admin, spareSiteId);
  // A run that stays open (no agent of the spare site claims), so that it can still be cancelled.
  await createCredential(admin, spareTarget);
  const runId = (
    await expectStatus<{ id: string }>(
      admin.post('/sync-runs', { kind: 'verify', scope: { targetId: spareTarget } }),
      201,
    )
  ).id;
  const spareAgentId = (await FakeAgent.enroll(c.url, admin, spareSiteId)).agentId;
  const web = await expectStatus<{ id: string }>(
    admin.post('/targets', { siteId: spareSiteId, name: uniq('web'), kind: 'web', connection: WEB }),
    201,
  );
  const webCredentialId = (await createCredential(admin, web.id)).id;
  const trial = {
    targetId: web.id,
    credentialId: webCredentialId,
    trialId: (
      await expectStatus<{ id: string }>(
        admin.post(`/targets/${web.id}/login-trials`, { workflow: WEB.login, credentialId: webCredentialId }),
        202,
      )
    ).id,
  };
  const spareTokenId = (
    await expectStatus<{ id: string }>(admin.post('/tokens', { name: uniq('tok'), role: 'viewer' }), 201)
  ).id;
  const enrollment = () =>
    expectStatus<{ id: string; token: string }>(admin.post(`/sites/${siteId}/enrollment-tokens`, {}), 201);
  const spareEnrollmentTokenId = (await enrollment()).id;
  const enrollmentToken = (await enrollment()).token;
  const channel = () =>
    expectStatus<{ id: string }>(
      admin.post('/notification-channels', {
        kind: 'webhook',
        name: uniq('hook'),
        // Nothing listens: the test event's delivery fails at once and is retried later.
        webhook: { url: 'http://127.0.0.1:9/hook' },
      }),
      201,
    );
  const chainedCredentialId = idle.pop()!;
  const withDependency = async () => {
    const id = idle.pop()!;
    await expectStatus(
      admin.post(`/credentials/${id}/dependencies`, {
        dependencies: [{ kind: 'credential', name: uniq('chain'), credentialId: chainedCredentialId }],
      }),
      200,
    );
    return id;
  };
  const approving = await expectStatus<{ id: string }>(
    admin.post('/sites', { name: uniq('approving'), requireApproval: true }),
    201,
  );
  const own: Record<string, string> = {
    'DELETE /api/v1/sites/{id}': (await createSite(admin)).id,
    'DELETE /api/v1/targets/{id}': await createTarget(admin, spareSiteId),
    'DELETE /api/v1/policies/{id}': (
      await expectStatus<{ id: string }>(admin.post('/policies', { name: uniq('p') }), 201)
    ).id,
    'DELETE /api/v1/sync-groups/{id}': await newGroup(),
    // The spare agent is revoked earlier in the table.
    'PATCH /api/v1/agents/{id}': agent.agentId,
    'POST /api/v1/agents/{id}/deny': (await FakeAgent.enroll(c.url, admin, approving.id)).agentId,
    'DELETE /api/v1/notification-channels/{id}': (await channel()).id,
    'POST /api/v1/credentials/{id}/dependencies/check': await withDependency(),
    'POST /api/v1/credentials/{id}/dependencies/retry': await withDependency(),
    'POST /api/v1/targets/{id}/login-trials': trial.targetId,
    'GET /api/v1/targets/{id}/login-trials/{trialId}': trial.targetId,
  };
  return {
    siteId,
    targetId,
    agent,
    held: held(job!),
    heldCredentialId,
    idle,
    groupId,
    policyId,
    runId,
    spareSiteId,
    spareAgentId,
    spareTokenId,
    spareEnrollmentTokenId,
    enrollmentToken,
    channelId: (await channel()).id,
    chainedCredentialId,
    own,
    trial,
  };
}

/** A request body that the route accepts, for every route that takes one. */
const BODIES: Record<string, (w: World) => unknown> = {
  'POST /api/v1/sites': () => ({ name: uniq('site') }),
  'POST /api/v1/sites/{id}/enrollment-tokens': () => ({}),
  'POST /api/v1/targets': (w) => ({ siteId: w.siteId, name: uniq('t'), kind: 'simulated', connection: {} }),
  'PATCH /api/v1/targets/{id}': () => ({ name: uniq('renamed') }),
  'POST /api/v1/targets/{id}/login-trials': (w) => ({
    workflow: WEB.login,
    credentialId: w.trial.credentialId,
  }),
  'POST /api/v1/credentials': (w) => ({ targetId: w.targetId, username: uniq('u'), password: uniq('pw') }),
  'POST /api/v1/credentials/{id}/change': () => ({}),
  'PATCH /api/v1/credentials/{id}': () => ({ syncEnabled: true }),
  'POST /api/v1/credentials/bulk': (w) => ({ action: 'verify', ids: [w.idle.pop()] }),
  'POST /api/v1/sync-runs': (w) => ({ kind: 'verify', scope: { siteId: w.siteId } }),
  'POST /api/v1/policies': () => ({ name: uniq('policy') }),
  'POST /api/v1/sync-groups': (w) => groupBody(w.idle),
  'POST /api/v1/sync-groups/{id}/change': () => ({}),
  'POST /api/v1/tokens': () => ({ name: uniq('token'), role: 'viewer' }),
  'PATCH /api/v1/sites/{id}': () => ({ name: uniq('renamed') }),
  'PATCH /api/v1/agents/{id}': () => ({ name: uniq('agent') }),
  'POST /api/v1/credentials/batch': (w) => ({
    items: [{ targetId: w.targetId, username: uniq('u'), password: uniq('pw') }],
  }),
  'POST /api/v1/credentials/{id}/dependencies': (w) => ({
    dependencies: [{ kind: 'credential', name: uniq('chain'), credentialId: w.chainedCredentialId }],
  }),
  'POST /api/v1/credentials/{id}/dependencies/retry': () => ({}),
  'POST /api/v1/credentials/{id}/stored-password': () => ({ password: uniq('pw') }),
  'PATCH /api/v1/policies/{id}': () => ({ verifyIntervalSeconds: 7200 }),
  'PATCH /api/v1/sync-groups/{id}': () => ({ name: uniq('group') }),
  'POST /api/v1/notification-channels': () => ({
    kind: 'webhook',
    name: uniq('hook'),
    webhook: { url: 'http://127.0.0.1:9/hook' },
  }),
  'PATCH /api/v1/notification-channels/{id}': () => ({ name: uniq('renamed'), rotateSecret: true }),
  [`POST ${GATEWAY_PATHS.enroll}`]: (w) => ({
    enrollmentToken: w.enrollmentToken,
    name: uniq('agent'),
    host: 'test-host',
    version: 'test',
    adapters: ['simulated'],
    concurrency: 1,
  }),
  [`POST ${GATEWAY_PATHS.heartbeat}`]: () => ({ inFlight: 1 }),
  [`POST ${GATEWAY_PATHS.claim}`]: () => ({ max: 10, waitMs: 0 }),
  [`POST ${GATEWAY_PATHS.extend}`]: (w) => ({ jobs: [w.held] }),
  // With its next claim: a report that cannot be answered hands out no job (none left locked).
  [`POST ${GATEWAY_PATHS.report}`]: (w) => ({
    results: [{ ...w.held, result: { outcome: 'ok' }, durationMs: 5 }],
    claim: { max: 5 },
  }),
  [`POST ${GATEWAY_PATHS.release}`]: (w) => ({ jobs: [w.held] }),
};

/** The object a route's `{id}` names: its own, or the one of the resource it follows. */
function idFor(method: string, path: string, w: World): string {
  const own = w.own[`${method} ${path}`];
  if (own) return own;
  const resource = /\/([a-z-]+)\/\{id\}/.exec(path)?.[1];
  switch (resource) {
    case 'sites':
      return w.spareSiteId;
    case 'agents':
      return w.spareAgentId;
    case 'enrollment-tokens':
      return w.spareEnrollmentTokenId;
    case 'targets':
      return w.targetId;
    case 'credentials': {
      // Each credential route gets a credential of its own (delete, disable, change…).
      const id = w.idle.pop();
      if (!id) throw new Error(`more credential routes than credentials: ${path}`);
      return id;
    }
    case 'sync-runs':
      return w.runId;
    case 'policies':
      return w.policyId;
    case 'sync-groups':
      return w.groupId;
    case 'tokens':
      return w.spareTokenId;
    case 'notification-channels':
      return w.channelId;
    default:
      throw new Error(`no object for ${path}: add one to idFor()`);
  }
}

/** The agent's real reporter and outbox (agent/reporter.ts), talking to the coordinator over HTTP. */
function realReporter(agentToken: string) {
  const dir = mkdtempSync(join(tmpdir(), 'redis-outage-agent-'));
  const http = new JsonHttpClient(c.url, 'test-agent');
  const client = new GatewayClient(http);
  client.setAgentToken(agentToken);
  const outbox = new Outbox(outboxPath(dir));
  const reporter = new Reporter({
    client,
    outbox,
    log: createLogger('test-agent', 'silent'),
    flushMs: 10,
    retryBaseMs: 200,
    retryCapMs: 1_000,
  });
  return {
    reporter,
    outbox,
    close: async () => {
      await reporter.close(1_000);
      await http.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Answer {
  op: Operation;
  /** The path called, ids in place. */
  url: string;
  status: number | 'no answer';
  ms: number;
  body: unknown;
}

async function call(op: Operation, w: World): Promise<Answer> {
  const key = `${op.method} ${op.path}`;
  const path = op.path
    .replace('{id}', () => idFor(op.method, op.path, w))
    .replace('{trialId}', () => w.trial.trialId);
  const makeBody = BODIES[key];
  const token = ['agent', 'agent-identified'].includes(op.auth)
    ? w.agent.token
    : ['viewer', 'operator', 'admin'].includes(op.auth)
      ? ADMIN_TOKEN
      : undefined;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (makeBody) headers['content-type'] = 'application/json';
  const started = performance.now();
  try {
    const res = await request(`${c.url}${path}`, {
      method: op.method as 'GET',
      headers,
      body: makeBody ? JSON.stringify(makeBody(w)) : null,
      // Today's hang must fail the test, not hold it.
      signal: AbortSignal.timeout(BOUND_MS + 1_000),
    });
    const text = await res.body.text();
    const body: unknown = text.startsWith('{') ? JSON.parse(text) : text;
    return { op, url: path, status: res.statusCode, ms: performance.now() - started, body };
  } catch {
    return { op, url: path, status: 'no answer', ms: performance.now() - started, body: null };
  }
}

async function callAll(ops: Operation[], w: World): Promise<Map<string, Answer>> {
  const answers = new Map<string, Answer>();
  for (const op of ops) answers.set(`${op.method} ${op.path}`, await call(op, w));
  return answers;
}

const describeAnswer = (a: Answer) =>
  `${a.op.method} ${a.op.path}: ${a.status} in ${Math.round(a.ms)} ms ${JSON.stringify(a.body).slice(0, 200)}`;

/**
 * Every route answered within the bound, as it did with Redis up (`baseline`), but where its
 * document says 503 (it may then answer 503 with the UNAVAILABLE error body, never 500).
 */
function expectAnswered(answers: Map<string, Answer>, baseline: Map<string, Answer>): void {
  const wrong: string[] = [];
  for (const [key, a] of answers) {
    const before = baseline.get(key)!;
    const slow = a.ms > BOUND_MS;
    const asBefore = a.status === before.status;
    const body = a.body as { error?: { code?: unknown; message?: unknown }; redis?: unknown };
    const unavailable =
      a.op.unavailable &&
      a.status === 503 &&
      (a.op.path === '/readyz'
        ? body.redis === false
        : body.error?.code === 'UNAVAILABLE' && typeof body.error.message === 'string');
    if (slow || !(asBefore || unavailable)) wrong.push(describeAnswer(a));
  }
  expect(wrong).toEqual([]);
}

const readyz = () => api(c.url).get<{ ok: boolean; redis: boolean }>('/readyz');

async function waitReady(): Promise<void> {
  await waitForValue(async () => (await readyz()).status === 200, {
    timeoutMs: 15_000,
    message: '/readyz to answer 200 once Redis is back',
  });
}

let ops: Operation[];
let baseline: Map<string, Answer>;
const credentialRoutes = () => ops.filter((o) => /\/credentials\/(\{id\}|bulk$)/.test(o.path)).length;

beforeAll(async () => {
  ops = await routeTable();
  baseline = await callAll(ops, await makeWorld(credentialRoutes()));
});

describe('with Redis up', () => {
  it('every route of the route table has a sample request, and answers its success status', () => {
    expect(ops.length).toBeGreaterThan(50);
    const withoutSample = ops
      .filter((o) => o.hasBody && !BODIES[`${o.method} ${o.path}`])
      .map((o) => `${o.method} ${o.path}`);
    // A route added later needs a body here: this test then calls it with Redis down too.
    expect(withoutSample).toEqual([]);
    const failed = [...baseline.values()].filter((a) => a.status !== a.op.success).map(describeAnswer);
    expect(failed).toEqual([]);
    // The gateway calls that need Redis say so in their document; the operator API never does.
    const documented = ops.filter((o) => o.unavailable).map((o) => `${o.method} ${o.path}`);
    expect(documented.sort()).toEqual(
      [
        'GET /readyz',
        `POST ${GATEWAY_PATHS.extend}`,
        `POST ${GATEWAY_PATHS.release}`,
        `POST ${GATEWAY_PATHS.report}`,
      ].sort(),
    );
  });
});

describe('with Redis stopped', () => {
  it('every route answers within the bound; writes commit; then the work is queued and done once Redis is back', async () => {
    const w = await makeWorld(credentialRoutes());
    const agent = realReporter(w.agent.token);
    await redis.down();
    let answers: Map<string, Answer>;
    try {
      answers = await callAll(ops, w);
      // The agent's own reporter gets the 503 and keeps the result in its outbox file.
      agent.reporter.enqueue({ ...w.held, result: { outcome: 'ok' }, durationMs: 5 });
      await waitFor(async () => (await agent.outbox.load()).items.length === 1, {
        timeoutMs: 5_000,
        message: 'the result to be kept in the outbox',
      });
    } finally {
      await redis.up();
    }
    expectAnswered(answers, baseline);

    const at = (key: string) => answers.get(key)!;
    const overview = at('GET /api/v1/overview').body as { buckets: { jobsFrom: string } };
    expect(overview.buckets.jobsFrom).toBe('database');
    expect(at('GET /readyz').body).toMatchObject({ ok: false, postgres: true, redis: false });
    expect(at(`POST ${GATEWAY_PATHS.claim}`).body).toEqual({ jobs: [] });
    for (const path of [GATEWAY_PATHS.report, GATEWAY_PATHS.extend, GATEWAY_PATHS.release])
      expect(at(`POST ${path}`).status, path).toBe(503);
    // The new credential is committed (a client that retried would get 409): its verification is
    // owed, and pending in PostgreSQL.
    const created = at('POST /api/v1/credentials').body as { id: string; status: string };
    expect(created.status).toBe('pending_sync');
    const changed = /credentials\/([^/]+)\/change/.exec(at('POST /api/v1/credentials/{id}/change').url)![1]!;
    const before = await getCredential(c.admin, changed);
    expect(before.status).toBe('pending_sync');

    await waitReady();
    // The result kept in the outbox is delivered and taken (the job's lock was still the agent's).
    try {
      await waitFor(
        async () => agent.reporter.backlog === 0 && (await agent.outbox.load()).items.length === 0,
        {
          timeoutMs: 10_000,
          message: 'the outbox to be delivered',
        },
      );
    } finally {
      await agent.close();
    }
    expect((await getCredential(c.admin, w.heldCredentialId)).status).toBe('in_sync');

    // What was written while Redis was down reaches the queue, without the reconciler (it runs
    // once an hour here), and the agent does it.
    const owed = [jobIdFor('verify', created.id), jobIdFor('change', changed)];
    const claimed = new Map<string, ClaimedJob>();
    await waitForValue(
      async () => {
        for (const job of await w.agent.claim(50, 500)) claimed.set(job.jobId, job);
        return owed.every((id) => claimed.has(id));
      },
      { timeoutMs: 15_000, message: `jobs ${owed.join(', ')} to be claimable once Redis is back` },
    );
    await w.agent.report([...claimed.values()].map(held));
    expect((await getCredential(c.admin, created.id)).status).toBe('in_sync');
    const after = await getCredential(c.admin, changed);
    expect(after.status).toBe('in_sync');
    expect(before.lastChangedAt).toBeNull();
    expect(after.lastChangedAt).not.toBeNull();
  }, 120_000);

  it('the coordinator recovers by itself: scheduler ticks, stalled-job checker, wake-up channel', async () => {
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const a = await createCredential(c.admin, targetId);
    const b = await createCredential(c.admin, targetId);
    await agent.report((await agent.claimAll(2)).map(held));
    await redis.down();
    await redis.up();
    await waitReady();

    // The scheduler's tick (a BullMQ job scheduler run by its worker) queues due work again.
    await c.ctx.db.query(
      `UPDATE credentials SET next_verify_at = now() - interval '1 minute' WHERE id = $1`,
      [a.id],
    );
    const [due] = await agent.claim(1, 10_000);
    expect(due?.credentialId).toBe(a.id);

    // The stalled-job checker gives a job whose lock is gone back to the queue.
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const key = `${c.ctx.queues.get(siteId).queue.toKey(due!.jobId)}:lock`;
      expect(await raw.del(key)).toBe(1);
      const again = await waitForValue(async () => (await agent.claim(1, 1_000))[0], {
        timeoutMs: 10_000,
        message: 'the stalled job to be claimable again',
      });
      expect(again.jobId).toBe(due!.jobId);
      await agent.report([held(again)]);

      // Claims long-polling on any replica wake on a message of the wake-up channel.
      const started = performance.now();
      const woken = c.ctx.wake.wait(siteId, 10_000);
      await waitForValue(async () => (await raw.publish(`${c.prefix}:wake`, siteId)) > 0, {
        timeoutMs: 10_000,
        message: 'the wake-up channel to be subscribed again',
      });
      await woken;
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      raw.disconnect();
    }
    expect((await getCredential(c.admin, b.id)).status).toBe('in_sync');
  });
});

describe('with Redis hanging', () => {
  it('every route answers within the bound while Redis accepts connections and answers nothing', async () => {
    const w = await makeWorld(credentialRoutes());
    redis.pause();
    let answers: Map<string, Answer>;
    try {
      answers = await callAll(ops, w);
    } finally {
      redis.resume();
    }
    expectAnswered(answers, baseline);
    await waitReady();
    // The credential created meanwhile gets its verification queued, and an agent gets it: the
    // claim that stopped waiting took nothing once Redis went on (no job waits for a lock to expire).
    const created = answers.get('POST /api/v1/credentials')!.body as { id: string };
    const owed = jobIdFor('verify', created.id);
    const claimed = new Set<string>();
    await waitForValue(
      async () => {
        for (const job of await w.agent.claim(50, 500)) claimed.add(job.jobId);
        return claimed.has(owed);
      },
      { timeoutMs: 10_000, message: `job ${owed} to be claimable once Redis goes on` },
    );
    // The report answered 503 was taken by Redis when it went on: applied, not lost.
    await waitForValue(async () => (await getCredential(c.admin, w.heldCredentialId)).status === 'in_sync', {
      timeoutMs: 10_000,
      message: 'the result taken late to be applied',
    });
  }, 120_000);
});
