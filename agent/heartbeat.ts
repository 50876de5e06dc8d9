import type { HeartbeatResponse } from '../shared/contracts/gateway.js';
import type { Logger } from '../shared/logger.js';
import { backoffDelay, sleep } from './backoff.js';
import type { ClaimGate } from './claim-gate.js';
import type { GatewayClient } from './gateway.js';
import { BackgroundLoop } from './background-loop.js';

/** Intervals the coordinator dictates; these apply until its first answer. */
export interface Timings {
  heartbeatEveryMs: number;
  extendEveryMs: number;
  /** How long a job's lock lasts without an extension. */
  lockMs: number;
}

const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v));

/**
 * Tells the coordinator the agent is alive every `heartbeatEveryMs`, with its load. The answer
 * opens or pauses the claim gate and sets the intervals. Until the first success it retries with
 * backoff, so an agent started before its coordinator comes up quickly.
 */
export class Heartbeat extends BackgroundLoop {
  readonly timings: Timings = { heartbeatEveryMs: 15_000, extendEveryMs: 10_000, lockMs: 30_000 };
  private succeeded = false;
  private failures = 0;
  private versionStatus: string | undefined;
  /**
   * Whether the coordinator's last answer said a report may ask for the next jobs (`reportMayClaim`;
   * older coordinators never say so, and their agents claim only through the claim call).
   */
  reportMayClaim = false;
  /** Whether the coordinator's last answer offered the priority lane (`priorityClaims`). */
  priorityClaims = false;

  constructor(
    private readonly deps: {
      client: GatewayClient;
      gate: ClaimGate;
      inFlight: () => number;
      version: string;
      concurrency: number;
      log: Logger;
      /** Called after every successful heartbeat. */
      onBeat: (res: HeartbeatResponse, first: boolean) => void;
    },
  ) {
    super();
  }

  protected async loop(): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      await this.beat(signal);
      const wait =
        this.succeeded || this.failures === 0 ? this.timings.heartbeatEveryMs : backoffDelay(this.failures);
      await sleep(wait, signal);
    }
  }

  private async beat(signal: AbortSignal): Promise<void> {
    const { client, gate, inFlight, version, concurrency, log, onBeat } = this.deps;
    try {
      const res = await client.heartbeat(
        { inFlight: inFlight(), version, concurrency },
        { signal, timeoutMs: 10_000 },
      );
      if (this.failures > 0) log.info({ failures: this.failures }, 'heartbeat works again');
      this.failures = 0;
      this.timings.heartbeatEveryMs = clamp(res.heartbeatEveryMs, 100, 300_000);
      this.timings.extendEveryMs = clamp(res.extendEveryMs, 100, 300_000);
      this.timings.lockMs = clamp(res.lockMs, 200, 600_000);
      this.reportMayClaim = res.reportMayClaim === true;
      this.priorityClaims = res.priorityClaims === true;
      const versionStatus = res.agentVersion?.status;
      if (res.state !== 'active')
        gate.pause(res.state === 'disabled' ? 'AGENT_DISABLED' : 'AGENT_PENDING_APPROVAL');
      else if (versionStatus === 'unsupported')
        gate.pause('AGENT_VERSION_UNSUPPORTED', res.agentVersion?.message);
      else gate.open();
      if (versionStatus === 'update_available' && this.versionStatus !== versionStatus) {
        log.info(
          { version, latest: res.agentVersion?.supported.latest },
          'a newer agent version is available (this one stays supported)',
        );
      }
      this.versionStatus = versionStatus;
      const first = !this.succeeded;
      this.succeeded = true;
      onBeat(res, first);
    } catch (err) {
      if (signal.aborted || gate.pauseOn(err)) return;
      this.failures++;
      const level = this.failures === 1 ? 'warn' : 'debug';
      log[level]({ err: (err as Error).message, failures: this.failures }, 'heartbeat failed');
    }
  }
}
