import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { STATUSES } from '../shared/contracts/status.js';
import type { StateSnapshot } from './state-snapshot.js';

/** Prometheus metrics of one coordinator process. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sync_coordinator_' });
  return {
    registry,
    jobsClaimed: new Counter({
      name: 'sync_jobs_claimed_total',
      help: 'Jobs handed to agents',
      labelNames: ['site', 'kind'] as const,
      registers: [registry],
    }),
    jobsCompleted: new Counter({
      name: 'sync_jobs_completed_total',
      help: 'Job results accepted from agents',
      labelNames: ['site', 'kind', 'outcome'] as const,
      registers: [registry],
    }),
    jobsEnqueued: new Counter({
      name: 'sync_jobs_enqueued_total',
      help: 'Jobs put on site queues',
      labelNames: ['site', 'kind'] as const,
      registers: [registry],
    }),
    jobsStalled: new Counter({
      name: 'sync_jobs_stalled_total',
      help: 'Jobs whose lock expired while an agent held them (agent vanished or stopped extending): back to the queue, counted by the replica whose stalled-job check found them',
      labelNames: ['site', 'kind'] as const,
      registers: [registry],
    }),
    reportsRejected: new Counter({
      name: 'sync_reports_rejected_total',
      help: 'Agent results refused (job not held, other site, finished)',
      labelNames: ['site', 'code'] as const,
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'sync_job_duration_seconds',
      help: 'Time agents spent on a job, by target kind',
      labelNames: ['kind', 'adapter'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    eventsRecorded: new Counter({
      name: 'sync_events_total',
      help: 'Outbox events turned into alerts or held back (docs/alerts.md), by type and what became of them (alerted, grouped, muted)',
      labelNames: ['type', 'disposition'] as const,
      registers: [registry],
    }),
    alertsRaised: new Counter({
      name: 'sync_alerts_total',
      help: 'Alerts made from events (one per alert, before fan-out to channels), by type and grouping',
      labelNames: ['type', 'grouping'] as const,
      registers: [registry],
    }),
    deliveryAttempts: new Counter({
      name: 'sync_notification_deliveries_total',
      help: 'Delivery attempts to notification channels, by channel kind and result (sent, retrying, failed)',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'sync_http_request_duration_seconds',
      help: 'API and gateway request latency',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Gauges of the system's state, computed when Prometheus scrapes from the coordinator's shared
 * state snapshot (state-snapshot.ts: at most COUNTS_MAX_AGE_MS old): credentials per site and
 * status, suspended credentials, queue depth per site and state, agents online / enabled per site,
 * and site names. Every replica reports the same values; aggregate with max(), not sum().
 * Registering twice on one registry is a no-op.
 */
export function installStateGauges(metrics: Metrics, snapshot: () => Promise<StateSnapshot>): void {
  const { registry } = metrics;
  if (registry.getSingleMetric('sync_credentials')) return;
  // A database that cannot answer leaves the gauges empty rather than failing the whole scrape.
  const read = (): Promise<StateSnapshot> =>
    snapshot().catch((): StateSnapshot => ({
      takenAt: new Date(),
      sites: [],
      credentials: [],
      suspended: new Map(),
      queues: new Map(),
    }));
  new Gauge({
    name: 'sync_site_info',
    help: 'One per site: its name (join on site)',
    labelNames: ['site', 'name', 'enabled'] as const,
    registers: [registry],
    async collect() {
      const s = await read();
      this.reset();
      for (const site of s.sites)
        this.set({ site: site.id, name: site.name, enabled: String(site.enabled) }, 1);
    },
  });
  new Gauge({
    name: 'sync_credentials',
    help: 'Credentials per site and status (all eight statuses, zeros included)',
    labelNames: ['site', 'status'] as const,
    registers: [registry],
    async collect() {
      const s = await read();
      this.reset();
      for (const site of s.sites) for (const status of STATUSES) this.set({ site: site.id, status }, 0);
      for (const r of s.credentials) this.set({ site: r.site_id, status: r.status }, r.n);
    },
  });
  new Gauge({
    name: 'sync_credentials_suspended',
    help: 'Credentials suspended after repeated errors, per site',
    labelNames: ['site'] as const,
    registers: [registry],
    async collect() {
      const s = await read();
      this.reset();
      for (const site of s.sites) this.set({ site: site.id }, s.suspended.get(site.id) ?? 0);
    },
  });
  new Gauge({
    name: 'sync_queue_jobs',
    help: 'Jobs in each site queue by state (wait, prioritized, active, delayed)',
    labelNames: ['site', 'state'] as const,
    registers: [registry],
    async collect() {
      const s = await read();
      this.reset();
      for (const [site, counts] of s.queues) {
        for (const [state, n] of Object.entries(counts)) this.set({ site, state }, n);
      }
    },
  });
  new Gauge({
    name: 'sync_agents_online',
    help: 'Agents with a recent heartbeat, per site',
    labelNames: ['site'] as const,
    registers: [registry],
    async collect() {
      const s = await read();
      this.reset();
      for (const site of s.sites) this.set({ site: site.id }, site.agents_online);
    },
  });
  new Gauge({
    name: 'sync_agents_enabled',
    help: 'Agents enabled (and not revoked), per site',
    labelNames: ['site'] as const,
    registers: [registry],
    async collect() {
      const s = await read();
      this.reset();
      for (const site of s.sites) this.set({ site: site.id }, site.agents_enabled);
    },
  });
}
