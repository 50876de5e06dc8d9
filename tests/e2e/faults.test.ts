/**
 * The change protocol under faults, with the real `sync-coordinator` process, agents built from the
 * real Agent class, a private Redis (restarted, and once wiped with FLUSHALL), and real PostgreSQL
 * roles in a private cluster (scram-sha-256, `passwordcheck` preloaded) as targets.
 *
 * Every agent kill lands at a known point of the changes it interrupts, and the test checks the
 * target at that point before anything recovers:
 * - before the change statement, and right after it succeeded (ALTER ROLE committed) but before the
 *   report: the test-only fault agent (tests/support/fault-agent.ts, the real agent with its service
 *   adapter wrapped; no hook in the shipped binary) gathers the round's 16 changes at the point and
 *   SIGKILLs itself;
 * - during the report: a proxy between agents and coordinator (tests/support/gateway-proxy.ts)
 *   SIGKILLs the agent while its report of the changes is on its way (the coordinator never sees
 *   it), or after the coordinator took it and before the answer reaches the agent.
 * Some rounds add Redis wiped or restarted, or the coordinator killed and restarted, at that point.
 * Afterwards every credential converges and the password the API returns logs in to its role.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView, PolicyView, SyncRunView } from '../../shared/contracts/api.js';
import { masterKeyFromBase64, SecretBox } from '../../shared/crypto.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import { startPostgresCluster, type PostgresCluster, type PostgresRole } from '../support/databases.js';
import {
  FAULT_AGENT_SCRIPT,
  FaultLineSchema,
  type FaultLine,
  type FaultPoint,
} from '../support/fault-points.js';
import {
  createEnrollmentToken,
  createSite,
  expectStatus,
  FakeAgent,
  getCredential,
  getSyncRun,
  held,
  listCredentials,
} from '../support/fixtures.js';
import { startGatewayProxy, type GatewayProxy, type ReportFault } from '../support/gateway-proxy.js';
import { api, type ApiClient } from '../support/http.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  startAgent,
  startCoordinator,
  stopAll,
  type CoordinatorProcess,
  type ManagedProcess,
} from '../support/processes.js';
import { startPrivateRedis, uniquePrefix, type PrivateRedis } from '../support/redis.js';
import { sleep, waitFor } from '../support/wait.js';

const CREDENTIALS = 16;

/** Where a round's kill lands, and what else goes wrong at that moment. */
interface Round {
  kill: FaultPoint | `report-${ReportFault}`;
  also?: 'redis-wipe' | 'redis-restart' | 'coordinator-restart';
}
const ROUNDS: Round[] = [
  { kill: 'before-change' },
  { kill: 'after-change' },
  { kill: 'report-unanswered' },
  { kill: 'report-lost' },
  { kill: 'after-change', also: 'redis-wipe' },
  { kill: 'before-change', also: 'redis-restart' },
  { kill: 'after-change', also: 'coordinator-restart' },
];
const REQUESTED = CREDENTIALS * ROUNDS.length;

let cluster: PostgresCluster;
let redis: PrivateRedis;
let database: TestDatabase;
let coordinator: CoordinatorProcess;
let coordinatorEnv: Record<string, string>;
let proxy: GatewayProxy;
let box: SecretBox;
let admin: ApiClient;
let siteId: string;
let targetId: string;
const roles = new Map<string, PostgresRole>(); // credential id → role
const agentDirs: string[] = [];
const agents: (ManagedProcess | undefined)[] = [];
/** Changes in flight at each kill point, over all rounds. */
const atPoint = { 'before-change': 0, 'after-change': 0, 'during-report': 0 };
let otherFaults = 0;

interface AgentLaunch {
  enroll?: boolean;
  /** Runs the fault agent, armed to kill itself with the round's changes at this point. */
  fault?: FaultPoint;
  reportFlushMs?: number;
}

async function launchAgent(i: number, opts: AgentLaunch = {}): Promise<void> {
  agents[i] = await startAgent(
    {
      COORDINATOR_URL: proxy.url,
      ...(opts.enroll ? { ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId) } : {}),
      AGENT_STATE_DIR: agentDirs[i]!,
      AGENT_NAME: `faults-agent-${i}`,
      AGENT_CONCURRENCY: String(CREDENTIALS),
      AGENT_PER_HOST_LIMIT: String(CREDENTIALS),
      AGENT_CLAIM_WAIT_MS: '1000',
      AGENT_REPORT_FLUSH_MS: String(opts.reportFlushMs ?? 200),
      AGENT_SHUTDOWN_GRACE_MS: '500',
      LOG_LEVEL: 'info',
      ...(opts.fault
        ? { FAULT_POINT: opts.fault, FAULT_BATCH: String(CREDENTIALS), FAULT_WAIT_MS: '3000' }
        : {}),
    },
    {
      label: `faults-agent-${i}${opts.fault ? `-${opts.fault}` : ''}`,
      ...(opts.fault ? { script: FAULT_AGENT_SCRIPT } : {}),
    },
  );
}

async function launchCoordinator(): Promise<void> {
  coordinator = await startCoordinator(coordinatorEnv, { label: 'faults-coordinator' });
}

beforeAll(async () => {
  [cluster, redis, database] = await Promise.all([
    startPostgresCluster({ preload: ['passwordcheck'] }),
    startPrivateRedis(),
    createTestDatabase('faults'),
  ]);
  const masterKey = newMasterKey();
  box = new SecretBox(masterKeyFromBase64(masterKey));
  coordinatorEnv = {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: uniquePrefix('faults'),
    PORT: String(await freePort()),
    COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
    COORDINATOR_MASTER_KEY: masterKey,
    LOG_LEVEL: 'warn',
    JOB_LOCK_MS: '5000',
    STALLED_CHECK_MS: '1000',
    RECONCILE_EVERY_MS: '2000',
    RECONCILE_GRACE_MS: '2000',
    SCHEDULER_TICK_MS: '250',
    RETRY_LIMIT: '50',
    SUSPEND_AFTER_FAILURES: '1000',
  };
  await launchCoordinator();
  // The coordinator keeps its port across restarts: the proxy's target stays the same.
  proxy = await startGatewayProxy(coordinator.url);
  admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
  siteId = (await createSite(admin)).id;
  targetId = (
    await expectStatus<{ id: string }>(
      admin.post('/targets', {
        siteId,
        name: 'faults-postgres',
        kind: 'service',
        connection: { driver: 'postgres', host: cluster.host, port: cluster.port, connectTimeoutMs: 3000 },
      }),
      201,
    )
  ).id;
  for (let i = 0; i < 2; i++) agentDirs.push(mkdtempSync(join(tmpdir(), `test-faults-agent-${i}-`)));
  await Promise.all([launchAgent(0, { enroll: true }), launchAgent(1, { enroll: true })]);
  // Several accounts on one target: every credential is a real role of the cluster.
  for (let i = 0; i < CREDENTIALS; i++) {
    const role = await cluster.createRole({ prefix: 'fault' });
    const { id } = await expectStatus<{ id: string }>(
      admin.post('/credentials', { targetId, username: role.name, password: role.password }),
      201,
    );
    roles.set(id, role);
  }
  await converged('first verification');
}, 120_000);

afterAll(async () => {
  await stopAll();
  await proxy?.close();
  await Promise.all([...roles.values()].map((r) => r.drop().catch(() => undefined)));
  await cluster?.stop();
  await redis?.stop();
  await database?.drop();
  for (const dir of agentDirs) rmSync(dir, { recursive: true, force: true });
});

const settled = (c: CredentialView) => c.status === 'in_sync' && c.job.state === 'idle' && !c.changePending;

/** Every credential of the target in_sync, idle, with no pending password. */
async function converged(what: string, timeoutMs = 60_000): Promise<CredentialView[]> {
  const all = await waitFor(
    async () => {
      const all = await listCredentials(admin, { targetId });
      return all.length >= CREDENTIALS && all.every(settled) ? all : false;
    },
    { timeoutMs, intervalMs: 250, message: `${what}: every credential in_sync, idle, nothing pending` },
  );
  return all as CredentialView[];
}

const password = async (id: string) =>
  (await expectStatus<{ password: string }>(admin.get(`/credentials/${id}/password`), 200)).password;

async function withDb<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** How many changes took effect (each promotion keeps the replaced password in history). */
const changesDone = (ids: string[]): Promise<number> =>
  withDb(async (client) => {
    const r = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM secret_history WHERE credential_id = ANY($1::uuid[]) AND kind = 'retired'`,
      [ids],
    );
    return r.rows[0]!.n;
  });

/** The pending password of each credential, opened with the coordinator's master key (null: none). */
const pendings = (ids: string[]): Promise<Map<string, string | null>> =>
  withDb(async (client) => {
    const r = await client.query<{ id: string; pending_secret: string | null }>(
      'SELECT id, pending_secret FROM credentials WHERE id = ANY($1::uuid[])',
      [ids],
    );
    return new Map(
      r.rows.map((row) => [
        row.id,
        row.pending_secret === null ? null : box.open(row.pending_secret, row.id, 'pending_secret'),
      ]),
    );
  });

const idOfAccount = (account: string): string =>
  [...roles].find(([, role]) => role.name === account)?.[0] ?? '';

/** The line the fault agent wrote just before it killed itself. */
function faultLine(proc: ManagedProcess): FaultLine {
  for (const line of proc.logs()) {
    try {
      const parsed = FaultLineSchema.safeParse(JSON.parse(line));
      if (parsed.success) return parsed.data;
    } catch {
      // not a JSON line
    }
  }
  throw new Error('the fault agent exited without injecting its fault');
}

/**
 * Checks the targets at the kill point, before anything recovers: the changes were interrupted
 * exactly there. Returns how many changes were in flight at the point.
 */
async function checkAtPoint(round: Round, ids: string[]): Promise<number> {
  const pending = await pendings(ids);
  const logsIn = (id: string, pw: string | null | undefined) =>
    pw ? cluster.canLogin(roles.get(id)!.name, pw) : Promise.resolve(false);
  for (const id of ids) {
    const current = await password(id);
    const p = pending.get(id);
    switch (round.kill) {
      case 'before-change': // the change statement was never sent
        expect(p, `pending of ${id}`).not.toBeNull();
        expect(await logsIn(id, current), `current of ${id} before the change`).toBe(true);
        expect(await logsIn(id, p), `pending of ${id} before the change`).toBe(false);
        break;
      case 'after-change': // set on the target, not reported: the API still says the old one
      case 'report-lost':
        expect(p, `pending of ${id}`).not.toBeNull();
        expect(await logsIn(id, p), `pending of ${id} after the change`).toBe(true);
        expect(await logsIn(id, current), `current of ${id} after the change`).toBe(false);
        break;
      case 'report-unanswered': // the coordinator took the report: promoted
        expect(p, `pending of ${id}`).toBeNull();
        expect(await logsIn(id, current), `promoted password of ${id}`).toBe(true);
        break;
    }
  }
  return ids.length;
}

/** The extra fault of a round, at the kill point, while the killed agent's jobs are still locked. */
async function alsoBreak(round: Round): Promise<void> {
  if (!round.also) return;
  otherFaults += 1;
  if (round.also === 'redis-wipe') await redis.flushall();
  if (round.also === 'redis-restart') await redis.restart();
  if (round.also === 'coordinator-restart') {
    coordinator.kill('SIGKILL');
    await coordinator.exited.catch(() => undefined);
    await sleep(300);
    await launchCoordinator();
  }
}

async function runRound(round: Round): Promise<void> {
  // One agent takes the round's changes: the other is stopped (nothing is in flight now).
  await Promise.all(agents.map((a) => a?.stop()));
  const reportFault = round.kill.startsWith('report-')
    ? (round.kill.slice('report-'.length) as ReportFault)
    : undefined;
  let reported: Promise<string[]> | undefined;
  if (reportFault) {
    await launchAgent(0, { reportFlushMs: 1000 }); // one report batch for all the round's changes
    reported = proxy.killOnNextChangeReport(reportFault, () => agents[0]!.kill('SIGKILL'));
  } else {
    await launchAgent(0, { fault: round.kill as FaultPoint });
  }
  const run = await expectStatus<SyncRunView>(
    admin.post('/sync-runs', { kind: 'change', scope: { targetId } }),
    201,
  );
  expect(run.counts.impacted).toBe(CREDENTIALS);
  const killed = agents[0]!;
  let interrupted: string[];
  if (reported) {
    interrupted = (await reported).map((jobId) => jobId.slice(2));
    await killed.exited;
    atPoint['during-report'] += await checkAtPoint(round, interrupted);
  } else {
    const code = await killed.exited;
    expect(code, 'the fault agent died by SIGKILL').toBeNull();
    const line = faultLine(killed);
    expect(line.point).toBe(round.kill);
    interrupted = line.accounts.map(idOfAccount);
    atPoint[line.point] += await checkAtPoint(round, interrupted);
  }
  expect(interrupted.length, `changes at the ${round.kill} kill`).toBeGreaterThan(0);
  await alsoBreak(round);
  await Promise.all([launchAgent(0), launchAgent(1)]);
  await converged(`after the ${round.kill} kill${round.also ? ` and ${round.also}` : ''}`);
  await waitFor(async () => (await getSyncRun(admin, run.id)).finishedAt !== null, {
    timeoutMs: 30_000,
    message: `the run of the ${round.kill} round finished`,
  });
  // The password the API gives logs in to the real role, for every credential.
  for (const [id, role] of roles) {
    if (!ids().includes(id)) continue;
    expect(
      await cluster.canLogin(role.name, await password(id)),
      `credential ${id} after ${round.kill}`,
    ).toBe(true);
  }
}

/** The credentials of the fault rounds (the later tests add their own). */
const ids = (() => {
  let first: string[] | undefined;
  return () => (first ??= [...roles.keys()].slice(0, CREDENTIALS));
})();

describe('changes under faults', () => {
  it(`${REQUESTED} changes of real PostgreSQL roles, every agent kill at a known point (before the change, after it, during the report), with Redis wiped and restarted and the coordinator restarted: every credential converges and its password logs in`, async () => {
    const before = await changesDone(ids());
    for (const round of ROUNDS) await runRound(round);
    const done = (await changesDone(ids())) - before;
    const total = atPoint['before-change'] + atPoint['after-change'] + atPoint['during-report'];
    console.log(
      `faults: ${REQUESTED} changes requested; changes in flight at the kill: ` +
        `${atPoint['before-change']} before the change statement, ${atPoint['after-change']} between it ` +
        `and the report, ${atPoint['during-report']} during the report (${total} in all); ` +
        `${otherFaults} Redis or coordinator faults on top; ${done} changes took effect`,
    );
    expect(total).toBeGreaterThanOrEqual(50);
    for (const point of ['before-change', 'after-change', 'during-report'] as const)
      expect(atPoint[point], `changes killed at ${point}`).toBeGreaterThanOrEqual(CREDENTIALS / 2);
    // Only the changes killed before their statement and then lost with Redis can end unchanged.
    expect(done).toBeGreaterThanOrEqual(REQUESTED - CREDENTIALS);
  }, 300_000);

  it('two agents racing for one change set the same new password: the late one is refused, nothing is lost', async () => {
    const [id] = [...roles.keys()];
    const role = roles.get(id!)!;
    const historyBefore = await changesDone([id!]);
    // The real agents pause (their open long-polls end after 1 s), a third agent takes the job.
    let pending = '';
    for (const a of agents) a!.kill('SIGSTOP');
    try {
      await sleep(1500);
      const racer = await FakeAgent.enroll(coordinator.url, admin, siteId, 'racer');
      await expectStatus(admin.post(`/credentials/${id}/change`, {}), 202);
      const [job] = await racer.claim(1, 5000);
      expect(job).toMatchObject({ kind: 'change', credentialId: id });
      pending = job!.pendingPassword!;
      // The racer changes the role, as a real agent would, and then stalls: its lock expires.
      const client = new pg.Client({
        host: cluster.host,
        port: cluster.port,
        user: role.name,
        password: await password(id!),
        database: 'postgres',
      });
      await client.connect();
      await client.query(
        `ALTER ROLE ${client.escapeIdentifier(role.name)} PASSWORD ${client.escapeLiteral(pending)}`,
      );
      await client.end();
      for (const a of agents) a!.kill('SIGCONT');
      // A real agent takes the job back after the lock expires, finds the pending password already set.
      await waitFor(
        async () => settled(await getCredential(admin, id!)) && (await password(id!)) === pending,
        {
          timeoutMs: 30_000,
          message: 'the change settled on the one pending password',
        },
      );
      const late = await racer.report([held(job!)], { outcome: 'ok', works: 'pending' });
      expect(late.rejected).toEqual([{ jobId: job!.jobId, code: 'JOB_NOT_HELD' }]);
    } finally {
      for (const a of agents) a?.kill('SIGCONT');
    }
    // One new password only: the racer's, which the real agent found already set.
    expect(await password(id!)).toBe(pending);
    expect(await cluster.canLogin(role.name, await password(id!))).toBe(true);
    expect(await changesDone([id!])).toBe(historyBefore + 1);
  }, 60_000);

  it("a change the target's own rules refuse leaves the old password working: out_of_sync / change_failed", async () => {
    const role = await cluster.createRole({ prefix: 'fault' });
    const { id } = await expectStatus<{ id: string }>(
      admin.post('/credentials', { targetId, username: role.name, password: role.password }),
      201,
    );
    roles.set(id, role);
    await waitFor(async () => settled(await getCredential(admin, id)), {
      timeoutMs: 30_000,
      message: 'verified',
    });
    // Letters only: passwordcheck refuses a password without non-letters.
    const lettersOnly = await expectStatus<PolicyView>(
      admin.post('/policies', {
        name: 'letters-only',
        rules: { length: 16, upper: -1, digits: -1, symbols: -1 },
      }),
      201,
    );
    const res = await fetch(`${coordinator.url}/api/v1/credentials/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ policyId: lettersOnly.id }),
    });
    expect(res.status).toBe(200);
    await expectStatus(admin.post(`/credentials/${id}/change`, {}), 202);
    const after = (await waitFor(
      async () => {
        const c = await getCredential(admin, id);
        return c.job.state === 'idle' && c.lastResultAt !== null && c.statusReason === 'change_failed'
          ? c
          : false;
      },
      { timeoutMs: 30_000, message: 'the change refused by the target' },
    )) as CredentialView;
    expect(after).toMatchObject({
      status: 'out_of_sync',
      statusReason: 'change_failed',
      changePending: false,
    });
    expect(after.lastMessage).toMatch(/server refused the change/);
    expect(await password(id)).toBe(role.password);
    expect(await cluster.canLogin(role.name, role.password)).toBe(true);
  }, 60_000);
});
