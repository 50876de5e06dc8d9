import type { Queryable } from './db.js';

/** What the status of a stored credential depends on besides the row itself. */
export interface SiteFacts {
  enabled: boolean;
  /** Agents ever enrolled at the site, revoked ones included. */
  agents: number;
  /** Agents that can take jobs now: enabled, approved, not revoked. */
  enabledAgents: number;
}

export interface SiteRow {
  id: string;
  name: string;
  enabled: boolean;
  require_approval: boolean;
  last_sync_at: Date | null;
  created_at: Date;
}

/**
 * Enabled-ness and agent counts of sites, as the status function needs them: `agents` counts every
 * agent ever enrolled at the site, revoked ones included (a site whose agents were all revoked has
 * lost its agents: no agent can take its jobs, as when all are disabled); `enabledAgents` those that
 * can take jobs now (enabled, approved, not revoked).
 */
export async function siteFacts(q: Queryable, siteIds: Iterable<string>): Promise<Map<string, SiteFacts>> {
  const ids = [...new Set(siteIds)];
  const facts = new Map<string, SiteFacts>();
  if (ids.length === 0) return facts;
  const { rows } = await q.query<{ id: string; enabled: boolean; agents: number; enabled_agents: number }>(
    `SELECT s.id, s.enabled,
            count(a.id)::int AS agents,
            count(a.id) FILTER (WHERE a.revoked_at IS NULL AND a.enabled AND a.approved)::int AS enabled_agents
       FROM sites s LEFT JOIN agents a ON a.site_id = s.id
      WHERE s.id = ANY($1::uuid[]) GROUP BY s.id`,
    [ids],
  );
  for (const r of rows)
    facts.set(r.id, { enabled: r.enabled, agents: r.agents, enabledAgents: r.enabled_agents });
  return facts;
}

export async function getSite(q: Queryable, id: string): Promise<SiteRow | null> {
  const { rows } = await q.query<SiteRow>('SELECT * FROM sites WHERE id = $1', [id]);
  return rows[0] ?? null;
}

/**
 * Records that the site's agents reported now (`last_sync_at`), at most once a second: every report
 * of every agent of the site would otherwise queue on this one row (a lock and a commit per report
 * batch) for a timestamp shown in seconds.
 */
export async function noteSiteSync(q: Queryable, siteId: string): Promise<void> {
  await q.query(
    `UPDATE sites SET last_sync_at = now()
      WHERE id = $1 AND (last_sync_at IS NULL OR last_sync_at < now() - interval '1 second')`,
    [siteId],
  );
}

/** Sets the fields given (a name another site has: 'taken', nothing changed); null when there is no such site. */
export async function updateSite(
  q: Queryable,
  id: string,
  set: { name?: string | undefined; requireApproval?: boolean | undefined; enabled?: boolean | undefined },
): Promise<SiteRow | 'taken' | null> {
  if (set.name !== undefined) {
    const clash = await q.query('SELECT 1 FROM sites WHERE name = $1 AND id <> $2', [set.name, id]);
    if (clash.rows.length > 0) return 'taken';
  }
  const { rows } = await q.query<SiteRow>(
    `UPDATE sites SET name = coalesce($2, name), require_approval = coalesce($3, require_approval),
            enabled = coalesce($4, enabled)
      WHERE id = $1 RETURNING *`,
    [id, set.name ?? null, set.requireApproval ?? null, set.enabled ?? null],
  );
  return rows[0] ?? null;
}

/** Every site's id. */
export async function siteIds(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM sites');
  return rows.map((r) => r.id);
}

/** A new site; null when another site has the name (nothing inserted). */
export async function insertSite(
  q: Queryable,
  s: { id: string; name: string; requireApproval: boolean },
): Promise<SiteRow | null> {
  const { rows } = await q.query<SiteRow>(
    `INSERT INTO sites (id, name, require_approval) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING *`,
    [s.id, s.name, s.requireApproval],
  );
  return rows[0] ?? null;
}

/** Every site, by name. */
export async function listSites(q: Queryable): Promise<SiteRow[]> {
  const { rows } = await q.query<SiteRow>('SELECT * FROM sites ORDER BY name');
  return rows;
}
