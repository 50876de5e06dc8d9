import type { SyncRunListQuery, SyncRunView } from '../../shared/contracts/api.js';
import type { z } from 'zod';
import { timeKeyParam, timeKeySql } from '../http/cursor.js';
import type { Queryable } from '../store/db.js';
import { Where } from '../store/where.js';

/** A `sync_runs` row (api/views.ts `syncRunView` renders it). */
export interface SyncRunRow {
  id: string;
  kind: 'verify' | 'change';
  trigger: string;
  scope: SyncRunView['scope'];
  created_by: string;
  started_at: Date;
  finished_at: Date | null;
  impacted: number;
  success: number;
  unsynced: number;
  partial: number;
  failed: number;
  outcome: SyncRunView['outcome'];
  cancelled_at: Date | null;
  cancelled_by: string | null;
  /** The last credential id marked; null once every credential of the scope is (runs/marking.ts). */
  marking_after: string | null;
}

/** A sync run, or null; `forUpdate` locks it for the caller's transaction. */
export async function loadRun(q: Queryable, id: string, forUpdate = false): Promise<SyncRunRow | null> {
  const { rows } = await q.query<SyncRunRow>(
    `SELECT * FROM sync_runs WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

/** Filters of the sync history (GET /sync-runs); `after` is the last row's time key and id. */
export interface RunFilter {
  after: [string, string] | null;
  outcome: z.output<typeof SyncRunListQuery>['outcome'];
  siteId: string | undefined;
  since: string | undefined;
  limit: number;
}

/** The sync history, newest first, with each row's time key for the next page's cursor. */
export async function listRuns(q: Queryable, f: RunFilter): Promise<(SyncRunRow & { sort_key: string })[]> {
  const where = new Where();
  // Ties on started_at (one statement can start several runs) are ordered by id: none is skipped.
  if (f.after) where.add(`(r.started_at, r.id) < (${timeKeyParam(1)}, $2::uuid)`, f.after[0], f.after[1]);
  if (f.outcome === 'running') where.add('r.finished_at IS NULL');
  else if (f.outcome === 'issues')
    where.add("r.finished_at IS NOT NULL AND r.outcome IN ('partial', 'failure')");
  else if (f.outcome) where.add('r.finished_at IS NOT NULL AND r.outcome = $1', f.outcome);
  if (f.siteId) where.add("(r.scope->>'siteId') = $1", f.siteId);
  if (f.since) where.add('r.started_at >= $1::timestamptz', f.since);
  const limit = where.param(f.limit);
  const { rows } = await q.query<SyncRunRow & { sort_key: string }>(
    `SELECT r.*, ${timeKeySql('r.started_at')} AS sort_key FROM sync_runs r ${where}
      ORDER BY r.started_at DESC, r.id DESC LIMIT ${limit}`,
    where.params,
  );
  return rows;
}
