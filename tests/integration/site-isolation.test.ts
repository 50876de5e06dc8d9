import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lockTokenFor } from '../../coordinator/gateway/agent-auth.js';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  FakeAgent,
  held,
  type CreatedCredential,
  type ErrorBody,
  waitForValue,
} from '../support/fixtures.js';
import { api } from '../support/http.js';

let c: InProcessCoordinator;
const sites: { id: string; agent: FakeAgent; creds: CreatedCredential[] }[] = [];

beforeAll(async () => {
  c = await startInProcessCoordinator('site-isolation', inject('redisUrl'));
  for (const name of ['site-a', 'site-b']) {
    const id = (await createSite(c.admin, name)).id;
    const targetId = await createTarget(c.admin, id);
    const creds = [await createCredential(c.admin, targetId), await createCredential(c.admin, targetId)];
    sites.push({ id, agent: await FakeAgent.enroll(c.url, c.admin, id), creds });
  }
});
afterAll(() => c?.close());

async function credentialState(id: string) {
  const { rows } = await c.ctx.db.query<{ status: string; job_state: string; updated_at: Date }>(
    'SELECT status, job_state, updated_at FROM credentials WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

describe("a site's agent and another site's jobs", () => {
  it('claims only the jobs of its own site, and cannot extend, report or release the others', async () => {
    const [a, b] = sites as [(typeof sites)[0], (typeof sites)[0]];
    const aJobs = await a.agent.claim(50);
    expect(aJobs.map((j) => j.credentialId).sort()).toEqual(a.creds.map((x) => x.id).sort());

    const bJobs = await b.agent.claim(50);
    expect(bJobs.map((j) => j.credentialId).sort()).toEqual(b.creds.map((x) => x.id).sort());
    const [bJob] = bJobs as [(typeof bJobs)[0]];
    const before = await waitForValue(async () => {
      const state = await credentialState(bJob.credentialId);
      return state.status === 'being_synced' && state;
    });
    expect(before).toMatchObject({ status: 'being_synced', job_state: 'active' });

    // With B's job id and B's own lock token (stolen from B's claim), and with A's token.
    const stolen = [held(bJob), { jobId: bJob.jobId, token: aJobs[0]!.token }];
    expect(await a.agent.extend(stolen)).toEqual({ extended: [], lost: [bJob.jobId, bJob.jobId] });
    const report = await a.agent.report(stolen, { outcome: 'failed', reason: 'mismatch' });
    expect(report.accepted).toEqual([]);
    expect(report.rejected).toEqual([
      { jobId: bJob.jobId, code: 'JOB_NOT_HELD' },
      { jobId: bJob.jobId, code: 'JOB_NOT_HELD' },
    ]);
    expect(await a.agent.release(stolen)).toEqual({ released: [], lost: [bJob.jobId, bJob.jobId] });

    // B's credential and job are untouched: still active, still locked by B.
    expect(await credentialState(bJob.credentialId)).toEqual(before);
    const job = await c.ctx.queues.fetch(b.id, bJob.jobId);
    expect(await job?.getState()).toBe('active');
    expect(await b.agent.extend([held(bJob)])).toEqual({ extended: [bJob.jobId], lost: [] });
    // Nothing of B ever reached A's queue either.
    expect(await a.agent.claim(50)).toEqual([]);

    // The refusals are audited against the agent that tried.
    const refused = await c.ctx.db.query<{ actor_id: string }>(
      `SELECT actor_id FROM audit_events WHERE action = 'report.refused'`,
    );
    expect(refused.rows.map((r) => r.actor_id)).toEqual([a.agent.agentId]);
    // So are the refused extends and releases: B's token (not A's to use), A's token on B's job.
    for (const action of ['extend.refused', 'release.refused']) {
      const { rows } = await c.ctx.db.query<{
        actor_type: string;
        actor_id: string;
        details: { siteId: string; refused: { jobId: string; reason: string }[] };
      }>(`SELECT actor_type, actor_id, details FROM audit_events WHERE action = $1`, [action]);
      expect(rows, action).toHaveLength(1);
      expect(rows[0]).toMatchObject({ actor_type: 'agent', actor_id: a.agent.agentId });
      expect(rows[0]!.details.siteId).toBe(a.id);
      expect(rows[0]!.details.refused.map((r) => r.reason).sort()).toEqual(['foreign_token', 'not_held']);
      expect(rows[0]!.details.refused.every((r) => r.jobId === bJob.jobId)).toBe(true);
    }

    // B, the holder, still finishes its jobs normally.
    const done = await b.agent.report(bJobs.map(held));
    expect(done.accepted.sort()).toEqual(bJobs.map((j) => j.jobId).sort());
    for (const cred of b.creds) expect((await credentialState(cred.id)).status).toBe('in_sync');
    for (const cred of a.creds) {
      await waitForValue(async () => (await credentialState(cred.id)).status === 'being_synced');
    }
    expect((await a.agent.report(aJobs.map(held))).accepted).toHaveLength(2);
  });

  it("refuses a result whose job sits in its own queue but names another site's credential", async () => {
    const [a, b] = sites as [(typeof sites)[0], (typeof sites)[0]];
    const victim = await createCredential(c.admin, await createTarget(c.admin, b.id), { syncEnabled: false });
    const before = await credentialState(victim.id);
    // A job that should never be in A's queue (claim.ts would skip it): taken straight from Redis
    // with a lock token of A's, the way a tampered queue would hand it to A.
    await c.ctx.queues.enqueue(a.id, [{ kind: 'verify', credentialId: victim.id }]);
    const token = lockTokenFor(a.agent.agentId, randomUUID());
    const [job] = await c.ctx.queues.take(a.id, token, 1);
    expect(job?.id).toBe(`v-${victim.id}`);
    const res = await a.agent.report([{ jobId: job!.id!, token }], { outcome: 'failed', reason: 'mismatch' });
    expect(res).toEqual({ accepted: [], rejected: [{ jobId: job!.id, code: 'JOB_NOT_HELD' }] });
    expect(await credentialState(victim.id)).toEqual(before);
  });

  it('refuses an operator token on gateway routes and an agent token on operator routes', async () => {
    const agent = sites[0]!.agent;
    const asAdmin = api(c.url, ADMIN_TOKEN);
    for (const [path, body] of [
      [GATEWAY_PATHS.claim, { max: 1, waitMs: 0 }],
      [GATEWAY_PATHS.heartbeat, { inFlight: 0 }],
      [
        GATEWAY_PATHS.report,
        { results: [{ jobId: 'v-x', token: 'y', result: { outcome: 'ok' }, durationMs: 1 }] },
      ],
    ] as const) {
      const res = await asAdmin.post(path, body);
      expect(res.status, path).toBe(401);
      expect((res.body as ErrorBody).error.code).toBe('UNAUTHENTICATED');
    }
    const asAgent = api(`${c.url}/api/v1`, agent.token);
    for (const res of [
      await asAgent.get('/credentials'),
      await asAgent.get('/agents'),
      await asAgent.post('/sites', { name: 'by-an-agent' }),
      await asAgent.post(`/agents/${agent.agentId}/enable`),
    ]) {
      expect(res.status).toBe(401);
      expect((res.body as ErrorBody).error.code).toBe('UNAUTHENTICATED');
    }
    const { rows } = await c.ctx.db.query(`SELECT 1 FROM sites WHERE name = 'by-an-agent'`);
    expect(rows).toHaveLength(0);
    // The same tokens do work where they belong.
    expect((await agent.heartbeatRaw()).status).toBe(200);
    expect((await c.admin.get('/agents')).status).toBe(200);
  });
});
