import { SyncError } from '../../shared/errors.js';
import { loadCredential, type CredentialRow } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';

/** The credential `id`, locked for the caller's transaction; 404 when there is none. */
export async function lockCredential(q: Queryable, id: string): Promise<CredentialRow> {
  const row = await loadCredential(q, id, true);
  if (!row) throw new SyncError('NOT_FOUND', `credential ${id} not found`);
  return row;
}

/** The credential `id` (a plain read); 404 when there is none. */
export async function getCredential(q: Queryable, id: string): Promise<CredentialRow> {
  const row = await loadCredential(q, id);
  if (!row) throw new SyncError('NOT_FOUND', `credential ${id} not found`);
  return row;
}
