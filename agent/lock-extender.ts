import type { Logger } from '../shared/logger.js';
import { sleep } from './backoff.js';
import type { ClaimGate } from './claim-gate.js';
import type { GatewayClient } from './gateway.js';
import type { HeldJob, InFlight } from './in-flight.js';
import { BackgroundLoop } from './background-loop.js';

/** The most jobs one extend call may carry (contract). */
const MAX_EXTEND = 1000;

/**
 * Extends the locks of all jobs in flight in one call (chunks of 1,000) every `extendEveryMs`.
 * A job the coordinator reports `lost` is no longer ours: it is aborted and its result dropped.
 */
export class LockExtender extends BackgroundLoop {
  constructor(
    private readonly deps: {
      client: GatewayClient;
      inFlight: InFlight;
      gate: ClaimGate;
      everyMs: () => number;
      log: Logger;
    },
  ) {
    super();
  }

  protected async loop(): Promise<void> {
    const signal = this.stopper.signal;
    let last = Date.now();
    while (!signal.aborted) {
      // Short naps: a new interval from the coordinator applies without waiting out the old one.
      const due = last + this.deps.everyMs() - Date.now();
      if (due > 0) {
        await sleep(Math.min(due, 1_000), signal);
        continue;
      }
      last = Date.now();
      await this.extendAll(signal);
    }
  }

  async extendAll(signal?: AbortSignal): Promise<void> {
    const held = this.deps.inFlight.all().map(({ jobId, token }) => ({ jobId, token }));
    for (let i = 0; i < held.length; i += MAX_EXTEND) {
      await this.extend(held.slice(i, i + MAX_EXTEND), 10_000, signal);
    }
  }

  /** Extends one job's lock now (the lock fence asks before a change is sent when the last proof is old). */
  async confirm(job: HeldJob, timeoutMs: number): Promise<void> {
    if (job.dropped) return;
    await this.extend([{ jobId: job.jobId, token: job.token }], timeoutMs, this.stopper.signal);
  }

  /**
   * One extend call. Jobs `extended` count as confirmed from the moment the call was sent; a job the
   * coordinator reports `lost` is no longer ours: aborted, its result dropped. A failed call
   * confirms nothing (the lock fence then keeps changes from being sent).
   */
  private async extend(
    jobs: { jobId: string; token: string }[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const { client, inFlight, gate, log } = this.deps;
    const sentAt = performance.now();
    try {
      const res = await client.extend({ jobs }, { ...(signal ? { signal } : {}), timeoutMs });
      const tokens = new Map(jobs.map((j) => [j.jobId, j.token]));
      for (const jobId of res.extended) {
        const token = tokens.get(jobId);
        if (token !== undefined) inFlight.confirm(jobId, token, sentAt);
      }
      for (const jobId of res.lost) {
        const dropped = inFlight.drop(jobId);
        if (dropped) log.warn({ jobId, credentialId: dropped.credentialId }, 'job lock lost: job aborted');
      }
    } catch (err) {
      if (signal?.aborted) return;
      gate.pauseOn(err);
      log.warn({ err: (err as Error).message, jobs: jobs.length }, 'extending job locks failed');
    }
  }
}
