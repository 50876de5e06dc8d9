import { setTimeout as delay } from 'node:timers/promises';
import { Job, Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import {
  JOB_PRIORITY,
  jobIdFor,
  siteQueueName,
  siteQueuePrefix,
  type JobData,
  type JobKind,
} from '../../shared/contracts/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { Wake } from './wake.js';

/** How long close() lets a new site's connections finish their set-up. */
const CLOSE_SETTLE_MS = 2_000;

/** The most takes sent to Redis at once by one claim. */
const MAX_WAVE = 128;

export interface NewJob {
  kind: JobKind;
  credentialId: string;
  changeId?: string;
  delayMs?: number;
}

interface SiteQueue {
  queue: Queue<JobData>;
  workerConnection: Redis;
  /** Manual processing only: no processor, never started; we call getNextJob with the agent's token. */
  worker: Worker<JobData>;
}

export interface SiteQueuesOptions {
  redisUrl: string;
  prefix: string;
  lockMs: number;
  stalledCheckMs: number;
  log: Logger;
  wake: Wake;
  /** A job whose lock expired (its agent vanished or stopped extending) went back to the queue. */
  onStalled?: (siteId: string, jobId: string) => void;
}

/**
 * One BullMQ queue per site (`site-<siteId>`). Queues share one Redis connection; each site's
 * manual worker has its own (BullMQ's rule) and runs the stalled-job checker that gives the jobs of
 * vanished agents back to the queue (BullMQ locks the check, so one replica does it at a time).
 */
export class SiteQueues {
  private readonly sites = new Map<string, SiteQueue>();
  readonly connection: Redis;

  constructor(private readonly opts: SiteQueuesOptions) {
    this.connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
    this.connection.on('error', (err) => opts.log.warn({ err: err.message }, 'redis connection error'));
  }

  get(siteId: string): SiteQueue {
    let site = this.sites.get(siteId);
    if (site) return site;
    const name = siteQueueName(siteId);
    const prefix = siteQueuePrefix(this.opts.prefix, siteId);
    const queue = new Queue<JobData>(name, { connection: this.connection, prefix });
    const workerConnection = new Redis(this.opts.redisUrl, {
      maxRetriesPerRequest: null,
      enableAutoPipelining: true,
    });
    const worker = new Worker<JobData>(name, null, {
      connection: workerConnection as ConnectionOptions,
      prefix,
      autorun: false,
      lockDuration: this.opts.lockMs,
      stalledInterval: this.opts.stalledCheckMs,
      maxStalledCount: 3,
    });
    worker.on('error', (err) => this.opts.log.warn({ err: err.message, siteId }, 'site worker error'));
    // Emitted by the stalled-job checker of whichever replica ran the check (BullMQ locks it).
    worker.on('stalled', (jobId) => {
      this.opts.log.info({ siteId, jobId }, 'job lock expired: back to the queue');
      this.opts.onStalled?.(siteId, jobId);
    });
    void worker.startStalledCheckTimer().catch((err: unknown) => {
      this.opts.log.warn({ err, siteId }, 'stalled checker failed to start');
    });
    site = { queue, worker, workerConnection };
    this.sites.set(siteId, site);
    return site;
  }

  private jobOptions(kind: JobKind) {
    return { priority: JOB_PRIORITY[kind], removeOnComplete: true, removeOnFail: true };
  }

  /** Adds jobs (deduplicated by their deterministic ids) and wakes the site's waiting claims. */
  async enqueue(siteId: string, jobs: NewJob[]): Promise<void> {
    if (jobs.length === 0) return;
    const { queue } = this.get(siteId);
    await queue.addBulk(
      jobs.map((j) => ({
        name: j.kind,
        data: {
          v: 1 as const,
          credentialId: j.credentialId,
          ...(j.changeId ? { changeId: j.changeId } : {}),
        },
        opts: {
          jobId: jobIdFor(j.kind, j.credentialId),
          ...this.jobOptions(j.kind),
          ...(j.delayMs ? { delay: j.delayMs } : {}),
        },
      })),
    );
    this.opts.wake.notify(siteId);
  }

  /**
   * Takes up to `max` jobs for an agent, locked with `token`. Never blocks. Each take is one atomic
   * script call; they go out pipelined in waves, the first sized by how many jobs wait (one cheap
   * count), then doubling, and stop at the first wave that comes back short (the queue ran dry).
   */
  async take(siteId: string, token: string, max: number): Promise<Job<JobData>[]> {
    const { queue, worker } = this.get(siteId);
    const jobs: Job<JobData>[] = [];
    const waiting = await queue.getJobCountByTypes('wait', 'prioritized');
    let wave = Math.max(1, Math.min(waiting, MAX_WAVE));
    while (jobs.length < max) {
      const size = Math.min(wave, max - jobs.length);
      const got = await Promise.all(
        Array.from({ length: size }, () => worker.getNextJob(token, { block: false })),
      );
      for (const job of got) if (job) jobs.push(job);
      if (got.some((job) => !job)) break;
      wave = Math.min(wave * 2, MAX_WAVE);
    }
    return jobs;
  }

  /**
   * A handle on a held verify job without reading it from Redis: its id says everything its data
   * holds, and its options are the ones `enqueue` always sets. Completing it checks the lock.
   */
  verifyJob(siteId: string, jobId: string, credentialId: string): Job<JobData> {
    return new Job<JobData>(
      this.get(siteId).worker,
      'verify',
      { v: 1, credentialId },
      this.jobOptions('verify'),
      jobId,
    );
  }

  async fetch(siteId: string, jobId: string): Promise<Job<JobData> | undefined> {
    return Job.fromId<JobData>(this.get(siteId).worker, jobId);
  }

  /** Which of these job ids exist in the site's queue (any state). */
  async existing(siteId: string, jobIds: string[]): Promise<Set<string>> {
    const { queue } = this.get(siteId);
    const pipeline = this.connection.pipeline();
    for (const id of jobIds) pipeline.exists(queue.toKey(id));
    const results = (await pipeline.exec()) ?? [];
    return new Set(jobIds.filter((_, i) => results[i]?.[1] === 1));
  }

  /**
   * Removes jobs that no agent holds (a cancelled run's queued work); a job an agent holds now is
   * left alone (BullMQ refuses to remove a locked job). Returns how many were removed.
   */
  async remove(siteId: string, jobIds: string[]): Promise<number> {
    const { queue } = this.get(siteId);
    const removed = await Promise.all(jobIds.map((id) => queue.remove(id, { removeChildren: false })));
    return removed.filter((n) => n === 1).length;
  }

  async counts(siteId: string): Promise<Record<string, number>> {
    return this.get(siteId).queue.getJobCounts('wait', 'prioritized', 'active', 'delayed');
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.sites.values()].map(async ({ queue, worker, workerConnection }) => {
        // BullMQ closing a worker whose connections still initialise leaves their rejected set-up
        // commands unhandled; let them settle first (bounded: Redis may be down).
        await Promise.race([
          Promise.allSettled([worker.waitUntilReady(), queue.waitUntilReady()]),
          delay(CLOSE_SETTLE_MS, undefined, { ref: false }),
        ]);
        await worker.close(true).catch(() => undefined);
        await queue.close().catch(() => undefined);
        await workerConnection.quit().catch(() => undefined);
      }),
    );
    this.sites.clear();
    await this.connection.quit().catch(() => undefined);
  }
}
