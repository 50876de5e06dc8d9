import type { Queryable } from './db.js';

/** An operator API token (`api_tokens`; the token itself is stored hashed only). */
export interface TokenRow {
  id: string;
  name: string;
  role: 'viewer' | 'operator' | 'admin';
  created_by: string;
  created_at: Date;
  revoked_at: Date | null;
}

export async function insertToken(
  q: Queryable,
  t: Pick<TokenRow, 'id' | 'name' | 'role' | 'created_by'> & { tokenHash: string },
): Promise<TokenRow> {
  const { rows } = await q.query<TokenRow>(
    `INSERT INTO api_tokens (id, name, role, token_hash, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [t.id, t.name, t.role, t.tokenHash, t.created_by],
  );
  return rows[0]!;
}

export async function listTokens(q: Queryable): Promise<TokenRow[]> {
  const { rows } = await q.query<TokenRow>('SELECT * FROM api_tokens ORDER BY created_at');
  return rows;
}

/** Revokes a token (once: a second revocation keeps the first time); null when there is none. */
export async function revokeToken(q: Queryable, id: string): Promise<TokenRow | null> {
  const { rows } = await q.query<TokenRow>(
    'UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *',
    [id],
  );
  return rows[0] ?? null;
}

/** A token not revoked, with its role and hash (an operator presenting `pwo_<id>.…`), or null. */
export async function activeToken(
  q: Queryable,
  id: string,
): Promise<(Pick<TokenRow, 'id' | 'role'> & { token_hash: string }) | null> {
  const { rows } = await q.query<Pick<TokenRow, 'id' | 'role'> & { token_hash: string }>(
    'SELECT id, role, token_hash FROM api_tokens WHERE id = $1 AND revoked_at IS NULL',
    [id],
  );
  return rows[0] ?? null;
}
