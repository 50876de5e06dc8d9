import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { loadAgentConfig } from '../../agent/config.js';
import { defaultAgentVersionRange } from '../../shared/agent-versions.js';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
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

  it('an agent that became unsupported has its results taken with a report that asks for jobs, and gets none', async () => {
    const siteId = (await createSite(c.admin)).id;
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const targetId = await createTarget(c.admin, siteId);
    const creds = [await createCredential(c.admin, targetId), await createCredential(c.admin, targetId)];
    const jobs = await agent.claim(1);
    expect(jobs).toHaveLength(1);
    await agent.gateway.post('/agent/v1/heartbeat', { inFlight: 1, version: '0.0.1' });
    const res = await agent.gateway.post(GATEWAY_PATHS.report, {
      results: jobs.map((j) => ({ ...held(j), result: { outcome: 'ok' }, durationMs: 1 })),
      claim: { max: 5 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: [jobs[0]!.jobId], jobs: [] });
    const other = creds.find((x) => x.id !== jobs[0]!.credentialId)!;
    expect(await queuedState(siteId, other.id)).toMatch(QUEUED);
  });

  /**
   * The real agent through a proxy that records its reports. `old` stands in for a coordinator from
   * before reports could claim: its heartbeat never says `reportMayClaim`, and its strict schema
   * refuses a report with `claim` (400).
   */
  async function throughProxy(old: boolean, run: (url: string) => Promise<void>) {
    const reports: { claim?: { max: number }; jobs: number }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        void (async () => {
          const text = Buffer.concat(chunks).toString();
          const body = (text ? JSON.parse(text) : {}) as { claim?: { max: number } };
          const isReport = req.url === GATEWAY_PATHS.report;
          if (old && isReport && body.claim) {
            reports.push({ claim: body.claim, jobs: 0 });
            res
              .writeHead(400, { 'content-type': 'application/json' })
              .end(
                JSON.stringify({ error: { code: 'VALIDATION_FAILED', message: 'unrecognized key "claim"' } }),
              );
            return;
          }
          const up = await fetch(`${c.url}${req.url}`, {
            method: req.method,
            headers: {
              'content-type': 'application/json',
              ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
            },
            ...(text ? { body: text } : {}),
          });
          let answer = await up.text();
          if (old && up.ok && req.url === GATEWAY_PATHS.heartbeat) {
            const beat = JSON.parse(answer) as Record<string, unknown>;
            delete beat.reportMayClaim;
            answer = JSON.stringify(beat);
          }
          if (isReport && up.ok) {
            const jobs = (JSON.parse(answer) as { jobs?: unknown[] }).jobs ?? [];
            reports.push({ ...(body.claim ? { claim: body.claim } : {}), jobs: jobs.length });
          }
          res.writeHead(up.status, { 'content-type': 'application/json' }).end(answer);
        })().catch((err: unknown) => res.destroy(err as Error));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    return reports;
  }

  async function verifyAllThrough(url: string): Promise<void> {
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId, { latencyMs: 30 });
    const creds: { id: string }[] = [];
    for (let i = 0; i < 8; i++) creds.push(await createCredential(c.admin, targetId));
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'agent-report-claim-'));
    const agent = new Agent({
      config: loadAgentConfig({
        COORDINATOR_URL: url,
        ENROLLMENT_TOKEN: await createEnrollmentToken(c.admin, siteId),
        AGENT_STATE_DIR: stateDir,
        AGENT_CLAIM_WAIT_MS: '200',
        AGENT_CONCURRENCY: '2',
      }),
      log: pino({ level: 'silent' }),
    });
    try {
      await agent.start();
      await waitFor(
        async () => {
          const views = await Promise.all(creds.map((x) => getCredential(c.admin, x.id)));
          return views.every((v) => v.status === 'in_sync');
        },
        { timeoutMs: 20_000, message: 'every credential verified by the agent' },
      );
    } finally {
      await agent.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  }

  it('a new agent with an older coordinator claims as before: its reports never ask for jobs', async () => {
    const reports = await throughProxy(true, verifyAllThrough);
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.filter((r) => r.claim)).toEqual([]);
  });

  it('a new agent with a current coordinator takes its next jobs with its reports, within its free slots', async () => {
    const reports = await throughProxy(false, verifyAllThrough);
    const asking = reports.filter((r) => r.claim);
    expect(asking.length).toBeGreaterThan(0);
    expect(asking.some((r) => r.jobs > 0)).toBe(true);
    for (const r of asking) {
      expect(r.claim!.max).toBeLessThanOrEqual(2);
      expect(r.jobs).toBeLessThanOrEqual(r.claim!.max);
    }
  });
});
