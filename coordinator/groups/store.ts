import { labelOf, RUN_ITEM_REASON_LABELS, RUN_RESULT_LABELS } from '../../shared/contracts/labels.js';
import type { SyncRunRow } from '../runs/store.js';
import type { RunCount } from '../credentials/transitions.js';
import { timeKeyParam, timeKeySql } from '../http/cursor.js';
import { selectCredentials, type CredentialRow } from '../credentials/store.js';
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
  /** A disabled group is not rotated and refuses a change now (migration 12). */
  enabled: boolean;
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

/** Groups whose change is due by `now`, oldest first, locked (SKIP LOCKED: another replica takes the others). */
export async function lockDueGroups(q: Queryable, now: Date, limit: number): Promise<GroupRow[]> {
  const { rows } = await q.query<GroupRow>(
    `SELECT * FROM sync_groups WHERE next_change_at <= $1 ORDER BY next_change_at LIMIT $2
     FOR UPDATE SKIP LOCKED`,
    [now.toISOString(), limit],
  );
  return rows;
}

/** A new group; false when another group has the name (nothing inserted). */
export async function insertGroup(
  q: Queryable,
  g: Pick<GroupRow, 'id' | 'name' | 'policy_id' | 'primary_credential_id' | 'next_change_at'>,
): Promise<boolean> {
  const inserted = await q.query(
    `INSERT INTO sync_groups (id, name, policy_id, primary_credential_id, next_change_at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
    [g.id, g.name, g.policy_id, g.primary_credential_id, g.next_change_at?.toISOString() ?? null],
  );
  return inserted.rowCount > 0;
}

/** Every group by name (1000 at most). */
export async function listGroups(q: Queryable): Promise<GroupRow[]> {
  const { rows } = await q.query<GroupRow>('SELECT * FROM sync_groups ORDER BY name LIMIT 1000');
  return rows;
}

/** The members of these groups (a plain read), by id. */
export async function membersOf(q: Queryable, groupIds: string[]): Promise<CredentialRow[]> {
  return selectCredentials(q, 'WHERE c.group_id = ANY($1::uuid[]) ORDER BY c.id', [groupIds]);
}

export async function memberIds(q: Queryable, groupId: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    'SELECT id FROM credentials WHERE group_id = $1 ORDER BY id',
    [groupId],
  );
  return rows.map((r) => r.id);
}

export interface RunItemRow {
  id: number;
  credential_id: string;
  username: string | null;
  target_name: string | null;
  result: string;
  reason: string | null;
  at: Date;
}

/**
 * The per-credential results of a run, in the order they came: all of them, or a page (`limit`
 * items after the item id `after`, through the (run_id, id) index).
 */
export async function runItems(
  q: Queryable,
  runId: string,
  page?: { after: number | null; limit: number },
): Promise<RunItemRow[]> {
  const { rows } = await q.query<RunItemRow>(
    `SELECT i.id, i.credential_id, c.username, t.name AS target_name, i.result, i.reason, i.at
       FROM sync_run_items i LEFT JOIN credentials c ON c.id = i.credential_id LEFT JOIN targets t ON t.id = c.target_id
      WHERE i.run_id = $1 AND ($2::bigint IS NULL OR i.id > $2)
      ORDER BY i.id ${page ? 'LIMIT $3' : ''}`,
    page ? [runId, page.after, page.limit] : [runId, null],
  );
  return rows;
}

export const runItemView = (r: RunItemRow) => ({
  credentialId: r.credential_id,
  username: r.username,
  targetName: r.target_name,
  result: r.result as RunCount,
  resultLabel: labelOf(RUN_RESULT_LABELS, r.result)!,
  reason: r.reason,
  reasonLabel: labelOf(RUN_ITEM_REASON_LABELS, r.reason),
  at: r.at.toISOString(),
});

export async function lastGroupRun(q: Queryable, groupId: string): Promise<SyncRunRow | null> {
  return (await lastGroupRuns(q, [groupId])).get(groupId) ?? null;
}

/** The latest run of each of these groups, in one query (one probe of sync_runs_group each). */
export async function lastGroupRuns(q: Queryable, groupIds: string[]): Promise<Map<string, SyncRunRow>> {
  if (groupIds.length === 0) return new Map();
  const { rows } = await q.query<SyncRunRow & { group_id: string }>(
    `SELECT g.id AS group_id, r.*
       FROM unnest($1::uuid[]) AS g(id)
       CROSS JOIN LATERAL (
         SELECT * FROM sync_runs r
          WHERE r.trigger = 'group' AND (r.scope->>'groupId') = g.id::text
          ORDER BY r.started_at DESC LIMIT 1) r`,
    [groupIds],
  );
  return new Map(rows.map((r) => [r.group_id, r]));
}

/** The items of several runs (a group run has one per member), in the order they came. */
export async function runItemsOf(q: Queryable, runIds: string[]): Promise<Map<string, RunItemRow[]>> {
  const out = new Map<string, RunItemRow[]>(runIds.map((id) => [id, []]));
  if (runIds.length === 0) return out;
  const { rows } = await q.query<RunItemRow & { run_id: string }>(
    `SELECT i.run_id, i.id, i.credential_id, c.username, t.name AS target_name, i.result, i.reason, i.at
       FROM sync_run_items i LEFT JOIN credentials c ON c.id = i.credential_id LEFT JOIN targets t ON t.id = c.target_id
      WHERE i.run_id = ANY($1::uuid[]) ORDER BY i.run_id, i.id`,
    [runIds],
  );
  for (const r of rows) out.get(r.run_id)?.push(r);
  return out;
}

export async function setGroupNextChange(q: Queryable, groupId: string, at: Date | null): Promise<void> {
  await q.query('UPDATE sync_groups SET next_change_at = $2 WHERE id = $1', [
    groupId,
    at?.toISOString() ?? null,
  ]);
}

/**
 * A group's change is out: its run, the primary's pending id and the group password (sealed) are
 * kept until the primary's change settles; no rotation is scheduled meanwhile.
 */
export async function openGroupChange(
  q: Queryable,
  groupId: string,
  change: { runId: string; pendingId: string | null; sealedSecret: string },
): Promise<void> {
  await q.query(
    `UPDATE sync_groups SET change_run_id = $2, change_pending_id = $3, change_secret = $4, next_change_at = NULL
      WHERE id = $1`,
    [groupId, change.runId, change.pendingId, change.sealedSecret],
  );
}

/** A group's change is over: forgotten; the next rotation is `next` unless one is set already (null: none). */
export async function closeGroupChange(q: Queryable, groupId: string, next: Date | null): Promise<void> {
  await q.query(
    `UPDATE sync_groups SET change_run_id = NULL, change_pending_id = NULL, change_secret = NULL,
            next_change_at = coalesce(next_change_at, $2) WHERE id = $1`,
    [groupId, next?.toISOString() ?? null],
  );
}

/** A group's change is forgotten (abandoned), its schedule left as it is. */
export async function forgetGroupChange(q: Queryable, groupId: string): Promise<void> {
  await q.query(
    'UPDATE sync_groups SET change_run_id = NULL, change_pending_id = NULL, change_secret = NULL WHERE id = $1',
    [groupId],
  );
}

/** Sets a group's name, policy and primary (a name another group has: 'taken', nothing changed). */
export async function updateGroupRow(
  q: Queryable,
  g: Pick<GroupRow, 'id' | 'name' | 'policy_id' | 'primary_credential_id'>,
): Promise<'taken' | 'ok'> {
  const clash = await q.query('SELECT 1 FROM sync_groups WHERE name = $1 AND id <> $2', [g.name, g.id]);
  if (clash.rows.length > 0) return 'taken';
  await q.query(
    'UPDATE sync_groups SET name = $2, policy_id = $3, primary_credential_id = $4 WHERE id = $1',
    [g.id, g.name, g.policy_id, g.primary_credential_id],
  );
  return 'ok';
}

/**
 * Credentials join a group: it rotates them together, so their own schedules stop (a pending
 * change, or one an operator asked for, still settles).
 */
export async function joinGroup(q: Queryable, groupId: string, credentialIds: string[]): Promise<void> {
  await q.query(
    `UPDATE credentials SET group_id = $1,
            next_change_at = CASE WHEN pending_secret IS NULL AND NOT change_wanted THEN NULL ELSE next_change_at END
      WHERE id = ANY($2::uuid[])`,
    [groupId, credentialIds],
  );
}

/** Credentials leave their group (the caller reschedules their own rotation). */
export async function leaveGroup(q: Queryable, credentialIds: string[]): Promise<void> {
  if (credentialIds.length > 0)
    await q.query('UPDATE credentials SET group_id = NULL WHERE id = ANY($1::uuid[])', [credentialIds]);
}

export async function setGroupEnabled(
  q: Queryable,
  groupId: string,
  enabled: boolean,
  nextChangeAt: Date | null,
): Promise<void> {
  await q.query('UPDATE sync_groups SET enabled = $2, next_change_at = $3 WHERE id = $1', [
    groupId,
    enabled,
    nextChangeAt?.toISOString() ?? null,
  ]);
}

export async function deleteGroupRow(q: Queryable, groupId: string): Promise<void> {
  await q.query('DELETE FROM sync_groups WHERE id = $1', [groupId]);
}

/** A group's runs (its changes, and runs an operator started over it), newest first, keyset-paged on (started_at, id) with `sort_key` exact to the microsecond. */
export async function groupRuns(
  q: Queryable,
  groupId: string,
  after: [string, string] | null,
  limit: number,
): Promise<(SyncRunRow & { sort_key: string })[]> {
  const { rows } = await q.query<SyncRunRow & { sort_key: string }>(
    `SELECT r.*, ${timeKeySql('r.started_at')} AS sort_key FROM sync_runs r
      WHERE (r.scope->>'groupId') = $1
        AND (r.started_at, r.id) < (${timeKeyParam(2)}, $3::uuid)
      ORDER BY r.started_at DESC, r.id DESC LIMIT $4`,
    [groupId, ...(after ?? ['infinity', 'ffffffff-ffff-ffff-ffff-ffffffffffff']), limit],
  );
  return rows;
}

/** Groups' sealed change passwords, by id after `after`, locked (the master key rotation re-wraps them). */
export async function groupSecretsPage(
  q: Queryable,
  after: string,
  limit: number,
): Promise<{ id: string; change_secret: string | null }[]> {
  const { rows } = await q.query<{ id: string; change_secret: string | null }>(
    'SELECT id, change_secret FROM sync_groups WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE',
    [after, limit],
  );
  return rows;
}

export async function setGroupSecret(q: Queryable, id: string, secret: string): Promise<void> {
  await q.query('UPDATE sync_groups SET change_secret = $2 WHERE id = $1', [id, secret]);
}
