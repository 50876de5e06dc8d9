import type { HeldJob } from './in-flight.js';

export interface LockFenceDeps {
  /** How long a lock lasts without an extension (the coordinator's JOB_LOCK_MS, from the heartbeat). */
  lockMs: () => number;
  /** Extends this job's lock now; on success it updates `lockConfirmedAt`, on `lost` it drops the job. */
  confirm: (job: HeldJob, timeoutMs: number) => Promise<void>;
  now?: () => number;
}

/**
 * The agent fences itself: a change is sent only while the job's lock was proven held within the
 * last half lock (by the claim or an extend). Once Redis has lost the job, or the agent is cut off
 * from the coordinator, no extend succeeds, so no change starts later than half a lock after the
 * last proof; the coordinator gives the job to someone else (stalled check) or re-creates it (the
 * reconciler) only after a whole lock. When the last proof is older (a long claim poll, a wait for
 * the host's limiter, a slow check), the lock is extended once more before saying no.
 */
export function lockFence(job: HeldJob, deps: LockFenceDeps): () => Promise<boolean> {
  const now = deps.now ?? (() => performance.now());
  const fresh = () => !job.dropped && now() - job.lockConfirmedAt < deps.lockMs() / 2;
  return async () => {
    if (fresh()) return true;
    if (job.dropped) return false;
    await deps.confirm(job, Math.max(1_000, Math.floor(deps.lockMs() / 4)));
    return fresh();
  };
}
