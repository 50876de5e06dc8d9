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
 * The jobs in flight, and the slots reserved for jobs asked for and not yet come. A job counts from
 * its claim (even while it waits for its host's limiter); a claim call, or a report that asks for
 * the next jobs (reporter.ts), first reserves the slots it asks jobs for, and frees them once its
 * jobs are added: the two never ask for the same slot, and jobs never exceed the agent's concurrency
 * (but for the one job of the priority lane, priority-lane.ts, which runs beside it).
 */
export class InFlight {
  private readonly jobs = new Map<string, HeldJob>();
  private changeWaiters: (() => void)[] = [];
  private reserved = 0;

  get size(): number {
    return this.jobs.size;
  }

  /** Slots reserved by calls in progress that ask for jobs. */
  get reservedSlots(): number {
    return this.reserved;
  }

  /** Reserves up to `max` of the slots free under `limit`; returns how many (0: none free). */
  reserve(limit: number, max: number): number {
    const n = Math.max(0, Math.min(max, limit - this.jobs.size - this.reserved));
    this.reserved += n;
    return n;
  }

  /** The call that reserved `n` slots is done (its jobs added): frees the reservation. */
  unreserve(n: number): void {
    if (n <= 0) return;
    this.reserved = Math.max(0, this.reserved - n);
    this.notify();
  }

  /** Something a waiter of `waitForChange` may care about changed (the reporter's claiming state). */
  poke(): void {
    this.notify();
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

  /** Resolves once fewer than `limit` slots are taken (jobs in flight and reserved), or `signal` aborts. */
  async waitForSlot(limit: number, signal: AbortSignal): Promise<void> {
    while (this.jobs.size + this.reserved >= limit && !signal.aborted) await this.nextChange(signal);
  }

  /** Resolves at the next change (a job finished, a reservation freed, a poke), after `timeoutMs`, or on abort. */
  async waitForChange(signal: AbortSignal, timeoutMs: number): Promise<void> {
    const timeout = AbortSignal.timeout(timeoutMs);
    await this.nextChange(AbortSignal.any([signal, timeout]));
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
