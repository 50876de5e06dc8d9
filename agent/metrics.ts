import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReportItem } from '../shared/contracts/gateway.js';
import { parseJobId } from '../shared/contracts/jobs.js';
import { SyncError } from '../shared/errors.js';

/** The agent's own Prometheus metrics, served on AGENT_METRICS_PORT when it is set. */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly results: Counter<'kind' | 'outcome' | 'reason'>;
  private readonly duration: Histogram<'kind'>;
  private server: Server | undefined;

  constructor(sources: { inFlight: () => number; backlog: () => number; concurrency: number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'sync_agent_' });
    this.results = new Counter({
      name: 'sync_agent_jobs_total',
      help: 'Jobs this agent finished, by kind, outcome and reason',
      labelNames: ['kind', 'outcome', 'reason'] as const,
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'sync_agent_job_duration_seconds',
      help: 'Time a job took on this agent',
      labelNames: ['kind'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [this.registry],
    });
    new Gauge({
      name: 'sync_agent_jobs_in_flight',
      help: 'Jobs held right now',
      registers: [this.registry],
      collect() {
        this.set(sources.inFlight());
      },
    });
    new Gauge({
      name: 'sync_agent_concurrency',
      help: 'Jobs this agent runs at once at most (AGENT_CONCURRENCY)',
      registers: [this.registry],
      collect() {
        this.set(sources.concurrency);
      },
    });
    new Gauge({
      name: 'sync_agent_report_backlog',
      help: 'Results waiting to be delivered (queued or in the outbox)',
      registers: [this.registry],
      collect() {
        this.set(sources.backlog());
      },
    });
  }

  /** Counts a finished job (its result carries no secret). */
  record(item: ReportItem): void {
    const kind = parseJobId(item.jobId)?.kind ?? 'unknown';
    const reason = item.result.outcome === 'failed' ? item.result.reason : '';
    this.results.inc({ kind, outcome: item.result.outcome, reason });
    this.duration.observe({ kind }, item.durationMs / 1000);
  }

  async listen(port: number, host: string): Promise<number> {
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new SyncError(
            'CONFIG_INVALID',
            `${err.code === 'EADDRINUSE' || err.code === 'EACCES' ? 'AGENT_METRICS_PORT' : 'AGENT_METRICS_HOST'}: cannot listen on ${host}:${port} (${err.code ?? err.message})`,
          ),
        ),
      );
      this.server!.listen(port, host, resolve);
    });
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
