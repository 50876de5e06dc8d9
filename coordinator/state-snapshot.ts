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
/**
 * Credentials of one site in one status: how many, and their latest results (last_verified_at, and
 * how many had a result in the last 24 hours, by outcome), counted in the same pass.
 */
export interface StatusGroup {
  site_id: string;
  status: Status;
  n: number;
  last_verified_at: Date | null;
  checked: number;
  ok: number;
  failed: number;
}

export interface StateSnapshot {
  takenAt: Date;
  sites: SiteState[];
  credentials: StatusGroup[];
  suspended: Map<string, number>;
  /** BullMQ's counts (wait, prioritized, active, delayed) per site; a site whose queue did not answer is missing. */
  queues: Map<string, Record<string, number>>;
}

const DAY_MS = 86_400_000;

/** A site's latest results, as GET /summary and GET /overview show them (shared/contracts/api.ts Last24h). */
export interface SiteResults {
  lastVerifiedAt: string | null;
  last24h: { checked: number; ok: number; failed: number };
}

/** Each site's latest results, from the snapshot's status groups. */
export function siteResults(snapshot: StateSnapshot): Map<string, SiteResults> {
  const bySite = new Map<string, SiteResults>(
    snapshot.sites.map((s) => [s.id, { lastVerifiedAt: null, last24h: { checked: 0, ok: 0, failed: 0 } }]),
  );
  for (const g of snapshot.credentials) {
    const site = bySite.get(g.site_id);
    if (!site) continue;
    site.last24h.checked += g.checked;
    site.last24h.ok += g.ok;
    site.last24h.failed += g.failed;
    const at = g.last_verified_at?.toISOString() ?? null;
    if (at !== null && (site.lastVerifiedAt === null || at > site.lastVerifiedAt)) site.lastVerifiedAt = at;
  }
  return bySite;
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
    // One pass over the credentials: the counts per status and each site's latest results (the
    // schedule's verifications included) share it.
    ctx.db.query<StatusGroup>(
      `SELECT site_id, status, count(*)::int AS n, max(last_verified_at) AS last_verified_at,
              count(*) FILTER (WHERE last_result_at > $1::timestamptz)::int AS checked,
              count(*) FILTER (WHERE last_result_at > $1::timestamptz AND last_outcome = 'ok')::int AS ok,
              count(*) FILTER (WHERE last_result_at > $1::timestamptz AND last_outcome = 'failed')::int AS failed
         FROM credentials GROUP BY site_id, status`,
      [new Date(takenAt.getTime() - DAY_MS).toISOString()],
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
