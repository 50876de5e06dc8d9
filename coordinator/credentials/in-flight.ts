import type { JobKind } from '../../shared/contracts/jobs.js';
import type { Queryable } from '../store/db.js';

/** A credential PostgreSQL says has work queued or running (the reconciler compares it with the queues). */
export interface InFlightRow {
  id: string;
  site_id: string;
  job_kind: JobKind;
  job_missing_since: Date | null;
}

/**
 * The page's statement ($1 cutoff, $2 after, $3 limit): a range of the in-flight index in id order
 * (migration 23), so a page reads its own rows however many are in flight.
 */
export const IN_FLIGHT_PAGE_SQL = `SELECT id, site_id, job_kind, job_missing_since FROM credentials
  WHERE job_state <> 'idle' AND job_since < $1 AND id > $2 ORDER BY id LIMIT $3`;

/** A page of credentials with work queued or running since before `cutoff`, by id after `after`. */
export async function inFlightPage(
  q: Queryable,
  cutoff: string,
  after: string,
  limit: number,
): Promise<InFlightRow[]> {
  const { rows } = await q.query<InFlightRow>(IN_FLIGHT_PAGE_SQL, [cutoff, after, limit]);
  return rows;
}

/** These credentials' jobs were found in their queue again: no longer noted missing. */
export async function clearJobMissing(q: Queryable, ids: string[]): Promise<void> {
  await q.query(
    `UPDATE credentials SET job_missing_since = NULL WHERE id = ANY($1::uuid[]) AND job_missing_since IS NOT NULL`,
    [ids],
  );
}
