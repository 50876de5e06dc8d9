import type { ClaimedJob } from '../shared/contracts/gateway.js';
import type { Logger } from '../shared/logger.js';
import { backOffAfter, sleep } from './backoff.js';
import type { ClaimGate } from './claim-gate.js';
import type { GatewayClient } from './gateway.js';
import { BackgroundLoop } from './background-loop.js';

/** How often a lane the coordinator does not offer (its heartbeat) looks again. */
const OFFER_RECHECK_MS = 5_000;

/**
 * The agent's priority lane: one long-poll claim of its own (`priorityOnly`), kept open while the
 * coordinator offers it (its heartbeat's `priorityClaims`) and the gate is open, that returns as soon
 * as work ahead of routine verifications is queued for the site (an operator's Sync now, a change, a
 * reconcile). Its job runs beside the agent's `concurrency` jobs (one slot more), so an operator's
 * Sync now starts at once while a full run keeps every slot busy. Backs off as the claim loop does
 * while the coordinator is unreachable.
 */
export class PriorityLane extends BackgroundLoop {
  constructor(
    private readonly deps: {
      client: Pick<GatewayClient, 'claim'>;
      gate: ClaimGate;
      waitMs: number;
      /** The coordinator's last heartbeat answer said `priorityClaims`. */
      offered: () => boolean;
      /** `claimSentAt`: when the claim was sent (performance.now()): the job's lock lasts from then. */
      execute: (job: ClaimedJob, claimSentAt: number) => void;
      log: Logger;
    },
  ) {
    super();
  }

  protected async loop(): Promise<void> {
    const { client, gate, waitMs, offered, execute, log } = this.deps;
    const signal = this.stopper.signal;
    let failures = 0;
    while (!signal.aborted) {
      await gate.wait(signal);
      if (signal.aborted) break;
      if (!offered()) {
        await sleep(OFFER_RECHECK_MS, signal);
        continue;
      }
      try {
        const sentAt = performance.now();
        const { jobs } = await client.claim({ max: 1, waitMs, priorityOnly: true }, { signal });
        failures = 0;
        for (const job of jobs) execute(job, sentAt);
      } catch (err) {
        if (signal.aborted) break;
        if (gate.pauseOn(err)) continue;
        await backOffAfter(++failures, err, 'priority claim', log, signal);
      }
    }
  }
}
