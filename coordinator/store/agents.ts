import type { Queryable } from './db.js';

export interface AgentRow {
  id: string;
  site_id: string;
  name: string;
  host: string;
  version: string;
  adapters: string[];
  concurrency: number;
  enabled: boolean;
  approved: boolean;
  token_hash: string;
  revoked_at: Date | null;
  in_flight: number;
  last_heartbeat_at: Date | null;
  enrolled_at: Date;
}

/** An agent with whether its site is enabled (one round trip per gateway call), or null. */
export async function loadAgentWithSite(
  q: Queryable,
  id: string,
): Promise<(AgentRow & { site_enabled: boolean }) | null> {
  const { rows } = await q.query<AgentRow & { site_enabled: boolean }>(
    'SELECT a.*, s.enabled AS site_enabled FROM agents a JOIN sites s ON s.id = a.site_id WHERE a.id = $1',
    [id],
  );
  return rows[0] ?? null;
}

/** Whether an agent may take work now: enabled, approved, not revoked, at an enabled site. */
export async function agentMayWork(q: Queryable, id: string): Promise<boolean> {
  const { rows } = await q.query<{ ok: boolean }>(
    `SELECT (a.enabled AND a.approved AND a.revoked_at IS NULL AND s.enabled) AS ok
       FROM agents a JOIN sites s ON s.id = a.site_id WHERE a.id = $1`,
    [id],
  );
  return rows[0]?.ok === true;
}

/** What an agent's heartbeat says of it (a version or concurrency it does not send is kept). */
export async function recordHeartbeat(
  q: Queryable,
  id: string,
  beat: { inFlight: number; version?: string | undefined; concurrency?: number | undefined },
): Promise<void> {
  await q.query(
    `UPDATE agents SET last_heartbeat_at = now(), in_flight = $2, version = coalesce($3, version),
            concurrency = coalesce($4, concurrency) WHERE id = $1`,
    [id, beat.inFlight, beat.version ?? null, beat.concurrency ?? null],
  );
}

/** Agents not revoked, of one site or all, oldest enrollment first. */
export async function listAgents(q: Queryable, siteId: string | null): Promise<AgentRow[]> {
  const { rows } = await q.query<AgentRow>(
    `SELECT * FROM agents WHERE revoked_at IS NULL AND ($1::uuid IS NULL OR site_id = $1) ORDER BY enrolled_at`,
    [siteId],
  );
  return rows;
}

/** What an operator can do to an agent (POST /agents/:id/<act>). */
export type AgentAct = 'enable' | 'disable' | 'approve' | 'revoke';

const AGENT_ACTS: Record<AgentAct, string> = {
  enable: 'enabled = true',
  disable: 'enabled = false',
  approve: 'approved = true',
  revoke: 'revoked_at = now(), enabled = false',
};

export async function actOnAgent(q: Queryable, id: string, act: AgentAct): Promise<void> {
  await q.query(`UPDATE agents SET ${AGENT_ACTS[act]} WHERE id = $1`, [id]);
}

export async function getAgent(q: Queryable, id: string): Promise<AgentRow | null> {
  const { rows } = await q.query<AgentRow>('SELECT * FROM agents WHERE id = $1', [id]);
  return rows[0] ?? null;
}

/** Online = a heartbeat within the last 60 s. */
export const ONLINE_WINDOW_MS = 60_000;
export const isOnline = (a: Pick<AgentRow, 'last_heartbeat_at'>, now = Date.now()): boolean =>
  a.last_heartbeat_at !== null && now - a.last_heartbeat_at.getTime() <= ONLINE_WINDOW_MS;

export async function renameAgent(q: Queryable, id: string, name: string): Promise<void> {
  await q.query('UPDATE agents SET name = $2 WHERE id = $1', [id, name]);
}

/** Refuses an agent waiting for approval: revoked, it can never take work (its next call gets 401). */
export async function denyAgent(q: Queryable, id: string): Promise<void> {
  await q.query('UPDATE agents SET revoked_at = now(), enabled = false WHERE id = $1', [id]);
}
