import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Ctx } from '../context.js';
import { reconcileQueues } from './reconciler.js';
import { tick } from './tick.js';

const QUEUE = 'coordinator';

/**
 * Runs the scheduler tick and the reconciler as BullMQ job schedulers on the coordinator's own
 * queue: whichever replica's worker takes the repeat job runs it, one at a time. `kick()` adds a
 * one-off tick (deduplicated) so manual runs do not wait for the next period. Concurrent ticks are
 * safe anyway: they take disjoint rows (SKIP LOCKED).
 */
export class SchedulerRunner {
  private readonly queue: Queue;
  private readonly worker: Worker;
  private readonly connection: Redis;
  private closing = false;

  constructor(private readonly ctx: Ctx) {
    const prefix = `${ctx.config.QUEUE_PREFIX}:{${QUEUE}}`;
    this.connection = new Redis(ctx.config.REDIS_URL, { maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined);
    this.queue = new Queue(QUEUE, { connection: ctx.queues.connection, prefix });
    this.worker = new Worker(
      QUEUE,
      async (job) => {
        if (job.name === 'reconcile') return { readded: await reconcileQueues(ctx) };
        // Work left when the budget ran out (a big run): go on at once rather than at the next period.
        let r = await tick(ctx);
        while (r.more && !this.closing) r = await tick(ctx);
        if (r.verify + r.change + r.stale > 0) ctx.log.debug({ ...r }, 'scheduler tick');
        return r;
      },
      {
        connection: this.connection as ConnectionOptions,
        prefix,
        concurrency: 1,
        autorun: false,
        removeOnComplete: { count: 10 },
        removeOnFail: { count: 50 },
      },
    );
    this.worker.on('failed', (job, err) => ctx.log.error({ err, job: job?.name }, 'scheduler job failed'));
    this.worker.on('error', (err) => ctx.log.warn({ err: err.message }, 'scheduler worker error'));
  }

  private guard: NodeJS.Timeout | undefined;

  async start(): Promise<void> {
    await this.ensureSchedulers();
    // Redis holds the schedulers too: after a wipe or a restart without persistence they are gone,
    // and with them every tick and reconcile. Each replica puts them back when they are missing.
    this.guard = setInterval(
      () => {
        this.ensureSchedulers(true).catch((err: unknown) =>
          this.ctx.log.warn({ err: (err as Error).message }, 'scheduler check failed'),
        );
      },
      Math.min(this.ctx.config.RECONCILE_EVERY_MS, 5000),
    );
    this.guard.unref();
    void this.worker.run().catch((err: unknown) => this.ctx.log.error({ err }, 'scheduler worker stopped'));
  }

  private async ensureSchedulers(onlyMissing = false): Promise<void> {
    if (onlyMissing) {
      const [tick, reconcile] = await Promise.all([
        this.queue.getJobScheduler('tick'),
        this.queue.getJobScheduler('reconcile'),
      ]);
      if (tick && reconcile) return;
      this.ctx.log.warn('scheduler jobs missing from Redis (wiped or restarted): adding them again');
    }
    const every = this.ctx.config.SCHEDULER_TICK_MS;
    await this.queue.upsertJobScheduler(
      'tick',
      { every },
      { name: 'tick', opts: { removeOnComplete: 10, removeOnFail: 50 } },
    );
    await this.queue.upsertJobScheduler(
      'reconcile',
      { every: this.ctx.config.RECONCILE_EVERY_MS },
      { name: 'reconcile', opts: { removeOnComplete: 10, removeOnFail: 50 } },
    );
  }

  kick(): void {
    this.queue
      .add('tick', {}, { jobId: 'kick', removeOnComplete: true, removeOnFail: true })
      .catch((err: unknown) => this.ctx.log.warn({ err }, 'scheduler kick failed'));
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.guard);
    await this.worker.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.connection.quit().catch(() => undefined);
  }
}
