import type { SyncRunRow } from '../api/views.js';
import type { Queryable } from '../store/db.js';

export interface GroupRow {
  id: string;
  name: string;
  policy_id: string | null;
  primary_credential_id: string | null;
  next_change_at: Date | null;
  /** While the primary's change is out: the group's run, the primary's pending id, the password (sealed). */
  change_run_id: string | null;
  change_pending_id: string | null;
  change_secret: string | null;
  created_at: Date;
}

/** Associated data of the group password while it waits for the primary (bound to the group). */
export const GROUP_SECRET_FIELD = 'group_change_secret';

export async function loadGroup(q: Queryable, id: string, forUpdate = false): Promise<GroupRow | null> {
  const { rows } = await q.query<GroupRow>(
    `SELECT * FROM sync_groups WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

export async function memberIds(q: Queryable, groupId: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    'SELECT id FROM credentials WHERE group_id = $1 ORDER BY id',
    [groupId],
  );
  return rows.map((r) => r.id);
}

export interface RunItemRow {
  credential_id: string;
  username: string | null;
  target_name: string | null;
  result: string;
  reason: string | null;
  at: Date;
}

/** The per-credential results of a run, in the order they came. */
export async function runItems(q: Queryable, runId: string): Promise<RunItemRow[]> {
  const { rows } = await q.query<RunItemRow>(
    `SELECT i.credential_id, c.username, t.name AS target_name, i.result, i.reason, i.at
       FROM sync_run_items i LEFT JOIN credentials c ON c.id = i.credential_id LEFT JOIN targets t ON t.id = c.target_id
      WHERE i.run_id = $1 ORDER BY i.id`,
    [runId],
  );
  return rows;
}

export const runItemView = (r: RunItemRow) => ({
  credentialId: r.credential_id,
  username: r.username,
  targetName: r.target_name,
  result: r.result as 'success' | 'failed' | 'unsynced',
  reason: r.reason,
  at: r.at.toISOString(),
});

export async function lastGroupRun(q: Queryable, groupId: string): Promise<SyncRunRow | null> {
  const { rows } = await q.query<SyncRunRow>(
    `SELECT * FROM sync_runs WHERE trigger = 'group' AND scope->>'groupId' = $1 ORDER BY started_at DESC LIMIT 1`,
    [groupId],
  );
  return rows[0] ?? null;
}
