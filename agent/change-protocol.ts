import type { JobOutcome } from '../shared/contracts/gateway.js';
import { AUTH_REASONS } from '../shared/contracts/status.js';
import type { Attempt } from './adapters/types.js';

/** The two adapter primitives, bound to one job's target and account. */
export interface Primitives {
  verify(password: string): Promise<Attempt>;
  change(currentPassword: string, newPassword: string): Promise<Attempt>;
  /**
   * Asked just before the change is sent: false once the job was aborted (lock lost, shutdown) or
   * its lock cannot be confirmed as held recently (lock-fence.ts). Nothing is sent then.
   */
  mayStartChange(): Promise<boolean>;
  /**
   * Asked once the current password is known to work, before anything is sent: why the change must
   * not start (a dependency cannot be reached or written: docs/adapters/dependencies.md), if it must not.
   */
  precheck?(): Promise<string | undefined>;
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
 * change (docs/change-protocol.md): idempotent, and never attempted on an account whose current password does
 * not work. Any doubt whether the target took the new password ends `change_outcome_unknown`, so
 * the coordinator keeps both passwords and reconciles; every other failure says this attempt sent
 * nothing (the coordinator relies on it: coordinator/credentials/transitions.ts).
 */
export interface ChangeOptions {
  /**
   * True when an earlier holder of this job (one that lost its lock, perhaps still running) may
   * have set the pending password, or may still set it while this attempt runs. False on a first
   * attempt: the "already changed?" login is skipped, one failed login fewer.
   */
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
  const mayBeSet = opts.pendingMayBeSet;
  /** After a failure (not a network one): did an earlier holder set the pending password meanwhile? */
  const setMeanwhile = async (f: Failure): Promise<boolean> =>
    mayBeSet && f.reason !== 'unreachable' && (await p.verify(pending)).ok;
  // 1. Already changed (a previous attempt whose report was lost)?
  if (mayBeSet) {
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
  if (!works.ok && !resettable) {
    if (await setMeanwhile(works)) return OK_PENDING;
    return fromFailure(works);
  }
  const blocked = await p.precheck?.();
  if (blocked !== undefined) {
    return {
      outcome: 'failed',
      reason: 'change_failed',
      message: blocked,
      detailCode: 'dependency_unreachable',
    };
  }
  if (!(await p.mayStartChange())) {
    return failed('unreachable', 'the job lock could not be confirmed as held: the change was not sent');
  }
  // 3. Change.
  const change = await p.change(current, pending);
  if (!change.ok) {
    if (await setMeanwhile(change)) return OK_PENDING;
    if (change.definite !== true) return failed('change_outcome_unknown', change.message);
    if (mayBeSet && AUTH_REASONS.has(change.reason)) {
      // The current password stopped working between the check and the change: an earlier holder
      // may have set the pending one just now (it did not log in a moment ago, but may soon).
      return failed(
        'change_outcome_unknown',
        `the current password stopped working during the change: ${change.message ?? change.reason}`,
      );
    }
    // A definite failure keeps its own reason (change_failed: the target refused the new password).
    return fromFailure(change);
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
  // Neither logged in. Only a refusal of the pending password says it is not set; after any other
  // failure of its check (an error, a page that no longer matches) that is still open.
  return fromFailure(AUTH_REASONS.has(pendingWorks.reason) ? currentWorks : pendingWorks);
}
