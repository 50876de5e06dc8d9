import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context.js';
import { deliverDue } from './deliver.js';
import { dispatchEvents, sendDigest, watch } from './dispatch.js';

/** PostgreSQL advisory lock of the watch and dispatch (scheduler/runner.ts holds the others). */
export const ALERTS_LOCK = 7_340_120;

/**
 * Alerting on this replica, every ALERT_EVERY_MS: the watch (agents gone quiet, runs overdue) and
 * the dispatch (events into alerts and deliveries, the digest) on one replica at a time across the
 * deployment (the advisory lock, as the scheduler tick); then the due deliveries, on every replica,
 * each under a lease. Needs no Redis: alerts go out while Redis is down.
 */
export class Alerting {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  /** This replica's lease token. */
  readonly token = randomUUID();

  constructor(private readonly ctx: Ctx) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.round) return;
      this.round = this.once()
        .catch((err: unknown) => this.ctx.log.warn({ err: (err as Error).message }, 'alerting round failed'))
        .finally(() => (this.round = undefined));
    }, this.ctx.config.ALERT_EVERY_MS);
    this.timer.unref();
  }

  async once(): Promise<void> {
    const now = new Date();
    await this.ctx.db.exclusive(ALERTS_LOCK, async () => {
      await watch(this.ctx, now);
      while ((await dispatchEvents(this.ctx, now)) > 0 && !this.ctx.shutdown.aborted);
      await sendDigest(this.ctx, now);
    });
    while ((await deliverDue(this.ctx, this.token)) > 0 && !this.ctx.shutdown.aborted);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.round;
  }
}
