import { groupBy } from '../../shared/collections.js';
import type { CredentialRow } from '../store/credentials.js';
import type { Queryable } from '../store/db.js';
import type { RunCount } from './transitions.js';

/**
 * Counts results in the sync runs their credentials belong to and takes the credentials out of the
 * run (the caller saves the rows). A run is finished once every impacted credential has a result;
 * its outcome is success (all succeeded), failure (none did) or partial.
 */
export async function countInRuns(
  q: Queryable,
  items: { row: CredentialRow; count: RunCount }[],
  now: Date,
): Promise<void> {
  const inRuns = items.filter((i) => i.row.run_id !== null);
  if (inRuns.length === 0) return;
  const byRun = groupBy(inRuns, (i) => i.row.run_id!);
  for (const i of inRuns) i.row.run_id = null;
  const ids: string[] = [];
  const success: number[] = [];
  const failed: number[] = [];
  const unsynced: number[] = [];
  for (const [runId, list] of byRun) {
    ids.push(runId);
    success.push(list.filter((i) => i.count === 'success').length);
    failed.push(list.filter((i) => i.count === 'failed').length);
    unsynced.push(list.filter((i) => i.count === 'unsynced').length);
  }
  await q.query(
    `UPDATE sync_runs r SET success = r.success + u.s, failed = r.failed + u.f, unsynced = r.unsynced + u.n
       FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[]) AS u(id, s, f, n)
      WHERE r.id = u.id`,
    [ids, success, failed, unsynced],
  );
  await finishRuns(q, ids, now);
}

/** Marks runs finished whose every item has a result. */
export async function finishRuns(q: Queryable, runIds: string[], now: Date): Promise<void> {
  await q.query(
    `UPDATE sync_runs SET finished_at = $2,
            outcome = CASE WHEN failed + unsynced + partial = 0 THEN 'success'
                           WHEN success = 0 THEN 'failure' ELSE 'partial' END
      WHERE id = ANY($1::uuid[]) AND finished_at IS NULL AND success + failed + unsynced + partial >= impacted`,
    [runIds, now.toISOString()],
  );
}
