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
