import { SummaryView } from '../../shared/contracts/api.js';
import { emptyStatusCounts } from '../../shared/contracts/status.js';
import type { Ctx } from '../context.js';
import type { Routes } from '../http/routes.js';
import { resultsOf, siteResults, stateSnapshot } from '../state-snapshot.js';

export function registerSummaryRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/summary',
    summary:
      'Counts per status, overall and per site, with the latest results of each site (counts at most COUNTS_MAX_AGE_MS old, the results 15 times that)',
    tag: 'summary',
    auth: 'viewer',
    response: { status: 200, schema: SummaryView },
    handler: async () => {
      const [snapshot, results] = await Promise.all([stateSnapshot(ctx), siteResults(ctx)]);
      const byStatus = emptyStatusCounts();
      const perSite = new Map(snapshot.sites.map((s) => [s.id, emptyStatusCounts()]));
      for (const r of snapshot.credentials) {
        byStatus[r.status] += r.n;
        const site = perSite.get(r.site_id);
        if (site) site[r.status] += r.n;
      }
      let suspended = 0;
      for (const n of snapshot.suspended.values()) suspended += n;
      return {
        byStatus,
        suspended,
        sites: snapshot.sites.map((s) => ({
          siteId: s.id,
          name: s.name,
          enabled: s.enabled,
          byStatus: perSite.get(s.id)!,
          lastSyncAt: s.last_sync_at?.toISOString() ?? null,
          ...resultsOf(results, s.id),
        })),
        asOf: snapshot.takenAt.toISOString(),
      };
    },
  });
}
