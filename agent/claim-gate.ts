import type { Logger } from '../shared/logger.js';
import { hasErrorCode } from './http.js';

/** Gateway codes that mean "no work for you now": keep heartbeating, stop claiming. */
export const PAUSE_CODES = ['AGENT_DISABLED', 'AGENT_PENDING_APPROVAL', 'AGENT_VERSION_UNSUPPORTED'] as const;
export type PauseCode = (typeof PAUSE_CODES)[number];

const PAUSE_TEXT: Record<PauseCode, string> = {
  AGENT_DISABLED: 'agent disabled by the coordinator: claiming paused',
  AGENT_PENDING_APPROVAL: 'agent waits for approval: claiming paused',
  AGENT_VERSION_UNSUPPORTED:
    "the coordinator does not support this agent's version: claiming paused until the agent is " +
    'upgraded (or the coordinator widens AGENT_MIN_VERSION / AGENT_MAX_VERSION); no job is taken or failed',
};

/**
 * Whether the agent may claim. Closed until the first heartbeat says `active`; paused by a heartbeat
 * whose state is `disabled` or `pending` or whose version status is `unsupported`, or by a 403
 * AGENT_DISABLED / AGENT_PENDING_APPROVAL / AGENT_VERSION_UNSUPPORTED from any other call (logged
 * once per pause, not per beat, with the coordinator's reason); reopened only by a heartbeat that
 * succeeds with state `active` and a supported version.
 */
export class ClaimGate {
  private state: 'starting' | 'open' | PauseCode = 'starting';
  private waiters: (() => void)[] = [];

  constructor(private readonly log: Logger) {}

  get isOpen(): boolean {
    return this.state === 'open';
  }

  open(): void {
    if (this.state === 'open') return;
    if (this.state !== 'starting') this.log.info({ was: this.state }, 'claiming resumed');
    this.state = 'open';
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** `reason`: the coordinator's words, logged with the pause. */
  pause(code: PauseCode, reason?: string): void {
    if (this.state === code) return;
    this.state = code;
    this.log.warn({ code, ...(reason === undefined ? {} : { reason }) }, PAUSE_TEXT[code]);
  }

  /** Pauses when `err` is a 403 of PAUSE_CODES; tells whether it did. */
  pauseOn(err: unknown): boolean {
    if (!hasErrorCode(err, ...PAUSE_CODES)) return false;
    this.pause(err.code as PauseCode, err.message);
    return true;
  }

  /** Resolves when the gate is open or `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    if (this.isOpen || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
