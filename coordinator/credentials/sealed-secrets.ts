import type { Queryable } from '../store/db.js';

/*
 * The sealed secrets of credentials and their history, page by page, locked, as the master key
 * rotation (maintenance/rotate-master-key.ts) re-wraps them.
 */

/** Credentials' current and pending secrets, by id after `after`, locked. */
export async function credentialSecretsPage(
  q: Queryable,
  after: string,
  limit: number,
): Promise<{ id: string; secret: string; pending_secret: string | null }[]> {
  const { rows } = await q.query<{ id: string; secret: string; pending_secret: string | null }>(
    'SELECT id, secret, pending_secret FROM credentials WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE',
    [after, limit],
  );
  return rows;
}

export async function setCredentialSecrets(
  q: Queryable,
  id: string,
  secret: string,
  pending: string | null,
): Promise<void> {
  await q.query('UPDATE credentials SET secret = $2, pending_secret = $3 WHERE id = $1', [
    id,
    secret,
    pending,
  ]);
}

/** History entries' secrets, by id after `after`, locked. */
export async function historySecretsPage(
  q: Queryable,
  after: string,
  limit: number,
): Promise<{ id: string; credential_id: string; secret: string }[]> {
  const { rows } = await q.query<{ id: string; credential_id: string; secret: string }>(
    'SELECT id, credential_id, secret FROM secret_history WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE',
    [after, limit],
  );
  return rows;
}

export async function setHistorySecret(q: Queryable, id: string, secret: string): Promise<void> {
  await q.query('UPDATE secret_history SET secret = $2 WHERE id = $1', [id, secret]);
}
