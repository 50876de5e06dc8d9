import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncRunItemView, SyncRunView } from '../../shared/contracts/api.js';
import { tick } from '../../coordinator/scheduler/tick.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createCredentials,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  getSyncRun,
  held,
  type ErrorBody,
} from '../support/fixtures.js';

/**
 * The contract for sync runs (docs/sync-runs.md): `finishedAt` is set once every item has a result. A credential
 * that leaves a run without a job result (deleted, sync turned off, dropped by the tick) counts as
 * unsynced at that moment, so its run finishes.
 */
let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('sync-run-finish', inject('redisUrl'), { RUN_SCHEDULER: 'false' });
});
afterAll(() => c?.close());

const startRun = (scope: Record<string, string>, kind: 'verify' | 'change' = 'verify') =>
  expectStatus<SyncRunView>(c.admin.post('/sync-runs', { kind, scope }), 201, 'POST /sync-runs');

const items = async (runId: string) =>
  (
    await expectStatus<{ items: SyncRunItemView[] }>(
      c.admin.get(`/sync-runs/${runId}/items`),
      200,
      'run items',
    )
  ).items;

/** A site with an agent and one credential verified through it (in_sync, idle). */
async function verifiedCredential() {
  const siteId = (await createSite(c.admin)).id;
  const targetId = await createTarget(c.admin, siteId);
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  const cred = await createCredential(c.admin, targetId);
  const jobs = await agent.claim(10);
  expect((await agent.report(jobs.map(held))).accepted).toHaveLength(1);
  return { siteId, targetId, agent, cred };
}

function expectFinishedUnsynced(run: SyncRunView) {
  expect(run.finishedAt).not.toBeNull();
  expect(run.counts).toEqual({ impacted: 1, success: 0, unsynced: 1, partial: 0, failed: 0 });
  expect(run.outcome).toBe('failure');
}

describe('a sync run finishes when one of its credentials leaves it', () => {
  it('DELETE of a queued credential (no agent ever claims it) finishes the run', async () => {
    // The reproduction of the audit: one queued credential, a run over its site, DELETE.
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    const cred = await createCredential(c.admin, targetId);
    expect(cred.status).toBe('pending_sync');
    const run = await startRun({ siteId });
    expect(run.counts.impacted).toBe(1);
    expect(run.finishedAt).toBeNull();

    await expectStatus(c.admin.delete(`/credentials/${cred.id}`), 200, 'DELETE');
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
    expect((await items(run.id)).map((i) => [i.credentialId, i.result, i.reason])).toEqual([
      [cred.id, 'unsynced', 'deleted'],
    ]);

    // An agent that comes later finds the job of the deleted row and skips it: no second count.
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    expect(await agent.claim(10)).toEqual([]);
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
  });

  it('DELETE of a credential the run made due (idle, not yet queued by the tick) finishes the run', async () => {
    const { siteId, cred } = await verifiedCredential();
    const run = await startRun({ siteId });
    await expectStatus(c.admin.delete(`/credentials/${cred.id}`), 200, 'DELETE');
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
  });

  it('POST /credentials/{id}/disable of a due credential finishes the run', async () => {
    const { siteId, cred } = await verifiedCredential();
    const run = await startRun({ siteId });
    await expectStatus(c.admin.post(`/credentials/${cred.id}/disable`), 200, 'disable');
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
    expect((await items(run.id)).map((i) => i.reason)).toEqual(['sync_disabled']);
    // The tick has nothing left for it.
    await tick(c.ctx);
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
  });

  it('PATCH syncEnabled:false of a due credential finishes the run', async () => {
    const { siteId, cred } = await verifiedCredential();
    const run = await startRun({ siteId });
    await expectStatus(c.admin.patch(`/credentials/${cred.id}`, { syncEnabled: false }), 200, 'PATCH');
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
  });

  it('disabling a credential whose job is queued finishes the run; the claim then skips the job', async () => {
    const { siteId, agent, cred } = await verifiedCredential();
    const run = await startRun({ siteId });
    await tick(c.ctx);
    const { rows } = await c.ctx.db.query<{ job_state: string }>(
      'SELECT job_state FROM credentials WHERE id = $1',
      [cred.id],
    );
    expect(rows[0]!.job_state).toBe('queued');
    await expectStatus(c.admin.post(`/credentials/${cred.id}/disable`), 200, 'disable');
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
    expect(await agent.claim(10)).toEqual([]);
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
  });

  it('a credential of a running job that is disabled still counts its result in the run', async () => {
    const { siteId, agent, cred } = await verifiedCredential();
    const run = await startRun({ siteId });
    await tick(c.ctx);
    const jobs = await agent.claim(10);
    expect(jobs).toHaveLength(1);
    // Recorded as running (a verification's claim writes nothing at once; being-synced.ts does later).
    await c.ctx.db.query(`UPDATE credentials SET job_state = 'active' WHERE id = $1`, [cred.id]);
    await expectStatus(c.admin.post(`/credentials/${cred.id}/disable`), 200, 'disable');
    expect((await getSyncRun(c.admin, run.id)).finishedAt).toBeNull();
    await agent.report(jobs.map(held));
    const done = await getSyncRun(c.admin, run.id);
    expect(done.finishedAt).not.toBeNull();
    expect(done.counts).toMatchObject({ impacted: 1, success: 1, unsynced: 0 });
  });

  it('the tick dropping a due row that may no longer run counts it in its run', async () => {
    const { siteId, cred } = await verifiedCredential();
    // A change run makes its credentials due for the tick (a verification run queues them at once).
    const run = await startRun({ siteId }, 'change');
    // Sync turned off behind the API's back (another replica mid-upgrade, a bulk SQL fix): the row
    // still carries the run and is due; the tick takes it out of the index.
    await c.ctx.db.query('UPDATE credentials SET sync_enabled = false WHERE id = $1', [cred.id]);
    await tick(c.ctx);
    expectFinishedUnsynced(await getSyncRun(c.admin, run.id));
    expect((await items(run.id)).map((i) => i.reason)).toEqual(['sync_disabled']);
  });
});

describe('a verification run queues as it marks', () => {
  it('its jobs are in the queue when POST /sync-runs answers (no tick runs here)', async () => {
    const { siteId, agent, cred } = await verifiedCredential();
    const run = await startRun({ siteId });
    expect(run.counts.impacted).toBe(1);
    expect((await getCredential(c.admin, cred.id)).job).toEqual({ state: 'queued', kind: 'verify' });
    const jobs = await agent.claim(10);
    expect(jobs.map((j) => j.credentialId)).toEqual([cred.id]);
    expect((await agent.report(jobs.map(held))).accepted).toHaveLength(1);
    const done = await getSyncRun(c.admin, run.id);
    expect(done.counts).toMatchObject({ impacted: 1, success: 1 });
    expect(done.outcome).toBe('success');
  });
});

describe('POST /sync-runs scope', () => {
  it.each(['siteId', 'targetId', 'groupId'])(
    'a scope.%s that does not exist is a 400 naming the field, and no run starts',
    async (field) => {
      // Schedule entries (results outside runs, written once a second) are not runs started here.
      const runs = "SELECT count(*)::int AS n FROM sync_runs WHERE trigger <> 'schedule'";
      const before = await c.ctx.db.query(runs);
      const missing = '00000000-0000-4000-8000-000000000000';
      const res = await c.admin.post('/sync-runs', { kind: 'verify', scope: { [field]: missing } });
      expect(res.status).toBe(400);
      const body = res.body as ErrorBody;
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.issues?.map((i) => i.field)).toEqual([`body.scope.${field}`]);
      const after = await c.ctx.db.query(runs);
      expect(after.rows[0]).toEqual(before.rows[0]);
    },
  );

  it('a scope that exists still starts', async () => {
    const siteId = (await createSite(c.admin)).id;
    const run = await startRun({ siteId });
    expect(run.counts.impacted).toBe(0);
    expect(run.finishedAt).not.toBeNull();
  });
});

/**
 * A report batch adds to its run's counters when its transaction commits (coordinator/runs/count.ts,
 * migration 13): many batches of two agents committing at once still count every result exactly
 * once, and the run finishes with the last of them.
 */
it('concurrent report batches of two agents count every result once and finish the run', async () => {
  const siteId = (await createSite(c.admin)).id;
  const targetId = await createTarget(c.admin, siteId);
  const agents = [
    await FakeAgent.enroll(c.url, c.admin, siteId),
    await FakeAgent.enroll(c.url, c.admin, siteId),
  ];
  const n = 40;
  await createCredentials(c.admin, targetId, n);
  // The first verifications (queued at creation) out of the way.
  await tick(c.ctx);
  const first = await agents[0]!.claimAll(n);
  await agents[0]!.report(first.map(held));

  const run = await expectStatus<SyncRunView>(
    c.admin.post('/sync-runs', { kind: 'verify', scope: { siteId } }),
    201,
    'POST /sync-runs',
  );
  await tick(c.ctx);
  const [a, b] = [await agents[0]!.claimAll(n / 2), await agents[1]!.claimAll(n / 2)];
  expect(a.length + b.length).toBe(n);
  // Batches of two, every one at once: a quarter of the results failures.
  const batches = [...a, ...b].flatMap((job, i, all) => (i % 2 === 0 ? [all.slice(i, i + 2)] : []));
  await Promise.all(
    batches.map((jobs, i) =>
      (a.includes(jobs[0]!) ? agents[0]! : agents[1]!).report(
        jobs.map(held),
        i % 4 === 0 ? { outcome: 'failed', reason: 'mismatch', message: 'refused' } : { outcome: 'ok' },
      ),
    ),
  );
  const done = await getSyncRun(c.admin, run.id);
  const failed = batches.filter((_, i) => i % 4 === 0).flat().length;
  expect(done.counts).toEqual({ impacted: n, success: n - failed, failed, partial: 0, unsynced: 0 });
  expect(done.finishedAt).not.toBeNull();
  expect(done.outcome).toBe('partial');
  // The tallies are added and gone with their transactions.
  const { rows } = await c.ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_run_tallies');
  expect(rows[0]!.n).toBe(0);
});
