/**
 * The change protocol where it used to lose a password that was already set (the audit's
 * scenarios A-D, and a stalled job's first holder changing while the second one checks), with the
 * real coordinator in-process, real PostgreSQL roles in a private cluster as targets, the agent's
 * real JobRunner and postgres adapter, and fake agents that claim, vanish, release and report
 * exactly when a scenario needs it. Each ends with the password the API returns logging in.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceAdapter } from '../../agent/adapters/service/index.js';
import { createAdapterRegistry, type Adapter } from '../../agent/adapters/index.js';
import { JobRunner } from '../../agent/runner.js';
import { release } from '../../coordinator/gateway/locks.js';
import { reconcileQueues } from '../../coordinator/scheduler/reconciler.js';
import { getAgent } from '../../coordinator/store/agents.js';
import { tick } from '../../coordinator/scheduler/tick.js';
import type { CredentialView, SyncRunView } from '../../shared/contracts/api.js';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { createLogger } from '../../shared/logger.js';
import type { ServiceConnection } from '../../shared/targets/service.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { startPostgresCluster, type PostgresCluster, type PostgresRole } from '../support/databases.js';
import {
  createSite,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  waitForValue,
} from '../support/fixtures.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

let redis: PrivateRedis;
let cluster: PostgresCluster;
let c: InProcessCoordinator;
const roles: PostgresRole[] = [];
const log = createLogger('races-test', 'silent');
const runner = new JobRunner(createAdapterRegistry([serviceAdapter]), log);

beforeAll(async () => {
  // Scenario B wipes Redis: a private one.
  [redis, cluster] = await Promise.all([startPrivateRedis(), startPostgresCluster()]);
  c = await startInProcessCoordinator('change-races', redis.url, {
    JOB_LOCK_MS: '5000',
    STALLED_CHECK_MS: '1000',
  });
}, 120_000);

afterAll(async () => {
  await c?.close();
  for (const role of roles) await role.drop().catch(() => undefined);
  await cluster?.stop();
  await redis?.stop();
});

const run = (job: ClaimedJob, r = runner) => r.run(job, new AbortController().signal);

interface Scene {
  siteId: string;
  targetId: string;
  /** A verified credential for a fresh role. */
  id: string;
  role: PostgresRole;
  agent(name: string): Promise<FakeAgent>;
}

/**
 * A site of its own (so no job of another test is ever claimed), a postgres target, and one
 * credential for a fresh role whose first verification a fake agent ran with the real adapter.
 */
async function scene(name: string): Promise<Scene> {
  const siteId = (await createSite(c.admin, `races-${name}-${Date.now()}`)).id;
  const targetId = (
    await expectStatus<{ id: string }>(
      c.admin.post('/targets', {
        siteId,
        name,
        kind: 'service',
        connection: { driver: 'postgres', host: cluster.host, port: cluster.port, connectTimeoutMs: 3000 },
      }),
      201,
    )
  ).id;
  const role = await cluster.createRole({ prefix: 'race' });
  roles.push(role);
  const { id } = await expectStatus<{ id: string }>(
    c.admin.post('/credentials', { targetId, username: role.name, password: role.password }),
    201,
  );
  const agent = (agentName: string) => FakeAgent.enroll(c.url, c.admin, siteId, agentName);
  const verifier = await agent('verifier');
  const [job] = await verifier.claim(1);
  expect(job).toMatchObject({ kind: 'verify', credentialId: id });
  await verifier.report([held(job!)], await run(job!));
  expect((await getCredential(c.admin, id)).status).toBe('in_sync');
  return { siteId, targetId, id, role, agent };
}

async function requestChange(id: string): Promise<void> {
  await expectStatus(c.admin.post(`/credentials/${id}/change`, {}), 202);
}

/** Claims one job for `agent`, waiting (a stalled job comes back once its 5 s lock expired). */
async function claimOne(agent: FakeAgent, timeoutMs = 20_000): Promise<ClaimedJob> {
  return waitForValue(async () => (await agent.claim(1, 1000))[0], {
    timeoutMs,
    intervalMs: 0,
    message: 'a job to claim',
  });
}

const password = async (id: string) =>
  (await expectStatus<{ password: string }>(c.admin.get(`/credentials/${id}/password`), 200)).password;

/** Settled: idle, nothing pending, in_sync, and the API's password logs in to the role. */
async function expectSettledOn(id: string, role: PostgresRole, expected: string): Promise<void> {
  const view = await getCredential(c.admin, id);
  expect(view).toMatchObject({ status: 'in_sync', changePending: false, job: { state: 'idle' } });
  expect(await password(id)).toBe(expected);
  expect(await cluster.canLogin(role.name, expected)).toBe(true);
}

/** Makes a credential's scheduled change work due now and runs a scheduler tick. */
async function dueNow(id: string): Promise<void> {
  await c.ctx.db.query('UPDATE credentials SET next_change_at = now() WHERE id = $1', [id]);
  await tick(c.ctx);
}

async function alterRole(role: PostgresRole, to: string): Promise<void> {
  await cluster.query(`ALTER ROLE ${pg.escapeIdentifier(role.name)} PASSWORD ${pg.escapeLiteral(to)}`);
}

// First and alone: it wipes Redis, under every other test's jobs too.
describe('a pending password that reached the target is never thrown away, Redis wiped', () => {
  it('B: handed out, released on a graceful shutdown, Redis wiped: the reconciler sends a reconcile', async () => {
    const { id, role, agent } = await scene('b');
    await requestChange(id);
    const a = await agent('a-released');
    const jobA = await claimOne(a);
    // A's change went through just as its shutdown grace ran out; it hands the job back.
    expect(await run(jobA)).toEqual({ outcome: 'ok', works: 'pending' });
    expect(await a.release([held(jobA)])).toEqual({ released: [jobA.jobId], lost: [] });
    expect((await getCredential(c.admin, id)).job.state).toBe('queued');
    await redis.flushall();

    // Found missing, then (once missing for a whole lock) re-added.
    await c.ctx.db.query(`UPDATE credentials SET job_since = job_since - interval '1 minute' WHERE id = $1`, [
      id,
    ]);
    expect(await reconcileQueues(c.ctx)).toBe(0);
    await c.ctx.db.query(
      `UPDATE credentials SET job_missing_since = job_missing_since - interval '1 minute' WHERE id = $1`,
      [id],
    );
    expect(await reconcileQueues(c.ctx)).toBe(1);
    const b = await agent('b-after-wipe');
    const jobB = await claimOne(b);
    expect(jobB).toMatchObject({
      kind: 'reconcile',
      credentialId: id,
      pendingPassword: jobA.pendingPassword,
    });
    await b.report([held(jobB)], await run(jobB));
    await expectSettledOn(id, role, jobA.pendingPassword!);
  }, 60_000);
});

// Each test has a site of its own: they run at the same time (most wait out a 5 s lock).
describe.concurrent('a pending password that reached the target is never thrown away', () => {
  it('A: set, agent killed; the next holder finds the target unreachable; the retry reconciles and keeps it', async () => {
    const { id, role, agent } = await scene('a');
    await requestChange(id);
    const a = await agent('a-killed');
    const jobA = await claimOne(a);
    expect(jobA).toMatchObject({ kind: 'change', pendingMayBeSet: false });
    // A runs ALTER ROLE to P (and proves it), then is killed -9 before reporting.
    expect(await run(jobA)).toEqual({ outcome: 'ok', works: 'pending' });
    const p = jobA.pendingPassword!;

    const b = await agent('b-unreachable');
    const jobB = await claimOne(b);
    expect(jobB).toMatchObject({ jobId: jobA.jobId, pendingMayBeSet: true });
    const res = await b.report([held(jobB)], {
      outcome: 'failed',
      reason: 'unreachable',
      message: 'connect ETIMEDOUT',
    });
    expect(res.accepted).toEqual([jobB.jobId]);
    expect(await getCredential(c.admin, id)).toMatchObject({ changePending: true });

    // The retry is a fresh BullMQ job: PostgreSQL, not Redis, says P may be set, so it reconciles.
    await dueNow(id);
    const agentC = await agent('c-retry');
    const jobC = await claimOne(agentC);
    expect(jobC).toMatchObject({ kind: 'reconcile', pendingMayBeSet: true, pendingPassword: p });
    await agentC.report([held(jobC)], await run(jobC));
    await expectSettledOn(id, role, p);
  }, 60_000);

  it('C: handed out, then skipped at claim time (sync disabled); the next change reconciles and keeps it', async () => {
    const { id, role, agent } = await scene('c');
    await requestChange(id);
    const a = await agent('a-skipped');
    const jobA = await claimOne(a);
    expect(await run(jobA)).toEqual({ outcome: 'ok', works: 'pending' }); // then A vanishes
    await expectStatus(c.admin.post(`/credentials/${id}/disable`), 200);

    // The stalled job comes back and is skipped (sync disabled): the credential's job is over.
    const b = await agent('b-skips');
    await waitFor(
      async () => {
        expect(await b.claim(1, 1000)).toEqual([]);
        return (await getCredential(c.admin, id)).job.state === 'idle';
      },
      { timeoutMs: 20_000, intervalMs: 0, message: 'the stalled job skipped' },
    );
    const view = await getCredential(c.admin, id);
    expect(view.changePending).toBe(true);

    // Sync back on without a verification, then the next change: a reconcile, not a fresh change.
    expect((await c.admin.patch(`/credentials/${id}`, { syncEnabled: true })).status).toBe(200);
    await requestChange(id);
    const jobC = await claimOne(b);
    expect(jobC).toMatchObject({ kind: 'reconcile', pendingPassword: jobA.pendingPassword });
    await b.report([held(jobC)], await run(jobC));
    await expectSettledOn(id, role, jobA.pendingPassword!);
  }, 60_000);

  it('D: set, agent killed, retries run out on unreachable: kept, and settled by a later reconcile', async () => {
    const { id, role, agent } = await scene('d');
    await requestChange(id);
    const a = await agent('a-killed-d');
    const jobA = await claimOne(a);
    expect(await run(jobA)).toEqual({ outcome: 'ok', works: 'pending' });
    const b = await agent('b-gives-up');
    const jobB = await claimOne(b);
    // Its retries are used up (RETRY_LIMIT 5): this unreachable is the last one.
    await c.ctx.db.query('UPDATE credentials SET attempt = 5 WHERE id = $1', [id]);
    await b.report([held(jobB)], { outcome: 'failed', reason: 'unreachable' });
    const after = await getCredential(c.admin, id);
    expect(after).toMatchObject({
      changePending: true,
      status: 'out_of_sync',
      statusReason: 'unreachable',
    });
    expect(after.nextChangeAt).not.toBeNull(); // settled on a later day
    await dueNow(id);
    const jobC = await claimOne(b);
    expect(jobC.kind).toBe('reconcile');
    await b.report([held(jobC)], await run(jobC));
    await expectSettledOn(id, role, jobA.pendingPassword!);
  }, 60_000);
});

describe.concurrent(
  "a stalled job's first holder changes the password while the second holder checks",
  () => {
    /** The postgres adapter, with the first holder's late ALTER ROLE landing right after `after`. */
    function racingAdapter(
      role: PostgresRole,
      p: string,
      after: 'pending-check' | 'current-check',
    ): Adapter<ServiceConnection> {
      let calls = 0;
      let landed = false;
      return {
        kind: 'service',
        verify: async (ctx, pw) => {
          const answer = await serviceAdapter.verify(ctx, pw);
          calls += 1;
          const due = after === 'pending-check' ? calls === 1 : pw !== p && answer.ok;
          if (due && !landed) {
            landed = true;
            await alterRole(role, p);
          }
          return answer;
        },
        change: (ctx, current, next) => serviceAdapter.change(ctx, current, next),
      };
    }

    for (const after of ['pending-check', 'current-check'] as const) {
      it(`the first holder's change lands after the second holder's ${after}: the pending password is kept`, async () => {
        const { id, role, agent } = await scene(`race-${after}`);
        await requestChange(id);
        const a = await agent('a-slow');
        const jobA = await claimOne(a);
        const p = jobA.pendingPassword!;
        // A stalls (no extend): its lock expires, B gets the job while A is still about to change.
        const b = await agent('b-second');
        const jobB = await claimOne(b);
        expect(jobB).toMatchObject({ jobId: jobA.jobId, pendingMayBeSet: true, pendingPassword: p });
        const racing = new JobRunner(
          createAdapterRegistry([racingAdapter(role, p, after) as unknown as Adapter]),
          log,
        );
        const outcome = await run(jobB, racing);
        expect(outcome).toEqual({ outcome: 'ok', works: 'pending' });
        expect((await b.report([held(jobB)], outcome)).accepted).toEqual([jobB.jobId]);
        await expectSettledOn(id, role, p);
        // A's late report is refused: it no longer holds the job.
        const late = await a.report([held(jobA)], { outcome: 'ok', works: 'pending' });
        expect(late.rejected).toEqual([{ jobId: jobA.jobId, code: 'JOB_NOT_HELD' }]);
      }, 60_000);
    }

    it('a definite failure reported by the second holder reconciles instead of discarding', async () => {
      const { id, role, agent } = await scene('late-mismatch');
      await requestChange(id);
      const a = await agent('a-late');
      const jobA = await claimOne(a);
      const b = await agent('b-refused');
      const jobB = await claimOne(b);
      // B saw neither password work yet (an older agent, say) and says mismatch; A's change lands after.
      await b.report([held(jobB)], { outcome: 'failed', reason: 'mismatch' });
      await alterRole(role, jobA.pendingPassword!);
      const view = await getCredential(c.admin, id);
      expect(view).toMatchObject({ changePending: true, statusReason: 'mismatch', verifyPaused: true });
      // Sync now (an operator): a reconcile of both, never a verification of the current one alone.
      await expectStatus(c.admin.post(`/credentials/${id}/verify`), 202);
      const jobC = await claimOne(b);
      expect(jobC.kind).toBe('reconcile');
      await b.report([held(jobC)], await run(jobC));
      await expectSettledOn(id, role, jobA.pendingPassword!);
    }, 60_000);
  },
);

describe.concurrent('an uncertain pending password is reconciled again until settled', () => {
  it('a reconcile that ends uncertain is retried; Sync now reconciles; the password that works is kept', async () => {
    const { id, role, agent } = await scene('uncertain');
    await requestChange(id);
    const a = await agent('a-lost-answer');
    const jobA = await claimOne(a);
    expect(await run(jobA)).toEqual({ outcome: 'ok', works: 'pending' });
    // The answer was lost on the way: uncertain, a reconcile follows at once.
    await a.report([held(jobA)], { outcome: 'failed', reason: 'change_outcome_unknown' });
    const jobR = await claimOne(a);
    expect(jobR.kind).toBe('reconcile');
    await a.report([held(jobR)], { outcome: 'failed', reason: 'workflow_failed', message: 'page changed' });
    const view = await getCredential(c.admin, id);
    expect(view).toMatchObject({
      status: 'out_of_sync',
      statusReason: 'change_outcome_unknown',
      changePending: true,
      nextVerifyAt: null,
    });
    expect(view.nextChangeAt).not.toBeNull(); // retried with backoff, not dropped
    await dueNow(id);
    const again = await claimOne(a);
    expect(again.kind).toBe('reconcile');
    await a.report([held(again)], { outcome: 'failed', reason: 'error', message: 'still broken' });
    // An operator presses Sync now: a reconcile again, never a plain verification.
    await expectStatus(c.admin.post(`/credentials/${id}/verify`), 202);
    const now = await claimOne(a);
    expect(now.kind).toBe('reconcile');
    await a.report([held(now)], await run(now));
    await expectSettledOn(id, role, jobA.pendingPassword!);
  }, 60_000);
});

describe.concurrent('a suspended credential with a pending password that may be set', () => {
  it('is reconciled on resume, not verified (the current password alone may no longer work)', async () => {
    const { id, role, agent } = await scene('suspended');
    await requestChange(id);
    const a = await agent('a-suspended');
    const jobA = await claimOne(a);
    expect(await run(jobA)).toEqual({ outcome: 'ok', works: 'pending' });
    await a.report([held(jobA)], { outcome: 'failed', reason: 'change_outcome_unknown' });
    const jobR = await claimOne(a);
    // Suspended after repeated errors: nothing is scheduled any more.
    await c.ctx.db.query('UPDATE credentials SET consecutive_failures = 9 WHERE id = $1', [id]);
    await a.report([held(jobR)], { outcome: 'failed', reason: 'error', message: 'agent trouble' });
    expect(await getCredential(c.admin, id)).toMatchObject({
      suspended: true,
      changePending: true,
      nextChangeAt: null,
      nextVerifyAt: null,
    });
    expect((await c.admin.post(`/credentials/${id}/resume`)).status).toBe(200);
    const jobC = await claimOne(a);
    expect(jobC).toMatchObject({ kind: 'reconcile', pendingPassword: jobA.pendingPassword });
    await a.report([held(jobC)], await run(jobC));
    await expectSettledOn(id, role, jobA.pendingPassword!);
  }, 60_000);
});

describe.concurrent('small things', () => {
  it('a result about a pending password that was replaced ends the job and counts in its run', async () => {
    const { id, targetId, agent } = await scene('replaced');
    const run0 = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'change', scope: { targetId } }),
      201,
    );
    await tick(c.ctx);
    const a = await agent('a-replaced');
    const mine = await claimOne(a);
    expect(mine).toMatchObject({ kind: 'change', credentialId: id });
    // The pending password is replaced while the job runs.
    await c.ctx.db.query('UPDATE credentials SET pending_id = gen_random_uuid() WHERE id = $1', [id]);
    expect((await a.report([held(mine)], { outcome: 'ok', works: 'pending' })).accepted).toEqual([
      mine.jobId,
    ]);
    const view: CredentialView = await getCredential(c.admin, id);
    expect(view.job).toEqual({ state: 'idle', kind: null });
    const items = await c.ctx.db.query<{ result: string }>(
      'SELECT result FROM sync_run_items WHERE run_id = $1 AND credential_id = $2',
      [run0.id, id],
    );
    expect(items.rows).toEqual([{ result: 'unsynced' }]);
    expect(
      (await expectStatus<SyncRunView>(c.admin.get(`/sync-runs/${run0.id}`), 200)).finishedAt,
    ).not.toBeNull();
  }, 60_000);

  it('a claim whose agent went away before the answer takes its hand-out back; a release on shutdown does not', async () => {
    const { id, agent } = await scene('undelivered');
    await requestChange(id);
    const a = await agent('a-gone');
    const row = (await getAgent(c.ctx.db, a.agentId))!;
    const first = await claimOne(a);
    expect(first.pendingMayBeSet).toBe(false);
    // The claim's answer never left the coordinator (gateway/routes.ts): nobody saw the secrets.
    await release(c.ctx, row, [held(first)], true);
    const second = await claimOne(a);
    expect(second).toMatchObject({ jobId: first.jobId, pendingMayBeSet: false });
    // An agent shutting down hands back a job it may have run: still counted.
    await release(c.ctx, row, [held(second)]);
    const third = await claimOne(a);
    expect(third).toMatchObject({ jobId: first.jobId, pendingMayBeSet: true });
  });

  it('asking for a change resumes a suspended credential with its error count reset', async () => {
    const { id } = await scene('resumed');
    await c.ctx.db.query('UPDATE credentials SET suspended = true, consecutive_failures = 9 WHERE id = $1', [
      id,
    ]);
    await requestChange(id);
    expect(await getCredential(c.admin, id)).toMatchObject({ suspended: false, consecutiveFailures: 0 });
  });
});
