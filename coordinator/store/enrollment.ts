import type { Queryable } from './db.js';

/** A usable enrollment token (uses left, not expired, not revoked), locked, with its site's approval rule. */
export interface EnrollmentGrant {
  id: string;
  site_id: string;
  require_approval: boolean;
}

/** Locks the usable enrollment token of this hash, or null (unknown, used up, expired, revoked). */
export async function takeEnrollmentGrant(q: Queryable, tokenHash: string): Promise<EnrollmentGrant | null> {
  const { rows } = await q.query<EnrollmentGrant>(
    `SELECT e.id, e.site_id, s.require_approval FROM enrollment_tokens e JOIN sites s ON s.id = e.site_id
      WHERE e.token_hash = $1 AND e.uses_left > 0 AND e.expires_at > now() AND e.revoked_at IS NULL
      FOR UPDATE OF e`,
    [tokenHash],
  );
  return rows[0] ?? null;
}

/** A new agent enrolled with a grant: one use of the token is taken. */
export async function insertEnrolledAgent(
  q: Queryable,
  grant: EnrollmentGrant,
  agent: {
    id: string;
    name: string;
    host: string;
    version: string;
    adapters: string[];
    concurrency: number;
    approved: boolean;
    tokenHash: string;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO agents (id, site_id, name, host, version, adapters, concurrency, approved, token_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      agent.id,
      grant.site_id,
      agent.name,
      agent.host,
      agent.version,
      agent.adapters,
      agent.concurrency,
      agent.approved,
      agent.tokenHash,
    ],
  );
  await q.query(
    'UPDATE enrollment_tokens SET uses_left = uses_left - 1, used_at = now(), used_by = $2 WHERE id = $1',
    [grant.id, agent.id],
  );
}
