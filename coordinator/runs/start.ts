import { SyncError } from '../../shared/errors.js';
import type { SyncRunView } from '../../shared/contracts/api.js';
import { markChunk, MARKING_FROM_START, scopeWhere } from './marking.js';
import { loadRun, type SyncRunRow } from './store.js';
import type { Ctx } from '../context.js';
import type { Queryable } from '../store/db.js';

export interface NewRun {
  id: string;
  kind: 'verify' | 'change';
  scope: SyncRunView['scope'];
  trigger: 'manual' | 'resync' | 'schedule' | 'group';
  createdBy: string;
}

/**
 * Starts a sync run: every credential in scope is impacted; those that can take part carry the
 * run's id and are queued (a verification run queues them as it marks them, a change run makes
 * them due now for the scheduler), and each result counts in the run; the rest (sync disabled,
 * unsyncable, suspended) count as unsynced at once. A credential still counted in an older
 * unfinished run leaves it as unsynced (superseded), so no run waits forever.
 *
 * The credentials are marked `chunk` at a time (runs/marking.ts): the first chunk here, in the
 * caller's transaction (for a verification run at most SCHEDULER_BATCH), so a run of up to that
 * many credentials is whole when this returns; a larger one has its `impacted` counted now and is
 * marked by markRest once the caller committed, and it does not finish before its last chunk.
 */
export async function startRun(ctx: Ctx, q: Queryable, run: NewRun, chunk: number): Promise<SyncRunRow> {
  const now = new Date().toISOString();
  const params: unknown[] = [run.id, run.kind, run.trigger, JSON.stringify(run.scope), run.createdBy, now];
  await q.query(
    `INSERT INTO sync_runs (id, kind, trigger, scope, created_by, started_at, impacted, marking_after, marking_before)
     SELECT $1, $2, $3, $4, $5, $6, count(*), '${MARKING_FROM_START}', $6 FROM credentials c
      WHERE c.created_at <= $6::timestamptz AND ${scopeWhere(run.scope, params)}`,
    params,
  );
  // A verification run queues what it marks: its first chunk is a scheduler batch, so the request
  // answers and the first jobs go out at once, while the rest is marked in the background.
  await markChunk(
    ctx,
    q,
    run.id,
    run.kind === 'verify' ? Math.min(chunk, ctx.config.SCHEDULER_BATCH) : chunk,
    'request',
  );
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
  // A target of another site than the scope's: no credential is in both (the run would do nothing).
  if (issues.length === 0 && scope.siteId !== undefined && scope.targetId !== undefined) {
    const { rowCount } = await q.query('SELECT 1 FROM targets WHERE id = $1 AND site_id = $2', [
      scope.targetId,
      scope.siteId,
    ]);
    if (!rowCount)
      issues.push({ field: 'body.scope.targetId', message: 'not a target of body.scope.siteId' });
  }
  if (issues.length > 0) {
    throw new SyncError(
      'VALIDATION_FAILED',
      `invalid body: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      { issues },
    );
  }
}
