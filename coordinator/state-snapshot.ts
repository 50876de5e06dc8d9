import type { Ctx } from './context.js';
import {
  siteResultRows,
  siteStates,
  statusCounts,
  suspendedCounts,
  type SiteState,
  type StatusCount,
} from './store/state-counts.js';

/**
 * The state the dashboard's counts, GET /summary, GET /overview and the scrape-time gauges of
 * GET /metrics all show: sites and their agents, credentials per site and status, suspended
 * credentials per site, and each site queue's BullMQ job counts.
 */
export interface StateSnapshot {
  takenAt: Date;
  sites: SiteState[];
  credentials: StatusCount[];
  suspended: Map<string, number>;
  /** BullMQ's counts (wait, prioritized, active, delayed) per site; a site whose queue did not answer is missing. */
  queues: Map<string, Record<string, number>>;
}

const DAY_MS = 86_400_000;

/**
 * Site results are read this many times less often than the status counts (30 s with the default
 * COUNTS_MAX_AGE_MS of 2 s): they need every credential row itself (about 1 s at 1,000,000), where
 * the status counts come from an index.
 */
const RESULTS_AGE_FACTOR = 15;

/** A site's latest results, as GET /summary and GET /overview show them (shared/contracts/api.ts Last24h). */
export interface SiteResults {
  lastVerifiedAt: string | null;
  last24h: { checked: number; ok: number; failed: number };
}

interface Shared<T> {
  at: number;
  settled: boolean;
  pending: Promise<T>;
}

/**
 * One read shared by every reader of this process for `maxAgeMs`, taken by one reader at a time; a
 * failed read is not kept (the next reader tries again). With 0, readers share only a read in
 * progress.
 */
function sharedRead<T>(
  cache: WeakMap<Ctx, Shared<T>>,
  ctx: Ctx,
  maxAgeMs: number,
  take: () => Promise<T>,
): Promise<T> {
  const hit = cache.get(ctx);
  if (hit && (!hit.settled || Date.now() - hit.at < maxAgeMs)) return hit.pending;
  const entry: Shared<T> = { at: Date.now(), settled: false, pending: take() };
  cache.set(ctx, entry);
  entry.pending.then(
    () => {
      entry.settled = true;
    },
    () => {
      if (cache.get(ctx) === entry) cache.delete(ctx);
    },
  );
  return entry.pending;
}

const snapshots = new WeakMap<Ctx, Shared<StateSnapshot>>();
const results = new WeakMap<Ctx, Shared<Map<string, SiteResults>>>();

/**
 * One snapshot shared by every reader of this coordinator process for COUNTS_MAX_AGE_MS (2 s by
 * default), taken by one reader at a time: the counts are a GROUP BY over every credential (about
 * 40 ms at 100,000), and each open Overview tab asks for them every 3 s, as do Prometheus scrapes.
 * A count is therefore at most that old (each replica has its own snapshot). With 0, readers share
 * only a snapshot being taken (the gauges of one scrape, say).
 */
export function stateSnapshot(ctx: Ctx): Promise<StateSnapshot> {
  return sharedRead(snapshots, ctx, ctx.config.COUNTS_MAX_AGE_MS, () => takeSnapshot(ctx));
}

/**
 * Each site's latest results, scheduled work included (docs/sync-runs.md): the newest
 * last_verified_at of its credentials, and those whose latest result came in the last 24 hours, by
 * outcome. One pass over the credentials, shared for RESULTS_AGE_FACTOR × COUNTS_MAX_AGE_MS; no
 * table or write of its own. Sites without credentials are missing (read as none).
 */
export function siteResults(ctx: Ctx): Promise<Map<string, SiteResults>> {
  return sharedRead(results, ctx, ctx.config.COUNTS_MAX_AGE_MS * RESULTS_AGE_FACTOR, async () => {
    const rows = await siteResultRows(ctx.db, new Date(Date.now() - DAY_MS));
    return new Map(
      rows.map((r) => [
        r.site_id,
        {
          lastVerifiedAt: r.last_verified_at?.toISOString() ?? null,
          last24h: { checked: r.checked, ok: r.ok, failed: r.failed },
        },
      ]),
    );
  });
}

/** A site's results from siteResults(), none for a site without credentials. */
export const resultsOf = (all: Map<string, SiteResults>, siteId: string): SiteResults =>
  all.get(siteId) ?? { lastVerifiedAt: null, last24h: { checked: 0, ok: 0, failed: 0 } };

async function takeSnapshot(ctx: Ctx): Promise<StateSnapshot> {
  const takenAt = new Date();
  const [sites, credentials, suspended] = await Promise.all([
    siteStates(ctx.db),
    statusCounts(ctx.db),
    suspendedCounts(ctx.db),
  ]);
  const queues = new Map<string, Record<string, number>>();
  await Promise.all(
    sites.map(async (s) => {
      // A queue that cannot answer (Redis down) leaves its site out rather than failing the reader.
      const counts = await ctx.queues.counts(s.id).catch(() => null);
      if (counts) queues.set(s.id, counts);
    }),
  );
  return {
    takenAt,
    sites,
    credentials,
    suspended,
    queues,
  };
}
