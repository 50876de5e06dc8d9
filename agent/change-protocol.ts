import type { JobOutcome } from '../shared/contracts/gateway.js';
import type { Attempt } from './adapters/types.js';

/** The two adapter primitives, bound to one job's target and account. */
export interface Primitives {
  verify(password: string): Promise<Attempt>;
  change(currentPassword: string, newPassword: string): Promise<Attempt>;
  /** True once the job was aborted (lock lost, shutdown). */
  aborted(): boolean;
}

type Failure = Extract<Attempt, { ok: false }>;

const failed = (
  reason: Extract<JobOutcome, { outcome: 'failed' }>['reason'],
  message?: string,
): JobOutcome =>
  message === undefined ? { outcome: 'failed', reason } : { outcome: 'failed', reason, message };

const fromFailure = (a: Failure): JobOutcome => failed(a.reason, a.message);

const OK_PENDING: JobOutcome = { outcome: 'ok', works: 'pending' };

/** verify: does the stored password work? */
export async function runVerify(p: Primitives, password: string): Promise<JobOutcome> {
  const attempt = await p.verify(password);
  return attempt.ok ? { outcome: 'ok' } : fromFailure(attempt);
}

/**
 * change (design §6): idempotent, and never attempted on an account whose current password does
 * not work. Any doubt whether the target took the new password ends `change_outcome_unknown`, so
 * the coordinator keeps both passwords and reconciles.
 */
export interface ChangeOptions {
  /** False when the pending password was never tried before (skip step 1: one failed login fewer). */
  pendingMayBeSet: boolean;
  /** A privileged account can reset the password even when the current one no longer works. */
  canReset: boolean;
}

export async function runChange(
  p: Primitives,
  current: string,
  pending: string,
  opts: ChangeOptions = { pendingMayBeSet: true, canReset: false },
): Promise<JobOutcome> {
  // 1. Already changed (a previous attempt whose report was lost)?
  if (opts.pendingMayBeSet) {
    const already = await p.verify(pending);
    if (already.ok) return OK_PENDING;
    // The target was not reached: checking the current password would only wait for the same timeout.
    if (already.reason === 'unreachable') return fromFailure(already);
  }
  // 2. The current password must still work: no change on an account that is out of sync, unless a
  //    privileged account resets it (a wrong or locked current password is then no obstacle).
  const works = await p.verify(current);
  const resettable =
    opts.canReset && !works.ok && (works.reason === 'mismatch' || works.reason === 'locked_or_disabled');
  if (!works.ok && !resettable) return fromFailure(works);
  if (p.aborted()) return failed('unreachable', 'job aborted before the change was sent');
  // 3. Change.
  const change = await p.change(current, pending);
  if (!change.ok) {
    if (change.definite !== true) return failed('change_outcome_unknown', change.message);
    if (change.reason === 'unreachable') return fromFailure(change);
    return failed('change_failed', change.message);
  }
  // 4. Prove the new password works.
  const proof = await p.verify(pending);
  if (proof.ok) return OK_PENDING;
  return failed('change_outcome_unknown', proof.message ?? `new password not confirmed: ${proof.reason}`);
}

/** reconcile: after an uncertain change, find which of pending and current works. */
export async function runReconcile(p: Primitives, current: string, pending: string): Promise<JobOutcome> {
  const pendingWorks = await p.verify(pending);
  if (pendingWorks.ok) return OK_PENDING;
  if (pendingWorks.reason === 'unreachable') return fromFailure(pendingWorks);
  const currentWorks = await p.verify(current);
  if (currentWorks.ok) return { outcome: 'ok', works: 'current' };
  return fromFailure(currentWorks);
}
