import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OverviewView, SyncRunItemView, SyncRunView } from '../../shared/contracts/api.js';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
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
  type ErrorBody,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { runCli } from '../support/processes.js';

/**
 * Every sync run ends (docs/sync-runs.md): an item whose site has no agent able to take its job
 * for RUN_AGENT_WAIT_MS ends `unsynced` with the reason (`no_agent`, `agent_disabled`,
 * `site_disabled`, `agents_offline`); an item left with nothing to do ends at once; an operator can
 * cancel a run; a run that ends with failures counts under With Issues. The scheduler runs here
 * (tick, reconciler and the run sweep in the reconciler's job), with short periods.
 */
let c: InProcessCoordinator;
let viewer: ApiClient;
let operator: ApiClient;

beforeAll(async () => {
  c = await startInProcessCoordinator('sync-run-end', inject('redisUrl'), {
    RUN_SCHEDULER: 'true',
    SCHEDULER_TICK_MS: '200',
    RECONCILE_EVERY_MS: '1000',
    RECONCILE_GRACE_MS: '1000',
    RUN_AGENT_WAIT_MS: '1000',
  });
  const token = async (role: string) =>
    (
      await expectStatus<{ token: string }>(
        c.admin.post('/tokens', { name: `${role}-${Date.now()}`, role }),
        201,
        'POST /tokens',
      )
    ).token;
  viewer = api(`${c.url}/api/v1`, await token('viewer'));
  operator = api(`${c.url}/api/v1`, await token('operator'));
});
afterAll(() => c?.close());

const startRun = (scope: Record<string, string>, kind: 'verify' | 'change' = 'verify') =>
  expectStatus<SyncRunView>(c.admin.post('/sync-runs', { kind, scope }), 201, 'POST /sync-runs');

const items = async (runId: string) =>
  (
    await expectStatus<{ items: SyncRunItemView[] }>(
      c.admin.get(`/sync-runs/${runId}/items?limit=500`),
      200,
      'run items',
    )
  ).items;

const finished = (runId: string, timeoutMs = 20_000) =>
  waitForValue(
    async () => {
      const run = await getSyncRun(c.admin, runId);
      return run.finishedAt ? run : null;
    },
    { timeoutMs, intervalMs: 200, message: `run ${runId} to finish` },
  );

const jobState = async (id: string) =>
  (await c.ctx.db.query<{ job_state: string }>('SELECT job_state FROM credentials WHERE id = $1', [id]))
    .rows[0]!.job_state;

/** Every agent onlineAgent made: the run over everything needs each served site's jobs done. */
const online: FakeAgent[] = [];

/** An agent that heartbeats (so it counts as online) and claims / reports when told. */
async function onlineAgent(siteId: string): Promise<FakeAgent> {
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  expect((await agent.heartbeatRaw()).status).toBe(200);
  online.push(agent);
  return agent;
}

async function claimAll(agent: FakeAgent, count: number): Promise<ClaimedJob[]> {
  const jobs: ClaimedJob[] = [];
  while (jobs.length < count) {
    const got = await agent.claim(count - jobs.length, 2000);
    if (got.length === 0) break;
    jobs.push(...got);
  }
  return jobs;
}

/** Jobs waiting in a site queue (changes outrank verifications: BullMQ keeps them as prioritized). */
const queuedJobs = (counts: Record<string, number>) => (counts.wait ?? 0) + (counts.prioritized ?? 0);

const password = async (id: string) =>
  (await expectStatus<{ password: string }>(c.admin.get(`/credentials/${id}/password`), 200)).password;

describe('a run over credentials no agent can take ends after RUN_AGENT_WAIT_MS', () => {
  it('a site that never had an agent: unsynced (no_agent), failure, under With Issues', async () => {
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    const cred = await createCredential(c.admin, targetId);
    const run = await startRun({ siteId });
    expect(run.finishedAt).toBeNull();

    const done = await finished(run.id);
    expect(done.counts).toEqual({ impacted: 1, success: 0, unsynced: 1, partial: 0, failed: 0 });
    expect(done.outcome).toBe('failure');
    expect((await items(run.id)).map((i) => [i.credentialId, i.result, i.reason])).toEqual([
      [cred.id, 'unsynced', 'no_agent'],
    ]);
    // The work itself is not withdrawn: the credential still waits for its first agent.
    expect((await getCredential(c.admin, cred.id)).status).toBe('pending_sync');
    const overview = await expectStatus<OverviewView>(c.admin.get('/overview'), 200);
    expect(overview.buckets.withIssues).toBeGreaterThanOrEqual(1);
    const issues = await expectStatus<{ items: SyncRunView[] }>(
      c.admin.get(`/sync-runs?outcome=issues&siteId=${siteId}`),
      200,
    );
    expect(issues.items.map((r) => r.id)).toEqual([run.id]);

    // An agent that comes later still verifies it; the ended run keeps its counts.
    const agent = await onlineAgent(siteId);
    await agent.report((await claimAll(agent, 1)).map(held));
    expect((await getCredential(c.admin, cred.id)).status).toBe('in_sync');
    expect((await getSyncRun(c.admin, run.id)).counts).toEqual(done.counts);
  });

  it('all agents of the site disabled: unsynced (agent_disabled)', async () => {
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/disable`), 200, 'disable agent');
    await createCredential(c.admin, targetId);
    const run = await startRun({ siteId });
    const done = await finished(run.id);
    expect(done.outcome).toBe('failure');
    expect((await items(run.id)).map((i) => i.reason)).toEqual(['agent_disabled']);
  });

  it('a disabled site: unsynced (site_disabled)', async () => {
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    await FakeAgent.enroll(c.url, c.admin, siteId);
    await createCredential(c.admin, targetId);
    await expectStatus(c.admin.post(`/sites/${siteId}/disable`), 200, 'disable site');
    const run = await startRun({ siteId });
    const done = await finished(run.id);
    expect((await items(run.id)).map((i) => i.reason)).toEqual(['site_disabled']);
    expect(done.outcome).toBe('failure');
  });

  it('enabled agents that stopped calling in: unsynced (agents_offline)', async () => {
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    // Enrolled, never heard of since: enabled but not online.
    await FakeAgent.enroll(c.url, c.admin, siteId);
    await createCredential(c.admin, targetId);
    const run = await startRun({ siteId });
    await finished(run.id);
    expect((await items(run.id)).map((i) => i.reason)).toEqual(['agents_offline']);
  });

  it('a run over everything: the served site succeeds, the rest ends unsynced: partial', async () => {
    const served = (await createSite(c.admin)).id;
    const agent = await onlineAgent(served);
    const ok = await createCredential(c.admin, await createTarget(c.admin, served));
    await agent.report((await claimAll(agent, 1)).map(held));
    const orphan = (await createSite(c.admin)).id;
    const waiting = await createCredential(c.admin, await createTarget(c.admin, orphan));

    const run = await startRun({});
    expect(run.counts.impacted).toBeGreaterThanOrEqual(2);
    // Every job of the served sites (this test's and the earlier tests' that have an agent online).
    for (const a of online) {
      const jobs = await claimAll(a, 20);
      if (a === agent) expect(jobs.map((j) => j.credentialId)).toContain(ok.id);
      if (jobs.length > 0) await a.report(jobs.map(held));
    }
    const done = await finished(run.id);
    expect(done.outcome).toBe('partial');
    const byCredential = new Map((await items(run.id)).map((i) => [i.credentialId, i]));
    expect(byCredential.get(ok.id)).toMatchObject({ result: 'success' });
    expect(byCredential.get(waiting.id)).toMatchObject({ result: 'unsynced', reason: 'no_agent' });
  });

  it('a run that ends with failed items counts under With Issues like a partial one', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await onlineAgent(siteId);
    await createCredential(c.admin, await createTarget(c.admin, siteId));
    await agent.report((await claimAll(agent, 1)).map(held));
    const before = (await expectStatus<OverviewView>(c.admin.get('/overview'), 200)).buckets.withIssues;
    const run = await startRun({ siteId });
    await agent.report((await claimAll(agent, 1)).map(held), {
      outcome: 'failed',
      reason: 'unreachable',
      message: 'connect ETIMEDOUT',
    });
    const done = await finished(run.id);
    expect(done.outcome).toBe('failure');
    expect(done.counts.failed).toBe(1);
    const after = (await expectStatus<OverviewView>(c.admin.get('/overview'), 200)).buckets.withIssues;
    expect(after).toBe(before + 1);
  });
});

describe('a sync group run ends when its primary left it unsettled', () => {
  it('primary uncertain, then refused by the target: the members end unsynced (primary_unsettled)', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await onlineAgent(siteId);
    const t1 = await createTarget(c.admin, siteId);
    const t2 = await createTarget(c.admin, siteId);
    const primary = await createCredential(c.admin, t1);
    const member = await createCredential(c.admin, t2);
    await agent.report((await claimAll(agent, 2)).map(held));
    const group = await expectStatus<{ id: string }>(
      c.admin.post('/sync-groups', {
        name: `group-${Date.now()}`,
        primaryCredentialId: primary.id,
        memberCredentialIds: [member.id],
      }),
      201,
      'POST /sync-groups',
    );
    const run = await expectStatus<SyncRunView>(
      c.admin.post(`/sync-groups/${group.id}/change`, {}),
      202,
      'group change',
    );
    const change = await claimAll(agent, 1);
    expect(change.map((j) => j.kind)).toEqual(['change']);
    await agent.report(change.map(held), { outcome: 'failed', reason: 'change_outcome_unknown' });
    const reconcile = await claimAll(agent, 1);
    expect(reconcile.map((j) => j.kind)).toEqual(['reconcile']);
    // Neither password logs in: the primary's item counts failed, its new password stays pending.
    await agent.report(reconcile.map(held), { outcome: 'failed', reason: 'mismatch' });

    const done = await finished(run.id);
    expect(done.outcome).toBe('failure');
    const byCredential = new Map((await items(run.id)).map((i) => [i.credentialId, i]));
    expect(byCredential.get(primary.id)).toMatchObject({ result: 'failed', reason: 'mismatch' });
    expect(byCredential.get(member.id)).toMatchObject({ result: 'unsynced', reason: 'primary_unsettled' });
  });
});

describe('POST /sync-runs/{id}/cancel', () => {
  it('needs the operator role, is audited, and refuses a finished run (409) or an unknown one (404)', async () => {
    const siteId = (await createSite(c.admin)).id;
    // An agent online that takes nothing: the run waits (the sweep leaves a served site alone).
    await onlineAgent(siteId);
    await createCredential(c.admin, await createTarget(c.admin, siteId));
    const run = await startRun({ siteId });
    const refused = await viewer.post<ErrorBody>(`/sync-runs/${run.id}/cancel`);
    expect(refused.status).toBe(403);
    expect((await getSyncRun(c.admin, run.id)).finishedAt).toBeNull();

    const cancelled = await expectStatus<SyncRunView>(
      operator.post(`/sync-runs/${run.id}/cancel`),
      200,
      'cancel',
    );
    expect(cancelled.finishedAt).not.toBeNull();
    expect(cancelled.cancelledAt).not.toBeNull();
    expect(cancelled.cancelledBy).toMatch(/^[0-9a-f-]{36}$/);
    expect(cancelled.counts).toEqual({ impacted: 1, success: 0, unsynced: 1, partial: 0, failed: 0 });
    expect((await items(run.id)).map((i) => i.reason)).toEqual(['cancelled']);
    const audit = await expectStatus<{ items: { action: string; actorId: string }[] }>(
      c.admin.get(`/audit?objectId=${run.id}&action=sync_run.cancel`),
      200,
    );
    expect(audit.items).toHaveLength(1);
    expect(audit.items[0]!.actorId).toBe(cancelled.cancelledBy);

    const again = await c.admin.post<ErrorBody>(`/sync-runs/${run.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('CONFLICT');
    const missing = await c.admin.post<ErrorBody>(`/sync-runs/${crypto.randomUUID()}/cancel`);
    expect(missing.status).toBe(404);
    const malformed = await c.admin.post<ErrorBody>('/sync-runs/not-a-run/cancel');
    expect(malformed.status).toBe(400);
  });

  it('drops queued work; a change already handed to an agent still finishes (the change protocol)', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await onlineAgent(siteId);
    const targetId = await createTarget(c.admin, siteId);
    const creds = [
      await createCredential(c.admin, targetId),
      await createCredential(c.admin, targetId),
      await createCredential(c.admin, targetId),
    ];
    await agent.report((await claimAll(agent, 3)).map(held));
    const before = new Map(await Promise.all(creds.map(async (x) => [x.id, await password(x.id)] as const)));

    const run = await startRun({ siteId }, 'change');
    // The tick queues the three changes; the agent takes one of them.
    await waitForValue(
      async () => (await Promise.all(creds.map((x) => jobState(x.id)))).every((s) => s === 'queued') || null,
      { timeoutMs: 10_000, message: 'the changes queued' },
    );
    const inFlight = await claimAll(agent, 1);
    expect(inFlight.map((j) => j.kind)).toEqual(['change']);
    const handed = inFlight[0]!;

    const cancelled = await expectStatus<SyncRunView>(
      c.admin.post(`/sync-runs/${run.id}/cancel`),
      200,
      'cancel',
    );
    expect(cancelled.finishedAt).not.toBeNull();
    expect(cancelled.counts).toEqual({ impacted: 3, success: 0, unsynced: 3, partial: 0, failed: 0 });
    expect(cancelled.outcome).toBe('failure');

    // The queued changes are gone: their pending passwords discarded, their jobs removed.
    await waitForValue(async () => queuedJobs(await c.ctx.queues.counts(siteId)) === 0 || null, {
      timeoutMs: 5000,
      message: 'the queued jobs removed',
    });
    expect(await agent.claim(10, 500)).toEqual([]);
    for (const x of creds.filter((x) => x.id !== handed.credentialId)) {
      const view = await getCredential(c.admin, x.id);
      expect(view.status).toBe('in_sync');
      expect(await password(x.id)).toBe(before.get(x.id));
    }

    // The change in flight goes on: its result is applied to the credential (not to the run).
    const report = await agent.report([held(handed)], { outcome: 'ok', works: 'pending' });
    expect(report.accepted).toEqual([handed.jobId]);
    const changed = await getCredential(c.admin, handed.credentialId);
    expect(changed.status).toBe('in_sync');
    expect(await password(handed.credentialId)).not.toBe(before.get(handed.credentialId));
    expect((await getSyncRun(c.admin, run.id)).counts).toEqual(cancelled.counts);
  });

  it('a verification run: queued verifications leave the queue and go back to their schedule', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await onlineAgent(siteId);
    const cred = await createCredential(c.admin, await createTarget(c.admin, siteId));
    await agent.report((await claimAll(agent, 1)).map(held));
    const run = await startRun({ siteId });
    await waitForValue(async () => (await jobState(cred.id)) === 'queued' || null, {
      timeoutMs: 10_000,
      message: 'the verification queued',
    });
    const cancelled = await expectStatus<SyncRunView>(c.admin.post(`/sync-runs/${run.id}/cancel`), 200);
    expect(cancelled.counts).toEqual({ impacted: 1, success: 0, unsynced: 1, partial: 0, failed: 0 });
    await waitForValue(async () => queuedJobs(await c.ctx.queues.counts(siteId)) === 0 || null, {
      timeoutMs: 5000,
      message: 'the queued verification removed',
    });
    const view = await getCredential(c.admin, cred.id);
    expect(view.status).toBe('in_sync');
    expect(view.job.state).toBe('idle');
    expect(new Date(view.nextVerifyAt!).getTime()).toBeGreaterThan(Date.now() + 3_600_000);
  });

  it("a group's run: the primary's unstarted change is dropped and the group's change ends", async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await onlineAgent(siteId);
    const targetId = await createTarget(c.admin, siteId);
    const primary = await createCredential(c.admin, targetId);
    const member = await createCredential(c.admin, targetId);
    await agent.report((await claimAll(agent, 2)).map(held));
    const group = await expectStatus<{ id: string }>(
      c.admin.post('/sync-groups', {
        name: `cancel-group-${Date.now()}`,
        primaryCredentialId: primary.id,
        memberCredentialIds: [member.id],
      }),
      201,
    );
    const run = await expectStatus<SyncRunView>(c.admin.post(`/sync-groups/${group.id}/change`, {}), 202);
    const cancelled = await expectStatus<SyncRunView>(c.admin.post(`/sync-runs/${run.id}/cancel`), 200);
    expect(cancelled.counts).toEqual({ impacted: 2, success: 0, unsynced: 2, partial: 0, failed: 0 });
    expect((await getCredential(c.admin, primary.id)).changePending).toBe(false);
    const view = await expectStatus<{ changeInProgress: boolean }>(
      c.admin.get(`/sync-groups/${group.id}`),
      200,
    );
    expect(view.changeInProgress).toBe(false);
    expect(await agent.claim(10, 500)).toEqual([]);
    expect(await password(primary.id)).toBe(primary.password);
    // The group can change again.
    expect((await c.admin.post(`/sync-groups/${group.id}/change`, {})).status).toBe(202);
  });

  it('a change job a cancel left in the queue (its removal failed) cannot swallow a later change', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await onlineAgent(siteId);
    const cred = await createCredential(c.admin, await createTarget(c.admin, siteId));
    await agent.report((await claimAll(agent, 1)).map(held));
    const run = await startRun({ siteId }, 'change');
    await waitForValue(async () => (await jobState(cred.id)) === 'queued' || null, {
      timeoutMs: 10_000,
      message: 'the change queued',
    });
    const { rows } = await c.ctx.db.query<{ pending_id: string }>(
      'SELECT pending_id FROM credentials WHERE id = $1',
      [cred.id],
    );
    const stale = rows[0]!.pending_id;
    await expectStatus(c.admin.post(`/sync-runs/${run.id}/cancel`), 200);
    await waitForValue(async () => queuedJobs(await c.ctx.queues.counts(siteId)) === 0 || null, {
      timeoutMs: 5000,
      message: 'the queued change removed',
    });
    // As if the removal had failed: the old change's job is back in the queue. A new change's job
    // (same deterministic id) is then deduplicated away by it.
    await c.ctx.queues.enqueue(siteId, [{ kind: 'change', credentialId: cred.id, changeId: stale }]);
    await expectStatus(c.admin.post(`/credentials/${cred.id}/change`, {}), 202);
    // The claim finds the old job about another pending password: skipped, and the new one goes out
    // (the same claim may already take it).
    const job = (await claimAll(agent, 1))[0];
    expect(job).toMatchObject({ kind: 'change', credentialId: cred.id });
    await agent.report([held(job!)], { outcome: 'ok', works: 'pending' });
    expect(await password(cred.id)).toBe(job!.pendingPassword);
  });

  it('syncctl runs cancel ID', async () => {
    const siteId = (await createSite(c.admin)).id;
    await onlineAgent(siteId);
    await createCredential(c.admin, await createTarget(c.admin, siteId));
    const run = await startRun({ siteId });
    const cli = await runCli(['--url', c.url, '--token', ADMIN_TOKEN, 'runs', 'cancel', run.id]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`sync run ${run.id} cancelled`);
    const done = await getSyncRun(c.admin, run.id);
    expect(done.finishedAt).not.toBeNull();
    expect(done.cancelledAt).not.toBeNull();
    const again = await runCli(['--url', c.url, '--token', ADMIN_TOKEN, 'runs', 'cancel', run.id]);
    expect(again.code).toBe(2);
  });
});
