import type { Status } from '../shared/contracts/status.js';
import type { Ctx } from './context.js';
import { ONLINE_WINDOW_MS } from './store/agents.js';

export interface SiteState {
  id: string;
  name: string;
  enabled: boolean;
  last_sync_at: Date | null;
  agents_total: number;
  agents_enabled: number;
  agents_online: number;
}

/**
 * The state the dashboard's counts, GET /summary, GET /overview and the scrape-time gauges of
 * GET /metrics all show: sites and their agents, credentials per site and status, suspended
 * credentials per site, and each site queue's BullMQ job counts.
 */
export interface StateSnapshot {
  takenAt: Date;
  sites: SiteState[];
  credentials: { site_id: string; status: Status; n: number }[];
  suspended: Map<string, number>;
  /** BullMQ's counts (wait, prioritized, active, delayed) per site; a site whose queue did not answer is missing. */
  queues: Map<string, Record<string, number>>;
}

const cache = new WeakMap<Ctx, { at: number; settled: boolean; pending: Promise<StateSnapshot> }>();

/**
 * One snapshot shared by every reader of this coordinator process for COUNTS_MAX_AGE_MS (2 s by
 * default), taken by one reader at a time: the counts are a GROUP BY over every credential (about
 * 40 ms at 100,000), and each open Overview tab asks for them every 3 s, as do Prometheus scrapes.
 * A count is therefore at most that old (each replica has its own snapshot). With 0, readers share
 * only a snapshot being taken (the gauges of one scrape, say).
 */
export function stateSnapshot(ctx: Ctx): Promise<StateSnapshot> {
  const hit = cache.get(ctx);
  if (hit && (!hit.settled || Date.now() - hit.at < ctx.config.COUNTS_MAX_AGE_MS)) return hit.pending;
  const entry = { at: Date.now(), settled: false, pending: takeSnapshot(ctx) };
  cache.set(ctx, entry);
  entry.pending.then(
    () => {
      entry.settled = true;
    },
    () => {
      // A failed snapshot is not kept: the next reader tries again.
      if (cache.get(ctx) === entry) cache.delete(ctx);
    },
  );
  return entry.pending;
}

async function takeSnapshot(ctx: Ctx): Promise<StateSnapshot> {
  const takenAt = new Date();
  const [sites, credentials, suspended] = await Promise.all([
    ctx.db.query<SiteState>(
      `SELECT s.id, s.name, s.enabled, s.last_sync_at,
              count(a.id)::int AS agents_total,
              count(a.id) FILTER (WHERE a.enabled)::int AS agents_enabled,
              count(a.id) FILTER (WHERE a.last_heartbeat_at > now() - make_interval(secs => $1))::int AS agents_online
         FROM sites s LEFT JOIN agents a ON a.site_id = s.id AND a.revoked_at IS NULL
        GROUP BY s.id ORDER BY s.name`,
      [ONLINE_WINDOW_MS / 1000],
    ),
    ctx.db.query<StateSnapshot['credentials'][number]>(
      'SELECT site_id, status, count(*)::int AS n FROM credentials GROUP BY site_id, status',
    ),
    // The partial index credentials_suspended_site (migration 5): no scan of the table.
    ctx.db.query<{ site_id: string; n: number }>(
      'SELECT site_id, count(*)::int AS n FROM credentials WHERE suspended GROUP BY site_id',
    ),
  ]);
  const queues = new Map<string, Record<string, number>>();
  await Promise.all(
    sites.rows.map(async (s) => {
      // A queue that cannot answer (Redis down) leaves its site out rather than failing the reader.
      const counts = await ctx.queues.counts(s.id).catch(() => null);
      if (counts) queues.set(s.id, counts);
    }),
  );
  return {
    takenAt,
    sites: sites.rows,
    credentials: credentials.rows,
    suspended: new Map(suspended.rows.map((r) => [r.site_id, r.n])),
    queues,
  };
}
