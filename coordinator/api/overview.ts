import { z } from 'zod';
import { OverviewView } from '../../shared/contracts/api.js';
import { overviewIssues } from '../alerts/store.js';
import type { Ctx } from '../context.js';
import type { Routes } from '../http/routes.js';
import { resultsOf, siteResults, stateSnapshot, type StateSnapshot } from '../state-snapshot.js';
import { syncRunView } from './views.js';
import type { SyncRunRow } from '../runs/store.js';

/** How far back "With Issues" looks for runs that ended partial or failed. */
const ISSUES_WINDOW_DAYS = 7;

/** 00:00 UTC of the day `at` falls on: the start of that day's schedule entries. */
const today = (at: Date): Date => new Date(Math.floor(at.getTime() / 86_400_000) * 86_400_000);

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
      const [issues, snapshot, results, runs, latest, series] = await Promise.all([
        overviewIssues(ctx.db),
        stateSnapshot(ctx),
        siteResults(ctx),
        ctx.db.query<{ in_progress: number; with_issues: number }>(
          `SELECT count(*) FILTER (WHERE finished_at IS NULL)::int AS in_progress,
                  count(*) FILTER (WHERE outcome IN ('partial', 'failure'))::int AS with_issues
             FROM sync_runs WHERE started_at > $1::timestamptz - make_interval(days => $2)`,
          [now.toISOString(), ISSUES_WINDOW_DAYS],
        ),
        // Each site's latest run scoped to it (one probe of sync_runs_site, migration 5, per site;
        // the day's schedule entries are skipped), and today's schedule entry of its verifications
        // (sync_runs_schedule_day, migration 9).
        ctx.db.query<SyncRunRow & { site_id: string; latest: boolean }>(
          `SELECT s.id AS site_id, true AS latest, r.*
             FROM sites s
             CROSS JOIN LATERAL (
               SELECT * FROM sync_runs r WHERE (r.scope->>'siteId') = s.id::text AND r.trigger <> 'schedule'
                ORDER BY r.started_at DESC LIMIT 1) r
           UNION ALL
           SELECT (r.scope->>'siteId')::uuid AS site_id, false AS latest, r.*
             FROM sync_runs r
            WHERE r.trigger = 'schedule' AND r.kind = 'verify' AND r.started_at = $1::timestamptz`,
          [today(now).toISOString()],
        ),
        ctx.db.query<{ at: Date; success: number; partial: number; failure: number; running: number }>(
          // Buckets in UTC, whatever the session's time zone. Schedule entries (one per site and day,
          // started at 00:00) are not runs started at an hour: the history lists them, the chart not.
          `SELECT to_timestamp(floor(extract(epoch FROM started_at) / $1) * $1) AS at,
                  count(*) FILTER (WHERE outcome = 'success')::int AS success,
                  count(*) FILTER (WHERE outcome = 'partial')::int AS partial,
                  count(*) FILTER (WHERE outcome = 'failure')::int AS failure,
                  count(*) FILTER (WHERE finished_at IS NULL)::int AS running
             FROM sync_runs
            WHERE started_at >= $2::timestamptz AND trigger <> 'schedule'
            GROUP BY 1 ORDER BY 1`,
          [step / 1000, first.toISOString()],
        ),
      ]);
      const latestBySite = new Map(latest.rows.filter((r) => r.latest).map((r) => [r.site_id, r]));
      const scheduledBySite = new Map(latest.rows.filter((r) => !r.latest).map((r) => [r.site_id, r]));
      const jobs = await jobCounts(ctx, snapshot);
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
      let suspended = 0;
      for (const n of snapshot.suspended.values()) suspended += n;
      const notConfigured = snapshot.credentials
        .filter((r) => r.status === 'not_synced')
        .reduce((n, r) => n + r.n, 0);
      return {
        buckets: {
          active: jobs.total.active,
          queued: jobs.total.queued,
          delayed: jobs.total.delayed,
          jobsFrom: jobs.from,
          runsInProgress: runs.rows[0]?.in_progress ?? 0,
          withIssues: runs.rows[0]?.with_issues ?? 0,
          withIssuesDays: ISSUES_WINDOW_DAYS,
          suspended,
          notConfigured,
        },
        sites: snapshot.sites.map((s) => {
          const run = latestBySite.get(s.id);
          const scheduled = scheduledBySite.get(s.id);
          return {
            siteId: s.id,
            name: s.name,
            enabled: s.enabled,
            lastSyncAt: s.last_sync_at?.toISOString() ?? null,
            ...resultsOf(results, s.id),
            agents: { total: s.agents_total, enabled: s.agents_enabled, online: s.agents_online },
            jobs: jobs.perSite.get(s.id) ?? null,
            latestRun: run ? syncRunView(run) : null,
            scheduled: scheduled ? syncRunView(scheduled) : null,
          };
        }),
        runsOverTime: { bucket: query.bucket, points },
        issues,
        asOf: snapshot.takenAt.toISOString(),
      };
    },
  });
}

interface JobCounts {
  active: number;
  queued: number;
  delayed: number;
}

/**
 * Jobs running and waiting, from BullMQ's counts of each site queue (the snapshot's): a job is
 * active from the moment an agent claims it. PostgreSQL's job_state says `active` only for changes
 * at once and for verifications running longer than half a second (gateway/being-synced.ts), so it
 * would undercount. When a queue did not answer (Redis down), PostgreSQL's job states are the
 * fallback, and `jobsFrom` says so.
 */
async function jobCounts(
  ctx: Ctx,
  snapshot: StateSnapshot,
): Promise<{ total: JobCounts; perSite: Map<string, JobCounts>; from: 'queues' | 'database' }> {
  const perSite = new Map<string, JobCounts>();
  const total: JobCounts = { active: 0, queued: 0, delayed: 0 };
  for (const [siteId, c] of snapshot.queues) {
    const site = {
      active: c.active ?? 0,
      queued: (c.wait ?? 0) + (c.prioritized ?? 0),
      delayed: c.delayed ?? 0,
    };
    perSite.set(siteId, site);
    total.active += site.active;
    total.queued += site.queued;
    total.delayed += site.delayed;
  }
  if (snapshot.sites.every((s) => snapshot.queues.has(s.id))) return { total, perSite, from: 'queues' };
  const { rows } = await ctx.db.query<{ job_state: string; n: number }>(
    `SELECT job_state, count(*)::int AS n FROM credentials WHERE job_state <> 'idle' GROUP BY job_state`,
  );
  const n = (state: string) => rows.find((r) => r.job_state === state)?.n ?? 0;
  return { total: { active: n('active'), queued: n('queued'), delayed: 0 }, perSite, from: 'database' };
}
