import type { JobKind } from '../../shared/contracts/jobs.js';
import type { Ctx } from '../context.js';
import { markClaimed } from '../credentials/transitions.js';
import { refreshStatus } from '../credentials/status.js';
import { saveCredentials, selectCredentials } from '../credentials/store.js';
import { siteFacts } from '../store/sites.js';

/** A job still running this long after its claim shows its credential as "being synced". */
export const BEING_SYNCED_AFTER_MS = 500;

interface Claimed {
  id: string;
  kind: JobKind;
  /** When the job was queued: proves, later, that the row still waits for this very job. */
  queuedAt: Date | null;
  claimedAt: Date;
}

const pending = new WeakMap<Ctx, { items: Claimed[]; timer: NodeJS.Timeout }>();

/**
 * Verifications only (a change is recorded as running at once, see claim.ts). Records claims and,
 * BEING_SYNCED_AFTER_MS later, marks in one statement the credentials whose job
 * is still running. Most jobs finish sooner (their result is the next write anyway), so the claim
 * path costs PostgreSQL no write for them; a long job shows "being synced" within a second. The
 * mark applies only to a row still queued for the same job (same kind, same queue time): a result
 * or a newer job that came first wins. Rows another transaction holds are skipped, not waited for:
 * that is almost always the job's own result being written (the mark would be undone at once), and
 * waiting would hold the marks already taken against the other reports of the batch.
 */
export function markBeingSynced(ctx: Ctx, claims: Omit<Claimed, 'claimedAt'>[]): void {
  const claimedAt = new Date();
  let batch = pending.get(ctx);
  if (!batch) {
    batch = {
      items: [],
      timer: setTimeout(() => {
        pending.delete(ctx);
        flush(ctx, batch!.items).catch((err: unknown) =>
          ctx.log.warn(
            { err: err instanceof Error ? err.message : String(err) },
            'being-synced marks failed',
          ),
        );
      }, BEING_SYNCED_AFTER_MS),
    };
    batch.timer.unref();
    pending.set(ctx, batch);
  }
  for (const c of claims) batch.items.push({ ...c, claimedAt });
}

async function flush(ctx: Ctx, items: Claimed[]): Promise<void> {
  const byId = new Map(items.map((c) => [c.id, c]));
  await ctx.db.tx(async (q) => {
    const now = new Date();
    const rows = (
      await selectCredentials(
        q,
        `WHERE c.id = ANY($1::uuid[]) AND c.job_state = 'queued' ORDER BY c.id FOR UPDATE OF c SKIP LOCKED`,
        [[...byId.keys()]],
      )
    ).filter((r) => {
      const c = byId.get(r.id)!;
      return r.job_kind === c.kind && r.job_since?.getTime() === c.queuedAt?.getTime();
    });
    if (rows.length === 0) return;
    const facts = await siteFacts(
      q,
      rows.map((r) => r.site_id),
    );
    for (const row of rows) {
      markClaimed(row, byId.get(row.id)!.claimedAt);
      refreshStatus(row, facts.get(row.site_id)!, now);
    }
    await saveCredentials(q, rows);
  });
}
