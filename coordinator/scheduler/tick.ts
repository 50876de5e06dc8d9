import type { Ctx } from '../context.js';
import { refreshStatus } from '../credentials/status.js';
import { saveCredentials, selectCredentials, type CredentialRow } from '../credentials/store.js';
import { siteFacts } from '../store/sites.js';
import { capabilitiesOf } from '../../shared/targets/index.js';
import { loadPolicies } from '../policies/store.js';
import { deferToWindow } from '../policies/window.js';
import { countInRuns, type RunResult } from '../runs/count.js';
import type { Queryable } from '../store/db.js';
import { takeDueGroups } from '../groups/schedule.js';
import { dispatch } from '../queues/dispatch.js';

export interface TickResult {
  verify: number;
  change: number;
  /** Sync groups whose scheduled rotation was due (started, or held for their window). */
  groups: number;
  stale: number;
  /** The time budget ran out with work still due: tick again at once. */
  more: boolean;
}

/** Groups per transaction: each starts a change (a password, a run, the primary's job). */
const GROUP_BATCH = 50;

/** How long a change due on a busy credential waits before the tick looks again. */
const BUSY_RETRY_MS = 2000;

const eligible = (r: CredentialRow) => r.sync_enabled && !r.suspended && r.job_state === 'idle';

/**
 * One scheduler tick: takes what is due from the index (`next_verify_at`, `next_change_at`) in
 * batches, locked with SKIP LOCKED so concurrent ticks never take the same rows, and queues it in
 * bulk. Its cost grows with the work due, not with the number of credentials. Then starts the
 * changes of sync groups whose rotation is due (`sync_groups.next_change_at`, groups/schedule.ts),
 * and turns `in_sync` credentials whose last verification is older than their interval into
 * `out_of_sync` / `stale`.
 */
export async function tick(ctx: Ctx, budgetMs = 5000): Promise<TickResult> {
  const result: TickResult = { verify: 0, change: 0, groups: 0, stale: 0, more: false };
  const batch = ctx.config.SCHEDULER_BATCH;
  /**
   * Takes batches until one comes back short or the budget is spent (each kind of work has its own,
   * so a huge verification run does not starve changes); `lanes` batches at a time (SKIP LOCKED keeps
   * them disjoint), so queueing a big run overlaps PostgreSQL and Redis round trips.
   */
  const drain = async (take: () => Promise<number>, lanes: number, size = batch): Promise<number> => {
    const started = Date.now();
    let total = 0;
    let dry = false;
    const lane = async () => {
      while (!dry) {
        const n = await take();
        total += n;
        if (n < size) dry = true;
        else if (Date.now() - started >= budgetMs) {
          result.more = true;
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    return total;
  };
  result.verify = await drain(() => takeDue(ctx, 'next_verify_at', batch), ctx.config.SCHEDULER_LANES);
  result.change = await drain(() => takeDue(ctx, 'next_change_at', batch), ctx.config.SCHEDULER_LANES);
  // Sync groups rotate together on their group policy's schedule (a member's own is off).
  const groupBatch = Math.min(batch, GROUP_BATCH);
  result.groups = await drain(() => takeDueGroups(ctx, groupBatch), 1, groupBatch);
  result.stale = await drain(() => markStale(ctx, batch), 1);
  return result;
}

async function takeDue(
  ctx: Ctx,
  column: 'next_verify_at' | 'next_change_at',
  limit: number,
): Promise<number> {
  return ctx.db.tx(async (q) => {
    const now = new Date();
    const rows = await selectCredentials(
      q,
      `WHERE c.${column} <= $1 ORDER BY c.${column} LIMIT $2 FOR UPDATE OF c SKIP LOCKED`,
      [now.toISOString(), limit],
    );
    if (rows.length === 0) return 0;
    let due = rows.filter((r) => eligible(r) && (column === 'next_change_at' || !r.verify_paused));
    const unsynced: RunResult[] = [];
    if (column === 'next_change_at') due = await holdScheduledChanges(q, due, now, unsynced);
    // A change due while another job runs waits a little; anything else due that may not run
    // (disabled, suspended, paused, already queued) leaves the index.
    const rest = rows.filter((r) => !due.includes(r));
    const counted = new Set(unsynced.map((u) => u.row));
    for (const r of rest) {
      if (r[column] !== null && r[column]! > now) continue; // held for a maintenance window
      const waits = column === 'next_change_at' && r.sync_enabled && !r.suspended && r.job_state !== 'idle';
      r[column] = waits ? new Date(now.getTime() + BUSY_RETRY_MS) : null;
      // Dropped from the index with no job to come: its run would wait for it forever. (A busy row's
      // job in flight still counts in its run.)
      if (r.run_id !== null && r.job_state === 'idle' && !counted.has(r)) {
        unsynced.push({ row: r, count: 'unsynced', reason: notEligibleReason(r) });
      }
    }
    if (unsynced.length > 0 || column === 'next_change_at') {
      const facts = await siteFacts(
        q,
        rest.map((r) => r.site_id),
      );
      for (const r of rest) refreshStatus(r, facts.get(r.site_id)!, now);
    }
    await countInRuns(q, unsynced, now);
    await saveCredentials(q, rest);
    await dispatch(
      ctx,
      q,
      due.map((row) => ({
        row,
        kind: column === 'next_verify_at' ? ('verify' as const) : ('change' as const),
      })),
      now,
      'scheduler',
    );
    return rows.length;
  });
}

function notEligibleReason(r: CredentialRow): string {
  if (!r.sync_enabled) return 'sync_disabled';
  if (r.suspended) return 'suspended';
  if (r.verify_paused) return 'paused';
  return 'not_eligible';
}

async function markStale(ctx: Ctx, limit: number): Promise<number> {
  return ctx.db.tx(async (q) => {
    const now = new Date();
    const rows = await selectCredentials(
      q,
      `WHERE c.status = 'in_sync' AND c.stale_at <= $1 ORDER BY c.stale_at LIMIT $2
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

/**
 * Of the changes due now, those that may start: a change that is only due by its policy's schedule
 * (no pending password to settle, no run, no operator request) waits for its maintenance window,
 * and goes to a random time in the window's next opening; a sync group member's schedule belongs to
 * its group (a run over it counts it unsynced); a target whose change step is not configured shows
 * `change_not_configured` instead of being sent.
 */
async function holdScheduledChanges(
  q: Queryable,
  due: CredentialRow[],
  now: Date,
  unsynced: RunResult[],
): Promise<CredentialRow[]> {
  const fresh = (r: CredentialRow) => r.pending_secret === null;
  const policies = await loadPolicies(
    q,
    due.filter(fresh).map((r) => r.policy_id),
  );
  return due.filter((r) => {
    if (!fresh(r)) return true;
    if (r.group_id !== null) {
      r.next_change_at = null;
      if (r.run_id !== null) unsynced.push({ row: r, count: 'unsynced', reason: 'group_member' });
      return false;
    }
    const caps = capabilitiesOf(r.target_kind, r.target_connection);
    if (!caps.change || !caps.changeConfigured) {
      r.next_change_at = null;
      r.change_wanted = true;
      if (r.run_id !== null) unsynced.push({ row: r, count: 'unsynced', reason: 'change_not_configured' });
      return false;
    }
    if (r.run_id !== null || r.change_wanted) return true; // asked for: no window
    const later = deferToWindow(r.policy_id ? policies.get(r.policy_id)?.maintenance_window : null, now);
    if (later === null) return true;
    r.next_change_at = later;
    return false;
  });
}
