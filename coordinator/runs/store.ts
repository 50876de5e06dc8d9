import type { SyncRunView } from '../../shared/contracts/api.js';
import type { Queryable } from '../store/db.js';

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
}

/** A sync run, or null; `forUpdate` locks it for the caller's transaction. */
export async function loadRun(q: Queryable, id: string, forUpdate = false): Promise<SyncRunRow | null> {
  const { rows } = await q.query<SyncRunRow>(
    `SELECT * FROM sync_runs WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}
