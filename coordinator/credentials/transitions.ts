import { randomUUID } from 'node:crypto';
import type { JobOutcome } from '../../shared/contracts/gateway.js';
import type { JobKind } from '../../shared/contracts/jobs.js';
import { AUTH_REASONS, type Reason } from '../../shared/contracts/status.js';
import type { CredentialRow } from './store.js';
import { retryDelayMs } from './retry.js';

/*
 * What happens to a credential: the only code that changes its job fields (job_*), its outcome
 * (last_outcome, last_reason, last_message, last_result_at), its pending password (pending_*) and
 * its suspension. Callers load the rows locked, call these, refresh the status (status.ts) and save
 * (store.ts).
 */

/**
 * How a result counts in the sync run it belongs to. `partial`: the new password is set (the
 * credential ends in sync with it) but its change did not confirm itself: the change's result was
 * uncertain or lost, and a reconcile had to find the new password working (docs/sync-runs.md).
 */
export type RunCount = 'success' | 'partial' | 'failed' | 'unsynced';

/** Whether a change that counted `count` set its new password (a partial one did too). */
export const changed = (count: RunCount | undefined): boolean => count === 'success' || count === 'partial';

export interface TransitionOptions {
  now: Date;
  retryLimit: number;
  suspendAfter: number;
  random?: () => number;
  /** Seals a secret for a column of this row (AAD = row id + field). */
  seal: (plaintext: string, row: CredentialRow, field: 'secret' | 'pending_secret') => string;
  open: (sealed: string, row: CredentialRow, field: 'secret' | 'pending_secret') => string;
}

export interface ResultEffect {
  /** Counts in the credential's run now (undefined: the run waits for a follow-up). */
  count?: RunCount;
  /** The old current password, to keep in history (still sealed by the caller). */
  retired?: string;
  /**
   * A pending password that was handed out and is now discarded (sealed as `pending_secret`): the
   * caller keeps it in history, so even a late change that set it after all can be recovered.
   */
  discarded?: string;
  /** Work to queue at once. */
  followUp?: JobKind;
}

const addMs = (d: Date, ms: number) => new Date(d.getTime() + ms);

/**
 * Reasons of a change job's failure that prove its own attempt sent nothing to the target (the
 * agent reports `change_outcome_unknown` whenever it may have: agent/change-protocol.ts).
 */
const NOTHING_SENT: ReadonlySet<Reason> = new Set([
  'unreachable',
  'mismatch',
  'locked_or_disabled',
  'change_failed',
  'workflow_failed',
  'error',
]);

/**
 * Whether the pending password may already be set on the target: an attempt it was handed out to
 * has not proven it sent nothing, or a result left it uncertain. PostgreSQL alone decides it.
 */
export function pendingMayBeSet(row: CredentialRow): boolean {
  return row.pending_secret !== null && (row.pending_state === 'uncertain' || row.pending_handouts > 0);
}

export function markQueued(row: CredentialRow, kind: JobKind, now: Date): void {
  row.job_state = 'queued';
  row.job_kind = kind;
  row.job_since = now;
  row.job_missing_since = null;
  if (kind === 'verify') row.next_verify_at = null;
  else row.next_change_at = null;
}

export function markClaimed(row: CredentialRow, now: Date): void {
  row.job_state = 'active';
  row.job_since = now;
  row.job_missing_since = null;
}

/**
 * A change or reconcile job of this row is handed to an agent (inside the claim's transaction,
 * before the agent hears of it). Returns whether the agent must reckon with the pending password
 * being set already; a change's hand-out is counted, so from now on it may be.
 */
export function markHandedOut(row: CredentialRow, kind: JobKind, now: Date): boolean {
  const mayBeSet = kind === 'reconcile' || pendingMayBeSet(row);
  if (kind === 'change') row.pending_handouts += 1;
  if (row.job_state === 'queued') markClaimed(row, now);
  return mayBeSet;
}

/** The credential's job is over (done, skipped or dropped). */
export function markIdle(row: CredentialRow): void {
  row.job_state = 'idle';
  row.job_kind = null;
  row.job_since = null;
  row.job_missing_since = null;
}

/**
 * A job an agent held goes back to its queue (the agent released it): queued again. A change whose
 * hand-out never reached its agent (`undelivered`: the claim's answer never left the coordinator)
 * takes that hand-out back; one that did stays counted, as its agent may have sent it.
 */
export function markReleased(row: CredentialRow, undelivered: boolean): void {
  if (row.job_state === 'active') row.job_state = 'queued';
  if (undelivered && row.job_kind === 'change' && row.pending_handouts > 0) row.pending_handouts -= 1;
}

/** The reconciler found the credential's job missing from its queue (first seen `now`). */
export function markMissing(row: CredentialRow, now: Date): void {
  row.job_missing_since = now;
}

/** A result that no agent produced: the coordinator itself failed the work with an `error`. */
function failedHere(row: CredentialRow, message: string, now: Date): void {
  row.last_outcome = 'failed';
  row.last_reason = 'error';
  row.last_message = message;
  row.last_result_at = now;
}

/**
 * A job was not handed out because a stored secret of it failed its integrity check (tampered, or
 * another master key): reported on the credential, and scheduled verification stops (it would fail
 * the same way) until an operator acts.
 */
export function refuseUnreadable(row: CredentialRow, now: Date): void {
  failedHere(row, 'the stored secret failed its integrity check (tampered or wrong master key)', now);
  row.next_verify_at = null;
}

/** A change or reconcile was not handed out: its privileged account may not go with it (`why`). */
export function refuseHandout(row: CredentialRow, now: Date, why: string): void {
  failedHere(row, `change not sent: ${why}`.slice(0, 500), now);
}

/**
 * No new password could be made for a change (`message`: its policy no longer suits the target):
 * nothing is sent, the change is no longer wanted and not scheduled again.
 */
export function refuseChange(row: CredentialRow, message: string, now: Date): void {
  row.change_wanted = false;
  failedHere(row, message, now);
  row.next_change_at = null;
}

/**
 * What an operator's action resumes (the only code that lifts a suspension):
 * - `change` (a change asked for): a suspended credential resumes, its count of errors starts again;
 * - `verify` (Sync now): also scheduled verification paused after a refused password;
 * - `resume` (the resume action): also the retry count, and a pending password waiting with
 *   nothing scheduled goes out again soon.
 */
export function resumeByOperator(
  row: CredentialRow,
  action: 'change' | 'verify' | 'resume',
  now: Date,
): void {
  row.suspended = false;
  row.consecutive_failures = 0;
  if (action === 'change') return;
  row.verify_paused = false;
  if (action === 'verify') return;
  row.attempt = 0;
  settlePendingSoon(row, now);
}

/**
 * A pending password is waiting with nothing scheduled to settle it (its job was skipped, the
 * credential suspended): it goes out again soon, as a change, or as a reconcile when it may be set.
 */
export function settlePendingSoon(row: CredentialRow, now: Date): void {
  if (row.pending_secret !== null && row.next_change_at === null) row.next_change_at = now;
}

/** The stored password worked just now. */
function verified(row: CredentialRow, o: TransitionOptions): void {
  const interval = row.verify_interval_s * 1000;
  const first = row.last_verified_at === null;
  row.last_outcome = 'ok';
  row.last_reason = null;
  row.last_message = null;
  row.last_result_at = o.now;
  row.last_verified_at = o.now;
  row.stale_at = addMs(o.now, interval);
  row.consecutive_failures = 0;
  row.attempt = 0;
  row.verify_paused = false;
  // The first verification of a credential starts its daily cycle at a random point of the interval,
  // so a bulk import spreads over the day instead of coming back as one spike every day.
  row.next_verify_at = addMs(
    o.now,
    first ? Math.floor((o.random ?? Math.random)() * interval) + 1 : interval,
  );
}

/**
 * A verification, a change or a reconcile failed. Authentication failures pause (never retried with
 * the same password); `retryable` ones (unreachable, an uncertain reconcile) come back with backoff
 * a bounded number of times, then after the verification interval.
 */
function failed(
  row: CredentialRow,
  reason: Reason,
  message: string | undefined,
  o: TransitionOptions,
  retryable = reason === 'unreachable',
): void {
  row.last_outcome = 'failed';
  row.last_reason = reason;
  row.last_message = message ?? null;
  row.last_result_at = o.now;
  row.consecutive_failures += 1;
  if (AUTH_REASONS.has(reason)) {
    // Never retried with the same password: bad logins lock accounts. Waits for an operator.
    row.verify_paused = true;
    row.next_verify_at = null;
    row.attempt = 0;
  } else if (retryable && row.attempt < o.retryLimit) {
    row.attempt += 1;
    row.next_verify_at = addMs(o.now, retryDelayMs(row.attempt, o.random));
  } else {
    row.attempt = 0;
    row.next_verify_at = addMs(o.now, row.verify_interval_s * 1000);
  }
  if (row.consecutive_failures >= o.suspendAfter) {
    row.suspended = true;
    row.next_verify_at = null;
    row.next_change_at = null;
  }
}

/**
 * The work on the pending password comes back when failed() scheduled the next attempt, in the
 * change lane (dispatch sends a reconcile if the pending password may be set by then). A retry
 * keeps the run waiting; once retries are used up the result counts.
 */
function tryAgainLater(row: CredentialRow): ResultEffect {
  if (row.suspended) return { count: 'failed' };
  row.next_change_at = row.next_verify_at;
  row.next_verify_at = null;
  return row.attempt > 0 ? {} : { count: 'failed' };
}

/** Forgets the pending password; returns it (sealed) when it was ever handed out, for history. */
function discardPending(row: CredentialRow, handedOut: boolean): string | undefined {
  const sealed = row.pending_secret ?? undefined;
  row.pending_secret = null;
  row.pending_id = null;
  row.pending_state = null;
  row.pending_handouts = 0;
  return handedOut ? sealed : undefined;
}

/**
 * Drops a pending password no agent was ever handed (so nothing can have set it on the target), as
 * when its change is withdrawn before it started; returns whether it did. One that may be set stays:
 * the change protocol settles it (a change or reconcile finishes it).
 */
export function withdrawPending(row: CredentialRow): boolean {
  if (row.pending_secret === null || pendingMayBeSet(row)) return false;
  discardPending(row, false);
  return true;
}

/** A result left open whether the target has the pending password: both are kept. */
function uncertain(row: CredentialRow, message: string | undefined, o: TransitionOptions): void {
  row.pending_state = 'uncertain';
  row.last_outcome = 'failed';
  row.last_reason = 'change_outcome_unknown';
  row.last_message = message ?? null;
  row.last_result_at = o.now;
}

/** The pending password is now the one that works on the target. */
function promote(row: CredentialRow, o: TransitionOptions): string {
  const retired = row.secret;
  const next = o.open(row.pending_secret!, row, 'pending_secret');
  row.secret = o.seal(next, row, 'secret');
  discardPending(row, false);
  row.last_changed_at = o.now;
  row.change_wanted = false;
  verified(row, o);
  return retired;
}

type Failure = Extract<JobOutcome, { outcome: 'failed' }>;

/**
 * Applies an agent's result to the credential (the change protocol: the
 * table of docs/change-protocol.md). Mutates `row`; the caller saves it and carries out the effect.
 * Only the agent holding the job's lock reports, so its own hand-out is one of `pending_handouts`.
 */
export function applyResult(
  row: CredentialRow,
  kind: JobKind,
  result: JobOutcome,
  o: TransitionOptions,
): ResultEffect {
  markIdle(row);
  if (kind === 'verify') {
    if (result.outcome === 'ok') {
      verified(row, o);
      return { count: 'success' };
    }
    failed(row, result.reason, result.message, o);
    return { count: 'failed' };
  }
  if (!row.pending_secret) {
    // The pending password is gone (deleted, already settled): nothing to change or reconcile.
    return { count: 'unsynced' };
  }
  if (result.outcome === 'ok') {
    if (kind === 'reconcile' && result.works === 'current') {
      // The current password logs in, so the target does not have the pending one.
      const discarded = discardPending(row, true);
      verified(row, o);
      return { count: 'failed', discarded };
    }
    // Set, but only a reconcile could tell (the change's own proof failed or its report was lost).
    return { count: kind === 'reconcile' ? 'partial' : 'success', retired: promote(row, o) };
  }
  if (kind === 'change' && NOTHING_SENT.has(result.reason)) {
    // This attempt sent nothing: its hand-out is accounted for.
    row.pending_handouts = Math.max(0, row.pending_handouts - 1);
  }
  return kind === 'change' ? changeFailed(row, result, o) : reconcileFailed(row, result, o);
}

function changeFailed(row: CredentialRow, result: Failure, o: TransitionOptions): ResultEffect {
  const { reason, message } = result;
  if (!NOTHING_SENT.has(reason)) {
    // Uncertain: the target may have the new password. Keep both, let a reconcile decide.
    uncertain(row, message, o);
    return { followUp: 'reconcile' };
  }
  // Could another attempt (one that lost this job's lock) or an earlier uncertain result have set it?
  const elsewhere = pendingMayBeSet(row);
  if (reason === 'unreachable') {
    failed(row, 'unreachable', message, o);
    if (row.attempt > 0 && !row.suspended) return tryAgainLater(row); // the same pending password
    if (!elsewhere) return { count: 'failed', discarded: discardPending(row, true) }; // never reached the target
    row.next_change_at = addMs(o.now, row.verify_interval_s * 1000); // settle it on a later day
    row.next_verify_at = null;
    return { count: 'failed' };
  }
  if (elsewhere) {
    row.pending_state = 'uncertain';
    if (AUTH_REASONS.has(reason)) {
      // Neither password logs in (the agent looked at the pending one before and after): paused
      // until an operator acts; a reconcile then tries both again.
      failed(row, reason, message, o);
      return { count: 'failed' };
    }
    // This attempt was refused, but an earlier one may have set it: reconcile before letting go.
    uncertain(row, message, o);
    return { followUp: 'reconcile' };
  }
  // Nothing can have set the pending password: a definite failure. A later change makes a fresh one.
  const discarded = discardPending(row, true);
  failed(row, reason, message, o);
  if (reason === 'change_failed') {
    row.change_wanted = false; // the target refused this password
  } else if (reason === 'workflow_failed' || reason === 'error') {
    // Nothing was tried on the account (a page that no longer matches, an agent-side error):
    // the change is still wanted and comes back after the verification interval.
    row.change_wanted = true;
    if (!row.suspended) row.next_change_at = addMs(o.now, row.verify_interval_s * 1000);
  }
  return { count: 'failed', discarded };
}

function reconcileFailed(row: CredentialRow, result: Failure, o: TransitionOptions): ResultEffect {
  const { reason, message } = result;
  row.pending_state = 'uncertain'; // a reconcile runs only when the pending password may be set
  if (AUTH_REASONS.has(reason)) {
    // Neither password logs in: paused until an operator acts (Sync now reconciles again).
    failed(row, reason, message, o);
    return { count: 'failed' };
  }
  if (reason === 'unreachable') {
    failed(row, 'unreachable', message, o);
    return tryAgainLater(row);
  }
  // Still open (an error, a page that no longer matches): reconciled again, with backoff.
  failed(row, 'change_outcome_unknown', message ?? `reconcile failed: ${reason}`, o, true);
  return tryAgainLater(row);
}

/** Starts a change: stores the new password, sealed, as pending. Returns its id. */
export function beginChange(
  row: CredentialRow,
  newPassword: string,
  o: Pick<TransitionOptions, 'seal'>,
): string {
  row.pending_id = randomUUID();
  row.pending_state = 'new';
  row.pending_handouts = 0;
  row.pending_secret = o.seal(newPassword, row, 'pending_secret');
  return row.pending_id;
}
