import type { JobKind } from '../../shared/contracts/jobs.js';
import type { Ctx } from '../context.js';
import { markClaimed } from '../credentials/transitions.js';
import { refreshStatus } from '../credentials/status.js';
import { saveCredentials, selectCredentials } from '../credentials/store.js';
import { siteFacts } from '../store/sites.js';

/** A job still running this long after its claim shows its credential as "being synced". */
export const BEING_SYNCED_AFTER_MS = 500;

/** How often the claims waiting for their mark are looked at (a mark is due within this much more). */
const LOOK_EVERY_MS = BEING_SYNCED_AFTER_MS / 2;

interface Claimed {
  id: string;
  kind: JobKind;
  /** When the job was queued: proves, later, that the row still waits for this very job. */
  queuedAt: Date | null;
  claimedAt: number;
}

/** The verifications handed out and not reported yet (by credential id), and the timer that looks at them. */
interface Waiting {
  claims: Map<string, Claimed>;
  timer: NodeJS.Timeout | undefined;
}

/** Per coordinator. */
const waiting = new WeakMap<Ctx, Waiting>();

/**
 * Verifications only (a change is recorded as running at once, see claim.ts). Records claims; a
 * claim still unreported BEING_SYNCED_AFTER_MS after it was made has its credential marked "being
 * synced" (one statement for all that are due). Most jobs report sooner: their result forgets the
 * claim (reported), so the claim path costs PostgreSQL no write for them; a long job shows "being
 * synced" within a second. A result taken by another coordinator replica is not seen here: the mark
 * then applies only to a row still queued for the same job (same kind, same queue time), so a result
 * or a newer job that came first wins. Rows another transaction holds are skipped, not waited for:
 * that is almost always the job's own result being written (the mark would be undone at once), and
 * waiting would hold the marks already taken against the other reports of the batch.
 */
export function markBeingSynced(ctx: Ctx, claims: Omit<Claimed, 'claimedAt'>[]): void {
  const claimedAt = Date.now();
  const state = stateOf(ctx);
  for (const c of claims) state.claims.set(c.id, { ...c, claimedAt });
  schedule(ctx, state);
}

/**
 * Results of these credentials were taken: their claims made up to `since` (when taking them began)
 * need no mark any more; a newer claim (the next job of one of them) keeps its own.
 */
export function reported(ctx: Ctx, credentialIds: Iterable<string>, since: number): void {
  const state = waiting.get(ctx);
  if (!state) return;
  for (const id of credentialIds) {
    const claim = state.claims.get(id);
    if (claim && claim.claimedAt <= since) state.claims.delete(id);
  }
}

function stateOf(ctx: Ctx): Waiting {
  let state = waiting.get(ctx);
  if (!state) waiting.set(ctx, (state = { claims: new Map(), timer: undefined }));
  return state;
}

function schedule(ctx: Ctx, state: Waiting): void {
  if (state.timer || state.claims.size === 0) return;
  state.timer = setTimeout(() => {
    state.timer = undefined;
    const dueBefore = Date.now() - BEING_SYNCED_AFTER_MS;
    const due: Claimed[] = [];
    for (const [id, c] of state.claims) {
      if (c.claimedAt > dueBefore) continue;
      due.push(c);
      state.claims.delete(id);
    }
    schedule(ctx, state);
    if (due.length === 0) return;
    flush(ctx, due).catch((err: unknown) =>
      ctx.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'being-synced marks failed'),
    );
  }, LOOK_EVERY_MS);
  state.timer.unref();
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
      markClaimed(row, new Date(byId.get(row.id)!.claimedAt));
      refreshStatus(row, facts.get(row.site_id)!, now);
    }
    await saveCredentials(q, rows);
  });
}
