import { groupBy } from '../../shared/collections.js';
import { jobIdFor } from '../../shared/contracts/jobs.js';
import type { Ctx } from '../context.js';
import { clearJobMissing, inFlightPage } from '../credentials/in-flight.js';
import { loadCredentials, saveCredentials } from '../credentials/store.js';
import { markMissing } from '../credentials/transitions.js';
import { dispatch } from '../queues/dispatch.js';

const PAGE = 1000;

/**
 * Compares the work PostgreSQL says is queued or running with what the site queues hold, and
 * re-adds what is missing (Redis restarted or wiped, an add lost). Work queued or claimed within
 * RECONCILE_GRACE_MS is left alone (its job may still be on its way into Redis). A job found
 * missing is first only noted (`job_missing_since`), and re-added once it has been missing for
 * JOB_LOCK_MS at least: an agent that held it stops before sending a change once it cannot confirm
 * its lock for half that time, so a re-added job never races a change that is only starting.
 * Re-added work goes through dispatch, which sends a `reconcile` when the pending password may be
 * set. Returns how many jobs it re-added.
 */
export async function reconcileQueues(ctx: Ctx): Promise<number> {
  const missingForMs = Math.max(ctx.config.RECONCILE_GRACE_MS, ctx.config.JOB_LOCK_MS);
  let readded = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const cutoff = new Date(Date.now() - ctx.config.RECONCILE_GRACE_MS).toISOString();
    const rows = await inFlightPage(ctx.db, cutoff, after, PAGE);
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    for (const [siteId, list] of groupBy(rows, (r) => r.site_id)) {
      const present = await ctx.queues.existing(
        siteId,
        list.map((r) => jobIdFor(r.job_kind, r.id)),
      );
      const found = (r: (typeof list)[number]) => present.has(jobIdFor(r.job_kind, r.id));
      const back = list.filter((r) => found(r) && r.job_missing_since !== null).map((r) => r.id);
      if (back.length > 0) await clearJobMissing(ctx.db, back);
      const missing = list.filter((r) => !found(r)).map((r) => r.id);
      if (missing.length === 0) continue;
      readded += await ctx.db.tx(async (q) => {
        const now = new Date();
        const locked = (await loadCredentials(q, missing, true)).filter(
          (r) => r.job_state !== 'idle' && r.job_since !== null && r.job_since.toISOString() < cutoff,
        );
        const noticed = locked.filter((r) => r.job_missing_since === null);
        for (const row of noticed) markMissing(row, now);
        await saveCredentials(q, noticed);
        const due = locked.filter(
          (r) => !noticed.includes(r) && now.getTime() - r.job_missing_since!.getTime() >= missingForMs,
        );
        await dispatch(
          ctx,
          q,
          due.map((row) => ({ row, kind: row.job_kind! })),
          now,
          'scheduler',
        );
        return due.length;
      });
    }
    if (rows.length < PAGE) break;
  }
  if (readded > 0) ctx.log.warn({ readded }, 'reconciler re-added jobs missing from the queues');
  return readded;
}
