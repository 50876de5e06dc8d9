import type { Reason, Status } from '../../shared/contracts/status.js';
import type { Queryable } from '../store/db.js';

/** One settled status a credential took (written with the credential itself: store.ts saveCredentials). */
export interface StatusHistoryRow {
  id: number;
  at: Date;
  status: Status;
  reason: Reason | null;
  message: string | null;
}

/**
 * A credential's status history, newest first: `limit` entries before the entry id `before` (all
 * from the newest with null); null when there is no such credential.
 */
export async function statusHistory(
  q: Queryable,
  credentialId: string,
  before: number | null,
  limit: number,
): Promise<StatusHistoryRow[] | null> {
  const exists = await q.query('SELECT 1 FROM credentials WHERE id = $1', [credentialId]);
  if (exists.rows.length === 0) return null;
  const { rows } = await q.query<StatusHistoryRow>(
    `SELECT id, at, status, reason, message FROM credential_status_history
      WHERE credential_id = $1 AND ($2::bigint IS NULL OR id < $2)
      ORDER BY id DESC LIMIT $3`,
    [credentialId, before, limit],
  );
  return rows;
}
