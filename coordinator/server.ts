import type { DestinationStream } from 'pino';
import { parseJobId, parseTrialJobId } from '../shared/contracts/jobs.js';
import { SecretBox } from '../shared/crypto.js';
import { createLogger } from '../shared/logger.js';
import { VERSION } from '../shared/version.js';
import { Alerting } from './alerts/service.js';
import { buildApp } from './app.js';
import type { CoordinatorConfig } from './config.js';
import type { Ctx } from './context.js';
import { SealPool } from './credentials/seal-pool.js';
import { createMetrics } from './metrics.js';
import { connectRedis } from './queues/connect.js';
import { readyWithin, REQUEST_PATH_OPTIONS, WAITING_OPTIONS } from './queues/redis.js';
import { SiteQueues } from './queues/site-queues.js';
import { Wake } from './queues/wake.js';
import { ScheduleCounts } from './runs/schedule-counts.js';
import { SchedulerRunner } from './scheduler/runner.js';
import { connectDb, isDatabaseUnavailable } from './store/db.js';
import { migrate } from './store/migrations.js';
import { siteIds } from './store/sites.js';
import { queueRunVerifications } from './queues/run-verifications.js';

export interface Coordinator {
  ctx: Ctx;
  url: string;
  close: () => Promise<void>;
}

/** Starts a coordinator: migrations, queues, scheduler, HTTP; logs to stdout unless told where. */
export async function startCoordinator(
  config: CoordinatorConfig,
  options: { logDestination?: DestinationStream } = {},
): Promise<Coordinator> {
  const log = createLogger('sync-coordinator', config.LOG_LEVEL, {}, options.logDestination);
  const db = await connectDb(config);
  // A start that fails on a setting names it (DATABASE_URL, HOST / PORT below).
  const applied = await migrate(db).catch((err: unknown) => {
    throw isDatabaseUnavailable(err)
      ? new Error(`DATABASE_URL: cannot connect to PostgreSQL (${(err as Error).message})`, { cause: err })
      : err;
  });
  if (applied.length > 0) log.info({ applied }, 'database migrated');
  // Publishing a wake-up serves requests (never waits for Redis); the subscriber waits for it and
  // subscribes again by itself when it is back.
  const publisher = connectRedis(config.redis, REQUEST_PATH_OPTIONS);
  const subscriber = connectRedis(config.redis, WAITING_OPTIONS);
  for (const r of [publisher, subscriber])
    r.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const wake = new Wake(publisher, subscriber, config.QUEUE_PREFIX, log);
  await wake.start();
  const metrics = createMetrics();
  const queues = new SiteQueues({
    connect: (options) => connectRedis(config.redis, options),
    prefix: config.QUEUE_PREFIX,
    lockMs: config.JOB_LOCK_MS,
    stalledCheckMs: config.STALLED_CHECK_MS,
    requestTimeoutMs: config.REDIS_REQUEST_TIMEOUT_MS,
    log,
    wake,
    onStalled: (siteId, jobId) =>
      metrics.jobsStalled.inc({
        site: siteId,
        kind: parseJobId(jobId)?.kind ?? (parseTrialJobId(jobId) ? 'trial' : 'unknown'),
      }),
    onEnqueued: (siteId, jobs) => {
      for (const j of jobs) metrics.jobsEnqueued.inc({ site: siteId, kind: j.kind });
    },
  });
  let scheduler: SchedulerRunner | undefined;
  let alerting: Alerting | undefined;
  const shutdown = new AbortController();
  const ctx: Ctx = {
    config,
    db,
    box: new SecretBox(config.masterKey, config.previousMasterKeys),
    sealPool: new SealPool(config.masterKey, config.SEAL_WORKERS),
    queues,
    wake,
    log,
    metrics,
    scheduleCounts: new ScheduleCounts(db, log),
    kickScheduler: () => scheduler?.kick(),
    queueRunVerifications: (q, runId, ids, now, waitFor) =>
      queueRunVerifications(ctx, q, runId, ids, now, waitFor),
    shutdown: shutdown.signal,
  };
  // Every site's queue gets its stalled-job checker from the start, not only once an agent claims.
  for (const id of await siteIds(db)) queues.get(id);
  // Start serving once the request-path connections are up (or Redis has had 10 s: requests then get
  // the outage answers of docs/operations.md until it is back).
  const ready = await Promise.all([queues.connection, publisher].map((r) => readyWithin(r, 10_000)));
  if (!ready.every(Boolean)) log.warn('Redis is not answering yet: starting anyway, in outage mode');
  ctx.scheduleCounts.start();
  if (config.RUN_SCHEDULER) {
    scheduler = new SchedulerRunner(ctx);
    await scheduler.start();
    alerting = new Alerting(ctx);
    alerting.start();
  }
  const { app } = buildApp(ctx);
  await app.listen({ port: config.PORT, host: config.HOST }).catch((err: unknown) => {
    throw new Error(
      `HOST, PORT: cannot listen on ${config.HOST}:${config.PORT} (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = `${config.tls ? 'https' : 'http'}://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${port}`;
  log.info({ url, version: VERSION, database: db.kind }, 'coordinator listening');
  return {
    ctx,
    url,
    close: async () => {
      // Waiting claims answer at once (no jobs), so app.close() only waits for requests doing work;
      // their agents come back to another replica, or to this one restarted.
      shutdown.abort();
      await app.close();
      await ctx.sealPool.close();
      await scheduler?.close();
      await alerting?.close();
      await ctx.scheduleCounts.close();
      await queues.close();
      await wake.close();
      await publisher.quit().catch(() => undefined);
      await db.close();
    },
  };
}
