import { groupBy } from '../../shared/collections.js';
import { jobIdFor, type JobKind } from '../../shared/contracts/jobs.js';
import { AUTH_REASONS } from '../../shared/contracts/status.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { scheduleOnAssignment } from '../policies/rotation.js';
import { loadPolicies, type PolicyRow } from '../policies/store.js';
import { countInRuns, finishRuns } from './count.js';
import { lockRunMarking } from './marking.js';
import { loadRun, type SyncRunRow } from './store.js';
import { markIdle, withdrawPending } from '../credentials/transitions.js';
import { refreshStatus } from '../credentials/status.js';
import { loadCredentials, saveCredentials, type CredentialRow } from '../credentials/store.js';
import { whenCommitted, type Queryable } from '../store/db.js';
import { siteFacts } from '../store/sites.js';

/** Credentials withdrawn per transaction. */
const PAGE = 1000;

/**
 * Marks a run cancelled (inside the caller's transaction, with its audit event). 404 for a run that
 * does not exist, 409 for one that has finished. The work is withdrawn by withdrawRun afterwards.
 */
export async function markCancelled(q: Queryable, runId: string, actorId: string): Promise<SyncRunRow> {
  // A chunk of its marking in progress ends first; none follows (runs/marking.ts).
  await lockRunMarking(q, runId, true);
  const run = await loadRun(q, runId, true);
  if (!run) throw new SyncError('NOT_FOUND', `sync run ${runId} not found`);
  if (run.finished_at !== null) {
    throw new SyncError('CONFLICT', `sync run ${runId} has finished (${run.outcome}): nothing to cancel`);
  }
  if (run.cancelled_at !== null) return run; // cancelled already, still winding down
  const updated = await q.query<SyncRunRow>(
    'UPDATE sync_runs SET cancelled_at = now(), cancelled_by = $2, marking_after = NULL WHERE id = $1 RETURNING *',
    [runId, actorId],
  );
  return updated.rows[0]!;
}

/**
 * Withdraws a cancelled run's work, page by page, until it is done or `budgetMs` is spent (the run
 * sweep goes on with what is left). Every credential still counted in the run leaves it `unsynced`
 * (`cancelled`); what the run asked for and no agent has started is dropped (docs/sync-runs.md):
 * - a queued verification (not a credential's very first one) leaves its site queue and the
 *   credential goes back to its regular schedule;
 * - a change whose new password no agent was ever handed is dropped with that password; the
 *   credential goes back to its rotation schedule; of a sync group's run only the primary's change
 *   can be dropped (then the group's change ends), members already changing finish it, so the
 *   group ends with one password;
 * - a job an agent holds, a reconcile, and a change whose new password may be set go on: the
 *   change protocol finishes or reconciles them; their results apply to the credentials, no longer
 *   to the run.
 * Returns the run, finished unless the budget ran out first.
 */
export async function withdrawRun(ctx: Ctx, runId: string, budgetMs: number): Promise<SyncRunRow> {
  const started = Date.now();
  for (;;) {
    const left = await ctx.db.tx((q) => withdrawPage(ctx, q, runId));
    if (left === 0) break;
    if (Date.now() - started >= budgetMs) {
      ctx.log.info({ runId }, 'sync run cancel: withdrawal goes on in the background (run sweep)');
      break;
    }
  }
  return (await loadRun(ctx.db, runId))!;
}

/** One page of withdrawal; returns how many of the run's credentials it looked at (0: the run is closed). */
async function withdrawPage(ctx: Ctx, q: Queryable, runId: string): Promise<number> {
  const now = new Date();
  const run = await loadRun(q, runId);
  if (!run || run.finished_at !== null) return 0;
  // Any page of the run's credentials (no order: a sorted page of a million-item run would sort them
  // all, every page), then locked in id order as every writer locks them.
  const { rows: page } = await q.query<{ id: string }>(
    'SELECT id FROM credentials WHERE run_id = $1 LIMIT $2',
    [runId, PAGE],
  );
  const rows = (
    await loadCredentials(
      q,
      page.map((r) => r.id),
      true,
    )
  ).filter((r) => r.run_id === runId);
  if (page.length === 0) {
    // Nothing counted in it any more: whatever is missing from its counts ends unsynced.
    await q.query(
      `UPDATE sync_runs SET unsynced = unsynced + GREATEST(0, impacted - success - partial - failed - unsynced)
        WHERE id = $1 AND finished_at IS NULL`,
      [runId],
    );
    await finishRuns(q, [runId], now);
    return 0;
  }
  const group = run.trigger === 'group' ? await openGroupChange(q, runId) : null;
  const policies = await loadPolicies(
    q,
    rows.map((r) => r.policy_id),
  );
  const dropped: { siteId: string; jobId: string }[] = [];
  let groupDropped = false;
  for (const row of rows) {
    // Of a group's run, only the primary's change, while the group's change is open: members
    // change only after the primary did, and then the group must end with one password.
    const mayDropChange = run.trigger !== 'group' || group?.primary_credential_id === row.id;
    const policy = row.policy_id ? (policies.get(row.policy_id) ?? null) : null;
    const kind = withdraw(row, run.kind, mayDropChange, policy, now);
    if (kind !== null) dropped.push({ siteId: row.site_id, jobId: jobIdFor(kind, row.id) });
    if (group && row.id === group.primary_credential_id && row.pending_id !== group.change_pending_id) {
      groupDropped = true;
    }
  }
  const facts = await siteFacts(
    q,
    rows.map((r) => r.site_id),
  );
  for (const row of rows) refreshStatus(row, facts.get(row.site_id)!, now);
  await countInRuns(
    q,
    rows.map((row) => ({ row, count: 'unsynced' as const, reason: 'cancelled' })),
    now,
  );
  await saveCredentials(q, rows);
  if (group && groupDropped) {
    // The primary's change was dropped before it started: the group's change ends with it, and
    // the group's rotation comes back like after a failed change (groups/change.ts).
    await q.query(
      `UPDATE sync_groups SET change_run_id = NULL, change_pending_id = NULL, change_secret = NULL,
              next_change_at = coalesce(next_change_at, CASE WHEN $2::int > 0
                THEN $3::timestamptz + make_interval(secs => LEAST($2::int, 86400)) END)
        WHERE id = $1`,
      [group.id, group.rotate_interval_s ?? 0, now.toISOString()],
    );
  }
  if (dropped.length > 0) {
    await whenCommitted(q, async () => {
      // Not awaited by the request: a queue that cannot answer must not hold it. A job left behind
      // is harmless: the claim finds its credential no longer waiting for it and skips it.
      void removeJobs(ctx, dropped);
    });
  }
  return page.length;
}

/**
 * What withdrawing does to one credential of the run (mutates the row); returns the kind of the
 * queued job to remove from its site queue, if any.
 */
function withdraw(
  row: CredentialRow,
  runKind: 'verify' | 'change',
  mayDropChange: boolean,
  policy: PolicyRow | null,
  now: Date,
): JobKind | null {
  if (row.job_state === 'active') return null; // an agent holds it: it finishes, outside the run
  if (runKind === 'verify') {
    // A credential's first verification is its own, not the run's: it stays.
    if (row.last_outcome === null) return null;
    if (row.job_state === 'queued') {
      if (row.job_kind !== 'verify') return null; // a change or reconcile was queued already: it goes on
      markIdle(row);
      backToVerifySchedule(row, now);
      return 'verify';
    }
    if (row.next_verify_at !== null) backToVerifySchedule(row, now);
    return null;
  }
  if (!mayDropChange) return null;
  if (row.pending_secret !== null && !withdrawPending(row)) return null; // may be set: settled by the protocol
  // Back to its rotation schedule (none without a rotating policy, a group member's is its
  // group's), unless an operator had asked for a change before the run took it over.
  if (!row.change_wanted) {
    row.next_change_at = null;
    scheduleOnAssignment(row, policy, now);
  }
  // A verification queued first, the run's change to follow: only the change is withdrawn.
  if (row.job_state !== 'queued' || row.job_kind !== 'change') return null;
  markIdle(row);
  return 'change';
}

/**
 * A verification withdrawn: the credential's next one comes a verification interval after its last
 * result, as the schedule would have had it; after a refused password it stays paused for an
 * operator (the run had resumed it; nothing since says the password works).
 */
function backToVerifySchedule(row: CredentialRow, now: Date): void {
  if (row.last_outcome === 'failed' && row.last_reason !== null && AUTH_REASONS.has(row.last_reason)) {
    row.verify_paused = true;
    row.next_verify_at = null;
    return;
  }
  const last = (row.last_result_at ?? now).getTime();
  row.next_verify_at = new Date(Math.max(now.getTime(), last + row.verify_interval_s * 1000));
}

interface OpenGroupChange {
  id: string;
  primary_credential_id: string | null;
  change_pending_id: string | null;
  rotate_interval_s: number | null;
}

/** The sync group whose open change is this run, with its policy's rotation interval. */
async function openGroupChange(q: Queryable, runId: string): Promise<OpenGroupChange | null> {
  const { rows } = await q.query<OpenGroupChange>(
    `SELECT g.id, g.primary_credential_id, g.change_pending_id, p.rotate_interval_s
       FROM sync_groups g
       LEFT JOIN credentials pc ON pc.id = g.primary_credential_id
       LEFT JOIN policies p ON p.id = coalesce(g.policy_id, pc.policy_id)
      WHERE g.change_run_id = $1
      FOR UPDATE OF g`,
    [runId],
  );
  return rows[0] ?? null;
}

async function removeJobs(ctx: Ctx, jobs: { siteId: string; jobId: string }[]): Promise<void> {
  for (const [siteId, list] of groupBy(jobs, (j) => j.siteId)) {
    try {
      const removed = await ctx.queues.remove(
        siteId,
        list.map((j) => j.jobId),
      );
      ctx.log.info({ siteId, removed, asked: list.length }, 'cancelled run: queued jobs removed');
    } catch (err) {
      ctx.log.warn(
        { siteId, jobs: list.length, err: err instanceof Error ? err.message : String(err) },
        'cancelled run: queued jobs not removed (the claim skips them)',
      );
    }
  }
}
