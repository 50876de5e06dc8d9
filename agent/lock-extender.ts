import type { Logger } from '../shared/logger.js';
import { sleep } from './backoff.js';
import type { ClaimGate } from './claim-gate.js';
import type { GatewayClient } from './gateway.js';
import type { InFlight } from './in-flight.js';

/** The most jobs one extend call may carry (contract). */
const MAX_EXTEND = 1000;

/**
 * Extends the locks of all jobs in flight in one call (chunks of 1,000) every `extendEveryMs`.
 * A job the coordinator reports `lost` is no longer ours: it is aborted and its result dropped.
 */
export class LockExtender {
  private readonly stopper = new AbortController();
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      client: GatewayClient;
      inFlight: InFlight;
      gate: ClaimGate;
      everyMs: () => number;
      log: Logger;
    },
  ) {}

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.done;
  }

  private async loop(): Promise<void> {
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
    const { client, inFlight, gate, log } = this.deps;
    const held = inFlight.all().map(({ jobId, token }) => ({ jobId, token }));
    for (let i = 0; i < held.length; i += MAX_EXTEND) {
      const jobs = held.slice(i, i + MAX_EXTEND);
      try {
        const res = await client.extend({ jobs }, { ...(signal ? { signal } : {}), timeoutMs: 10_000 });
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
}
