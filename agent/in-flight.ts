import type { ClaimedJob } from '../shared/contracts/gateway.js';

/** A job this agent holds, from claim until its result is handed to the reporter. */
export interface HeldJob {
  readonly jobId: string;
  readonly token: string;
  readonly credentialId: string;
  readonly controller: AbortController;
  /** Set when the job was released or its lock lost: its result must not be reported. */
  dropped: boolean;
  /**
   * When (performance.now()) the request that last proved the lock was sent: the claim, then each
   * successful extend. The lock lasts at least lockMs from then (lock-fence.ts).
   */
  lockConfirmedAt: number;
}

/**
 * The jobs in flight. A job counts from its claim (even while it waits for its host's limiter), so
 * claims never exceed the agent's concurrency.
 */
export class InFlight {
  private readonly jobs = new Map<string, HeldJob>();
  private changeWaiters: (() => void)[] = [];

  get size(): number {
    return this.jobs.size;
  }

  /** `claimSentAt`: when the claim that handed the job out was sent (performance.now()). */
  add(job: ClaimedJob, claimSentAt = performance.now()): HeldJob {
    const held: HeldJob = {
      jobId: job.jobId,
      token: job.token,
      credentialId: job.credentialId,
      controller: new AbortController(),
      dropped: false,
      lockConfirmedAt: claimSentAt,
    };
    const previous = this.jobs.get(job.jobId);
    if (previous) {
      // Claimed again (our lock had expired unnoticed): the older run must not report.
      previous.dropped = true;
      previous.controller.abort();
    }
    this.jobs.set(job.jobId, held);
    return held;
  }

  /** Removes `held` (not a newer claim of the same job id). */
  finish(held: HeldJob): void {
    if (this.jobs.get(held.jobId) !== held) return;
    this.jobs.delete(held.jobId);
    this.notify();
  }

  /** Stops a job we no longer hold (lock lost, released): aborts it; its result will be dropped. */
  drop(jobId: string): HeldJob | undefined {
    const held = this.jobs.get(jobId);
    if (!held) return undefined;
    held.dropped = true;
    held.controller.abort();
    this.finish(held);
    return held;
  }

  /** An extend sent at `sentAt` (performance.now()) renewed this job's lock, held with `token`. */
  confirm(jobId: string, token: string, sentAt: number): void {
    const held = this.jobs.get(jobId);
    if (held && held.token === token) held.lockConfirmedAt = Math.max(held.lockConfirmedAt, sentAt);
  }

  all(): HeldJob[] {
    return [...this.jobs.values()];
  }

  /** Resolves once fewer than `limit` jobs are in flight, or `signal` aborts. */
  async waitForSlot(limit: number, signal: AbortSignal): Promise<void> {
    while (this.jobs.size >= limit && !signal.aborted) await this.nextChange(signal);
  }

  /** Resolves true once no job is in flight, false when `signal` aborts first. */
  async waitForEmpty(signal: AbortSignal): Promise<boolean> {
    while (this.jobs.size > 0 && !signal.aborted) await this.nextChange(signal);
    return this.jobs.size === 0;
  }

  private nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.changeWaiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private notify(): void {
    const waiters = this.changeWaiters;
    this.changeWaiters = [];
    for (const wake of waiters) wake();
  }
}
