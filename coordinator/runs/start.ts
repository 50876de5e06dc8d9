import { SyncError } from '../../shared/errors.js';
import type { SyncRunView } from '../../shared/contracts/api.js';
import { finishRuns } from './count.js';
import { loadRun, type SyncRunRow } from './store.js';
import type { Queryable } from '../store/db.js';

export interface NewRun {
  id: string;
  kind: 'verify' | 'change';
  scope: SyncRunView['scope'];
  trigger: 'manual' | 'resync' | 'schedule' | 'group';
  createdBy: string;
}

/**
 * Starts a sync run: every credential in scope is impacted; those that can take part are made due
 * now and carry the run's id, so the scheduler queues them in bulk and each result counts in the
 * run; the rest (sync disabled, unsyncable, suspended) count as unsynced at once. A credential
 * still counted in an older unfinished run leaves it as unsynced (superseded), so no run waits forever.
 */
export async function startRun(q: Queryable, run: NewRun): Promise<SyncRunRow> {
  const now = new Date().toISOString();
  const scopeSql = `($1::uuid IS NULL OR c.site_id = $1) AND ($2::uuid IS NULL OR c.target_id = $2) AND ($3::uuid IS NULL OR c.group_id = $3)`;
  const scopeParams = [run.scope.siteId ?? null, run.scope.targetId ?? null, run.scope.groupId ?? null];
  await q.query(
    `INSERT INTO sync_run_items (run_id, credential_id, result, reason, at)
     SELECT c.run_id, c.id, 'unsynced', 'superseded', $4 FROM credentials c WHERE ${scopeSql} AND c.run_id IS NOT NULL`,
    [...scopeParams, now],
  );
  const superseded = await q.query<{ run_id: string }>(
    `WITH old AS (SELECT c.run_id, count(*)::int AS n FROM credentials c WHERE ${scopeSql} AND c.run_id IS NOT NULL GROUP BY c.run_id)
     UPDATE sync_runs r SET unsynced = r.unsynced + old.n FROM old WHERE r.id = old.run_id RETURNING r.id AS run_id`,
    scopeParams,
  );
  await q.query(
    `INSERT INTO sync_runs (id, kind, trigger, scope, created_by, started_at) VALUES ($1, $2, $3, $4, $5, $6)`,
    [run.id, run.kind, run.trigger, JSON.stringify(run.scope), run.createdBy, now],
  );
  const due = run.kind === 'verify' ? 'next_verify_at' : 'next_change_at';
  const { rows } = await q.query<{ impacted: number; eligible: number }>(
    `WITH scope AS (
       SELECT c.id, (c.sync_enabled AND NOT c.suspended AND c.status NOT IN ('not_synced', 'unsyncable')) AS ok
         FROM credentials c WHERE ${scopeSql}
     ), marked AS (
       UPDATE credentials c SET run_id = $4,
              verify_paused = CASE WHEN $5 = 'verify' THEN false ELSE c.verify_paused END,
              ${due} = CASE WHEN $5 = 'change' OR c.job_state = 'idle' THEN $6::timestamptz ELSE c.${due} END
         FROM scope WHERE c.id = scope.id AND scope.ok RETURNING 1
     ), cleared AS (
       UPDATE credentials c SET run_id = NULL FROM scope WHERE c.id = scope.id AND NOT scope.ok AND c.run_id IS NOT NULL RETURNING 1
     ), items AS (
       INSERT INTO sync_run_items (run_id, credential_id, result, reason, at)
       SELECT $4, scope.id, 'unsynced', 'not_eligible', $6::timestamptz FROM scope WHERE NOT scope.ok RETURNING 1
     )
     SELECT (SELECT count(*) FROM scope)::int AS impacted, (SELECT count(*) FROM marked)::int AS eligible,
            (SELECT count(*) FROM cleared)::int AS cleared, (SELECT count(*) FROM items)::int AS items`,
    [...scopeParams, run.id, run.kind, now],
  );
  const { impacted, eligible } = rows[0]!;
  await q.query('UPDATE sync_runs SET impacted = $2, unsynced = $3 WHERE id = $1', [
    run.id,
    impacted,
    impacted - eligible,
  ]);
  await finishRuns(q, [run.id, ...superseded.rows.map((r) => r.run_id)], new Date());
  return (await loadRun(q, run.id))!;
}

/**
 * Starts a sync group's change run (`group`, over the group's scope): every member is impacted; the
 * caller puts them in it (groups/change.ts).
 */
export async function startGroupRun(
  q: Queryable,
  run: { id: string; groupId: string; createdBy: string; startedAt: Date; impacted: number },
): Promise<void> {
  await q.query(
    `INSERT INTO sync_runs (id, kind, trigger, scope, created_by, started_at, impacted)
     VALUES ($1, 'change', 'group', $2, $3, $4, $5)`,
    [
      run.id,
      JSON.stringify({ groupId: run.groupId }),
      run.createdBy,
      run.startedAt.toISOString(),
      run.impacted,
    ],
  );
}

const SCOPE_TABLES = { siteId: 'sites', targetId: 'targets', groupId: 'sync_groups' } as const;

/**
 * Each id a scope names must exist: a run over a site that is not there would start, impact nothing
 * and report success. A 400 names the field (`body.scope.siteId`).
 */
export async function requireScope(q: Queryable, scope: SyncRunView['scope']): Promise<void> {
  const issues: { field: string; message: string }[] = [];
  for (const [field, table] of Object.entries(SCOPE_TABLES) as [keyof typeof SCOPE_TABLES, string][]) {
    const id = scope[field];
    if (id === undefined) continue;
    const { rowCount } = await q.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id]);
    if (!rowCount)
      issues.push({
        field: `body.scope.${field}`,
        message: `no such ${table.replace(/s$/, '').replace('_', ' ')}`,
      });
  }
  if (issues.length > 0) {
    throw new SyncError(
      'VALIDATION_FAILED',
      `invalid body: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      { issues },
    );
  }
}
