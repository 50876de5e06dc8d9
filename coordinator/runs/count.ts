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
 *
 * `atCommit` (gateway/apply-results.ts, the hot path): one statement records the items and inserts
 * each run's counts into sync_run_tallies, whose deferred trigger adds them to the run and finishes
 * it when the transaction commits (migration 13). A run's row is the one every report batch of the
 * run updates, and its lock is held to the commit: taken at the commit, it is held for the commit
 * alone, not for the rest of the transaction and its round trips to the coordinator. Until then
 * this transaction does not see these counts in the runs' counters: only for a caller that reads
 * none after it. Otherwise the counters are updated (and the runs finished) in one statement now.
 */
export async function countInRuns(
  q: Queryable,
  items: RunResult[],
  now: Date,
  how: { atCommit: boolean } = { atCommit: false },
): Promise<void> {
  const inRuns = items.filter((i) => i.row.run_id !== null);
  if (inRuns.length === 0) return;
  const params = [
    inRuns.map((i) => i.row.run_id),
    inRuns.map((i) => i.row.id),
    inRuns.map((i) => i.count),
    inRuns.map((i) => (i.reason !== undefined ? i.reason : defaultReason(i))),
    now.toISOString(),
  ];
  const insertItems = `INSERT INTO sync_run_items (run_id, credential_id, result, reason, at)
     SELECT u.run_id, u.credential_id, u.result, u.reason, $5 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
       AS u(run_id, credential_id, result, reason)`;
  if (how.atCommit) {
    // In run id order: the trigger takes the runs' locks in that order, as every batch does.
    await q.query(
      `WITH items AS (${insertItems} RETURNING run_id, result)
       INSERT INTO sync_run_tallies (run_id, success, partial, failed, unsynced, at)
       SELECT run_id, count(*) FILTER (WHERE result = 'success'), count(*) FILTER (WHERE result = 'partial'),
              count(*) FILTER (WHERE result = 'failed'), count(*) FILTER (WHERE result = 'unsynced'), $5
         FROM items GROUP BY run_id ORDER BY run_id`,
      params,
    );
  } else {
    await q.query(insertItems, params);
    await addToRuns(q, inRuns, now);
  }
  for (const i of inRuns) i.row.run_id = null;
}

/** The run's outcome over the counts after the update (`r` its row, `u` what is added). */
const NEW_OUTCOME_SQL = `CASE WHEN r.failed + u.f + r.unsynced + u.n + r.partial + u.p = 0 THEN 'success'
                              WHEN r.success + u.s + r.partial + u.p = 0 THEN 'failure' ELSE 'partial' END`;
const NOW_COMPLETE_SQL = `r.finished_at IS NULL AND r.marking_after IS NULL
  AND r.success + u.s + r.partial + u.p + r.failed + u.f + r.unsynced + u.n >= r.impacted`;

/**
 * Adds the results to their runs' counters and finishes the runs they complete (finishRuns' rule,
 * over the counts after the update), one statement for all of them.
 */
async function addToRuns(q: Queryable, inRuns: RunResult[], now: Date): Promise<void> {
  const tally = new Map<string, Record<RunCount, number>>();
  for (const i of inRuns) {
    let counts = tally.get(i.row.run_id!);
    if (!counts) tally.set(i.row.run_id!, (counts = { success: 0, partial: 0, failed: 0, unsynced: 0 }));
    counts[i.count] += 1;
  }
  const ids = [...tally.keys()].sort();
  const column = (key: RunCount) => ids.map((id) => tally.get(id)![key]);
  await q.query(
    `UPDATE sync_runs r SET success = r.success + u.s, partial = r.partial + u.p, failed = r.failed + u.f,
            unsynced = r.unsynced + u.n,
            finished_at = CASE WHEN ${NOW_COMPLETE_SQL} THEN $6::timestamptz ELSE r.finished_at END,
            outcome = CASE WHEN ${NOW_COMPLETE_SQL} THEN ${NEW_OUTCOME_SQL} ELSE r.outcome END
       FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::int[]) AS u(id, s, p, f, n)
      WHERE r.id = u.id`,
    [ids, column('success'), column('partial'), column('failed'), column('unsynced'), now.toISOString()],
  );
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

/** Marks runs finished whose every item has a result (and every credential is marked: runs/marking.ts). */
export async function finishRuns(q: Queryable, runIds: string[], now: Date): Promise<void> {
  await q.query(
    `UPDATE sync_runs SET finished_at = $2, outcome = ${OUTCOME_SQL}
      WHERE id = ANY($1::uuid[]) AND finished_at IS NULL AND marking_after IS NULL AND success + failed + unsynced + partial >= impacted`,
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

/**
 * The reason an item is recorded with when the caller gave none: a failure's reason; for a partial
 * one, what made the change uncertain (`change_outcome_unknown`).
 */
function defaultReason(i: RunResult): string | null {
  if (i.count === 'failed') return i.row.last_reason ?? 'error';
  if (i.count === 'partial') return 'change_outcome_unknown';
  return null;
}
