import type { Ctx } from '../context.js';
import type { Queryable } from '../store/db.js';
import { finishRuns } from './count.js';

/** `marking_after` of a run no chunk has marked yet: every credential id comes after it. */
export const MARKING_FROM_START = '00000000-0000-0000-0000-000000000000';

/** First key of the advisory lock a run's marking holds (the second is the run id's hash). */
const MARKING_LOCK = 7_340_121;

/**
 * Takes the run's marking lock for the caller's transaction: `wait` (a cancel) waits for a chunk in
 * progress; otherwise returns false at once when another transaction holds it (another replica's
 * marking of the same run).
 */
export async function lockRunMarking(q: Queryable, runId: string, wait: boolean): Promise<boolean> {
  if (wait) {
    await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MARKING_LOCK, runId]);
    return true;
  }
  const { rows } = await q.query<{ got: boolean }>(
    'SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS got',
    [MARKING_LOCK, runId],
  );
  return rows[0]!.got;
}

interface MarkingRun {
  kind: 'verify' | 'change';
  scope: { siteId?: string; targetId?: string; groupId?: string };
  marking_after: string | null;
  marking_before: Date;
  cancelled_at: Date | null;
  finished_at: Date | null;
}

/**
 * The scope's condition on `credentials c` with only the ids it names (each uses its own index);
 * the ids are appended to `params`.
 */
export function scopeWhere(scope: MarkingRun['scope'], params: unknown[]): string {
  const parts: string[] = [];
  const column = { siteId: 'site_id', targetId: 'target_id', groupId: 'group_id' } as const;
  for (const key of ['siteId', 'targetId', 'groupId'] as const) {
    const id = scope[key];
    if (id === undefined) continue;
    params.push(id);
    parts.push(`c.${column[key]} = $${params.length}::uuid`);
  }
  return parts.length > 0 ? parts.join(' AND ') : 'true';
}

/**
 * Marks the run's next `size` credentials (in id order, created before the run started), in the
 * caller's transaction, which must hold the run's marking lock (lockRunMarking). Those that can
 * take part carry the run's id (each result counts in the run): a verification run queues those
 * with no job now, in the same write (Ctx.queueRunVerifications; their jobs are added once the
 * caller commits, waiting for Redis as `waitFor` says), instead of making them due for the
 * scheduler's tick to write each row once more; the others, and every credential of a change run,
 * are made due now and the tick queues them (a change has windows, groups and policies to respect).
 * The rest (sync disabled, unsyncable, suspended) count `unsynced` (`not_eligible`) at once. A
 * credential still counted in an older unfinished run leaves it `unsynced` (`superseded`); one a
 * newer run holds already is left to it (not in this run).
 * The chunk that comes back short ends the marking: the run's `impacted` becomes exactly what the
 * chunks saw, and the run may finish. Returns whether marking is over (or was: cancelled, finished).
 */
export async function markChunk(
  ctx: Ctx,
  q: Queryable,
  runId: string,
  size: number,
  waitFor: 'request' | 'scheduler',
): Promise<boolean> {
  const { rows: runs } = await q.query<MarkingRun>(
    'SELECT kind, scope, marking_after, marking_before, cancelled_at, finished_at FROM sync_runs WHERE id = $1',
    [runId],
  );
  const run = runs[0];
  if (!run || run.marking_after === null || run.cancelled_at !== null || run.finished_at !== null)
    return true;
  const now = new Date();
  const params: unknown[] = [run.marking_after, run.marking_before.toISOString(), size];
  // Locked in id order, as every writer of credentials locks them. A credential a newer run holds
  // already stays in it (two runs marking the same scope at once never take rows back and forth).
  const { rows: chunk } = await q.query<{ id: string; ok: boolean; idle: boolean; run_id: string | null }>(
    `SELECT c.id, (c.sync_enabled AND NOT c.suspended AND c.status NOT IN ('not_synced', 'unsyncable')) AS ok,
            c.job_state = 'idle' AS idle, c.run_id
       FROM credentials c
      WHERE c.id > $1::uuid AND c.created_at <= $2::timestamptz AND ${scopeWhere(run.scope, params)}
        AND NOT EXISTS (SELECT 1 FROM sync_runs o WHERE o.id = c.run_id AND o.started_at > $2::timestamptz)
      ORDER BY c.id LIMIT $3 FOR UPDATE`,
    params,
  );
  const ids = chunk.map((c) => c.id);
  const superseded = chunk.filter((c) => c.run_id !== null && c.run_id !== runId);
  const older = [...new Set(superseded.map((c) => c.run_id!))];
  // The runs whose counters this chunk changes are locked in id order (no two chunks deadlock on them).
  const lockRuns = (runIds: string[]) =>
    q.query('SELECT 1 FROM sync_runs WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE', [runIds]);
  // Older runs at once: a result that settles a sync group's change counts in its run, then locks the
  // group's other members, which this chunk may hold (taken later, the two would wait for each other).
  if (older.length > 0) await lockRuns([...older, runId]);
  const due = run.kind === 'verify' ? 'next_verify_at' : 'next_change_at';
  // A verification run's idle credentials are queued now, in the write that puts them in the run.
  const queueNow = chunk.filter((c) => run.kind === 'verify' && c.ok && c.idle).map((c) => c.id);
  const { rows: counted } = await q.query<{ eligible: number }>(
    `WITH scope AS (SELECT u.id, u.ok FROM unnest($1::uuid[], $2::boolean[]) AS u(id, ok)),
     marked AS (
       UPDATE credentials c SET run_id = $3,
              verify_paused = CASE WHEN $4 = 'verify' THEN false ELSE c.verify_paused END,
              ${due} = CASE WHEN $4 = 'change' OR c.job_state = 'idle' THEN $5::timestamptz ELSE c.${due} END
         FROM scope WHERE c.id = scope.id AND scope.ok AND NOT (c.id = ANY($6::uuid[])) RETURNING 1
     ), cleared AS (
       UPDATE credentials c SET run_id = NULL FROM scope WHERE c.id = scope.id AND NOT scope.ok AND c.run_id IS NOT NULL RETURNING 1
     ), items AS (
       INSERT INTO sync_run_items (run_id, credential_id, result, reason, at)
       SELECT $3, scope.id, 'unsynced', 'not_eligible', $5::timestamptz FROM scope WHERE NOT scope.ok RETURNING 1
     )
     SELECT (SELECT count(*) FROM marked)::int AS eligible, (SELECT count(*) FROM cleared)::int AS cleared,
            (SELECT count(*) FROM items)::int AS items`,
    [ids, chunk.map((c) => c.ok), runId, run.kind, now.toISOString(), queueNow],
  );
  const queued = await ctx.queueRunVerifications(q, runId, queueNow, now, waitFor);
  const eligible = counted[0]!.eligible + queued;
  const last = chunk.length < size;
  // This run's own row only now, after the chunk's credentials are written: every report batch of the
  // run adds its counts to it at its commit, and waited for a lock held through the whole chunk.
  if (older.length === 0) await lockRuns([runId]);
  if (superseded.length > 0) {
    // Their older runs count them unsynced (the run ids as read when the chunk was locked).
    await q.query(
      `WITH left_runs AS (
         INSERT INTO sync_run_items (run_id, credential_id, result, reason, at)
         SELECT u.run_id, u.id, 'unsynced', 'superseded', $3 FROM unnest($1::uuid[], $2::uuid[]) AS u(id, run_id)
         RETURNING run_id
       ), n AS (SELECT run_id, count(*)::int AS n FROM left_runs GROUP BY run_id)
       UPDATE sync_runs r SET unsynced = r.unsynced + n.n FROM n WHERE r.id = n.run_id`,
      [superseded.map((c) => c.id), superseded.map((c) => c.run_id), now.toISOString()],
    );
  }
  await q.query(
    `UPDATE sync_runs SET marked = marked + $2, unsynced = unsynced + $3,
            marking_after = CASE WHEN $4 THEN NULL ELSE $5::uuid END,
            impacted = CASE WHEN $4 THEN marked + $2 ELSE GREATEST(impacted, marked + $2) END
      WHERE id = $1`,
    [runId, chunk.length, chunk.length - eligible, last, ids.at(-1) ?? run.marking_after],
  );
  await finishRuns(q, last ? [...older, runId] : older, now);
  return last;
}

/** The runs still marking that no cancel stopped (a replica stopped in the middle of one). */
export async function runsStillMarking(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM sync_runs WHERE marking_after IS NOT NULL AND finished_at IS NULL AND cancelled_at IS NULL
      ORDER BY started_at`,
  );
  return rows.map((r) => r.id);
}

/** Runs this process is marking now. */
const inProgress = new WeakMap<Ctx, Set<string>>();

/**
 * Marks the rest of a run, a chunk (RUN_MARK_CHUNK) a transaction, in the background: started by
 * POST /sync-runs once its first chunk is committed, and by the run sweep for a run a stopped
 * replica left half marked. Another replica marking the same run makes this one step back (the
 * marking lock); an error (PostgreSQL away, a deadlock) stops it until the next sweep. After each
 * chunk the scheduler is asked to tick, so the credentials just marked are queued at once.
 */
export async function markRest(ctx: Ctx, runId: string): Promise<void> {
  let mine = inProgress.get(ctx);
  if (!mine) inProgress.set(ctx, (mine = new Set()));
  if (mine.has(runId)) return;
  mine.add(runId);
  let chunks = 0;
  try {
    for (;;) {
      if (ctx.shutdown.aborted) return;
      const step = await ctx.db.tx(async (q) => {
        if (!(await lockRunMarking(q, runId, false))) return 'busy' as const;
        const last = await markChunk(ctx, q, runId, ctx.config.RUN_MARK_CHUNK, 'scheduler');
        return last ? ('done' as const) : ('more' as const);
      });
      if (step === 'busy') return;
      chunks++;
      ctx.kickScheduler();
      if (step === 'done') {
        if (chunks > 1) ctx.log.info({ runId, chunks }, 'sync run: every credential marked');
        return;
      }
    }
  } catch (err) {
    ctx.log.warn(
      { runId, chunks, err: err instanceof Error ? err.message : String(err) },
      'sync run marking stopped; the run sweep goes on with it',
    );
  } finally {
    mine.delete(runId);
  }
}
