import { groupBy } from '../../shared/collections.js';
import type { CredentialRow } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import type { RunCount } from '../credentials/transitions.js';

/** One credential's result in its run; `reason` defaults to the row's last reason for a failure. */
export interface RunResult {
  row: CredentialRow;
  count: RunCount;
  reason?: string | null;
}

/**
 * Counts results in the sync runs their credentials belong to, records each as an item of its run
 * (`sync_run_items`: the run's drill-down) and takes the credentials out of the run (the caller
 * saves the rows). A run is finished once every impacted credential has a result; its outcome is
 * success (all succeeded), failure (none did, even partly) or partial (OUTCOME_SQL).
 */
export async function countInRuns(q: Queryable, items: RunResult[], now: Date): Promise<void> {
  const inRuns = items.filter((i) => i.row.run_id !== null);
  if (inRuns.length === 0) return;
  const byRun = groupBy(inRuns, (i) => i.row.run_id!);
  await q.query(
    `INSERT INTO sync_run_items (run_id, credential_id, result, reason, at)
     SELECT u.run_id, u.credential_id, u.result, u.reason, $5 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
       AS u(run_id, credential_id, result, reason)`,
    [
      inRuns.map((i) => i.row.run_id),
      inRuns.map((i) => i.row.id),
      inRuns.map((i) => i.count),
      inRuns.map((i) => (i.reason !== undefined ? i.reason : defaultReason(i))),
      now.toISOString(),
    ],
  );
  for (const i of inRuns) i.row.run_id = null;
  const ids: string[] = [];
  const counts: Record<RunCount, number[]> = { success: [], partial: [], failed: [], unsynced: [] };
  for (const [runId, list] of byRun) {
    ids.push(runId);
    for (const key of RUN_COUNTS) counts[key].push(list.filter((i) => i.count === key).length);
  }
  await q.query(
    `UPDATE sync_runs r SET success = r.success + u.s, partial = r.partial + u.p, failed = r.failed + u.f,
            unsynced = r.unsynced + u.n
       FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::int[]) AS u(id, s, p, f, n)
      WHERE r.id = u.id`,
    [ids, counts.success, counts.partial, counts.failed, counts.unsynced],
  );
  await finishRuns(q, ids, now);
}

/**
 * Takes credentials that will get no result out of their runs, counted `unsynced` with `reason`
 * (deleted, sync turned off, no longer eligible when the tick took them), so a run never waits
 * for them: `finishedAt` is set once every item has a result. Rows without a run are ignored.
 */
export async function leaveRuns(
  q: Queryable,
  rows: CredentialRow[],
  reason: string,
  now: Date,
): Promise<void> {
  await countInRuns(
    q,
    rows.filter((row) => row.run_id !== null).map((row) => ({ row, count: 'unsynced' as const, reason })),
    now,
  );
}

/**
 * A run's outcome from its counts (SQL, over the row's columns): `success` when every item
 * succeeded, `failure` when none succeeded even partly (no success, no partial), else `partial`.
 */
export const OUTCOME_SQL = `CASE WHEN failed + unsynced + partial = 0 THEN 'success'
                                 WHEN success + partial = 0 THEN 'failure' ELSE 'partial' END`;

/** Marks runs finished whose every item has a result. */
export async function finishRuns(q: Queryable, runIds: string[], now: Date): Promise<void> {
  await q.query(
    `UPDATE sync_runs SET finished_at = $2, outcome = ${OUTCOME_SQL}
      WHERE id = ANY($1::uuid[]) AND finished_at IS NULL AND success + failed + unsynced + partial >= impacted`,
    [runIds, now.toISOString()],
  );
}

/**
 * A run whose remaining items will never report (they left it: a group change's deleted primary)
 * counts them unsynced, so it can finish.
 */
export async function countRestUnsynced(q: Queryable, runId: string): Promise<void> {
  await q.query(
    `UPDATE sync_runs SET unsynced = GREATEST(unsynced, impacted - success - failed - partial) WHERE id = $1 AND finished_at IS NULL`,
    [runId],
  );
}

const RUN_COUNTS: RunCount[] = ['success', 'partial', 'failed', 'unsynced'];

/**
 * The reason an item is recorded with when the caller gave none: a failure's reason; for a partial
 * one, what made the change uncertain (`change_outcome_unknown`).
 */
function defaultReason(i: RunResult): string | null {
  if (i.count === 'failed') return i.row.last_reason ?? 'error';
  if (i.count === 'partial') return 'change_outcome_unknown';
  return null;
}
