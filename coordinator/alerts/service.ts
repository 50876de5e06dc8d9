import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context.js';
import { deliverDue } from './deliver.js';
import { dispatchEvents, sendDigest, watch } from './dispatch.js';
import { pruneEvents } from './store.js';

/** How often a replica prunes old events, and how many one statement deletes. */
const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH = 5_000;

/** PostgreSQL advisory lock of the watch and dispatch (scheduler/runner.ts holds the others). */
export const ALERTS_LOCK = 7_340_120;

/**
 * Alerting on this replica, every ALERT_EVERY_MS: the watch (agents gone quiet, runs overdue) and
 * the dispatch (events into alerts and deliveries, the digest) on one replica at a time across the
 * deployment (the advisory lock, as the scheduler tick); then the due deliveries, on every replica,
 * each under a lease. Once a minute, the events past ALERT_EVENT_RETENTION_MS. Needs no Redis: alerts go out while Redis is down.
 */
export class Alerting {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private prunedAt = 0;
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
      if (now.getTime() - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prunedAt = now.getTime();
        await this.prune(now);
      }
    });
    while ((await deliverDue(this.ctx, this.token)) > 0 && !this.ctx.shutdown.aborted);
  }

  /** Events older than ALERT_EVENT_RETENTION_MS that are done with (store.ts pruneEvents). */
  async prune(now: Date): Promise<number> {
    const before = new Date(now.getTime() - this.ctx.config.ALERT_EVENT_RETENTION_MS);
    let total = 0;
    for (;;) {
      const n = await pruneEvents(this.ctx.db, before, PRUNE_BATCH);
      total += n;
      if (n < PRUNE_BATCH || this.ctx.shutdown.aborted) break;
    }
    if (total > 0) this.ctx.log.info({ events: total }, 'old events pruned');
    return total;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.round;
  }
}
