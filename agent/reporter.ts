import type { ClaimedJob, ReportItem, ReportResponse } from '../shared/contracts/gateway.js';
import type { Logger } from '../shared/logger.js';
import { backoffDelay } from './backoff.js';
import type { GatewayClient } from './gateway.js';
import { hasErrorCode, isTransient } from './http.js';
import type { Outbox } from './outbox.js';

/** Items per report call (the contract allows 1,000). */
export const REPORT_BATCH = 500;
/** Deadline of a report request while running, and of the last ones at shutdown. */
export const REPORT_TIMEOUT_MS = 30_000;
export const REPORT_CLOSE_TIMEOUT_MS = 5_000;

/**
 * How a report asks for the agent's next jobs (agent.ts wires it to the slots in flight). Without
 * it, reports carry results only.
 */
export interface ReportClaims {
  /** Whether reports ask for jobs now: the coordinator allows it and the agent may claim. */
  readonly enabled: boolean;
  /** Reserves the free slots a report about to be sent asks jobs for; 0: ask for none. */
  reserve(): number;
  /**
   * The report that reserved `reserved` slots is done: `jobs` came with its answer (none when it
   * failed), its request sent at `sentAt` (performance.now()); they run, and the reservation is freed.
   */
  settle(reserved: number, jobs: ClaimedJob[], sentAt: number): void;
  /** Whether the reporter is about to ask for jobs changed (Reporter.claimsSoon). */
  changed(): void;
}

export interface ReporterOptions {
  client: Pick<GatewayClient, 'report'>;
  /** Reports of new results take the next jobs (never the outbox's retries). */
  claims?: ReportClaims;
  outbox: Outbox;
  log: Logger;
  /** Longest a result waits before it is sent with others. */
  flushMs: number;
  /** Backoff between outbox retries while the coordinator is unreachable. */
  retryBaseMs?: number;
  retryCapMs?: number;
}

/**
 * Delivers job results in batches (every `flushMs`, or at once when 500 are waiting).
 *
 * While the coordinator cannot take them (network error, 5xx, or the agent is paused/revoked),
 * results go to the outbox file and are retried with backoff, oldest first; once the outbox is
 * in use, new results queue behind it there, so nothing overtakes and nothing lives only in
 * memory longer than one failed send. `accepted` and `rejected` items are done (rejected ones are
 * logged). A refusal of the whole batch for a client error (400) drops it: resending cannot help.
 */
export class Reporter {
  private pending: ReportItem[] = [];
  /** Urgent results on their way, each on its own request (enqueue). */
  private readonly alone = new Set<Promise<void>>();
  /** In-memory mirror of the outbox file. */
  private stored: ReportItem[] = [];
  private failures = 0;
  private retryAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** Slots reserved by the report in progress (it asks for their jobs). */
  private asking = 0;
  private requestTimeoutMs = REPORT_TIMEOUT_MS;
  /** Set by close(): no batch is sent after this time (Date.now()). */
  private stopBy: number | undefined;
  private readonly retryBaseMs: number;
  private readonly retryCapMs: number;

  constructor(private readonly opts: ReporterOptions) {
    this.retryBaseMs = opts.retryBaseMs ?? 250;
    this.retryCapMs = opts.retryCapMs ?? 5_000;
  }

  /** Loads the outbox left by a previous run and starts sending it, before any new result. */
  async open(): Promise<void> {
    const { items, skipped } = await this.opts.outbox.load();
    if (skipped > 0) this.opts.log.warn({ skipped }, 'outbox: unreadable lines skipped');
    this.stored = items;
    if (items.length > 0) {
      this.opts.log.info({ items: items.length }, 'outbox: sending results of an earlier run');
      void this.kick();
    }
  }

  /**
   * True while new results wait to go out with a request for the next jobs, or such a report is in
   * progress: the claim loop leaves the free slots to it. False while the outbox is in use (its
   * retries never ask for jobs).
   */
  get claimsSoon(): boolean {
    const claims = this.opts.claims;
    if (!claims?.enabled || this.stored.length > 0) return false;
    return this.pending.length > 0 || this.asking > 0;
  }

  /** Results queued or stored, not yet delivered. */
  get backlog(): number {
    return this.pending.length + this.stored.length + this.alone.size;
  }

  /**
   * Queues a result. `urgent` (an operator's Sync now: ClaimedJob.urgent) goes out at once in a
   * request of its own, beside any batch in flight, so the operator sees it without waiting for the
   * batch; if that fails it joins the outbox like any other. While the outbox is in use it queues
   * behind it as every result does.
   */
  enqueue(item: ReportItem, urgent = false): void {
    if (urgent && this.stored.length === 0) {
      const sending = this.sendAlone(item).finally(() => this.alone.delete(sending));
      this.alone.add(sending);
      return;
    }
    this.pending.push(item);
    if (this.pending.length >= REPORT_BATCH) void this.kick();
    else this.schedule(this.opts.flushMs);
  }

  /**
   * No job is running: no result will join the ones waiting, so they go now rather than at the end
   * of `flushMs` (their jobs' slots are free, and a report asks for the next jobs).
   */
  sendNow(): void {
    if (this.pending.length > 0 && this.stored.length === 0) void this.kick();
  }

  /** The coordinator answered another call: retry the outbox now rather than at the backoff. */
  nudge(): void {
    if (this.stored.length === 0 || this.retryAt === 0) return;
    this.retryAt = 0;
    void this.kick();
  }

  /**
   * Waits for the sends in progress, then makes one last attempt; what fails stays in the outbox.
   * Bounded: no batch starts later than twice `timeoutMs` from now (each waits `timeoutMs` at most),
   * so a large outbox is not delivered whole while the agent stops (the rest goes at the next start;
   * agent.ts stopDeadlineMs counts on it).
   */
  async close(timeoutMs = REPORT_CLOSE_TIMEOUT_MS): Promise<void> {
    this.clearTimer();
    this.requestTimeoutMs = timeoutMs;
    this.stopBy = Date.now() + 2 * timeoutMs;
    this.retryAt = 0;
    await Promise.all(this.alone);
    await this.kick();
    this.clearTimer();
  }

  /** Without sending: moves every queued result into the outbox file (the agent must exit now). */
  async persist(): Promise<void> {
    this.clearTimer();
    await Promise.all(this.alone);
    await this.running;
    await this.store(this.pending.splice(0));
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.kick();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs one flush at a time; a request during a flush runs another right after. */
  private kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.flush();
        } catch (err) {
          this.opts.log.error({ err: (err as Error).message }, 'reporter: flush failed');
          this.failed();
        }
      } while (this.again);
    })().finally(() => {
      this.running = undefined;
      this.opts.claims?.changed();
    });
    return this.running;
  }

  private async flush(): Promise<void> {
    this.clearTimer();
    if (this.stored.length > 0) {
      await this.store(this.pending.splice(0));
      const wait = this.retryAt - Date.now();
      if (wait > 0) return this.schedule(wait);
      return this.deliverStored();
    }
    while (this.pending.length > 0) {
      if (this.stopping()) return this.store(this.pending.splice(0));
      const batch = this.pending.splice(0, REPORT_BATCH);
      if (!(await this.send(batch, true))) {
        await this.store([...batch, ...this.pending.splice(0)]);
        return this.failed();
      }
    }
  }

  private async deliverStored(): Promise<void> {
    let delivered = 0;
    try {
      while (delivered < this.stored.length) {
        if (this.stopping()) return; // the rest stays in the outbox for the next start
        const batch = this.stored.slice(delivered, delivered + REPORT_BATCH);
        if (!(await this.send(batch))) return this.failed();
        delivered += batch.length;
      }
      this.failures = 0;
      this.retryAt = 0;
      this.opts.log.info({ items: delivered }, 'outbox delivered');
    } finally {
      // One rewrite per attempt, not per batch: a crash in between only re-sends delivered items,
      // which the coordinator rejects as not held.
      if (delivered > 0) {
        this.stored = this.stored.slice(delivered);
        await this.opts.outbox.rewrite(this.stored);
      }
    }
  }

  /** Stopping, and no time left to start another batch. */
  private stopping(): boolean {
    return this.stopBy !== undefined && Date.now() >= this.stopBy;
  }

  private async store(items: ReportItem[]): Promise<void> {
    if (items.length === 0) return;
    await this.opts.outbox.append(items);
    this.stored.push(...items);
  }

  /** One urgent result on its own request; kept in the outbox when it is not delivered. */
  private async sendAlone(item: ReportItem): Promise<void> {
    try {
      if (await this.send([item])) return;
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message, jobId: item.jobId }, 'reporter: urgent send failed');
    }
    await this.store([item]);
    this.failed();
  }

  private failed(): void {
    this.failures++;
    const delay = backoffDelay(this.failures, this.retryBaseMs, this.retryCapMs);
    this.retryAt = Date.now() + delay;
    this.schedule(delay);
  }

  /**
   * True when the batch is done with (delivered, or refused for good). With `mayClaim` (new results,
   * not the outbox's) the report asks for as many jobs as there are free slots when it is sent; the
   * jobs of its answer run like claimed ones. An answer that never arrives or cannot be read loses
   * no job: the jobs it carried return to the queue when their locks expire (BullMQ's stalled check).
   */
  private async send(batch: ReportItem[], mayClaim = false): Promise<boolean> {
    const claims = mayClaim ? this.opts.claims : undefined;
    const max = claims?.enabled ? claims.reserve() : 0;
    if (max === 0) return this.deliver(batch, undefined);
    this.asking = max;
    const sentAt = performance.now();
    let jobs: ClaimedJob[] = [];
    try {
      return await this.deliver(batch, max, (res) => (jobs = res.jobs ?? []));
    } finally {
      this.asking = 0;
      claims!.settle(max, jobs, sentAt);
    }
  }

  /**
   * One report call. A report that asked for jobs and was refused with a client error (a coordinator
   * that does not know `claim`, behind the same address as one that does) is sent again without.
   */
  private async deliver(
    batch: ReportItem[],
    claimMax: number | undefined,
    onAnswer?: (res: ReportResponse) => void,
  ): Promise<boolean> {
    const { client, log } = this.opts;
    let res: ReportResponse;
    try {
      res = await client.report(
        { results: batch, ...(claimMax ? { claim: { max: claimMax } } : {}) },
        { timeoutMs: this.requestTimeoutMs },
      );
      onAnswer?.(res);
    } catch (err) {
      const message = (err as Error).message;
      if (
        isTransient(err) ||
        hasErrorCode(err, 'UNAUTHENTICATED', 'AGENT_DISABLED', 'AGENT_PENDING_APPROVAL')
      ) {
        log[this.failures === 0 ? 'warn' : 'debug'](
          { err: message, items: batch.length },
          'report not delivered; kept in the outbox',
        );
        return false;
      }
      if (claimMax) {
        log.warn({ err: message, items: batch.length }, 'report asking for jobs refused; sent again without');
        return this.deliver(batch, undefined);
      }
      log.error({ err: message, items: batch.length }, 'report refused; results dropped');
      return true;
    }
    for (const { jobId, code } of res.rejected) log.warn({ jobId, code }, 'report rejected');
    const answered = res.accepted.length + res.rejected.length;
    if (answered < batch.length) {
      log.warn({ items: batch.length, answered }, 'report answer does not mention every result');
    }
    return true;
  }
}
