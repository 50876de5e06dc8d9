import type { Logger } from '../shared/logger.js';
import type { Adapter } from './adapters/types.js';
import { BUILT_IN_ADAPTERS, createAdapterRegistry } from './adapters/index.js';
import { ClaimGate } from './claim-gate.js';
import { ClaimLoop } from './claim-loop.js';
import { PriorityLane } from './priority-lane.js';
import type { AgentConfig } from './config.js';
import { loadOrEnroll } from './enrollment.js';
import { GatewayClient } from './gateway.js';
import { Heartbeat } from './heartbeat.js';
import { HostLimits } from './host-limits.js';
import { JsonHttpClient } from './http.js';
import type { AgentMetrics } from './metrics.js';
import { InFlight } from './in-flight.js';
import { JobExecutor } from './job-executor.js';
import { LockExtender } from './lock-extender.js';
import { Outbox, outboxPath } from './outbox.js';
import { Reporter, REPORT_CLOSE_TIMEOUT_MS, REPORT_TIMEOUT_MS } from './reporter.js';
import { SlotClaims } from './report-claims.js';
import { JobRunner } from './runner.js';
import { VERSION as AGENT_VERSION } from '../shared/version.js';

export interface AgentOptions {
  config: AgentConfig;
  log: Logger;
  /** Defaults to the built-in adapters. */
  adapters?: readonly Adapter[];
  /** The agent cannot go on (its token was revoked); the process should exit non-zero. */
  onFatal?: (err: Error) => void;
}

interface Parts {
  log: Logger;
  client: GatewayClient;
  inFlight: InFlight;
  reporter: Reporter;
  heartbeat: Heartbeat;
  claimLoop: ClaimLoop;
  priorityLane: PriorityLane;
  extender: LockExtender;
  metrics: AgentMetrics | undefined;
}

/** The most jobs one release call may carry (contract). */
const MAX_RELEASE = 1000;
/** Deadline of the release call at shutdown. */
export const RELEASE_TIMEOUT_MS = 5_000;

/**
 * How long a stop can take after SIGTERM with AGENT_SHUTDOWN_GRACE_MS = `graceMs`: the grace for
 * jobs to finish, handing back the rest, a report send in progress and the last sends (none starts
 * later than 2 × REPORT_CLOSE_TIMEOUT_MS into the reporter's close: what a large outbox still holds
 * then waits for the next start). A supervisor (systemd's TimeoutStopSec, Compose's
 * stop_grace_period) must wait at least this long before it kills the agent.
 */
export const stopDeadlineMs = (graceMs: number): number =>
  graceMs + RELEASE_TIMEOUT_MS + REPORT_TIMEOUT_MS + 2 * REPORT_CLOSE_TIMEOUT_MS;

/**
 * The sync agent: enrolls (or loads its identity), then heartbeats, claims jobs into free slots,
 * runs them through the adapters, extends their locks and reports their results. `stop()` is the
 * graceful shutdown: no new claims, jobs in flight get AGENT_SHUTDOWN_GRACE_MS to finish, the rest
 * are released to the queue, and results are flushed (what cannot be delivered stays in the outbox).
 */
export class Agent {
  private readonly lifetime = new AbortController();
  private readonly adapters: readonly Adapter[];
  private parts: Parts | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private fatalError: Error | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.adapters = opts.adapters ?? BUILT_IN_ADAPTERS;
  }

  /** Resolves once the loops run ('agent ready' is logged after the first successful heartbeat). */
  start(): Promise<void> {
    this.starting ??= this.boot();
    return this.starting;
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async boot(): Promise<void> {
    const { config } = this.opts;
    const http = new JsonHttpClient(config.coordinatorUrl, `sync-agent/${AGENT_VERSION}`, config.tls);
    const client = new GatewayClient(http, (err) => this.fatal(err));
    // Metrics listen before enrolling: a port or host the agent cannot use stops its first start
    // before the enrollment token is spent. prom-client is loaded only when AGENT_METRICS_PORT asks
    // for metrics (docs/benchmarks.md, "Agent memory"); the gauges read the parts made below.
    const live: { inFlight?: InFlight; reporter?: Reporter } = {};
    const metrics = config.metrics
      ? new (await import('./metrics.js')).AgentMetrics({
          inFlight: () => live.inFlight?.size ?? 0,
          backlog: () => live.reporter?.backlog ?? 0,
          concurrency: config.concurrency,
        })
      : undefined;
    if (metrics && config.metrics) {
      const port = await metrics.listen(config.metrics.port, config.metrics.host);
      this.opts.log.info({ url: `http://${config.metrics.host}:${port}/metrics` }, 'agent metrics listening');
    }
    let identity;
    try {
      identity = await loadOrEnroll({
        config,
        client,
        adapters: this.adapters.map((a) => a.kind),
        version: AGENT_VERSION,
        log: this.opts.log,
        signal: this.lifetime.signal,
      });
    } catch (err) {
      await client.close();
      await metrics?.close();
      if (this.lifetime.signal.aborted) return;
      throw err;
    }
    client.setAgentToken(identity.agentToken);
    const log = this.opts.log.child({ agentId: identity.agentId });
    const inFlight = new InFlight();
    const gate = new ClaimGate(log);
    // Reports of results ask for the next jobs when the coordinator allows it (its heartbeat says
    // so); the claim loop then claims only the slots the reports leave free (long-polls when idle).
    const claims = new SlotClaims({
      inFlight,
      gate,
      concurrency: config.concurrency,
      allowed: () => heartbeat.reportMayClaim,
      stopping: () => this.lifetime.signal.aborted,
      execute: (job, sentAt) => executor.execute(job, sentAt),
      release: async (jobs) => {
        await client.release(
          { jobs: jobs.map(({ jobId, token }) => ({ jobId, token })) },
          { timeoutMs: RELEASE_TIMEOUT_MS },
        );
      },
      log,
    });
    const reporter = new Reporter({
      client,
      claims,
      outbox: new Outbox(outboxPath(config.stateDir)),
      log,
      flushMs: config.reportFlushMs,
    });
    live.inFlight = inFlight;
    live.reporter = reporter;
    const heartbeat = new Heartbeat({
      client,
      gate,
      inFlight: () => inFlight.size,
      version: AGENT_VERSION,
      concurrency: config.concurrency,
      log,
      onBeat: (res, first) => {
        if (first) log.info({ siteId: identity.siteId, state: res.state }, 'agent ready');
        reporter.nudge();
      },
    });
    const extender = new LockExtender({
      client,
      inFlight,
      gate,
      everyMs: () => heartbeat.timings.extendEveryMs,
      log,
    });
    const executor = new JobExecutor({
      inFlight,
      hostLimits: new HostLimits(config.perHostLimit),
      runner: new JobRunner(createAdapterRegistry(this.adapters), log),
      report: (item, urgent) => {
        metrics?.record(item);
        reporter.enqueue(item, urgent);
      },
      idle: () => reporter.sendNow(),
      fence: {
        lockMs: () => heartbeat.timings.lockMs,
        confirm: (job, timeoutMs) => extender.confirm(job, timeoutMs),
      },
      log,
    });
    const claimLoop = new ClaimLoop({
      client,
      gate,
      inFlight,
      concurrency: config.concurrency,
      waitMs: config.claimWaitMs,
      execute: (job, claimSentAt) => executor.execute(job, claimSentAt),
      deferToReports: () => reporter.claimsSoon,
      log,
    });
    // An operator's Sync now (or a change) starts at once even while every slot is busy.
    const priorityLane = new PriorityLane({
      client,
      gate,
      waitMs: config.claimWaitMs,
      offered: () => heartbeat.priorityClaims,
      execute: (job, claimSentAt) => executor.execute(job, claimSentAt),
      log,
    });
    this.parts = { log, client, inFlight, reporter, heartbeat, claimLoop, priorityLane, extender, metrics };
    await reporter.open();
    if (this.lifetime.signal.aborted) return;
    heartbeat.start();
    extender.start();
    claimLoop.start();
    priorityLane.start();
    log.info(
      {
        siteId: identity.siteId,
        agentName: config.name,
        concurrency: config.concurrency,
        version: AGENT_VERSION,
      },
      'agent started',
    );
  }

  private async shutdown(): Promise<void> {
    this.lifetime.abort();
    await this.start().catch(() => undefined);
    const parts = this.parts;
    if (this.fatalError) return;
    if (!parts) {
      this.opts.log.info('agent stopped');
      return;
    }
    const { log, client, inFlight, reporter, heartbeat, claimLoop, priorityLane, extender, metrics } = parts;
    await Promise.all([claimLoop.stop(), priorityLane.stop()]);
    log.info(
      { inFlight: inFlight.size, graceMs: this.opts.config.shutdownGraceMs },
      'stopping: no new claims',
    );
    const drained = await inFlight.waitForEmpty(AbortSignal.timeout(this.opts.config.shutdownGraceMs));
    if (!drained) await this.releaseUnfinished(parts);
    await Promise.all([extender.stop(), heartbeat.stop()]);
    await reporter.close();
    if (reporter.backlog > 0)
      log.warn({ items: reporter.backlog }, 'results kept in the outbox for the next start');
    await client.close();
    await metrics?.close();
    log.info('agent stopped');
  }

  /** Hands the jobs still running back to the queue; their results, if any come, are dropped. */
  private async releaseUnfinished({ log, client, inFlight }: Parts): Promise<void> {
    const held = inFlight.all();
    for (const job of held) inFlight.drop(job.jobId);
    const jobs = held.map(({ jobId, token }) => ({ jobId, token }));
    for (let i = 0; i < jobs.length; i += MAX_RELEASE) {
      const chunk = jobs.slice(i, i + MAX_RELEASE);
      try {
        const res = await client.release({ jobs: chunk }, { timeoutMs: RELEASE_TIMEOUT_MS });
        log.info({ released: res.released.length, lost: res.lost.length }, 'unfinished jobs released');
      } catch (err) {
        log.warn(
          { err: (err as Error).message, jobs: chunk.length },
          'release failed: the coordinator returns these jobs when their locks expire',
        );
      }
    }
  }

  /** The agent token was revoked: stop everything at once, keep unsent results, exit non-zero. */
  private fatal(err: Error): void {
    if (this.fatalError) return;
    this.fatalError = err;
    this.lifetime.abort();
    const parts = this.parts;
    (parts?.log ?? this.opts.log).error(
      { code: 'UNAUTHENTICATED' },
      'agent token rejected (revoked?): stopping. To enroll again, remove identity.json from ' +
        'AGENT_STATE_DIR and start with a new ENROLLMENT_TOKEN',
    );
    const teardown = async (): Promise<void> => {
      if (!parts) return;
      await Promise.all([
        parts.claimLoop.stop(),
        parts.priorityLane.stop(),
        parts.heartbeat.stop(),
        parts.extender.stop(),
      ]);
      for (const job of parts.inFlight.all()) parts.inFlight.drop(job.jobId);
      await parts.reporter.persist();
      await parts.client.close();
    };
    void teardown()
      .catch((e: unknown) => this.opts.log.error({ err: (e as Error).message }, 'teardown failed'))
      .finally(() => this.opts.onFatal?.(err));
  }
}
