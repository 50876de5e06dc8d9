import { randomUUID } from 'node:crypto';
import type { JobOutcome } from '../../shared/contracts/gateway.js';
import type { JobKind } from '../../shared/contracts/jobs.js';
import { AUTH_REASONS, type Reason } from '../../shared/contracts/status.js';
import type { CredentialRow } from '../store/credentials.js';
import { retryDelayMs } from './backoff.js';

/** How a result counts in the sync run it belongs to. */
export type RunCount = 'success' | 'failed' | 'unsynced';

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
  /** Work to queue at once. */
  followUp?: JobKind;
}

const addMs = (d: Date, ms: number) => new Date(d.getTime() + ms);

export function markQueued(row: CredentialRow, kind: JobKind, now: Date): void {
  row.job_state = 'queued';
  row.job_kind = kind;
  row.job_since = now;
  if (kind === 'verify') row.next_verify_at = null;
  else row.next_change_at = null;
}

export function markClaimed(row: CredentialRow, now: Date): void {
  row.job_state = 'active';
  row.job_since = now;
}

/** The credential's job is over (done, skipped or dropped). */
export function markIdle(row: CredentialRow): void {
  row.job_state = 'idle';
  row.job_kind = null;
  row.job_since = null;
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

/** A verification (or the check before a change) failed. */
function failed(row: CredentialRow, reason: Reason, message: string | undefined, o: TransitionOptions): void {
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
  } else if (reason === 'unreachable' && row.attempt < o.retryLimit) {
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

function discardPending(row: CredentialRow): void {
  row.pending_secret = null;
  row.pending_id = null;
  row.pending_state = null;
}

/** The pending password is now the one that works on the target. */
function promote(row: CredentialRow, o: TransitionOptions): string {
  const retired = row.secret;
  const next = o.open(row.pending_secret!, row, 'pending_secret');
  row.secret = o.seal(next, row, 'secret');
  discardPending(row);
  row.last_changed_at = o.now;
  row.change_wanted = false;
  verified(row, o);
  return retired;
}

/**
 * Applies an agent's result to the credential (the change protocol of the brief, section 6).
 * Mutates `row`; the caller saves it and carries out the effect.
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
      discardPending(row);
      verified(row, o);
      return { count: 'failed' };
    }
    return { count: 'success', retired: promote(row, o) };
  }
  switch (result.reason) {
    case 'change_failed':
      // A definite refusal: the old password still works; a later attempt makes a fresh one.
      discardPending(row);
      row.change_wanted = false;
      failed(row, 'change_failed', result.message, o);
      return { count: 'failed' };
    case 'mismatch':
    case 'locked_or_disabled':
      if (kind === 'change') discardPending(row); // the check before the change failed: nothing was sent
      failed(row, result.reason, result.message, o);
      return { count: 'failed' };
    case 'unreachable':
      failed(row, 'unreachable', result.message, o);
      if (row.attempt > 0 && !row.suspended) {
        // Retry the same kind of work later with the same pending password (still untouched, or uncertain).
        row.next_change_at = row.next_verify_at;
        row.next_verify_at = null;
        return {};
      }
      if (row.pending_state === 'new')
        discardPending(row); // never reached the target: nothing to settle
      else row.next_change_at = addMs(o.now, row.verify_interval_s * 1000); // settle it on a later day
      return { count: 'failed' };
    default:
      // Uncertain: the target may have the new password. Keep both, let a reconcile decide.
      row.pending_state = 'uncertain';
      row.last_outcome = 'failed';
      row.last_reason = 'change_outcome_unknown';
      row.last_message = result.message ?? null;
      row.last_result_at = o.now;
      if (kind === 'reconcile') {
        failed(row, 'change_outcome_unknown', result.message, o);
        return { count: 'failed' };
      }
      return { followUp: 'reconcile' };
  }
}

/** Starts a change: stores the new password, sealed, as pending. Returns its id. */
export function beginChange(
  row: CredentialRow,
  newPassword: string,
  o: Pick<TransitionOptions, 'seal'>,
): string {
  row.pending_id = randomUUID();
  row.pending_state = 'new';
  row.pending_secret = o.seal(newPassword, row, 'pending_secret');
  return row.pending_id;
}
