import { z } from 'zod';
import { OverviewView } from '../../shared/contracts/api.js';
import { overviewIssues } from '../alerts/store.js';
import type { Ctx } from '../context.js';
import type { Routes } from '../http/routes.js';
import { resultsOf, siteResults, stateSnapshot, type StateSnapshot } from '../state-snapshot.js';
import { latestSiteRuns, recentRunCounts, runsOverTime } from '../runs/overview.js';
import { jobStateCounts } from '../store/state-counts.js';
import { namedRunViews } from './named.js';

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
        recentRunCounts(ctx.db, now, ISSUES_WINDOW_DAYS),
        latestSiteRuns(ctx.db, today(now)),
        runsOverTime(ctx.db, first, step),
      ]);
      // Named as the runs list names them (the scope's site, target or group name), in one query.
      const views = await namedRunViews(ctx.db, latest);
      const latestBySite = new Map(latest.flatMap((r, i) => (r.latest ? [[r.site_id, views[i]!]] : [])));
      const scheduledBySite = new Map(latest.flatMap((r, i) => (r.latest ? [] : [[r.site_id, views[i]!]])));
      const jobs = await jobCounts(ctx, snapshot);
      // Every bucket of the span, empty ones included, so the chart has a steady axis.
      const byTime = new Map(series.map((r) => [r.at.getTime(), r]));
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
          runsInProgress: runs.in_progress,
          withIssues: runs.with_issues,
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
            latestRun: run ?? null,
            scheduled: scheduled ?? null,
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
  const rows = await jobStateCounts(ctx.db);
  const n = (state: string) => rows.find((r) => r.job_state === state)?.n ?? 0;
  return { total: { active: n('active'), queued: n('queued'), delayed: 0 }, perSite, from: 'database' };
}
