import { setTimeout as delay } from 'node:timers/promises';
import { Job, Queue, Worker } from 'bullmq';
import type { RedisOptions } from 'ioredis';
import {
  JOB_PRIORITY,
  PRIORITY_LANE,
  jobIdFor,
  trialJobIdFor,
  siteQueueName,
  siteQueuePrefix,
  type JobData,
  type JobKind,
} from '../../shared/contracts/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { RedisClient } from './connect.js';
import { isRedisUnavailable, onRedis, REQUEST_PATH_OPTIONS, within } from './redis.js';
import type { Wake } from './wake.js';

/** How long close() lets a new site's connections finish their set-up. */
const CLOSE_SETTLE_MS = 2_000;

/** The most takes sent to Redis at once by one claim. */
const MAX_WAVE = 128;

/** How often jobs that could not be added (Redis unavailable) are tried again. */
const RESEND_EVERY_MS = 1_000;

/** The most such jobs kept in memory; beyond, the reconciler re-adds them (it reads PostgreSQL). */
const RESEND_MAX = 100_000;

export interface NewJob {
  kind: JobKind;
  credentialId: string;
  changeId?: string;
  delayMs?: number;
  /** BullMQ priority instead of the kind's (JOB_PRIORITY), e.g. OPERATOR_VERIFY_PRIORITY. */
  priority?: number;
  /** A login trial's verify (coordinator/trials/): job id `t-<trialId>` instead of the credential's. */
  trialId?: string;
}

/** A job's deterministic id: its credential's (one per kind), or its login trial's. */
const idOf = (j: NewJob): string => (j.trialId ? trialJobIdFor(j.trialId) : jobIdFor(j.kind, j.credentialId));

interface SiteQueue {
  queue: Queue<JobData>;
  /** Manual processing only: no processor, never started; we call getNextJob with the agent's token. */
  worker: Worker<JobData>;
  /** The worker's own connection (BullMQ leaves a connection it was given open: closed by us). */
  workerConnection: RedisClient;
}

export interface SiteQueuesOptions {
  /** Makes a connection to the coordinator's Redis with these options (queues/connect.ts). */
  connect: (options: RedisOptions) => RedisClient;
  prefix: string;
  lockMs: number;
  stalledCheckMs: number;
  /** Longest a request waits on one call to Redis (REDIS_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  log: Logger;
  wake: Wake;
  /** A job whose lock expired (its agent vanished or stopped extending) went back to the queue. */
  onStalled?: (siteId: string, jobId: string) => void;
  /** Jobs were added to a site's queue. */
  onEnqueued?: (siteId: string, jobs: NewJob[]) => void;
}

/**
 * One BullMQ queue per site (`site-<siteId>`). Queues share one Redis connection; each site's
 * manual worker has its own (BullMQ's rule) and runs the stalled-job checker that gives the jobs of
 * vanished agents back to the queue (BullMQ locks the check, so one replica does it at a time).
 *
 * Every call that serves a request is bounded (`call`): with Redis down it fails at once, with Redis
 * hanging after REDIS_REQUEST_TIMEOUT_MS, as UNAVAILABLE (503); the connections never keep commands
 * for later (redis.ts). Jobs Redis could not take are kept here and added as soon as Redis answers
 * again (within a second of the connection being back); the reconciler is the net for the rest
 * (this process stopped meanwhile, more than RESEND_MAX of them).
 */
export class SiteQueues {
  private readonly sites = new Map<string, SiteQueue>();
  readonly connection: RedisClient;
  /** Jobs not added because Redis was unavailable, per site and job id, with when they were asked for. */
  private readonly unsent = new Map<string, Map<string, { job: NewJob; at: number }>>();
  private unsentCount = 0;
  private resending = false;
  private readonly resendTimer: NodeJS.Timeout;

  constructor(private readonly opts: SiteQueuesOptions) {
    this.connection = opts.connect({ ...REQUEST_PATH_OPTIONS, enableAutoPipelining: true });
    this.connection.on('error', (err) => opts.log.warn({ err: err.message }, 'redis connection error'));
    this.connection.on('ready', () => void this.resend());
    this.resendTimer = setInterval(() => void this.resend(), RESEND_EVERY_MS);
    this.resendTimer.unref();
  }

  /**
   * Runs Redis calls for a request within REDIS_REQUEST_TIMEOUT_MS; throws UNAVAILABLE (503) at once
   * when Redis is not connected, or when it does not answer in time (redis.ts). `work` gets a signal
   * aborted at the deadline: its request has stopped waiting for it.
   */
  call<T>(what: string, work: (cutShort: AbortSignal) => Promise<T>): Promise<T> {
    const cutShort = new AbortController();
    return within(
      onRedis(this.connection, what, () => work(cutShort.signal)),
      this.opts.requestTimeoutMs,
      what,
      cutShort,
    );
  }

  get(siteId: string): SiteQueue {
    let site = this.sites.get(siteId);
    if (site) return site;
    const name = siteQueueName(siteId);
    const prefix = siteQueuePrefix(this.opts.prefix, siteId);
    const queue = new Queue<JobData>(name, { connection: this.connection, prefix });
    queue.on('error', () => undefined); // the shared connection's errors, logged once by its own handler
    // A connection of its own (BullMQ's rule); BullMQ duplicates it for its blocking connection,
    // unused by manual processing.
    const workerConnection = this.opts.connect({ ...REQUEST_PATH_OPTIONS, enableAutoPipelining: true });
    const worker = new Worker<JobData>(name, null, {
      connection: workerConnection,
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

  private jobOptions(kind: JobKind, priority = JOB_PRIORITY[kind]) {
    return { priority, removeOnComplete: true, removeOnFail: true };
  }

  /**
   * Adds jobs (deduplicated by their deterministic ids) and wakes the site's waiting claims. With
   * `wait: 'bounded'` (a request) the caller waits at most REDIS_REQUEST_TIMEOUT_MS, then gets
   * UNAVAILABLE while the adding goes on; with `'added'` (the scheduler) until they are added.
   * Jobs Redis could not take (not connected, the connection lost) are kept, and added once Redis
   * answers again; UNAVAILABLE then too.
   */
  async enqueue(siteId: string, jobs: NewJob[], wait: 'bounded' | 'added' = 'bounded'): Promise<void> {
    if (jobs.length === 0) return;
    const { queue } = this.get(siteId);
    const added = onRedis(this.connection, 'queueing jobs', () =>
      queue.addBulk(
        jobs.map((j) => ({
          name: j.kind,
          data: {
            v: 1 as const,
            credentialId: j.credentialId,
            ...(j.changeId ? { changeId: j.changeId } : {}),
          },
          opts: {
            jobId: idOf(j),
            ...this.jobOptions(j.kind, j.priority),
            ...(j.delayMs ? { delay: j.delayMs } : {}),
          },
        })),
      ),
    ).then(
      () => {
        this.opts.onEnqueued?.(siteId, jobs);
        this.opts.wake.notify(siteId);
      },
      (err: unknown) => {
        if (isRedisUnavailable(err)) this.keepUnsent(siteId, jobs);
        throw err;
      },
    );
    if (wait === 'added') return added;
    return within(added, this.opts.requestTimeoutMs, 'queueing jobs');
  }

  private keepUnsent(siteId: string, jobs: NewJob[]): void {
    const now = Date.now();
    let site = this.unsent.get(siteId);
    for (const job of jobs) {
      const id = idOf(job);
      if (site?.has(id)) {
        site.set(id, { job, at: now });
        continue;
      }
      if (this.unsentCount >= RESEND_MAX) return;
      if (!site) this.unsent.set(siteId, (site = new Map()));
      site.set(id, { job, at: now });
      this.unsentCount++;
    }
  }

  /** Adds the jobs kept while Redis was unavailable, their delays counted from when they were asked for. */
  private async resend(): Promise<void> {
    if (this.resending || this.unsentCount === 0 || this.connection.status !== 'ready') return;
    this.resending = true;
    let sent = 0;
    try {
      for (const [siteId, byId] of [...this.unsent]) {
        this.unsent.delete(siteId);
        this.unsentCount -= byId.size;
        const now = Date.now();
        const jobs = [...byId.values()].map(({ job, at }) =>
          job.delayMs ? { ...job, delayMs: Math.max(0, job.delayMs - (now - at)) } : job,
        );
        try {
          await this.enqueue(siteId, jobs, 'added');
          sent += jobs.length;
        } catch (err) {
          // Kept again by enqueue; the next attempt comes with the timer or the connection's return.
          this.opts.log.debug(
            { siteId, jobs: jobs.length, err: (err as Error).message },
            'queueing again failed',
          );
          break;
        }
      }
    } finally {
      this.resending = false;
    }
    if (sent > 0) this.opts.log.info({ jobs: sent }, 'jobs queued once Redis answered again');
  }

  /** How many jobs ahead of routine verifications wait in the site's queue (PRIORITY_LANE). */
  async waitingAhead(siteId: string): Promise<number> {
    const { queue } = this.get(siteId);
    return this.call('counting jobs', async () => {
      const counts = await queue.getCountsPerPriority(PRIORITY_LANE);
      return Object.values(counts).reduce((sum, n) => sum + n, 0);
    });
  }

  /**
   * Takes up to `max` jobs for an agent, locked with `token`. Never blocks. Each take is one atomic
   * script call; they go out pipelined in waves, the first sized by how many jobs wait (one cheap
   * count, left out for one job), then doubling, and stop at the first wave that comes back short
   * (the queue ran dry).
   */
  async take(siteId: string, token: string, max: number): Promise<Job<JobData>[]> {
    const { queue, worker } = this.get(siteId);
    return this.call('taking jobs', async (cutShort) => {
      const jobs: Job<JobData>[] = [];
      // One job (a priority lane's claim) needs no count: one call less on its way.
      const waiting = max === 1 ? 1 : await queue.getJobCountByTypes('wait', 'prioritized');
      let wave = Math.max(1, Math.min(waiting, MAX_WAVE));
      while (jobs.length < max && !cutShort.aborted) {
        const size = Math.min(wave, max - jobs.length);
        const got = await Promise.allSettled(
          Array.from({ length: size }, () => worker.getNextJob(token, { block: false })),
        );
        for (const r of got) if (r.status === 'fulfilled' && r.value) jobs.push(r.value);
        const failed = got.find((r) => r.status === 'rejected');
        // Redis went away in the middle: the jobs already taken are handed out all the same.
        if (failed && jobs.length === 0) throw failed.reason;
        if (failed || got.some((r) => r.status === 'fulfilled' && !r.value)) break;
        wave = Math.min(wave * 2, MAX_WAVE);
      }
      // Redis answered after the claim stopped waiting (it hung): nobody will hear of these jobs,
      // so they go back to the queue now rather than when their locks expire.
      if (cutShort.aborted) {
        await Promise.all(jobs.map((job) => job.moveToWait(token).catch(() => undefined)));
        return [];
      }
      return jobs;
    });
  }

  /**
   * Finishes taken jobs that are not handed out (their credential or trial no longer wants the
   * work), each with the token it is held with; best effort: one not finished comes back when its
   * lock expires, and is skipped again.
   */
  async finishSkipped(jobs: Job<JobData>[]): Promise<void> {
    await Promise.all(
      jobs.map((job) =>
        this.call('finishing a skipped job', () =>
          job.moveToCompleted({ skipped: true }, job.token!, false),
        ).catch(() => undefined),
      ),
    );
  }

  /**
   * The job BullMQ took in the same script call that completed another (`moveToCompleted(…, token,
   * true)`: its answer is the next job's raw data), locked with that call's `token`; undefined when
   * none came (the queue is empty, or only delayed jobs wait).
   */
  nextFrom(siteId: string, raw: unknown, token: string): Job<JobData> | undefined {
    if (!Array.isArray(raw)) return undefined;
    const [data, id] = raw as [unknown, unknown];
    if (!data || typeof data !== 'object' || typeof id !== 'string' || id === '' || id === '0')
      return undefined;
    const job = Job.fromJSON<JobData>(this.get(siteId).worker, data as never, id);
    job.token = token;
    return job;
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
    const { worker } = this.get(siteId);
    return this.call('reading a job', () => Job.fromId<JobData>(worker, jobId));
  }

  /** Which of these job ids exist in the site's queue (any state). */
  async existing(siteId: string, jobIds: string[]): Promise<Set<string>> {
    const { queue } = this.get(siteId);
    // The reconciler's: not a request, so no deadline (it fails at once with Redis down).
    const results = await onRedis(this.connection, 'looking up jobs', async () => {
      const pipeline = this.connection.pipeline();
      for (const id of jobIds) pipeline.exists(queue.toKey(id));
      return (await pipeline.exec()) ?? [];
    });
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
    const { queue } = this.get(siteId);
    return this.call('counting jobs', () => queue.getJobCounts('wait', 'prioritized', 'active', 'delayed'));
  }

  async close(): Promise<void> {
    clearInterval(this.resendTimer);
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
