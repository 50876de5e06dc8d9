import type { SecretBox } from '../shared/crypto.js';
import type { Logger } from '../shared/logger.js';
import type { CoordinatorConfig } from './config.js';
import type { SealPool } from './credentials/seal-pool.js';
import type { Metrics } from './metrics.js';
import type { ScheduleCounts } from './runs/schedule-counts.js';
import type { SiteQueues } from './queues/site-queues.js';
import type { Wake } from './queues/wake.js';
import type { Db, Queryable } from './store/db.js';

/**
 * Puts credentials a sync run's chunk marked (locked in `q`, the marking's transaction) in the run
 * and queues their verifications; returns how many. `waitFor`: as queues/dispatch.ts says.
 */
export type QueueRunVerifications = (
  q: Queryable,
  runId: string,
  ids: string[],
  now: Date,
  waitFor: 'request' | 'scheduler',
) => Promise<number>;

/** What every part of the coordinator works with, built once in main.ts. */
export interface Ctx {
  config: CoordinatorConfig;
  db: Db;
  box: SecretBox;
  /** Seals the passwords of bulk imports on worker threads (SEAL_WORKERS). */
  sealPool: SealPool;
  queues: SiteQueues;
  wake: Wake;
  log: Logger;
  metrics: Metrics;
  /** Results of work outside runs, tallied into the day's `schedule` run of each site. */
  scheduleCounts: ScheduleCounts;
  /** Asks the scheduler to tick soon (new due work), on any replica. */
  kickScheduler: () => void;
  /**
   * Queues what a verification run marks (runs/marking.ts): queues/run-verifications.ts, given here
   * so that the runs do not depend on the queues (which count results in runs).
   */
  queueRunVerifications: QueueRunVerifications;
  /**
   * Aborts when the coordinator starts shutting down, before the HTTP server closes: long-polling
   * claims end at once (an empty answer) instead of holding the shutdown for up to their wait.
   */
  shutdown: AbortSignal;
}
