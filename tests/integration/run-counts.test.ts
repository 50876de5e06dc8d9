import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OverviewView, SummaryView, SyncRunItemView, SyncRunView } from '../../shared/contracts/api.js';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { tick } from '../../coordinator/scheduler/tick.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  getSyncRun,
  held,
  waitForValue,
} from '../support/fixtures.js';

/**
 * Counts that mean what they say (docs/sync-runs.md): `partial` counts a change whose new password
 * is set but did not confirm itself (a reconcile had to prove it); work outside runs (the daily
 * schedule) shows in the site summaries and as one `schedule` entry per site and day in the run
 * history; a new credential reads as pending, not "Not verified recently", until its first result.
 */
let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('run-counts', inject('redisUrl'), { RUN_SCHEDULER: 'false' });
});
afterAll(() => c?.close());

async function claimAll(agent: FakeAgent, count: number): Promise<ClaimedJob[]> {
  const jobs: ClaimedJob[] = [];
  while (jobs.length < count) {
    const got = await agent.claim(count - jobs.length, 2000);
    if (got.length === 0) break;
    jobs.push(...got);
  }
  return jobs;
}

const items = async (runId: string) =>
  (await expectStatus<{ items: SyncRunItemView[] }>(c.admin.get(`/sync-runs/${runId}/items`), 200)).items;

const history = async (id: string) =>
  (
    await expectStatus<{ items: { status: string; reason: string | null }[] }>(
      c.admin.get(`/credentials/${id}/history`),
      200,
    )
  ).items.map((i) => (i.reason ? `${i.status}/${i.reason}` : i.status));

describe('partial synced', () => {
  it('a change whose new password is set but did not confirm itself counts partial, under With Issues', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const cred = await createCredential(c.admin, await createTarget(c.admin, siteId));
    await agent.report((await claimAll(agent, 1)).map(held));
    const issuesBefore = (await expectStatus<OverviewView>(c.admin.get('/overview'), 200)).buckets.withIssues;

    const run = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'change', scope: { siteId } }),
      201,
    );
    await tick(c.ctx);
    const change = await claimAll(agent, 1);
    expect(change.map((j) => j.kind)).toEqual(['change']);
    // The change was sent but its proof login failed: uncertain, a reconcile follows; the run waits.
    await agent.report(change.map(held), {
      outcome: 'failed',
      reason: 'change_outcome_unknown',
      message: 'new password not confirmed: unreachable',
    });
    expect((await getSyncRun(c.admin, run.id)).finishedAt).toBeNull();
    const reconcile = await claimAll(agent, 1);
    expect(reconcile.map((j) => j.kind)).toEqual(['reconcile']);
    const newPassword = reconcile[0]!.pendingPassword;
    await agent.report(reconcile.map(held), { outcome: 'ok', works: 'pending' });

    const done = await getSyncRun(c.admin, run.id);
    expect(done.finishedAt).not.toBeNull();
    expect(done.counts).toEqual({ impacted: 1, success: 0, unsynced: 0, partial: 1, failed: 0 });
    expect(done.outcome).toBe('partial');
    expect((await items(run.id)).map((i) => [i.result, i.reason])).toEqual([
      ['partial', 'change_outcome_unknown'],
    ]);
    // The credential is in sync with the new password.
    expect((await getCredential(c.admin, cred.id)).status).toBe('in_sync');
    const stored = await expectStatus<{ password: string }>(
      c.admin.get(`/credentials/${cred.id}/password`),
      200,
    );
    expect(stored.password).toBe(newPassword);
    const issuesAfter = (await expectStatus<OverviewView>(c.admin.get('/overview'), 200)).buckets.withIssues;
    expect(issuesAfter).toBe(issuesBefore + 1);
  });

  it('a change confirmed at once counts success', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    await createCredential(c.admin, await createTarget(c.admin, siteId));
    await agent.report((await claimAll(agent, 1)).map(held));
    const run = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'change', scope: { siteId } }),
      201,
    );
    await tick(c.ctx);
    await agent.report((await claimAll(agent, 1)).map(held), { outcome: 'ok', works: 'pending' });
    const done = await getSyncRun(c.admin, run.id);
    expect(done.counts).toEqual({ impacted: 1, success: 1, unsynced: 0, partial: 0, failed: 0 });
    expect(done.outcome).toBe('success');
  });
});

describe('scheduled work in site summaries and the run history', () => {
  it('verifications outside any run show per site (last verified, last 24 h) and as a daily schedule entry', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const targetId = await createTarget(c.admin, siteId);
    const good = await createCredential(c.admin, targetId);
    const bad = await createCredential(c.admin, targetId);
    // The first verifications of new credentials are scheduled work: no run.
    const jobs = await claimAll(agent, 2);
    expect(jobs).toHaveLength(2);
    await agent.report(jobs.filter((j) => j.credentialId === good.id).map(held));
    await agent.report(jobs.filter((j) => j.credentialId === bad.id).map(held), {
      outcome: 'failed',
      reason: 'mismatch',
      message: 'authentication failed',
    });
    expect((await getCredential(c.admin, good.id)).status).toBe('in_sync');

    const summary = await expectStatus<SummaryView>(c.admin.get('/summary'), 200);
    const site = summary.sites.find((s) => s.siteId === siteId)!;
    expect(site.lastVerifiedAt).not.toBeNull();
    expect(site.last24h).toEqual({ checked: 2, ok: 1, failed: 1 });
    const overview = await expectStatus<OverviewView>(c.admin.get('/overview'), 200);
    const overviewSite = overview.sites.find((s) => s.siteId === siteId)!;
    expect(overviewSite.lastVerifiedAt).toBe(site.lastVerifiedAt);
    expect(overviewSite.last24h).toEqual({ checked: 2, ok: 1, failed: 1 });

    // The run history lists the day's scheduled verifications of the site as one entry.
    const entry = await waitForValue(
      async () => {
        const page = await expectStatus<{ items: SyncRunView[] }>(
          c.admin.get(`/sync-runs?siteId=${siteId}`),
          200,
        );
        const found = page.items.find((r) => r.trigger === 'schedule');
        return found && found.counts.impacted === 2 ? found : null;
      },
      { timeoutMs: 10_000, message: 'the schedule entry of the site' },
    );
    expect(entry).toMatchObject({
      kind: 'verify',
      trigger: 'schedule',
      scope: { siteId },
      counts: { impacted: 2, success: 1, failed: 1, unsynced: 0, partial: 0 },
      outcome: 'partial',
    });
    const day = new Date();
    day.setUTCHours(0, 0, 0, 0);
    expect(entry.startedAt).toBe(day.toISOString());
    expect(entry.finishedAt).not.toBeNull();

    // More results the same day add to the same entry.
    await expectStatus(c.admin.post(`/credentials/${good.id}/verify`), 202);
    await agent.report((await claimAll(agent, 1)).map(held));
    await waitForValue(async () => (await getSyncRun(c.admin, entry.id)).counts.success === 2 || null, {
      timeoutMs: 10_000,
      message: 'the entry counting the second result',
    });
    const page = await expectStatus<{ items: SyncRunView[] }>(
      c.admin.get(`/sync-runs?siteId=${siteId}`),
      200,
    );
    expect(page.items.filter((r) => r.trigger === 'schedule')).toHaveLength(1);
  });

  it('results inside a manual run are not counted again in the schedule entry', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    await createCredential(c.admin, await createTarget(c.admin, siteId));
    await agent.report((await claimAll(agent, 1)).map(held));
    const scheduled = await waitForValue(
      async () =>
        (
          await expectStatus<{ items: SyncRunView[] }>(c.admin.get(`/sync-runs?siteId=${siteId}`), 200)
        ).items.find((r) => r.trigger === 'schedule'),
      { timeoutMs: 10_000, message: 'the schedule entry' },
    );
    const run = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'verify', scope: { siteId } }),
      201,
    );
    await tick(c.ctx);
    await agent.report((await claimAll(agent, 1)).map(held));
    expect((await getSyncRun(c.admin, run.id)).outcome).toBe('success');
    await c.ctx.scheduleCounts.flush();
    expect((await getSyncRun(c.admin, scheduled.id)).counts.impacted).toBe(1);
  });
});

describe('a new credential reads as pending until its first result', () => {
  it('its status history holds no "Not verified recently" before the first check', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const cred = await createCredential(c.admin, await createTarget(c.admin, siteId));
    expect(cred.status).toBe('pending_sync');
    expect(await history(cred.id)).toEqual([]);
    await agent.report((await claimAll(agent, 1)).map(held));
    expect(await history(cred.id)).toEqual(['in_sync']);
  });

  it('created with sync off, then turned on: pending, never stale, until its first check', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const cred = await createCredential(c.admin, await createTarget(c.admin, siteId), {
      syncEnabled: false,
    });
    expect(await history(cred.id)).toEqual([]);
    const on = await expectStatus<{ status: string }>(
      c.admin.patch(`/credentials/${cred.id}`, { syncEnabled: true }),
      200,
    );
    expect(on.status).toBe('pending_sync');
    expect(await history(cred.id)).toEqual([]);
    await tick(c.ctx);
    await agent.report((await claimAll(agent, 1)).map(held));
    expect(await history(cred.id)).toEqual(['in_sync']);
  });
});
