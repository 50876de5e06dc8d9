import { SummaryView } from '../../shared/contracts/api.js';
import { emptyStatusCounts, type Status } from '../../shared/contracts/status.js';
import type { Ctx } from '../context.js';
import type { Routes } from '../http/routes.js';

export function registerSummaryRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/summary',
    summary: 'Counts per status, overall and per site',
    tag: 'summary',
    auth: 'viewer',
    response: { status: 200, schema: SummaryView },
    handler: async () => {
      const [counts, sites, suspended] = await Promise.all([
        ctx.db.query<{ site_id: string; status: Status; n: number }>(
          'SELECT site_id, status, count(*)::int AS n FROM credentials GROUP BY site_id, status',
        ),
        ctx.db.query<{ id: string; name: string; enabled: boolean; last_sync_at: Date | null }>(
          'SELECT id, name, enabled, last_sync_at FROM sites ORDER BY name',
        ),
        ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM credentials WHERE suspended'),
      ]);
      const byStatus = emptyStatusCounts();
      const perSite = new Map(sites.rows.map((s) => [s.id, emptyStatusCounts()]));
      for (const r of counts.rows) {
        byStatus[r.status] += r.n;
        const site = perSite.get(r.site_id);
        if (site) site[r.status] += r.n;
      }
      return {
        byStatus,
        suspended: suspended.rows[0]?.n ?? 0,
        sites: sites.rows.map((s) => ({
          siteId: s.id,
          name: s.name,
          enabled: s.enabled,
          byStatus: perSite.get(s.id)!,
          lastSyncAt: s.last_sync_at?.toISOString() ?? null,
        })),
      };
    },
  });
}
