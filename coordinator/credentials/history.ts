import { randomUUID } from 'node:crypto';
import type { SecretBox } from '../../shared/crypto.js';
import type { Queryable } from '../store/db.js';
import { historyField } from './sealing.js';

/**
 * What secret_history keeps: `retired`, a current password a change replaced; `discarded_pending`,
 * a pending password that was handed out and then given up (so a change that set it after all,
 * late, can still be recovered).
 */
export type HistoryKind = 'retired' | 'discarded_pending';

export interface HistoryEntry {
  id: string;
  credentialId: string;
  /** Sealed under the entry's own id (historyField). */
  secret: string;
  kind: HistoryKind;
}

/** A history entry: the secret (sealed for `field` of the credential) re-sealed under the entry's own id. */
export function historyEntry(
  box: SecretBox,
  credentialId: string,
  sealed: string,
  field: 'secret' | 'pending_secret',
  kind: HistoryKind,
): HistoryEntry {
  const id = randomUUID();
  const plain = box.open(sealed, credentialId, field);
  return { id, credentialId, secret: box.seal(plain, credentialId, historyField(id)), kind };
}

/** Stores history entries, in one statement. */
export async function saveHistory(q: Queryable, entries: HistoryEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await q.query(
    `INSERT INTO secret_history (id, credential_id, secret, kind)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])`,
    [
      entries.map((h) => h.id),
      entries.map((h) => h.credentialId),
      entries.map((h) => h.secret),
      entries.map((h) => h.kind),
    ],
  );
}

/** A credential's history, newest first, its passwords opened (the caller audits the reveal). */
export async function revealHistory(
  q: Queryable,
  box: SecretBox,
  credentialId: string,
  limit: number,
): Promise<{ id: string; kind: HistoryKind; at: string; password: string }[]> {
  const { rows } = await q.query<{ id: string; kind: HistoryKind; secret: string; replaced_at: Date }>(
    `SELECT id, kind, secret, replaced_at FROM secret_history WHERE credential_id = $1
      ORDER BY replaced_at DESC, id LIMIT $2`,
    [credentialId, limit],
  );
  return rows.map((h) => ({
    id: h.id,
    kind: h.kind,
    at: h.replaced_at.toISOString(),
    password: box.open(h.secret, credentialId, historyField(h.id)),
  }));
}
