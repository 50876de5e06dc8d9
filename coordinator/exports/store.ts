import type { Queryable } from '../store/db.js';
import type { Status } from '../../shared/contracts/status.js';

/** A credential of a site as the compliance report lists it. */
export interface ComplianceRow {
  id: string;
  username: string;
  target_id: string;
  target_name: string;
  target_kind: string;
  status: Status;
  sync_enabled: boolean;
  last_verified_at: Date | null;
  last_changed_at: Date | null;
  policy_id: string | null;
  policy_name: string | null;
}

/** A site's credentials by id, `limit` after the id `after` (keyset, through the primary key). */
export async function siteCredentialsPage(
  q: Queryable,
  siteId: string,
  after: string | null,
  limit: number,
): Promise<ComplianceRow[]> {
  const { rows } = await q.query<ComplianceRow>(
    `SELECT c.id, c.username, c.target_id, t.name AS target_name, t.kind AS target_kind, c.status,
            c.sync_enabled, c.last_verified_at, c.last_changed_at, c.policy_id, p.name AS policy_name
       FROM credentials c JOIN targets t ON t.id = c.target_id LEFT JOIN policies p ON p.id = c.policy_id
      WHERE c.site_id = $1 AND ($2::uuid IS NULL OR c.id > $2::uuid)
      ORDER BY c.id LIMIT $3`,
    [siteId, after, limit],
  );
  return rows;
}

/** Audit actions that revealed a stored password (GET /credentials/{id}/password, /password-history). */
export const REVEAL_ACTIONS = ['credential.reveal', 'credential.reveal_history'];

export interface RevealRow {
  object_id: string;
  at: Date;
  actor_id: string;
  action: string;
}

/** The reveals of these credentials in [since, until), oldest first (the audit log's object index). */
export async function revealsOf(
  q: Queryable,
  credentialIds: string[],
  since: string,
  until: string,
): Promise<RevealRow[]> {
  if (credentialIds.length === 0) return [];
  const { rows } = await q.query<RevealRow>(
    `SELECT object_id, at, actor_id, action FROM audit_events
      WHERE object_id = ANY($1::text[]) AND object_type = 'credential' AND action = ANY($2::text[])
        AND at >= $3::timestamptz AND at < $4::timestamptz
      ORDER BY at, id`,
    [credentialIds, REVEAL_ACTIONS, since, until],
  );
  return rows;
}
