import { randomUUID } from 'node:crypto';
import type { Logger } from '../../shared/logger.js';
import type { Db } from '../store/db.js';
import { OUTCOME_SQL } from './count.js';
import type { RunCount } from '../credentials/transitions.js';

/** How often a process writes the counts it gathered (one statement for every site, kind and day). */
const FLUSH_EVERY_MS = 1000;

interface Tally {
  siteId: string;
  kind: 'verify' | 'change';
  /** The UTC day the results belong to (00:00). */
  day: Date;
  lastAt: Date;
  counts: Record<RunCount, number>;
}

const zero = (): Record<RunCount, number> => ({ success: 0, partial: 0, failed: 0, unsynced: 0 });

const utcDay = (at: Date): Date => {
  const day = new Date(at);
  day.setUTCHours(0, 0, 0, 0);
  return day;
};

/**
 * Work outside sync runs (the daily verifications, rotations, retries, Sync now of one credential)
 * in the run history: one `schedule` run per site, kind and UTC day (docs/sync-runs.md), its counts
 * added up as results come in. Results are tallied in memory and written once a second, one upsert
 * for all of them, so the result path gains no write of its own (a counter row per site updated
 * by every report would be one hot row every report of the site waits on). A process that dies
 * loses at most its last second of tallies: counts, never a credential's state.
 */
export class ScheduleCounts {
  private tallies = new Map<string, Tally>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  /** Counts one result of work outside any run. */
  add(siteId: string, kind: 'verify' | 'change', count: RunCount, at: Date): void {
    const counts = zero();
    counts[count] = 1;
    this.merge({ siteId, kind, day: utcDay(at), lastAt: at, counts });
  }

  /** Writes what was counted so far (one at a time); a failed write keeps the tallies for the next. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    if (this.tallies.size === 0) return;
    const batch = [...this.tallies.values()];
    this.tallies = new Map();
    const col = (key: RunCount) => batch.map((t) => t.counts[key]);
    try {
      await this.db.tx(async (q) => {
        const { rows } = await q.query<{ id: string }>(
          `INSERT INTO sync_runs AS r (id, kind, trigger, scope, created_by, started_at, finished_at,
                                      impacted, success, partial, failed, unsynced)
           SELECT u.id, u.kind, 'schedule', jsonb_build_object('siteId', u.site_id), 'scheduler', u.day,
                  u.last_at, u.s + u.p + u.f + u.n, u.s, u.p, u.f, u.n
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                         $6::int[], $7::int[], $8::int[], $9::int[]) AS u(id, site_id, kind, day, last_at, s, p, f, n)
           ON CONFLICT ((scope->>'siteId'), kind, started_at) WHERE trigger = 'schedule' DO UPDATE SET
             impacted = r.impacted + EXCLUDED.impacted, success = r.success + EXCLUDED.success,
             partial = r.partial + EXCLUDED.partial, failed = r.failed + EXCLUDED.failed,
             unsynced = r.unsynced + EXCLUDED.unsynced, finished_at = GREATEST(r.finished_at, EXCLUDED.finished_at)
           RETURNING r.id`,
          [
            batch.map(() => randomUUID()),
            batch.map((t) => t.siteId),
            batch.map((t) => t.kind),
            batch.map((t) => t.day.toISOString()),
            batch.map((t) => t.lastAt.toISOString()),
            col('success'),
            col('partial'),
            col('failed'),
            col('unsynced'),
          ],
        );
        await q.query(`UPDATE sync_runs SET outcome = ${OUTCOME_SQL} WHERE id = ANY($1::uuid[])`, [
          rows.map((r) => r.id),
        ]);
      });
    } catch (err) {
      // Kept for the next write (PostgreSQL unreachable for a moment).
      for (const t of batch) this.merge(t);
      this.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'schedule counts not written yet',
      );
    }
  }

  private merge(t: Tally): void {
    const key = `${t.siteId}|${t.kind}|${t.day.getTime()}`;
    const into = this.tallies.get(key);
    if (!into) {
      this.tallies.set(key, t);
      return;
    }
    for (const count of Object.keys(into.counts) as RunCount[]) into.counts[count] += t.counts[count];
    if (t.lastAt > into.lastAt) into.lastAt = t.lastAt;
  }
}
