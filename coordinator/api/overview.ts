import { z } from 'zod';
import { SyncRunView } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import type { Routes } from '../http/routes.js';
import { ONLINE_WINDOW_MS } from '../store/agents.js';
import { syncRunView, type SyncRunRow } from './views.js';

/** How far back "With Issues" looks for runs that ended partial. */
const ISSUES_WINDOW_DAYS = 7;

export const OverviewView = z.object({
  buckets: z.object({
    /** Jobs an agent runs right now. */
    active: z.number(),
    /** Jobs queued, waiting for an agent. */
    queued: z.number(),
    /** Sync runs not finished yet. */
    runsInProgress: z.number(),
    /** Runs that ended partial within the window. */
    withIssues: z.number(),
    withIssuesDays: z.number(),
    /** Credentials suspended after repeated errors (not scheduled until an operator acts). */
    suspended: z.number(),
    /** Credentials with no sync configured (`not_synced`). */
    notConfigured: z.number(),
  }),
  sites: z.array(
    z.object({
      siteId: z.uuid(),
      name: z.string(),
      enabled: z.boolean(),
      lastSyncAt: z.string().nullable(),
      agents: z.object({ total: z.number(), enabled: z.number(), online: z.number() }),
      /** The site's latest run scoped to it (Resync, sync --site), PingOne's sync summary. */
      latestRun: SyncRunView.nullable(),
    }),
  ),
  runsOverTime: z.object({
    bucket: z.enum(['hour', 'day']),
    points: z.array(
      z.object({
        at: z.string(),
        success: z.number(),
        partial: z.number(),
        failure: z.number(),
        running: z.number(),
      }),
    ),
  }),
});

const OverviewQuery = z.strictObject({ bucket: z.enum(['hour', 'day']).default('hour') });

/** The dashboard's overview in one request: buckets, per-site sync summaries, runs over time. */
export function registerOverviewRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/overview',
    summary:
      'Dashboard overview: Active / With Issues / Suspended / Not Configured, site sync summaries, runs over time',
    tag: 'summary',
    auth: 'viewer',
    query: OverviewQuery,
    response: { status: 200, schema: OverviewView },
    handler: async ({ query }) => {
      const hour = query.bucket === 'hour';
      const span = hour ? 24 : 14;
      const now = new Date();
      const step = hour ? 3_600_000 : 86_400_000;
      const last = new Date(Math.floor(now.getTime() / step) * step);
      const first = new Date(last.getTime() - (span - 1) * step);
      const [jobs, counts, runs, sites, series] = await Promise.all([
        ctx.db.query<{ job_state: string; n: number }>(
          `SELECT job_state, count(*)::int AS n FROM credentials WHERE job_state <> 'idle' GROUP BY job_state`,
        ),
        ctx.db.query<{ suspended: number; not_configured: number }>(
          `SELECT (SELECT count(*)::int FROM credentials WHERE suspended) AS suspended,
                  (SELECT count(*)::int FROM credentials WHERE status = 'not_synced') AS not_configured`,
        ),
        ctx.db.query<{ in_progress: number; with_issues: number }>(
          `SELECT count(*) FILTER (WHERE finished_at IS NULL)::int AS in_progress,
                  count(*) FILTER (WHERE outcome = 'partial')::int AS with_issues
             FROM sync_runs WHERE started_at > $1::timestamptz - make_interval(days => $2)`,
          [now.toISOString(), ISSUES_WINDOW_DAYS],
        ),
        ctx.db.query<
          SyncRunRow & {
            site_id: string;
            site_name: string;
            site_enabled: boolean;
            last_sync_at: Date | null;
            agents_total: number;
            agents_enabled: number;
            agents_online: number;
            run_id: string | null;
          }
        >(
          `SELECT s.id AS site_id, s.name AS site_name, s.enabled AS site_enabled, s.last_sync_at,
                  a.total AS agents_total, a.enabled AS agents_enabled, a.online AS agents_online,
                  r.id AS run_id, r.*
             FROM sites s
             CROSS JOIN LATERAL (
               SELECT count(*)::int AS total, count(*) FILTER (WHERE enabled)::int AS enabled,
                      count(*) FILTER (WHERE last_heartbeat_at > $1::timestamptz - make_interval(secs => $2))::int AS online
                 FROM agents WHERE site_id = s.id AND revoked_at IS NULL) a
             LEFT JOIN LATERAL (
               SELECT * FROM sync_runs r WHERE r.scope->>'siteId' = s.id::text ORDER BY r.started_at DESC LIMIT 1) r ON true
            ORDER BY s.name`,
          [now.toISOString(), ONLINE_WINDOW_MS / 1000],
        ),
        ctx.db.query<{ at: Date; success: number; partial: number; failure: number; running: number }>(
          // Buckets in UTC, whatever the session's time zone.
          `SELECT to_timestamp(floor(extract(epoch FROM started_at) / $1) * $1) AS at,
                  count(*) FILTER (WHERE outcome = 'success')::int AS success,
                  count(*) FILTER (WHERE outcome = 'partial')::int AS partial,
                  count(*) FILTER (WHERE outcome = 'failure')::int AS failure,
                  count(*) FILTER (WHERE finished_at IS NULL)::int AS running
             FROM sync_runs
            WHERE started_at >= $2::timestamptz
            GROUP BY 1 ORDER BY 1`,
          [step / 1000, first.toISOString()],
        ),
      ]);
      const job = (state: string) => jobs.rows.find((r) => r.job_state === state)?.n ?? 0;
      // Every bucket of the span, empty ones included, so the chart has a steady axis.
      const byTime = new Map(series.rows.map((r) => [r.at.getTime(), r]));
      const points = Array.from({ length: span }, (_, i) => {
        const at = new Date(first.getTime() + i * step);
        const r = byTime.get(at.getTime());
        return {
          at: at.toISOString(),
          success: r?.success ?? 0,
          partial: r?.partial ?? 0,
          failure: r?.failure ?? 0,
          running: r?.running ?? 0,
        };
      });
      return {
        buckets: {
          active: job('active'),
          queued: job('queued'),
          runsInProgress: runs.rows[0]?.in_progress ?? 0,
          withIssues: runs.rows[0]?.with_issues ?? 0,
          withIssuesDays: ISSUES_WINDOW_DAYS,
          suspended: counts.rows[0]?.suspended ?? 0,
          notConfigured: counts.rows[0]?.not_configured ?? 0,
        },
        sites: sites.rows.map((s) => ({
          siteId: s.site_id,
          name: s.site_name,
          enabled: s.site_enabled,
          lastSyncAt: s.last_sync_at?.toISOString() ?? null,
          agents: { total: s.agents_total, enabled: s.agents_enabled, online: s.agents_online },
          latestRun: s.run_id ? syncRunView({ ...s, id: s.run_id }) : null,
        })),
        runsOverTime: { bucket: query.bucket, points },
      };
    },
  });
}
