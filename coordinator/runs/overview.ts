import type { Queryable } from '../store/db.js';
import type { SyncRunRow } from './store.js';

/*
 * The sync runs the dashboard's overview (api/overview.ts) counts and shows.
 */

/** Runs started in the last `days` before `now`: still running, and ended partial or failed. */
export async function recentRunCounts(
  q: Queryable,
  now: Date,
  days: number,
): Promise<{ in_progress: number; with_issues: number }> {
  const { rows } = await q.query<{ in_progress: number; with_issues: number }>(
    `SELECT count(*) FILTER (WHERE finished_at IS NULL)::int AS in_progress,
            count(*) FILTER (WHERE outcome IN ('partial', 'failure'))::int AS with_issues
       FROM sync_runs WHERE started_at > $1::timestamptz - make_interval(days => $2)`,
    [now.toISOString(), days],
  );
  return rows[0] ?? { in_progress: 0, with_issues: 0 };
}

/**
 * Each site's latest run scoped to it (`latest`; one probe of sync_runs_site, migration 5, per site;
 * the day's schedule entries are skipped), and the schedule entry of its verifications of the day
 * starting at `day` (not `latest`; sync_runs_schedule_day, migration 9).
 */
export async function latestSiteRuns(
  q: Queryable,
  day: Date,
): Promise<(SyncRunRow & { site_id: string; latest: boolean })[]> {
  const { rows } = await q.query<SyncRunRow & { site_id: string; latest: boolean }>(
    `SELECT s.id AS site_id, true AS latest, r.*
       FROM sites s
       CROSS JOIN LATERAL (
         SELECT * FROM sync_runs r WHERE (r.scope->>'siteId') = s.id::text AND r.trigger <> 'schedule'
          ORDER BY r.started_at DESC LIMIT 1) r
     UNION ALL
     SELECT (r.scope->>'siteId')::uuid AS site_id, false AS latest, r.*
       FROM sync_runs r
      WHERE r.trigger = 'schedule' AND r.kind = 'verify' AND r.started_at = $1::timestamptz`,
    [day.toISOString()],
  );
  return rows;
}

export interface RunsAt {
  at: Date;
  success: number;
  partial: number;
  failure: number;
  running: number;
}

/**
 * Runs started since `first`, by outcome, in buckets of `stepMs` (in UTC, whatever the session's
 * time zone); only buckets with runs. Schedule entries (one per site and day, started at 00:00) are
 * not runs started at an hour: the history lists them, the chart not.
 */
export async function runsOverTime(q: Queryable, first: Date, stepMs: number): Promise<RunsAt[]> {
  const { rows } = await q.query<RunsAt>(
    `SELECT to_timestamp(floor(extract(epoch FROM started_at) / $1) * $1) AS at,
            count(*) FILTER (WHERE outcome = 'success')::int AS success,
            count(*) FILTER (WHERE outcome = 'partial')::int AS partial,
            count(*) FILTER (WHERE outcome = 'failure')::int AS failure,
            count(*) FILTER (WHERE finished_at IS NULL)::int AS running
       FROM sync_runs
      WHERE started_at >= $2::timestamptz AND trigger <> 'schedule'
      GROUP BY 1 ORDER BY 1`,
    [stepMs / 1000, first.toISOString()],
  );
  return rows;
}
