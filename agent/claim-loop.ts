import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ClaimedJob } from '../shared/contracts/gateway.js';
import type { Logger } from '../shared/logger.js';
import { backOffAfter } from './backoff.js';
import type { ClaimGate } from './claim-gate.js';
import type { GatewayClient } from './gateway.js';
import type { InFlight } from './in-flight.js';
import { BackgroundLoop } from './background-loop.js';

/** The most jobs one claim may ask for (contract). */
export const MAX_CLAIM = 500;

/** How often a claim loop that leaves the free slots to the reports looks again without a change. */
const DEFER_RECHECK_MS = 1_000;

/**
 * Claims as many jobs as there are free slots (reserved in `inFlight` for the call), long-polling
 * while the queue is empty. Waits while all slots are busy or the gate is closed, and while
 * `deferToReports` says a report about to be sent will ask for the free slots' jobs itself (the
 * loop then claims only what the reports left free: an idle agent still long-polls); backs off
 * (250 ms doubling to 5 s, jittered) while the coordinator is unreachable.
 */
export class ClaimLoop extends BackgroundLoop {
  constructor(
    private readonly deps: {
      client: GatewayClient;
      gate: ClaimGate;
      inFlight: InFlight;
      concurrency: number;
      waitMs: number;
      /** `claimSentAt`: when the claim was sent (performance.now()): the job's lock lasts from then. */
      execute: (job: ClaimedJob, claimSentAt: number) => void;
      /** True while results wait to go out with a request for the next jobs (Reporter.claimsSoon). */
      deferToReports?: () => boolean;
      log: Logger;
    },
  ) {
    super();
  }

  protected async loop(): Promise<void> {
    const { client, gate, inFlight, concurrency, waitMs, execute, deferToReports, log } = this.deps;
    const signal = this.stopper.signal;
    let failures = 0;
    while (!signal.aborted) {
      await gate.wait(signal);
      if (signal.aborted) break;
      if (deferToReports?.()) {
        await inFlight.waitForChange(signal, DEFER_RECHECK_MS);
        continue;
      }
      const max = inFlight.reserve(concurrency, MAX_CLAIM);
      if (max <= 0) {
        await inFlight.waitForSlot(concurrency, signal);
        // Let the other jobs finishing in this turn free their slots too: fewer, larger claims.
        await nextTurn();
        continue;
      }
      try {
        const sentAt = performance.now();
        const { jobs } = await client.claim({ max, waitMs }, { signal });
        if (failures > 0) log.info({ failures }, 'claiming works again');
        failures = 0;
        for (const job of jobs) execute(job, sentAt);
        inFlight.unreserve(max);
      } catch (err) {
        inFlight.unreserve(max);
        if (signal.aborted) break;
        if (gate.pauseOn(err)) continue;
        await backOffAfter(++failures, err, 'claim', log, signal);
      }
    }
  }
}
