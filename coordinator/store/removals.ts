import type { Queryable } from './db.js';

/** What still hangs on a site or a target: a delete is refused (409) while any of it is there, unless forced. */
export interface Usage {
  credentials: number;
  /** Agents not revoked (a site's; 0 for a target). */
  agents: number;
}

export async function siteUsage(q: Queryable, siteId: string): Promise<Usage> {
  const { rows } = await q.query<Usage>(
    `SELECT (SELECT count(*)::int FROM credentials WHERE site_id = $1) AS credentials,
            (SELECT count(*)::int FROM agents WHERE site_id = $1 AND revoked_at IS NULL) AS agents`,
    [siteId],
  );
  return rows[0]!;
}

export async function targetUsage(q: Queryable, targetId: string): Promise<Usage> {
  const { rows } = await q.query<{ credentials: number }>(
    'SELECT count(*)::int AS credentials FROM credentials WHERE target_id = $1',
    [targetId],
  );
  return { credentials: rows[0]!.credentials, agents: 0 };
}

/** The site's or the target's credential ids (a forced delete takes them first). */
export async function credentialIdsOf(
  q: Queryable,
  scope: { siteId: string } | { targetId: string },
): Promise<string[]> {
  const [column, id] = 'siteId' in scope ? ['site_id', scope.siteId] : ['target_id', scope.targetId];
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM credentials WHERE ${column} = $1 ORDER BY id`,
    [id],
  );
  return rows.map((r) => r.id);
}

/** The sync groups whose open change one of these credentials is the primary of. */
export async function groupChangesLedByAny(q: Queryable, credentialIds: string[]): Promise<string[]> {
  if (credentialIds.length === 0) return [];
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM sync_groups
      WHERE primary_credential_id = ANY($1::uuid[]) AND change_pending_id IS NOT NULL ORDER BY id`,
    [credentialIds],
  );
  return rows.map((r) => r.id);
}

/** Deletes credential rows (history, names and run items go with them: foreign keys). */
export async function deleteCredentialRows(q: Queryable, ids: string[]): Promise<void> {
  if (ids.length > 0) await q.query('DELETE FROM credentials WHERE id = ANY($1::uuid[])', [ids]);
}

/** Deletes a site: its targets, agents and enrollment tokens go with it (foreign keys). */
export async function deleteSiteRow(q: Queryable, id: string): Promise<boolean> {
  return ((await q.query('DELETE FROM sites WHERE id = $1', [id])).rowCount ?? 0) > 0;
}

export async function deleteTargetRow(q: Queryable, id: string): Promise<boolean> {
  return ((await q.query('DELETE FROM targets WHERE id = $1', [id])).rowCount ?? 0) > 0;
}
