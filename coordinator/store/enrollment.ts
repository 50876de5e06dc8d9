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

/** An enrollment token as its site's list shows it (never the token or its hash). */
export interface EnrollmentTokenRow {
  id: string;
  site_id: string;
  uses_left: number;
  expires_at: Date;
  created_by: string;
  created_at: Date;
  used_at: Date | null;
  used_by: string | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const TOKEN_COLUMNS =
  'id, site_id, uses_left, expires_at, created_by, created_at, used_at, used_by, revoked_at, revoked_by';

export async function insertEnrollmentToken(
  q: Queryable,
  t: { id: string; siteId: string; tokenHash: string; expiresAt: Date; uses: number; createdBy: string },
): Promise<void> {
  await q.query(
    `INSERT INTO enrollment_tokens (id, site_id, token_hash, expires_at, uses_left, created_by)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [t.id, t.siteId, t.tokenHash, t.expiresAt.toISOString(), t.uses, t.createdBy],
  );
}

/** A site's enrollment tokens, newest first (500 at most). */
export async function listEnrollmentTokens(q: Queryable, siteId: string): Promise<EnrollmentTokenRow[]> {
  const { rows } = await q.query<EnrollmentTokenRow>(
    `SELECT ${TOKEN_COLUMNS}
       FROM enrollment_tokens WHERE site_id = $1 ORDER BY created_at DESC, id LIMIT 500`,
    [siteId],
  );
  return rows;
}

/** Revokes a token (once: a second revocation keeps the first time and actor); null when there is none. */
export async function revokeEnrollmentToken(
  q: Queryable,
  id: string,
  by: string,
): Promise<EnrollmentTokenRow | null> {
  const { rows } = await q.query<EnrollmentTokenRow>(
    `UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, $2)
      WHERE id = $1
      RETURNING ${TOKEN_COLUMNS}`,
    [id, by],
  );
  return rows[0] ?? null;
}
