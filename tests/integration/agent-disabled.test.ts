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

async function expectRefused(agent: FakeAgent) {
  for (const res of [await agent.claimRaw(10), await agent.heartbeatRaw()]) {
    expect(res.status).toBe(403);
    expect((res.body as ErrorBody).error.code).toBe('AGENT_DISABLED');
  }
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
});
