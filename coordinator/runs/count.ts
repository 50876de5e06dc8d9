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
  await addToRuns(q, await recordRunItems(q, items, now), now);
}

/** What a batch of results adds to each run's counters, by run id (recordRunItems → addToRuns). */
export type RunTally = Map<string, Record<RunCount, number>>;

/**
 * The first half of countInRuns: records the items, takes the credentials out of their runs and
 * returns the counts to add. The caller adds them with addToRuns in the same transaction, as late
 * as it can: a run's row is the one every report batch of the run updates, and its lock is held to
 * the commit (docs/benchmarks.md), so the shorter the rest of the transaction after it, the less
 * the batches of other agents wait for one another.
 */
export async function recordRunItems(q: Queryable, items: RunResult[], now: Date): Promise<RunTally> {
  const tally: RunTally = new Map();
  const inRuns = items.filter((i) => i.row.run_id !== null);
  if (inRuns.length === 0) return tally;
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
  for (const i of inRuns) {
    let counts = tally.get(i.row.run_id!);
    if (!counts) tally.set(i.row.run_id!, (counts = { success: 0, partial: 0, failed: 0, unsynced: 0 }));
    counts[i.count] += 1;
    i.row.run_id = null;
  }
  return tally;
}

/** The run's outcome over the counts after the update (`r` its row, `u` what is added). */
const NEW_OUTCOME_SQL = `CASE WHEN r.failed + u.f + r.unsynced + u.n + r.partial + u.p = 0 THEN 'success'
                              WHEN r.success + u.s + r.partial + u.p = 0 THEN 'failure' ELSE 'partial' END`;
const NOW_COMPLETE_SQL = `r.finished_at IS NULL
  AND r.success + u.s + r.partial + u.p + r.failed + u.f + r.unsynced + u.n >= r.impacted`;

/**
 * The second half of countInRuns: adds a tally to its runs' counters and finishes the runs it
 * completes (finishRuns' rule, over the counts after the update), one statement for all of them.
 * `atCommit`: the counts are inserted into sync_run_tallies and added to the runs by its deferred
 * trigger when the transaction commits (migration 13), so the run's row, which every report batch
 * of the run updates, is locked for the commit alone, not for the rest of the transaction and its
 * round trips. Until then this transaction does not see them in the runs' counters: only for a
 * caller that reads no run counters after it (gateway/apply-results.ts).
 */
export async function addToRuns(
  q: Queryable,
  tally: RunTally,
  now: Date,
  how: { atCommit: boolean } = { atCommit: false },
): Promise<void> {
  if (tally.size === 0) return;
  // In id order: two batches that count in the same runs lock them in the same order.
  const ids = [...tally.keys()].sort();
  const column = (key: RunCount) => ids.map((id) => tally.get(id)![key]);
  const params = [
    ids,
    column('success'),
    column('partial'),
    column('failed'),
    column('unsynced'),
    now.toISOString(),
  ];
  if (how.atCommit) {
    await q.query(
      `INSERT INTO sync_run_tallies (run_id, success, partial, failed, unsynced, at)
       SELECT u.id, u.s, u.p, u.f, u.n, $6 FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::int[])
         WITH ORDINALITY AS u(id, s, p, f, n, i) ORDER BY u.i`,
      params,
    );
    return;
  }
  await q.query(
    `UPDATE sync_runs r SET success = r.success + u.s, partial = r.partial + u.p, failed = r.failed + u.f,
            unsynced = r.unsynced + u.n,
            finished_at = CASE WHEN ${NOW_COMPLETE_SQL} THEN $6::timestamptz ELSE r.finished_at END,
            outcome = CASE WHEN ${NOW_COMPLETE_SQL} THEN ${NEW_OUTCOME_SQL} ELSE r.outcome END
       FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::int[]) AS u(id, s, p, f, n)
      WHERE r.id = u.id`,
    params,
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

/**
 * The reason an item is recorded with when the caller gave none: a failure's reason; for a partial
 * one, what made the change uncertain (`change_outcome_unknown`).
 */
function defaultReason(i: RunResult): string | null {
  if (i.count === 'failed') return i.row.last_reason ?? 'error';
  if (i.count === 'partial') return 'change_outcome_unknown';
  return null;
}
