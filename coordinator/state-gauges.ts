import { Gauge } from 'prom-client';
import { STATUSES } from '../shared/contracts/status.js';
import type { Metrics } from './metrics.js';
import type { StateSnapshot } from './state-snapshot.js';

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
