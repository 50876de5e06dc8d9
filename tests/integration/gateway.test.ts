import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GATEWAY_PATHS, type ClaimedJob } from '../../shared/contracts/gateway.js';
import { jobIdFor } from '../../shared/contracts/jobs.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  expectStatus,
  createSite,
  createTarget,
  FakeAgent,
  getCredential,
  held,
  type ErrorBody,
  waitForValue,
} from '../support/fixtures.js';
import { api } from '../support/http.js';
import { sleep } from '../support/wait.js';
import { dispatch } from '../../coordinator/queues/dispatch.js';
import { loadCredentials } from '../../coordinator/credentials/store.js';
import { BEING_SYNCED_AFTER_MS } from '../../coordinator/gateway/being-synced.js';
import { HELD_PER_CYCLE_MS } from '../../coordinator/queues/operator-holds.js';

let c: InProcessCoordinator;
let siteId: string;
let targetId: string;
let agent: FakeAgent;

beforeAll(async () => {
  c = await startInProcessCoordinator('gateway', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  targetId = await createTarget(c.admin, siteId, { latencyMs: 5, host: 'db-1.example' });
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
});
afterAll(() => c?.close());

/** The credential columns a result changes, straight from PostgreSQL. */
async function row(id: string) {
  const { rows } = await c.ctx.db.query<{
    status: string;
    job_state: string;
    last_verified_at: Date | null;
    updated_at: Date;
    next_verify_at: Date | null;
  }>(
    'SELECT status, job_state, last_verified_at, updated_at, next_verify_at FROM credentials WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

const inQueue = async (credentialId: string) =>
  (await c.ctx.queues.existing(siteId, [jobIdFor('verify', credentialId)])).size === 1;

describe('agent gateway', () => {
  it('claims jobs with their secrets, audits the hand-out, extends, and takes one report per job', async () => {
    const creds = await Promise.all([1, 2, 3].map(() => createCredential(c.admin, targetId)));
    for (const cred of creds) expect(cred.status).toBe('pending_sync');

    const jobs = await agent.claim(10);
    expect(jobs.map((j) => j.credentialId).sort()).toEqual(creds.map((x) => x.id).sort());
    for (const job of jobs) {
      const cred = creds.find((x) => x.id === job.credentialId)!;
      expect(job).toMatchObject({
        kind: 'verify',
        jobId: jobIdFor('verify', cred.id),
        username: cred.username,
        password: cred.password,
        target: { id: targetId, kind: 'simulated', host: 'db-1.example' },
      });
      expect(job.target.connection).toMatchObject({ latencyMs: 5 });
      expect(job.token.startsWith(`${agent.agentId}.`)).toBe(true);
      // "Being synced" shows once the job has run for a moment (being-synced.ts), not at the claim.
      await waitForValue(async () => (await row(cred.id)).status === 'being_synced');
      expect((await getCredential(c.admin, cred.id)).job).toEqual({ state: 'active', kind: 'verify' });
    }

    // Every hand-out of secrets is audited: one event per credential, naming the agent and the job.
    const audit = await c.ctx.db.query<{
      actor_type: string;
      actor_id: string;
      object_id: string;
      details: { jobId: string };
    }>(`SELECT actor_type, actor_id, object_id, details FROM audit_events WHERE action = 'secret.handout'`);
    expect(audit.rows).toHaveLength(3);
    for (const r of audit.rows) expect(r).toMatchObject({ actor_type: 'agent', actor_id: agent.agentId });
    expect(audit.rows.map((r) => r.object_id).sort()).toEqual(creds.map((x) => x.id).sort());
    expect(audit.rows.map((r) => r.details.jobId).sort()).toEqual(jobs.map((j) => j.jobId).sort());

    // Nothing left to claim: the three are held.
    expect(await agent.claim(10)).toEqual([]);

    const [first, second, third] = jobs as [(typeof jobs)[0], (typeof jobs)[0], (typeof jobs)[0]];
    const extended = await agent.extend([
      held(first),
      held(second),
      { jobId: third.jobId, token: `${agent.agentId}.bogus-token` },
      { jobId: third.jobId, token: 'not-even-a-lock-token' },
    ]);
    expect(extended.extended.sort()).toEqual([first.jobId, second.jobId].sort());
    expect(extended.lost).toEqual([third.jobId, third.jobId]);

    const reported = await agent.report([held(first), held(second), held(third)]);
    expect(reported.accepted.sort()).toEqual(jobs.map((j) => j.jobId).sort());
    expect(reported.rejected).toEqual([]);
    for (const job of jobs) {
      const r = await row(job.credentialId);
      expect(r.status).toBe('in_sync');
      expect(r.job_state).toBe('idle');
      expect(r.last_verified_at).not.toBeNull();
      expect(r.next_verify_at!.getTime()).toBeGreaterThan(Date.now());
      expect(await inQueue(job.credentialId)).toBe(false);
      const view = await getCredential(c.admin, job.credentialId);
      expect(view.status).toBe('in_sync');
      expect(JSON.stringify(view)).not.toContain(creds.find((x) => x.id === job.credentialId)!.password);
    }

    // A second report of the same job is refused and changes nothing.
    const before = await row(first.credentialId);
    const again = await agent.report([held(first)], { outcome: 'failed', reason: 'mismatch' });
    expect(again).toEqual({ accepted: [], rejected: [{ jobId: first.jobId, code: 'JOB_NOT_HELD' }] });
    expect(await row(first.credentialId)).toEqual(before);
    // Extending a finished job reports it lost.
    expect(await agent.extend([held(first)])).toEqual({ extended: [], lost: [first.jobId] });
  });

  it('"being synced" marks only jobs claimed BEING_SYNCED_AFTER_MS ago, not younger claims marked with them', async () => {
    const [first, second] = await Promise.all([1, 2].map(() => createCredential(c.admin, targetId)));
    const [a] = await agent.claim(1);
    expect(a).toBeDefined();
    // Claimed within the first claim's half second: still young when the first one is marked.
    await sleep(BEING_SYNCED_AFTER_MS - 100);
    const [b] = await agent.claim(1);
    const claimedB = Date.now();
    expect([a!.credentialId, b!.credentialId].sort()).toEqual([first!.id, second!.id].sort());
    while (Date.now() < claimedB + BEING_SYNCED_AFTER_MS - 50) {
      expect((await row(b!.credentialId)).status).not.toBe('being_synced');
      await sleep(20);
    }
    expect((await row(a!.credentialId)).status).toBe('being_synced');
    // Still running later: marked too.
    await waitForValue(async () => (await row(b!.credentialId)).status === 'being_synced');
    const reported = await agent.report([held(a!), held(b!)]);
    expect(reported.accepted).toHaveLength(2);
  });

  it('a long-poll claim returns as soon as a credential is created', async () => {
    expect(await agent.claim(10)).toEqual([]);
    const started = Date.now();
    const waiting = agent.claim(10, 10_000);
    await sleep(150);
    const created = Date.now();
    const cred = await createCredential(c.admin, targetId);
    const jobs = await waiting;
    const answered = Date.now();
    expect(jobs.map((j) => j.credentialId)).toEqual([cred.id]);
    expect(answered - started).toBeGreaterThanOrEqual(150);
    // Waiting claims also re-check every second on their own: only a wake-up answers this fast.
    expect(answered - created).toBeLessThan(600);
    expect((await agent.report(jobs.map(held))).accepted).toHaveLength(1);
    expect((await row(cred.id)).status).toBe('in_sync');
  });

  it('a long-poll claim returns as soon as an operator presses Sync now, the job marked urgent', async () => {
    const cred = await createCredential(c.admin, targetId);
    const [job] = await agent.claim(10);
    // A first verification is not an operator's: its result goes with the next batch.
    expect(job!.urgent).toBeUndefined();
    await agent.report([held(job!)]);
    expect((await row(cred.id)).status).toBe('in_sync');

    const waiting = agent.claim(10, 10_000);
    await sleep(150);
    const pressed = Date.now();
    const verify = await c.admin.post(`/credentials/${cred.id}/verify`);
    expect(verify.status).toBe(202);
    const jobs = await waiting;
    expect(Date.now() - pressed).toBeLessThan(600);
    expect(jobs.map((j) => [j.credentialId, j.kind, j.urgent])).toEqual([[cred.id, 'verify', true]]);
    expect((await agent.report(jobs.map(held))).accepted).toEqual([jobs[0]!.jobId]);
  });

  it('a priorityOnly claim waits while only routine verifications are queued, and takes a Sync now at once', async () => {
    const beat = await agent.heartbeatRaw();
    expect(beat.body).toMatchObject({ priorityClaims: true });
    const priorityClaim = (waitMs: number) =>
      expectStatus<{ jobs: ClaimedJob[] }>(
        agent.gateway.post(GATEWAY_PATHS.claim, { max: 1, waitMs, priorityOnly: true }),
        200,
        'priority claim',
      );
    const [done, routine] = await Promise.all([1, 2].map(() => createCredential(c.admin, targetId)));
    // Both first verifications are queued: routine work, which a priority claim leaves alone.
    const first = await agent.claim(1);
    expect(first).toHaveLength(1);
    const other = first[0]!.credentialId === done!.id ? routine! : done!;
    await agent.report(first.map(held));
    expect((await priorityClaim(300)).jobs).toEqual([]);

    const waiting = priorityClaim(10_000);
    await sleep(150);
    const pressed = Date.now();
    expect((await c.admin.post(`/credentials/${first[0]!.credentialId}/verify`)).status).toBe(202);
    const { jobs } = await waiting;
    expect(Date.now() - pressed).toBeLessThan(600);
    expect(jobs.map((j) => [j.credentialId, j.urgent])).toEqual([[first[0]!.credentialId, true]]);
    await agent.report(jobs.map(held));
    // The routine verification is still queued for the regular claims.
    const rest = await agent.claim(10);
    expect(rest.map((j) => j.credentialId)).toEqual([other.id]);
    await agent.report(rest.map(held));

    const tooMany = await agent.gateway.post(GATEWAY_PATHS.claim, { max: 2, priorityOnly: true });
    expect(tooMany.status).toBe(400);
    expect(JSON.stringify(tooMany.body)).toContain('body.max');
  });

  it("while an operator's Sync now is in flight, the site's routine verifications wait for its result", async () => {
    const pressed = await createCredential(c.admin, targetId);
    await agent.report((await agent.claim(10)).map(held));
    const routine = await Promise.all([1, 2].map(() => createCredential(c.admin, targetId)));
    expect((await c.admin.post(`/credentials/${pressed.id}/verify`)).status).toBe(202);
    // The operator's job goes out, queued after the two routine first verifications; they wait.
    const urgent = await agent.claim(10);
    expect(urgent.map((j) => [j.credentialId, j.urgent])).toEqual([[pressed.id, true]]);
    expect(await agent.claim(10)).toEqual([]);
    const waiting = agent.claim(10, 10_000);
    await sleep(100);
    // The operator's result is taken; the report's own claim hands out no routine job yet...
    const answer = await expectStatus<{ accepted: string[]; jobs?: ClaimedJob[] }>(
      agent.gateway.post(GATEWAY_PATHS.report, {
        results: urgent.map((j) => ({
          jobId: j.jobId,
          token: j.token,
          result: { outcome: 'ok' },
          durationMs: 1,
        })),
        claim: { max: 10 },
      }),
      200,
      'report',
    );
    expect(answer).toMatchObject({ accepted: [urgent[0]!.jobId], jobs: [] });
    // ...and the claim that waited gets them at once (woken, not at its one-second re-check).
    const released = Date.now();
    const rest = await waiting;
    expect(Date.now() - released).toBeLessThan(600);
    expect(rest.map((j) => j.credentialId).sort()).toEqual(routine.map((r) => r.id).sort());
    await agent.report(rest.map(held));
  });

  it("a report's claim takes an operator's Sync now, and no routine verification, when no priority lane waits", async () => {
    const site = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, site);
    const other = await FakeAgent.enroll(c.url, c.admin, site);
    const [pressed, busy] = await Promise.all([1, 2].map(() => createCredential(c.admin, target)));
    const first = await other.claim(10);
    expect(first).toHaveLength(2);
    await other.report(first.filter((j) => j.credentialId === pressed!.id).map(held));
    const routine = await createCredential(c.admin, target);
    expect((await c.admin.post(`/credentials/${pressed!.id}/verify`)).status).toBe(202);
    const answer = await expectStatus<{ accepted: string[]; jobs?: ClaimedJob[] }>(
      other.gateway.post(GATEWAY_PATHS.report, {
        results: first
          .filter((j) => j.credentialId === busy!.id)
          .map((j) => ({ jobId: j.jobId, token: j.token, result: { outcome: 'ok' }, durationMs: 1 })),
        claim: { max: 10 },
      }),
      200,
      'report',
    );
    expect(answer.jobs?.map((j) => [j.credentialId, j.urgent])).toEqual([[pressed!.id, true]]);
    await other.report(answer.jobs!.map(held));
    const rest = await other.claim(10);
    expect(rest.map((j) => j.credentialId)).toEqual([routine.id]);
    await other.report(rest.map(held));
  });

  it("an operator's job whose result never comes holds the routine work for three quarters of a second", async () => {
    // A site of its own: no earlier operator job's cycle goes on here.
    const site = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, site);
    const other = await FakeAgent.enroll(c.url, c.admin, site);
    const pressed = await createCredential(c.admin, target);
    await other.report((await other.claim(10)).map(held));
    const routine = await createCredential(c.admin, target);
    const press = Date.now();
    expect((await c.admin.post(`/credentials/${pressed.id}/verify`)).status).toBe(202);
    const urgent = await other.claim(10);
    expect(urgent.map((j) => j.credentialId)).toEqual([pressed.id]);
    // A claim that waits is answered when the hold ends by its bound (it knows when: no wake-up comes).
    const rest = await other.claim(10, 5_000);
    expect(rest.map((j) => j.credentialId)).toEqual([routine.id]);
    expect(Date.now() - press).toBeGreaterThanOrEqual(HELD_PER_CYCLE_MS - 50);
    expect(Date.now() - press).toBeLessThan(HELD_PER_CYCLE_MS + 600);
    await other.report([...urgent, ...rest].map(held));
  });

  it('a queued job reaches Redis only once its transaction has committed', async () => {
    // Else a waiting claim could take it, read the row without its pending password and drop the change.
    const cred = await createCredential(c.admin, targetId);
    await agent.report((await agent.claim(10)).map(held));
    const jobId = jobIdFor('change', cred.id);
    const inside = await c.ctx.db.tx(async (q) => {
      const [row] = await loadCredentials(q, [cred.id], true);
      await dispatch(c.ctx, q, [{ row: row!, kind: 'change', password: 'given-in-tx-1' }], new Date());
      return c.ctx.queues.existing(siteId, [jobId]);
    });
    expect(inside.size).toBe(0);
    expect((await c.ctx.queues.existing(siteId, [jobId])).size).toBe(1);
    const [job] = await agent.claim(5);
    expect(job).toMatchObject({ kind: 'change', credentialId: cred.id, pendingPassword: 'given-in-tx-1' });
    await agent.report([held(job!)], { outcome: 'ok', works: 'pending' });
    // A rolled-back transaction queues nothing.
    await expect(
      c.ctx.db.tx(async (q) => {
        const [row] = await loadCredentials(q, [cred.id], true);
        await dispatch(c.ctx, q, [{ row: row!, kind: 'verify' }], new Date());
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await c.ctx.queues.existing(siteId, [jobIdFor('verify', cred.id)])).size).toBe(0);
  });

  it('refuses gateway calls without a valid agent token', async () => {
    const forged = `pwa_${agent.agentId}.${'x'.repeat(32)}`;
    for (const token of [forged, undefined]) {
      const res = await api(c.url, token).post(GATEWAY_PATHS.claim, { max: 1, waitMs: 0 });
      expect(res.status).toBe(401);
      expect((res.body as ErrorBody).error.code).toBe('UNAUTHENTICATED');
    }
  });
});
