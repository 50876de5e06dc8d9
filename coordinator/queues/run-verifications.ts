import type { Ctx } from '../context.js';
import { loadCredentials } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import { dispatch } from './dispatch.js';

/**
 * Puts idle credentials a verification run's chunk marked (locked by it: runs/marking.ts) in the run
 * and queues their verification, all in one write of each row (Ctx.queueRunVerifications). Returns
 * how many were put in the run.
 */
export async function queueRunVerifications(
  ctx: Ctx,
  q: Queryable,
  runId: string,
  ids: string[],
  now: Date,
  waitFor: 'request' | 'scheduler',
): Promise<number> {
  let queued = 0;
  // As the scheduler queues: SCHEDULER_BATCH rows in memory at a time.
  for (let i = 0; i < ids.length; i += ctx.config.SCHEDULER_BATCH) {
    const rows = await loadCredentials(q, ids.slice(i, i + ctx.config.SCHEDULER_BATCH), true);
    for (const row of rows) {
      row.run_id = runId;
      row.verify_paused = false;
    }
    await dispatch(
      ctx,
      q,
      rows.map((row) => ({ row, kind: 'verify' as const })),
      now,
      waitFor,
    );
    queued += rows.length;
  }
  return queued;
}
