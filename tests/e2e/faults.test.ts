/**
 * The change protocol under faults, with the real `sync-coordinator` and `sync-agent` processes,
 * a private Redis (restarted, and once wiped with FLUSHALL), and real PostgreSQL roles in a private
 * cluster (scram-sha-256, `passwordcheck` preloaded) as targets. Agents are killed with SIGKILL at
 * random moments (before the target change, after it and before the report, during the report:
 * reports are batched for 200 ms, so a kill often lands between ALTER ROLE and the report), the
 * coordinator is killed and restarted mid-run. Afterwards every credential converges and the
 * password the API returns logs in to its role.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView, PolicyView, SyncRunView } from '../../shared/contracts/api.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import { startPostgresCluster, type PostgresCluster, type PostgresRole } from '../support/databases.js';
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
const ROUNDS = 4;
const REQUESTED = CREDENTIALS * ROUNDS;

let cluster: PostgresCluster;
let redis: PrivateRedis;
let database: TestDatabase;
let coordinator: CoordinatorProcess;
let coordinatorEnv: Record<string, string>;
let admin: ApiClient;
let siteId: string;
let targetId: string;
const roles = new Map<string, PostgresRole>(); // credential id → role
const agentDirs: string[] = [];
const agents: (ManagedProcess | undefined)[] = [];
let faults = 0;

async function launchAgent(i: number, enroll: boolean): Promise<void> {
  agents[i] = await startAgent(
    {
      COORDINATOR_URL: coordinator.url,
      ...(enroll ? { ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId) } : {}),
      AGENT_STATE_DIR: agentDirs[i]!,
      AGENT_NAME: `faults-agent-${i}`,
      AGENT_CONCURRENCY: '8',
      AGENT_CLAIM_WAIT_MS: '1000',
      AGENT_REPORT_FLUSH_MS: '200',
      AGENT_SHUTDOWN_GRACE_MS: '500',
      LOG_LEVEL: 'info',
    },
    { label: `faults-agent-${i}` },
  );
}

/** SIGKILL, then the same agent (same identity and outbox) starts again. */
async function killAgent(i: number): Promise<void> {
  const proc = agents[i]!;
  proc.kill('SIGKILL');
  await proc.exited.catch(() => undefined);
  faults += 1;
  await launchAgent(i, false);
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
  coordinatorEnv = {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: uniquePrefix('faults'),
    PORT: String(await freePort()),
    COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
    COORDINATOR_MASTER_KEY: newMasterKey(),
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
  await Promise.all([launchAgent(0, true), launchAgent(1, true)]);
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

/** How many changes took effect (each promotion keeps the old password in history). */
async function changesDone(ids: string[]): Promise<number> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const r = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM secret_history WHERE credential_id = ANY($1::uuid[])',
      [ids],
    );
    return r.rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** Faults injected while a round's changes run. */
const CHAOS: ((round: number) => Promise<void>)[] = [
  // Agents killed at random points, several times.
  async () => {
    for (let k = 0; k < 4; k++) {
      await sleep(randomInt(50, 600));
      await killAgent(randomInt(2));
    }
  },
  // The coordinator killed and restarted mid-run; an agent killed as well.
  async () => {
    await sleep(randomInt(100, 500));
    coordinator.kill('SIGKILL');
    await coordinator.exited.catch(() => undefined);
    faults += 1;
    await sleep(300);
    await launchCoordinator();
    await killAgent(randomInt(2));
  },
  // Redis restarted (nothing persisted: every queued job and lock is gone); an agent killed.
  async () => {
    await sleep(randomInt(100, 400));
    await redis.restart();
    faults += 1;
    await sleep(randomInt(100, 400));
    await killAgent(randomInt(2));
  },
  // Redis wiped (FLUSHALL) mid-run, and an agent killed.
  async () => {
    await sleep(randomInt(100, 400));
    await redis.flushall();
    faults += 1;
    await killAgent(randomInt(2));
  },
];

describe('changes under faults', () => {
  it(`${REQUESTED} changes of real PostgreSQL roles with agents kill -9'd, the coordinator restarted, Redis restarted and wiped: every credential converges and its password logs in`, async () => {
    const ids = [...roles.keys()];
    const before = await changesDone(ids);
    for (let round = 0; round < ROUNDS; round++) {
      const run = await expectStatus<SyncRunView>(
        admin.post('/sync-runs', { kind: 'change', scope: { targetId } }),
        201,
      );
      expect(run.counts.impacted).toBe(CREDENTIALS);
      await CHAOS[round]!(round);
      await converged(`round ${round}`);
      await waitFor(async () => (await getSyncRun(admin, run.id)).finishedAt !== null, {
        timeoutMs: 30_000,
        message: `run of round ${round} finished`,
      });
      // After every round: the password the API gives logs in to the real role.
      for (const id of ids) {
        const pw = await password(id);
        expect(await cluster.canLogin(roles.get(id)!.name, pw), `credential ${id} after round ${round}`).toBe(
          true,
        );
      }
    }
    const done = (await changesDone(ids)) - before;
    console.log(`faults: ${REQUESTED} changes requested, ${done} took effect, ${faults} faults injected`);
    expect(done).toBeGreaterThanOrEqual(50);
    expect(faults).toBeGreaterThanOrEqual(9);
  }, 170_000);

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
