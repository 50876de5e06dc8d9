import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncRunView } from '../../shared/contracts/api.js';
import { startRun } from '../../coordinator/runs/start.js';
import { sweepRuns } from '../../coordinator/runs/sweep.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getSyncRun,
  held,
  waitForValue,
} from '../support/fixtures.js';

/**
 * A sync run marks its credentials RUN_MARK_CHUNK at a time (coordinator/runs/marking.ts): the
 * POST answers after the first chunk, the rest is marked in the background; a run still marking
 * never finishes; a run a stopped replica left half marked is marked on by the run sweep; a cancel
 * stops the marking. Real PostgreSQL and Redis, a coordinator in process with chunks of 100 (the
 * scheduler ticks; the reconciler's sweep is called by the tests).
 */
const CHUNK = 100;
let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('sync-run-marking', inject('redisUrl'), {
    RUN_SCHEDULER: 'true',
    SCHEDULER_TICK_MS: '200',
    RECONCILE_EVERY_MS: '600000',
    RUN_MARK_CHUNK: String(CHUNK),
  });
});
afterAll(() => c?.close());

/** A site with `count` simulated credentials (the last `disabled` with sync off), all verified once. */
async function siteWith(count: number, disabled = 0): Promise<{ siteId: string; agent: FakeAgent }> {
  const siteId = (await createSite(c.admin)).id;
  const targetId = await createTarget(c.admin, siteId);
  const items = Array.from({ length: count }, (_, i) => ({
    targetId,
    username: `u${i}`,
    password: `pw-${i}-marking`,
    syncEnabled: i < count - disabled,
  }));
  await expectStatus(c.admin.post('/credentials/batch', { items }), 200, 'POST /credentials/batch');
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  expect((await agent.heartbeatRaw()).status).toBe(200);
  await drain(agent, count - disabled);
  return { siteId, agent };
}

/** Claims and reports `ok` until `count` results were taken. */
async function drain(agent: FakeAgent, count: number): Promise<void> {
  let done = 0;
  while (done < count) {
    const jobs = await agent.claim(Math.min(500, count - done), 3000);
    if (jobs.length === 0) throw new Error(`only ${done} of ${count} jobs came`);
    const res = await agent.report(jobs.map(held));
    done += res.accepted.length;
  }
}

const runRow = async (id: string) =>
  (
    await c.ctx.db.query<{ marking_after: string | null; marked: number; impacted: number }>(
      'SELECT marking_after, marked, impacted FROM sync_runs WHERE id = $1',
      [id],
    )
  ).rows[0]!;

const finished = (runId: string) =>
  waitForValue(
    async () => {
      const run = await getSyncRun(c.admin, runId);
      return run.finishedAt ? run : null;
    },
    { timeoutMs: 30_000, intervalMs: 100, message: `run ${runId} to finish` },
  );

/** A run started as a replica stopped after its first chunk would leave it: marking not finished. */
async function halfMarkedRun(siteId: string): Promise<string> {
  const id = crypto.randomUUID();
  await c.ctx.db.tx((q) =>
    startRun(
      c.ctx,
      q,
      { id, kind: 'verify', scope: { siteId }, trigger: 'manual', createdBy: 'test' },
      CHUNK,
    ),
  );
  return id;
}

describe('a run larger than one chunk', () => {
  it('answers at once, marks the rest in the background and counts every credential once', async () => {
    const { siteId, agent } = await siteWith(250, 10);
    const run = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'verify', scope: { siteId } }),
      201,
      'POST /sync-runs',
    );
    expect(run.counts.impacted).toBe(250);
    expect(run.finishedAt).toBeNull();
    await drain(agent, 240);
    const done = await finished(run.id);
    expect(done.outcome).toBe('partial');
    expect(done.counts).toMatchObject({ impacted: 250, success: 240, unsynced: 10, failed: 0, partial: 0 });
    expect(await runRow(run.id)).toMatchObject({ marking_after: null, marked: 250, impacted: 250 });
    const { rows } = await c.ctx.db.query<{ n: number; distinct_n: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT credential_id)::int AS distinct_n FROM sync_run_items WHERE run_id = $1',
      [run.id],
    );
    expect(rows[0]).toEqual({ n: 250, distinct_n: 250 });
  });
});

describe('a run a stopped replica left half marked', () => {
  it('does not finish while marking, even when its counts reach impacted; the sweep marks it on', async () => {
    const { siteId, agent } = await siteWith(250);
    const id = await halfMarkedRun(siteId);
    expect(await runRow(id)).toMatchObject({ marked: CHUNK, impacted: 250 });
    expect((await runRow(id)).marking_after).not.toBeNull();
    // Were the first chunk all there is (impacted as low as its count), it would finish here.
    await c.ctx.db.query('UPDATE sync_runs SET impacted = $2 WHERE id = $1', [id, CHUNK]);
    await drain(agent, CHUNK);
    expect((await getSyncRun(c.admin, id)).finishedAt).toBeNull();
    await sweepRuns(c.ctx);
    await waitForValue(async () => (await runRow(id)).marking_after === null, {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: 'marking to end',
    });
    await drain(agent, 250 - CHUNK);
    const done = await finished(id);
    expect(done.outcome).toBe('success');
    expect(done.counts).toMatchObject({ impacted: 250, success: 250 });
  });

  it('a newer run over the same scope keeps its credentials when the older one is marked on', async () => {
    const { siteId, agent } = await siteWith(250);
    const older = await halfMarkedRun(siteId);
    const newer = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'verify', scope: { siteId } }),
      201,
      'POST /sync-runs',
    );
    await waitForValue(async () => (await runRow(newer.id)).marking_after === null, {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: 'the newer run to be marked',
    });
    await sweepRuns(c.ctx); // marks the older run on: the newer run's credentials are not taken
    await waitForValue(async () => (await runRow(older)).marking_after === null, {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: 'the older run to be marked',
    });
    const done = await finished(older);
    expect(done.counts).toMatchObject({ impacted: CHUNK, unsynced: CHUNK, success: 0 });
    await drain(agent, 250);
    const last = await finished(newer.id);
    expect(last.outcome).toBe('success');
    expect(last.counts).toMatchObject({ impacted: 250, success: 250 });
  });

  it('a cancel stops the marking: the unmarked credentials count unsynced and stay out of the run', async () => {
    const { siteId } = await siteWith(250);
    const id = await halfMarkedRun(siteId);
    await expectStatus(c.admin.post(`/sync-runs/${id}/cancel`), 200, 'cancel');
    const done = await finished(id);
    expect(done.counts).toMatchObject({ impacted: 250, unsynced: 250 });
    await sweepRuns(c.ctx);
    const { rows } = await c.ctx.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM credentials WHERE site_id = $1 AND run_id IS NOT NULL',
      [siteId],
    );
    expect(rows[0]!.n).toBe(0);
    expect((await runRow(id)).marking_after).toBeNull();
  });
});
