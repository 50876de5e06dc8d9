import type { Queryable } from '../store/db.js';
import type { TargetRow } from '../store/targets.js';
import { pgArray, type ArrayElementType } from '../store/pg-array.js';
import { MUTABLE, type CredentialRow } from './store.js';

/**
 * The targets of `ids` that exist, by id, held (FOR KEY SHARE) until the caller's transaction
 * ends: a target deleted meanwhile cannot fail the insert of its new credentials.
 */
export async function shareTargets(q: Queryable, ids: string[]): Promise<Map<string, TargetRow>> {
  if (ids.length === 0) return new Map();
  const { rows } = await q.query<TargetRow>(
    'SELECT * FROM targets WHERE id = ANY($1::uuid[]) ORDER BY id FOR KEY SHARE',
    [ids],
  );
  return new Map(rows.map((t) => [t.id, t]));
}

/** The columns of a new credential that no transition changes (created_at: the table's default), then every one a transition may. */
const INSERTED = [
  { col: 'id', type: 'uuid' },
  { col: 'target_id', type: 'uuid' },
  { col: 'site_id', type: 'uuid' },
  { col: 'username', type: 'text' },
  { col: 'policy_id', type: 'uuid' },
  { col: 'group_id', type: 'uuid' },
  { col: 'verify_interval_s', type: 'int' },
  ...MUTABLE,
] as const satisfies readonly { col: keyof CredentialRow; type: ArrayElementType }[];

/**
 * Inserts new credentials (newCredentialRow of store.ts, brought to their first state in memory:
 * status, due times, job columns) in one statement, each written once as it is. Those whose target
 * has a credential of that username already are left out. A settled first status (`unsyncable`,
 * `agent_disabled`, `out_of_sync`: not `not_synced`, nor a transient one) starts the credential's
 * status history, as saveCredentials records it for a row created `not_synced` then refreshed.
 * Returns the ids inserted.
 */
export async function insertCredentials(q: Queryable, rows: CredentialRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: inserted } = await q.query<{ id: string }>(
    `WITH ins AS (
       INSERT INTO credentials (${INSERTED.map((c) => c.col).join(', ')})
       SELECT * FROM unnest(${INSERTED.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ')})
       ON CONFLICT (target_id, username) DO NOTHING
       RETURNING id, status, status_reason, status_changed_at, last_message
     ), history AS (
       INSERT INTO credential_status_history (credential_id, at, status, reason, message)
       SELECT id, status_changed_at, status, status_reason,
              CASE WHEN status = 'out_of_sync' THEN last_message END
         FROM ins WHERE status NOT IN ('not_synced', 'pending_sync', 'being_synced')
     )
     SELECT id FROM ins`,
    INSERTED.map((c) =>
      pgArray(
        rows.map((r) => r[c.col]),
        c.type,
      ),
    ),
  );
  return new Set(inserted.map((r) => r.id));
}

/** The ids of the credentials of these (target id, username) pairs that exist, keyed by `credentialKey`. */
export async function credentialIdsByKey(
  q: Queryable,
  keys: { targetId: string; username: string }[],
): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const { rows } = await q.query<{ id: string; target_id: string; username: string }>(
    `SELECT c.id, c.target_id, c.username
       FROM unnest($1::uuid[], $2::text[]) AS k(target_id, username)
       JOIN credentials c ON c.target_id = k.target_id AND c.username = k.username`,
    [keys.map((k) => k.targetId), keys.map((k) => k.username)],
  );
  return new Map(rows.map((r) => [credentialKey(r.target_id, r.username), r.id]));
}

/** A credential's natural key: its target and username (unique together). */
export const credentialKey = (targetId: string, username: string): string =>
  `${targetId.toLowerCase()}\n${username}`;
