import type { ClaimedJob } from '../shared/contracts/gateway.js';
import type { Logger } from '../shared/logger.js';
import type { ClaimGate } from './claim-gate.js';
import { MAX_CLAIM } from './claim-loop.js';
import type { InFlight } from './in-flight.js';
import type { ReportClaims } from './reporter.js';

/**
 * The slots a report asks jobs for (reporter.ts): as many as are free when it is sent (reserved in
 * `inFlight` like a claim's), while the gate is open, the coordinator allows it (its heartbeat) and
 * the agent is not stopping. The jobs of the answer run like claimed ones; jobs that come while the
 * agent stops are handed back at once.
 */
export class SlotClaims implements ReportClaims {
  constructor(
    private readonly deps: {
      inFlight: InFlight;
      gate: ClaimGate;
      concurrency: number;
      /** The coordinator's last heartbeat answer said `reportMayClaim`. */
      allowed: () => boolean;
      /** The agent is stopping (or stopped): no new jobs. */
      stopping: () => boolean;
      /** `sentAt`: when the report was sent (performance.now()): the job's lock lasts from then. */
      execute: (job: ClaimedJob, sentAt: number) => void;
      /** Hands jobs back to the queue (best effort: else their locks expire and they return). */
      release: (jobs: ClaimedJob[]) => Promise<void>;
      log: Logger;
    },
  ) {}

  get enabled(): boolean {
    return this.deps.gate.isOpen && this.deps.allowed() && !this.deps.stopping();
  }

  reserve(): number {
    return this.enabled ? this.deps.inFlight.reserve(this.deps.concurrency, MAX_CLAIM) : 0;
  }

  settle(reserved: number, jobs: ClaimedJob[], sentAt: number): void {
    const { inFlight, stopping, execute, release, log } = this.deps;
    if (jobs.length > 0 && stopping()) {
      log.info({ jobs: jobs.length }, 'jobs that came with a report while stopping: handed back');
      void release(jobs).catch(() => undefined);
    } else {
      for (const job of jobs) execute(job, sentAt);
    }
    inFlight.unreserve(reserved);
  }

  changed(): void {
    this.deps.inFlight.poke();
  }
}
