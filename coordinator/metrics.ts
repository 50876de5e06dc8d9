import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
