import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { jobIdFor } from '../../shared/contracts/jobs.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  type ErrorBody,
} from '../support/fixtures.js';
import { sleep } from '../support/wait.js';

let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('agent-disabled', inject('redisUrl'));
});
afterAll(() => c?.close());

/** A site with one agent and one credential already in_sync through it. */
async function siteInSync() {
  const siteId = (await createSite(c.admin)).id;
  const targetId = await createTarget(c.admin, siteId);
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  const cred = await createCredential(c.admin, targetId);
  const jobs = await agent.claim(10);
  expect(jobs.map((j) => j.credentialId)).toEqual([cred.id]);
  expect((await agent.report(jobs.map(held))).accepted).toHaveLength(1);
  expect((await getCredential(c.admin, cred.id)).status).toBe('in_sync');
  return { siteId, targetId, agent, cred };
}

const status = async (id: string) => (await getCredential(c.admin, id)).status;

/** Work is refused with 403; the heartbeat is taken and answers state 'disabled'. */
async function expectRefused(agent: FakeAgent) {
  const res = await agent.claimRaw(10);
  expect(res.status).toBe(403);
  expect((res.body as ErrorBody).error.code).toBe('AGENT_DISABLED');
  const beat = await agent.heartbeatRaw();
  expect(beat.status).toBe(200);
  expect((beat.body as { state: string }).state).toBe('disabled');
}

interface AgentItem {
  id: string;
  online: boolean;
  lastHeartbeatAt: string | null;
  inFlight?: number;
  version: string;
}

async function agentItem(siteId: string, id: string): Promise<AgentItem> {
  const body = await expectStatus<{ items: AgentItem[] }>(
    c.admin.get(`/agents?siteId=${siteId}`),
    200,
    'agents',
  );
  return body.items.find((a) => a.id === id)!;
}

describe('agent_disabled', () => {
  it('disabling the only agent of a site turns its credentials agent_disabled; enabling brings them back', async () => {
    const { siteId, targetId, agent, cred } = await siteInSync();
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/disable`), 200, 'disable agent');
    expect(await status(cred.id)).toBe('agent_disabled');
    await expectRefused(agent);

    // Work queued meanwhile shows agent_disabled too, and waits in the queue.
    const queued = await createCredential(c.admin, targetId);
    expect(queued.status).toBe('agent_disabled');
    expect((await getCredential(c.admin, queued.id)).job.state).toBe('queued');
    const summary = await expectStatus<{ sites: { siteId: string; byStatus: Record<string, number> }[] }>(
      c.admin.get('/summary'),
      200,
      'summary',
    );
    expect(summary.sites.find((s) => s.siteId === siteId)?.byStatus.agent_disabled).toBe(2);

    await expectStatus(c.admin.post(`/agents/${agent.agentId}/enable`), 200, 'enable agent');
    expect(await status(cred.id)).toBe('in_sync');
    expect(await status(queued.id)).toBe('pending_sync');
    const jobs = await agent.claim(10);
    expect(jobs.map((j) => j.credentialId)).toEqual([queued.id]);
    await agent.report(jobs.map(held));
    expect(await status(queued.id)).toBe('in_sync');
  });

  it('one enabled agent left is enough: no agent_disabled', async () => {
    const { siteId, agent, cred } = await siteInSync();
    const second = await FakeAgent.enroll(c.url, c.admin, siteId);
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/disable`), 200, 'disable agent');
    expect(await status(cred.id)).toBe('in_sync');
    await expectStatus(c.admin.post(`/agents/${second.agentId}/disable`), 200, 'disable second agent');
    expect(await status(cred.id)).toBe('agent_disabled');
    await expectStatus(c.admin.post(`/agents/${second.agentId}/enable`), 200, 'enable second agent');
    expect(await status(cred.id)).toBe('in_sync');
  });

  it('disabling the site does the same, and enabling it brings them back', async () => {
    const { siteId, targetId, agent, cred } = await siteInSync();
    await expectStatus(c.admin.post(`/sites/${siteId}/disable`), 200, 'disable site');
    expect(await status(cred.id)).toBe('agent_disabled');
    await expectRefused(agent);
    const queued = await createCredential(c.admin, targetId);
    expect(queued.status).toBe('agent_disabled');

    await expectStatus(c.admin.post(`/sites/${siteId}/enable`), 200, 'enable site');
    expect(await status(cred.id)).toBe('in_sync');
    expect(await status(queued.id)).toBe('pending_sync');
    const jobs = await agent.claim(10);
    expect(jobs.map((j) => j.credentialId)).toEqual([queued.id]);
  });

  it('a claim already waiting when its agent is disabled hands out no new work', async () => {
    const { siteId, agent, cred } = await siteInSync();
    const waiting = agent.claimRaw(10, 5_000);
    await sleep(200);
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/disable`), 200, 'disable agent');
    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202, 'verify');
    const res = await waiting;
    const jobs = res.status === 200 ? (res.body as { jobs: unknown[] }).jobs : [];
    expect(jobs).toEqual([]);
    // The job waits in the queue for an enabled agent.
    const job = await c.ctx.queues.fetch(siteId, jobIdFor('verify', cred.id));
    expect(await job?.getState()).not.toBe('active');
    expect((await getCredential(c.admin, cred.id)).status).toBe('agent_disabled');
  });

  it('a disabled agent still heartbeats: recorded (online, version, jobs in flight), state disabled, work refused', async () => {
    const { siteId, agent } = await siteInSync();
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/disable`), 200, 'disable agent');
    await c.ctx.db.query('UPDATE agents SET last_heartbeat_at = NULL WHERE id = $1', [agent.agentId]);
    expect((await agentItem(siteId, agent.agentId)).online).toBe(false);

    const beat = await agent.gateway.post('/agent/v1/heartbeat', {
      inFlight: 3,
      version: '9.9.9',
      concurrency: 7,
    });
    expect(beat.status).toBe(200);
    expect(beat.body).toMatchObject({ agentId: agent.agentId, siteId, state: 'disabled' });
    const { rows } = await c.ctx.db.query<{
      last_heartbeat_at: Date | null;
      in_flight: number;
      version: string;
      concurrency: number;
    }>('SELECT last_heartbeat_at, in_flight, version, concurrency FROM agents WHERE id = $1', [
      agent.agentId,
    ]);
    expect(rows[0]!.last_heartbeat_at).not.toBeNull();
    expect(rows[0]).toMatchObject({ in_flight: 3, version: '9.9.9', concurrency: 7 });
    const item = await agentItem(siteId, agent.agentId);
    expect(item.online).toBe(true);
    expect(item.version).toBe('9.9.9');
    for (const res of [
      await agent.claimRaw(10),
      await agent.gateway.post('/agent/v1/extend', { jobs: [{ jobId: 'x', token: 'y' }] }),
    ]) {
      expect(res.status).toBe(403);
      expect((res.body as ErrorBody).error.code).toBe('AGENT_DISABLED');
    }

    await expectStatus(c.admin.post(`/agents/${agent.agentId}/enable`), 200, 'enable agent');
    expect(((await agent.heartbeatRaw()).body as { state: string }).state).toBe('active');
  });

  it('an agent of a disabled site heartbeats with state disabled', async () => {
    const { siteId, agent } = await siteInSync();
    await expectStatus(c.admin.post(`/sites/${siteId}/disable`), 200, 'disable site');
    const beat = await agent.heartbeatRaw();
    expect(beat.status).toBe(200);
    expect((beat.body as { state: string }).state).toBe('disabled');
  });

  it('an agent waiting for approval heartbeats with state pending (online), gets no work until approved', async () => {
    const site = await expectStatus<{ id: string }>(
      c.admin.post('/sites', { name: `approval-${Date.now()}`, requireApproval: true }),
      201,
      'POST /sites',
    );
    const agent = await FakeAgent.enroll(c.url, c.admin, site.id);
    const beat = await agent.heartbeatRaw(0);
    expect(beat.status).toBe(200);
    expect((beat.body as { state: string }).state).toBe('pending');
    expect((await agentItem(site.id, agent.agentId)).online).toBe(true);
    const claim = await agent.claimRaw(10);
    expect(claim.status).toBe(403);
    expect((claim.body as ErrorBody).error.code).toBe('AGENT_PENDING_APPROVAL');

    await expectStatus(c.admin.post(`/agents/${agent.agentId}/approve`), 200, 'approve');
    expect(((await agent.heartbeatRaw()).body as { state: string }).state).toBe('active');
    expect((await agent.claimRaw(10)).status).toBe(200);
  });

  it('a revoked agent is not heard: its heartbeat gets 401 and records nothing', async () => {
    const { agent } = await siteInSync();
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/revoke`), 200, 'revoke');
    await c.ctx.db.query('UPDATE agents SET last_heartbeat_at = NULL WHERE id = $1', [agent.agentId]);
    const beat = await agent.heartbeatRaw();
    expect(beat.status).toBe(401);
    const { rows } = await c.ctx.db.query('SELECT last_heartbeat_at FROM agents WHERE id = $1', [
      agent.agentId,
    ]);
    expect(rows[0]).toEqual({ last_heartbeat_at: null });
  });

  it('revoking the last agent of a site turns its credentials agent_disabled; a new agent brings them back', async () => {
    const { siteId, agent, cred } = await siteInSync();
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/revoke`), 200, 'revoke');
    expect(await status(cred.id)).toBe('agent_disabled');
    const fresh = await FakeAgent.enroll(c.url, c.admin, siteId);
    expect(await status(cred.id)).toBe('in_sync');
    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202, 'verify');
    expect(await status(cred.id)).toBe('pending_sync');
    expect((await fresh.claim(10)).map((j) => j.credentialId)).toEqual([cred.id]);
  });

  it('a site that never had an agent waits (pending_sync); one whose only agent awaits approval is agent_disabled until approved', async () => {
    const site = await expectStatus<{ id: string }>(
      c.admin.post('/sites', { name: `approval-only-${Date.now()}`, requireApproval: true }),
      201,
      'POST /sites',
    );
    const targetId = await createTarget(c.admin, site.id);
    const cred = await createCredential(c.admin, targetId);
    expect(cred.status).toBe('pending_sync');
    const agent = await FakeAgent.enroll(c.url, c.admin, site.id);
    expect(await status(cred.id)).toBe('agent_disabled');
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/approve`), 200, 'approve');
    expect(await status(cred.id)).toBe('pending_sync');
  });
});
