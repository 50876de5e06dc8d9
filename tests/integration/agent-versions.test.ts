import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { loadAgentConfig } from '../../agent/config.js';
import { defaultAgentVersionRange } from '../../shared/agent-versions.js';
import { jobIdFor } from '../../shared/contracts/jobs.js';
import { VERSION } from '../../shared/version.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createEnrollmentToken,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  type ErrorBody,
} from '../support/fixtures.js';
import { sleep, waitFor } from '../support/wait.js';

/** The range this file's coordinator starts with: 0.0.5 up to the product's own version. */
const MIN = '0.0.5';
let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('agent-versions', inject('redisUrl'), {
    AGENT_MIN_VERSION: MIN,
    HEARTBEAT_EVERY_MS: '1000',
  });
});
afterAll(() => c?.close());

/** A job in the queue, not handed to any agent (first verifications are prioritized). */
const QUEUED = /^(waiting|prioritized)$/;
const queuedState = async (siteId: string, credentialId: string) =>
  (await c.ctx.queues.fetch(siteId, jobIdFor('verify', credentialId)))?.getState();

interface AgentItem {
  id: string;
  version: string;
  versionStatus: string;
}

async function listAgents(siteId: string) {
  return expectStatus<{ items: AgentItem[]; agentVersions: { min: string; max: string; latest: string } }>(
    c.admin.get(`/agents?siteId=${siteId}`),
    200,
    'GET /agents',
  );
}

describe('supported agent versions', () => {
  it('each agent shows up to date, update available or unsupported; the list says the range', async () => {
    const siteId = (await createSite(c.admin)).id;
    const cases: [string, string][] = [
      ['0.0.4', 'unsupported'],
      [MIN, 'update_available'],
      [VERSION, 'up_to_date'],
      ['99.0.0', 'unsupported'],
      ['nightly', 'unsupported'],
    ];
    const agents = new Map<string, string>();
    for (const [version] of cases) {
      const agent = await FakeAgent.enroll(c.url, c.admin, siteId, `agent-${version}`, version);
      agents.set(agent.agentId, version);
    }
    const body = await listAgents(siteId);
    expect(body.agentVersions).toEqual({ min: MIN, max: VERSION, latest: VERSION });
    expect(body.items.map((a) => [a.version, a.versionStatus]).sort()).toEqual([...cases].sort());
  });

  it('an unsupported agent hears why in its heartbeat and its claims are refused; its queued job waits, not failed', async () => {
    const siteId = (await createSite(c.admin)).id;
    const old = await FakeAgent.enroll(c.url, c.admin, siteId, 'too-old', '0.0.4');
    const cred = await createCredential(c.admin, await createTarget(c.admin, siteId));

    const beat = await old.heartbeatRaw();
    expect(beat.status).toBe(200);
    expect(beat.body).toMatchObject({
      state: 'active',
      agentVersion: {
        status: 'unsupported',
        supported: { min: MIN, max: VERSION, latest: VERSION },
        message: expect.stringMatching(/agent version 0\.0\.4 is too old .*upgrade the agent/),
      },
    });
    const refused = await old.claimRaw(10);
    expect(refused.status).toBe(403);
    expect((refused.body as ErrorBody).error).toMatchObject({
      code: 'AGENT_VERSION_UNSUPPORTED',
      message: expect.stringContaining(`supported: ${MIN} to ${VERSION}`),
    });
    const tooNew = await FakeAgent.enroll(c.url, c.admin, siteId, 'too-new', '99.0.0');
    const refusedNew = await tooNew.claimRaw(10);
    expect((refusedNew.body as ErrorBody).error.message).toMatch(/newer than this coordinator supports/);

    // Nothing was handed out: the job waits in the queue and the credential is still pending.
    expect(await queuedState(siteId, cred.id)).toMatch(QUEUED);
    const view = await getCredential(c.admin, cred.id);
    expect(view.status).toBe('pending_sync');
    expect(view.lastVerifiedAt).toBeNull();

    // Upgraded (its heartbeat carries the new version): it claims the same job and reports it.
    expect((await old.gateway.post('/agent/v1/heartbeat', { inFlight: 0, version: VERSION })).status).toBe(
      200,
    );
    const jobs = await old.claim(10);
    expect(jobs.map((j) => j.credentialId)).toEqual([cred.id]);
    expect((await old.report(jobs.map(held))).accepted).toHaveLength(1);
    expect((await getCredential(c.admin, cred.id)).status).toBe('in_sync');
  });

  it('a job claimed before the agent became unsupported can still be extended and reported', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const cred = await createCredential(c.admin, await createTarget(c.admin, siteId));
    const jobs = await agent.claim(10);
    expect(jobs).toHaveLength(1);
    await agent.gateway.post('/agent/v1/heartbeat', { inFlight: 1, version: '0.0.1' });
    expect((await agent.claimRaw(10)).status).toBe(403);
    expect((await agent.extend(jobs.map(held))).extended).toHaveLength(1);
    expect((await agent.report(jobs.map(held))).accepted).toHaveLength(1);
    expect((await getCredential(c.admin, cred.id)).status).toBe('in_sync');
  });

  it('the real agent pauses with the reason, takes no job, and resumes once its version is supported', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const entries = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'agent-versions-'));
    // Stands in for the coordinator restarted with AGENT_MIN_VERSION above this agent's version.
    const configured = c.ctx.config.agentVersions;
    c.ctx.config.agentVersions = defaultAgentVersionRange(VERSION, { min: '99.0.0' });
    const agent = new Agent({
      config: loadAgentConfig({
        COORDINATOR_URL: c.url,
        ENROLLMENT_TOKEN: await createEnrollmentToken(c.admin, siteId),
        AGENT_STATE_DIR: stateDir,
        AGENT_CLAIM_WAIT_MS: '200',
      }),
      log,
    });
    try {
      await agent.start();
      const paused = await waitFor(() => entries().find((e) => e.code === 'AGENT_VERSION_UNSUPPORTED'), {
        timeoutMs: 10_000,
        message: 'the agent to log that its version is unsupported',
      });
      expect(paused?.reason).toMatch(
        new RegExp(`agent version ${VERSION} is too old .*supported: 99\\.0\\.0`),
      );
      expect(paused?.level).toBe(40);

      const cred = await createCredential(c.admin, targetId);
      await sleep(1500);
      const view = await getCredential(c.admin, cred.id);
      expect(view.status).toBe('pending_sync');
      expect(await queuedState(siteId, cred.id)).toMatch(QUEUED);
      const [item] = (await listAgents(siteId)).items;
      expect(item?.versionStatus).toBe('unsupported');

      c.ctx.config.agentVersions = configured;
      await waitFor(async () => (await getCredential(c.admin, cred.id)).status === 'in_sync', {
        timeoutMs: 10_000,
        message: 'the credential to be verified once the version is supported',
      });
      expect(entries().some((e) => e.msg === 'claiming resumed')).toBe(true);
      expect((await listAgents(siteId)).items[0]?.versionStatus).toBe('up_to_date');
    } finally {
      c.ctx.config.agentVersions = configured;
      await agent.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
