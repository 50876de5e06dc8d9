import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import type { Adapter, AdapterContext, Attempt } from '../../agent/adapters/types.js';
import type { AgentConfig } from '../../agent/config.js';
import { GATEWAY_PATHS, type ClaimedJob, type ReportItem } from '../../shared/contracts/gateway.js';
import { REDACT_PATHS } from '../../shared/logger.js';
import type { SimulatedConnection } from '../../shared/targets/simulated.js';

type Body = Record<string, unknown>;
type Held = { jobId: string; token: string };

/** The coordinator's agent gateway, in memory, speaking shared/contracts/gateway.ts. */
class FakeGateway {
  readonly agentId = randomUUID();
  readonly siteId = randomUUID();
  readonly agentToken = `agent-${randomUUID()}`;
  access: 'active' | 'AGENT_DISABLED' | 'AGENT_PENDING_APPROVAL' | 'UNAUTHENTICATED' = 'active';
  /**
   * As the coordinator does: a disabled or waiting agent's heartbeat is taken (200, its state in the
   * answer) and every other call refused with 403. False: the heartbeat is refused too (403).
   */
  heartbeatWhileRefused = true;
  heartbeats = 0;
  queue: ClaimedJob[] = [];
  /** Work ahead of routine verifications: what a `priorityOnly` claim takes (when offered). */
  priorityQueue: ClaimedJob[] = [];
  offerPriority = false;
  priorityClaims = 0;
  held = new Map<string, ClaimedJob>();
  maxClaim = 0;
  reports: ReportItem[] = [];
  released: string[] = [];
  loseOnExtend = new Set<string>();
  extendCalls = 0;
  /** Extends answer 503 (the coordinator cannot reach Redis, or the agent is cut off). */
  failExtends = false;
  extendEveryMs = 100;
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        void this.handle(req.url ?? '', JSON.parse(text) as Body, req.headers.authorization).then(
          ([status, json]) =>
            res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json)),
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(url: string, body: Body, auth: string | undefined): Promise<[number, unknown]> {
    const error = (status: number, code: string): [number, unknown] => [
      status,
      { error: { code, message: code } },
    ];
    if (url === GATEWAY_PATHS.enroll) {
      const { agentId, siteId, agentToken } = this;
      return [201, { agentId, siteId, agentToken, state: 'active' }];
    }
    if (auth !== `Bearer ${this.agentToken}` || this.access === 'UNAUTHENTICATED')
      return error(401, 'UNAUTHENTICATED');
    const refused = this.access === 'AGENT_DISABLED' || this.access === 'AGENT_PENDING_APPROVAL';
    if (url === GATEWAY_PATHS.heartbeat) this.heartbeats++;
    if (refused && (url !== GATEWAY_PATHS.heartbeat || !this.heartbeatWhileRefused))
      return error(403, this.access);
    switch (url) {
      case GATEWAY_PATHS.heartbeat:
        return [
          200,
          {
            agentId: this.agentId,
            siteId: this.siteId,
            state:
              this.access === 'AGENT_DISABLED'
                ? 'disabled'
                : this.access === 'AGENT_PENDING_APPROVAL'
                  ? 'pending'
                  : 'active',
            serverTime: new Date().toISOString(),
            lockMs: 1_000,
            extendEveryMs: this.extendEveryMs,
            heartbeatEveryMs: 50,
            ...(this.offerPriority ? { priorityClaims: true } : {}),
          },
        ];
      case GATEWAY_PATHS.claim: {
        const until = Date.now() + Number(body.waitMs);
        if (body.priorityOnly === true) {
          this.priorityClaims++;
          while (this.priorityQueue.length === 0 && Date.now() < until) await delay(5);
          const jobs = this.priorityQueue.splice(0, 1);
          for (const job of jobs) this.held.set(job.jobId, job);
          return [200, { jobs }];
        }
        while (this.queue.length === 0 && Date.now() < until) await delay(5);
        this.maxClaim = Math.max(this.maxClaim, Number(body.max));
        const jobs = this.queue.splice(0, Number(body.max));
        for (const job of jobs) this.held.set(job.jobId, job);
        return [200, { jobs }];
      }
      case GATEWAY_PATHS.extend: {
        this.extendCalls++;
        if (this.failExtends) return error(503, 'UNAVAILABLE');
        const jobs = body.jobs as Held[];
        const lost = jobs
          .filter((j) => this.loseOnExtend.has(j.jobId) || !this.held.has(j.jobId))
          .map((j) => j.jobId);
        for (const jobId of lost) this.held.delete(jobId);
        return [200, { extended: jobs.map((j) => j.jobId).filter((id) => !lost.includes(id)), lost }];
      }
      case GATEWAY_PATHS.report: {
        const accepted: string[] = [];
        const rejected: { jobId: string; code: string }[] = [];
        for (const item of body.results as ReportItem[]) {
          if (this.held.get(item.jobId)?.token === item.token) {
            this.held.delete(item.jobId);
            this.reports.push(item);
            accepted.push(item.jobId);
          } else rejected.push({ jobId: item.jobId, code: 'JOB_NOT_HELD' });
        }
        return [200, { accepted, rejected }];
      }
      case GATEWAY_PATHS.release: {
        const jobs = body.jobs as Held[];
        for (const j of jobs) this.held.delete(j.jobId);
        this.released.push(...jobs.map((j) => j.jobId));
        return [200, { released: jobs.map((j) => j.jobId), lost: [] }];
      }
    }
    return error(404, 'NOT_FOUND');
  }
}

/** A `simulated`-kind adapter that measures sessions per host and notices aborts. */
class Probe {
  active = new Map<string, number>();
  maxPerHost = 0;
  total = 0;
  maxTotal = 0;
  aborted: string[] = [];
  /** Accounts whose change was sent. */
  changed: string[] = [];
  readonly adapter: Adapter<SimulatedConnection> = {
    kind: 'simulated',
    verify: (ctx) => this.op(ctx),
    change: (ctx) => {
      this.changed.push(ctx.username);
      return this.op(ctx);
    },
  };

  private async op(ctx: AdapterContext<SimulatedConnection>): Promise<Attempt> {
    const n = (this.active.get(ctx.host) ?? 0) + 1;
    this.active.set(ctx.host, n);
    this.maxPerHost = Math.max(this.maxPerHost, n);
    this.maxTotal = Math.max(this.maxTotal, ++this.total);
    try {
      await delay(ctx.connection.latencyMs, undefined, { signal: ctx.signal });
      return { ok: true };
    } catch {
      this.aborted.push(ctx.username);
      return { ok: false, reason: 'unreachable', message: 'aborted' };
    } finally {
      this.active.set(ctx.host, (this.active.get(ctx.host) ?? 1) - 1);
      this.total--;
    }
  }
}

const passwords: string[] = [];
function mkJob(host: string, latencyMs: number, kind: ClaimedJob['kind'] = 'verify'): ClaimedJob {
  const jobId = `${kind[0]}-${randomUUID()}`;
  const password = `pw-${randomUUID()}`;
  const pendingPassword = kind === 'verify' ? undefined : `new-${randomUUID()}`;
  passwords.push(password, ...(pendingPassword ? [pendingPassword] : []));
  return {
    jobId,
    token: `lock-${randomUUID()}`,
    kind,
    credentialId: randomUUID(),
    attempt: 1,
    target: { id: randomUUID(), kind: 'simulated', host, connection: { latencyMs } },
    username: jobId,
    password,
    ...(pendingPassword ? { pendingPassword } : {}),
  };
}

const waitFor = async (check: () => boolean, timeoutMs = 5_000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await delay(10);
  }
};

describe('agent', () => {
  let gateway: FakeGateway;
  let stateDir: string;
  let lines: string[];
  let probe: Probe;
  let agent: Agent | undefined;
  let fatal: Error[];

  const logged = (msg: string): Record<string, unknown>[] =>
    lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

  const startAgent = async (overrides: Partial<AgentConfig> = {}): Promise<Agent> => {
    const log = pino(
      { level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
      { write: (line: string) => lines.push(line) },
    );
    const config: AgentConfig = {
      coordinatorUrl: gateway.url,
      enrollmentToken: 'enroll-token-0123',
      stateDir,
      concurrency: 6,
      name: 'test-agent',
      perHostLimit: 2,
      claimWaitMs: 200,
      shutdownGraceMs: 2_000,
      reportFlushMs: 5,
      logLevel: 'trace',
      ...overrides,
    };
    agent = new Agent({ config, log, adapters: [probe.adapter], onFatal: (err) => fatal.push(err) });
    await agent.start();
    await waitFor(() => logged('agent ready').length === 1);
    return agent;
  };

  beforeEach(async () => {
    gateway = new FakeGateway();
    await gateway.start();
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'agent-life-'));
    lines = [];
    probe = new Probe();
    fatal = [];
    agent = undefined;
  });
  afterEach(async () => {
    await agent?.stop();
    await gateway.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('enrolls, logs ready, runs jobs within its concurrency and per-host limit, reports every result', async () => {
    await startAgent();
    const ready = logged('agent ready')[0]!;
    expect(ready).toMatchObject({ agentId: gateway.agentId, siteId: gateway.siteId });
    expect(JSON.parse(await readFile(path.join(stateDir, 'identity.json'), 'utf8'))).toMatchObject({
      agentId: gateway.agentId,
    });

    const jobs = [
      ...Array.from({ length: 40 }, (_, i) => mkJob(`host-${i % 4}`, 20)),
      ...Array.from({ length: 10 }, () => mkJob('host-c', 5, 'change')),
    ];
    gateway.queue.push(...jobs);
    await waitFor(() => gateway.reports.length === jobs.length);
    // 4 hosts × 2 sessions would allow 8: the agent's concurrency (6) caps claims and sessions.
    expect(gateway.maxClaim).toBe(6);
    expect(probe.maxTotal).toBe(6);
    expect(probe.maxPerHost).toBe(2);
    expect(new Set(gateway.reports.map((r) => r.jobId))).toEqual(new Set(jobs.map((j) => j.jobId)));
    // The coordinator did not offer the priority lane (an older one): none was asked for.
    expect(gateway.priorityClaims).toBe(0);
    expect(gateway.reports.filter((r) => r.jobId.startsWith('c-')).map((r) => r.result)).toEqual(
      Array(10).fill({ outcome: 'ok', works: 'pending' }),
    );

    await agent!.stop();
    expect(logged('agent stopped')).toHaveLength(1);
    const all = lines.join('\n');
    for (const secret of [...passwords, gateway.agentToken, 'enroll-token-0123'])
      expect(all).not.toContain(secret);
  });

  it.each([
    ['AGENT_DISABLED', 'disabled', true, 'agent disabled by the coordinator: claiming paused'],
    ['AGENT_PENDING_APPROVAL', 'pending', true, 'agent waits for approval: claiming paused'],
    ['AGENT_DISABLED', 'refused (403)', false, 'agent disabled by the coordinator: claiming paused'],
  ] as const)(
    'pauses claiming while %s (heartbeat %s; logged once), keeps heartbeating, resumes when active again',
    async (access, _heartbeat, heartbeatWhileRefused, message) => {
      await startAgent();
      gateway.heartbeatWhileRefused = heartbeatWhileRefused;
      gateway.access = access;
      await delay(400);
      const job = mkJob('host-a', 0);
      gateway.queue.push(job);
      const beats = gateway.heartbeats;
      await delay(300);
      expect(gateway.reports).toEqual([]);
      expect(gateway.queue).toEqual([job]);
      expect(gateway.heartbeats).toBeGreaterThan(beats);
      expect(logged(message)).toHaveLength(1);
      // The state is taken as it is: a disabled agent is never told it waits for approval, nor back.
      const paused = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => String(l.msg).endsWith('claiming paused'));
      expect(paused.map((l) => l.msg)).toEqual([message]);

      gateway.access = 'active';
      await waitFor(() => gateway.reports.length === 1);
      expect(logged('claiming resumed')).toHaveLength(1);
    },
  );

  it('runs a priority job at once beside its concurrency while every slot is busy, when offered', async () => {
    gateway.offerPriority = true;
    await startAgent({ concurrency: 2, perHostLimit: 10 });
    const long = [mkJob('host-a', 1_500), mkJob('host-a', 1_500)];
    gateway.queue.push(...long);
    await waitFor(() => probe.total === 2);
    await waitFor(() => gateway.priorityClaims > 0);
    const urgent = { ...mkJob('host-b', 0), urgent: true };
    gateway.priorityQueue.push(urgent);
    await waitFor(() => gateway.reports.some((r) => r.jobId === urgent.jobId), 1_000);
    expect(probe.maxTotal).toBe(3);
    expect(gateway.reports.map((r) => r.jobId)).toEqual([urgent.jobId]);
    await waitFor(() => gateway.reports.length === 3);
  });

  it('aborts a job whose lock was lost and does not report it', async () => {
    await startAgent();
    const job = mkJob('host-a', 30_000);
    gateway.loseOnExtend.add(job.jobId);
    gateway.queue.push(job);
    await waitFor(() => probe.aborted.includes(job.jobId));
    await delay(50);
    expect(gateway.reports).toEqual([]);
    expect(logged('job lock lost: job aborted')[0]).toMatchObject({ jobId: job.jobId });
  });

  it('sends no change while it cannot prove it still holds the job lock (extends fail): reports it unsent', async () => {
    await startAgent();
    gateway.failExtends = true;
    // The check before the change takes 0.6 s, more than half the 1 s lock: the last proof is too old.
    const job = { ...mkJob('host-a', 600, 'change'), pendingMayBeSet: false };
    gateway.queue.push(job);
    await waitFor(() => gateway.reports.length === 1, 10_000);
    expect(probe.changed).toEqual([]);
    expect(gateway.reports[0]!.result).toMatchObject({ outcome: 'failed', reason: 'unreachable' });
    expect(gateway.reports[0]!.result.message).toMatch(/lock could not be confirmed/);
  });

  it('confirms an old lock proof with one more extend just before sending a change', async () => {
    gateway.extendEveryMs = 60_000; // no periodic extend during the job
    await startAgent();
    const job = { ...mkJob('host-a', 600, 'change'), pendingMayBeSet: false };
    gateway.queue.push(job);
    await waitFor(() => gateway.reports.length === 1, 10_000);
    expect(probe.changed).toEqual([job.username]);
    expect(gateway.reports[0]!.result).toEqual({ outcome: 'ok', works: 'pending' });
    expect(gateway.extendCalls).toBe(1);
  });

  it('graceful stop: no new claims, finishes short jobs, releases the rest, flushes results', async () => {
    await startAgent({ shutdownGraceMs: 400 });
    const short = [mkJob('host-a', 100), mkJob('host-b', 100)];
    const long = [mkJob('host-c', 30_000), mkJob('host-d', 30_000)];
    gateway.queue.push(...short, ...long);
    await waitFor(() => gateway.held.size === 4);
    const started = Date.now();
    await agent!.stop();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(gateway.reports.map((r) => r.jobId).sort()).toEqual(short.map((j) => j.jobId).sort());
    expect(gateway.released.sort()).toEqual(long.map((j) => j.jobId).sort());
    expect(logged('agent stopped')).toHaveLength(1);
    gateway.queue.push(mkJob('host-a', 0));
    await delay(300);
    expect(gateway.queue).toHaveLength(1);
  });

  it('a revoked agent token is fatal', async () => {
    await startAgent();
    gateway.access = 'UNAUTHENTICATED';
    await waitFor(() => fatal.length === 1);
    expect(lines.some((l) => l.includes('agent token rejected'))).toBe(true);
  });
});
