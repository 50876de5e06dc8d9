import type { Status } from '../../shared/contracts/status.js';
import { ONLINE_WINDOW_MS } from './agents.js';
import type { Queryable } from './db.js';

/*
 * The counts the state snapshot (state-snapshot.ts) and the overview are made of: sites with their
 * agents, credentials per site and status, and each site's latest results.
 */

export interface SiteState {
  id: string;
  name: string;
  enabled: boolean;
  last_sync_at: Date | null;
  agents_total: number;
  agents_enabled: number;
  agents_online: number;
}

/** Every site by name, with its agents (not revoked) counted: all, enabled, online. */
export async function siteStates(q: Queryable): Promise<SiteState[]> {
  const { rows } = await q.query<SiteState>(
    `SELECT s.id, s.name, s.enabled, s.last_sync_at,
            count(a.id)::int AS agents_total,
            count(a.id) FILTER (WHERE a.enabled)::int AS agents_enabled,
            count(a.id) FILTER (WHERE a.last_heartbeat_at > now() - make_interval(secs => $1))::int AS agents_online
       FROM sites s LEFT JOIN agents a ON a.site_id = s.id AND a.revoked_at IS NULL
      GROUP BY s.id ORDER BY s.name`,
    [ONLINE_WINDOW_MS / 1000],
  );
  return rows;
}

export interface StatusCount {
  site_id: string;
  status: Status;
  n: number;
}

/** Credentials per site and status. */
export async function statusCounts(q: Queryable): Promise<StatusCount[]> {
  const { rows } = await q.query<StatusCount>(
    'SELECT site_id, status, count(*)::int AS n FROM credentials GROUP BY site_id, status',
  );
  return rows;
}

/** Suspended credentials per site (the partial index credentials_suspended_site, migration 5: no scan of the table). */
export async function suspendedCounts(q: Queryable): Promise<Map<string, number>> {
  const { rows } = await q.query<{ site_id: string; n: number }>(
    'SELECT site_id, count(*)::int AS n FROM credentials WHERE suspended GROUP BY site_id',
  );
  return new Map(rows.map((r) => [r.site_id, r.n]));
}

export interface SiteResultRow {
  site_id: string;
  last_verified_at: Date | null;
  checked: number;
  ok: number;
  failed: number;
}

/**
 * Per site: the newest last_verified_at of its credentials, and those whose latest result came after
 * `since`, by outcome (one pass over every credential). Sites without credentials are missing.
 */
export async function siteResultRows(q: Queryable, since: Date): Promise<SiteResultRow[]> {
  const { rows } = await q.query<SiteResultRow>(
    `SELECT site_id, max(last_verified_at) AS last_verified_at,
            count(*) FILTER (WHERE last_result_at > $1::timestamptz)::int AS checked,
            count(*) FILTER (WHERE last_result_at > $1::timestamptz AND last_outcome = 'ok')::int AS ok,
            count(*) FILTER (WHERE last_result_at > $1::timestamptz AND last_outcome = 'failed')::int AS failed
       FROM credentials GROUP BY site_id`,
    [since.toISOString()],
  );
  return rows;
}

/** Credentials per job state other than idle (the overview's fallback when a queue does not answer). */
export async function jobStateCounts(q: Queryable): Promise<{ job_state: string; n: number }[]> {
  const { rows } = await q.query<{ job_state: string; n: number }>(
    `SELECT job_state, count(*)::int AS n FROM credentials WHERE job_state <> 'idle' GROUP BY job_state`,
  );
  return rows;
}
