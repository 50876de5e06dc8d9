import { groupBy } from '../../shared/collections.js';
import { jobIdFor, type JobKind } from '../../shared/contracts/jobs.js';
import type { Ctx } from '../context.js';
import { loadCredentials } from '../store/credentials.js';
import { dispatch } from './dispatch.js';

const PAGE = 1000;

/**
 * Compares the work PostgreSQL says is queued or running with what the site queues hold, and
 * re-adds what is missing (Redis restarted or wiped, an add lost). A change whose job vanished
 * while an agent held it may have happened: it comes back as a `reconcile`, which keeps whichever
 * password works. Returns how many jobs it re-added.
 */
export async function reconcileQueues(ctx: Ctx): Promise<number> {
  let readded = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const cutoff = new Date(Date.now() - ctx.config.RECONCILE_GRACE_MS).toISOString();
    const { rows } = await ctx.db.query<{ id: string; site_id: string; job_kind: JobKind }>(
      `SELECT id, site_id, job_kind FROM credentials
        WHERE job_state <> 'idle' AND job_since < $1 AND id > $2 ORDER BY id LIMIT $3`,
      [cutoff, after, PAGE],
    );
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    const bySite = groupBy(rows, (r) => r.site_id);
    for (const [siteId, list] of bySite) {
      const present = await ctx.queues.existing(
        siteId,
        list.map((r) => jobIdFor(r.job_kind, r.id)),
      );
      const missing = list.filter((r) => !present.has(jobIdFor(r.job_kind, r.id))).map((r) => r.id);
      if (missing.length === 0) continue;
      readded += await ctx.db.tx(async (q) => {
        const now = new Date();
        const locked = (await loadCredentials(q, missing, true)).filter(
          (r) => r.job_state !== 'idle' && r.job_since !== null && r.job_since.toISOString() < cutoff,
        );
        await dispatch(
          ctx,
          q,
          locked.map((row) => ({
            row,
            kind:
              row.job_kind === 'change' && row.job_state === 'active'
                ? ('reconcile' as const)
                : row.job_kind!,
          })),
          now,
        );
        return locked.length;
      });
    }
    if (rows.length < PAGE) break;
  }
  if (readded > 0) ctx.log.warn({ readded }, 'reconciler re-added jobs missing from the queues');
  return readded;
}
