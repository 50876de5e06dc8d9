import type { Ctx } from '../context.js';
import { refreshStatus } from '../status.js';
import { CREDENTIAL_SELECT, saveCredentials, type CredentialRow } from '../store/credentials.js';
import { siteFacts } from '../store/sites.js';
import { dispatch } from './dispatch.js';

export interface TickResult {
  verify: number;
  change: number;
  stale: number;
}

/** How long a change due on a busy credential waits before the tick looks again. */
const BUSY_RETRY_MS = 2000;

const eligible = (r: CredentialRow) => r.sync_enabled && !r.suspended && r.job_state === 'idle';

/**
 * One scheduler tick: takes what is due from the index (`next_verify_at`, `next_change_at`) in
 * batches, locked with SKIP LOCKED so concurrent ticks never take the same rows, and queues it in
 * bulk. Its cost grows with the work due, not with the number of credentials. Also turns `in_sync`
 * credentials whose last verification is older than their interval into `out_of_sync` / `stale`.
 */
export async function tick(ctx: Ctx, budgetMs = 5000): Promise<TickResult> {
  const started = Date.now();
  const result: TickResult = { verify: 0, change: 0, stale: 0 };
  const batch = ctx.config.SCHEDULER_BATCH;
  const more = (n: number) => n === batch && Date.now() - started < budgetMs;

  let n: number;
  do {
    n = await takeDue(ctx, 'next_verify_at', batch);
    result.verify += n;
  } while (more(n));
  do {
    n = await takeDue(ctx, 'next_change_at', batch);
    result.change += n;
  } while (more(n));
  do {
    n = await markStale(ctx, batch);
    result.stale += n;
  } while (more(n));
  return result;
}

async function takeDue(
  ctx: Ctx,
  column: 'next_verify_at' | 'next_change_at',
  limit: number,
): Promise<number> {
  return ctx.db.tx(async (q) => {
    const now = new Date();
    const { rows } = await q.query<CredentialRow>(
      `${CREDENTIAL_SELECT} WHERE c.${column} <= $1 ORDER BY c.${column} LIMIT $2 FOR UPDATE OF c SKIP LOCKED`,
      [now.toISOString(), limit],
    );
    if (rows.length === 0) return 0;
    const due = rows.filter((r) => eligible(r) && (column === 'next_change_at' || !r.verify_paused));
    // A change due while another job runs waits a little; anything else due that may not run
    // (disabled, suspended, paused, already queued) leaves the index.
    const rest = rows.filter((r) => !due.includes(r));
    for (const r of rest) {
      const waits = column === 'next_change_at' && r.sync_enabled && !r.suspended && r.job_state !== 'idle';
      r[column] = waits ? new Date(now.getTime() + BUSY_RETRY_MS) : null;
    }
    await saveCredentials(q, rest);
    await dispatch(
      ctx,
      q,
      due.map((row) => ({
        row,
        kind: column === 'next_verify_at' ? ('verify' as const) : ('change' as const),
      })),
      now,
    );
    return rows.length;
  });
}

async function markStale(ctx: Ctx, limit: number): Promise<number> {
  return ctx.db.tx(async (q) => {
    const now = new Date();
    const { rows } = await q.query<CredentialRow>(
      `${CREDENTIAL_SELECT} WHERE c.status = 'in_sync' AND c.stale_at <= $1 ORDER BY c.stale_at LIMIT $2
       FOR UPDATE OF c SKIP LOCKED`,
      [now.toISOString(), limit],
    );
    const facts = await siteFacts(
      q,
      rows.map((r) => r.site_id),
    );
    for (const r of rows) refreshStatus(r, facts.get(r.site_id)!, now);
    await saveCredentials(q, rows);
    return rows.length;
  });
}
