import { Queue, Worker } from 'bullmq';
import type { Ctx } from '../context.js';
import { connectRedis, type RedisClient } from '../queues/connect.js';
import { WAITING_OPTIONS } from '../queues/redis.js';
import { reconcileQueues } from './reconciler.js';
import { sweepRuns } from '../runs/sweep.js';
import { expireTrials } from '../trials/store.js';
import { tick } from './tick.js';

const QUEUE = 'coordinator';

/** PostgreSQL advisory lock keys (arbitrary, fixed; the migrations use 7_340_117). */
export const TICK_LOCK = 7_340_118;
export const RECONCILE_LOCK = 7_340_119;

/**
 * Runs `work` (a tick, a reconcile) on one replica at a time across the whole deployment: under the
 * PostgreSQL advisory lock `key`, skipped at once when another replica holds it. BullMQ alone does
 * not give that: a job scheduler adds the next repeat job when the current one starts, so a long
 * tick on one replica overlapped the next ticks (and kicks) taken by the others.
 */
export async function runExclusive<T>(
  ctx: Ctx,
  key: number,
  work: () => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false }> {
  return ctx.db.exclusive(key, work);
}

/**
 * Runs the scheduler tick and the reconciler (with the run sweep: every run ends) as BullMQ job schedulers on the coordinator's own
 * queue: whichever replica's worker takes the repeat job runs it, and a PostgreSQL advisory lock
 * (runExclusive) makes it one replica at a time: a tick that finds another replica's tick still
 * running is skipped, the running one goes on while work is due. `kick()` adds a one-off tick
 * (deduplicated) so manual runs do not wait for the next period. Ticks would be safe even if they
 * overlapped (they take disjoint rows with SKIP LOCKED); the lock keeps them from competing.
 */
export class SchedulerRunner {
  private readonly queue: Queue;
  private readonly worker: Worker;
  private readonly connection: RedisClient;
  private closing = false;

  constructor(private readonly ctx: Ctx) {
    const prefix = `${ctx.config.QUEUE_PREFIX}:{${QUEUE}}`;
    // The worker waits for Redis (blocking commands); the queue (adding the schedulers, kicks) shares
    // the site queues' connection, which never keeps a command for later (queues/redis.ts).
    this.connection = connectRedis(ctx.config.redis, WAITING_OPTIONS);
    this.connection.on('error', () => undefined);
    this.queue = new Queue(QUEUE, { connection: ctx.queues.connection, prefix });
    // Errors of the shared connection, forwarded (its job scheduler's too): logged by SiteQueues. A
    // queue without a listener would print each of them to stderr.
    this.queue.on('error', () => undefined);
    this.worker = new Worker(
      QUEUE,
      async (job) => {
        if (job.name === 'reconcile') {
          const done = await runExclusive(ctx, RECONCILE_LOCK, async () => ({
            readded: await reconcileQueues(ctx),
            runs: await sweepRuns(ctx),
            // Login trials: timed out, and deleted after a day (trials/store.ts).
            trials: await expireTrials(ctx.db, new Date()),
          }));
          return done.ran ? done.value : { skipped: 'another replica reconciles' };
        }
        const done = await runExclusive(ctx, TICK_LOCK, async () => {
          // Work left when the budget ran out (a big run): go on at once rather than at the next period.
          let r = await tick(ctx);
          while (r.more && !this.closing) r = await tick(ctx);
          return r;
        });
        if (!done.ran) return { skipped: 'another replica ticks' };
        const r = done.value;
        if (r.verify + r.change + r.groups + r.stale > 0) ctx.log.debug({ ...r }, 'scheduler tick');
        return r;
      },
      {
        connection: this.connection,
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
