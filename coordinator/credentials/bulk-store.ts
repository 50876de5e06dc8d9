import type { Queryable } from '../store/db.js';
import type { TargetRow } from '../store/targets.js';
import type { NewCredential } from './store.js';

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

/**
 * Inserts credentials in one statement, as insertCredential does one (status `not_synced` until
 * refreshed; the policy's verification interval, else a day). Those whose target has a credential of
 * that username already are left out; returns the ids inserted.
 */
export async function insertCredentials(q: Queryable, rows: NewCredential[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: inserted } = await q.query<{ id: string }>(
    `INSERT INTO credentials (id, target_id, site_id, username, policy_id, sync_enabled, secret, status,
                              verify_interval_s)
     SELECT u.id, u.target_id, u.site_id, u.username, u.policy_id, u.sync_enabled, u.secret, 'not_synced',
            coalesce(p.verify_interval_s, 86400)
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::boolean[], $7::text[])
            AS u(id, target_id, site_id, username, policy_id, sync_enabled, secret)
       LEFT JOIN policies p ON p.id = u.policy_id
     ON CONFLICT (target_id, username) DO NOTHING
     RETURNING id`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.targetId),
      rows.map((r) => r.siteId),
      rows.map((r) => r.username),
      rows.map((r) => r.policyId),
      rows.map((r) => r.syncEnabled),
      rows.map((r) => r.sealedSecret),
    ],
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
