import type { AlertBody, DeliveryState } from '../../shared/contracts/alerts.js';
import { timeKeyParam, timeKeySql } from '../http/cursor.js';
import type { Queryable } from '../store/db.js';
import { ONLINE_WINDOW_MS } from '../store/agents.js';

/*
 * The SQL of alerting (docs/alerts.md): the events outbox (written by the triggers of migration 10,
 * and by insertEvent), the alerting keys of the anti-spam rules, channels and their deliveries.
 */

export interface EventRow {
  id: number;
  at: Date;
  type: string;
  site_id: string | null;
  subject_type: string;
  subject_id: string | null;
  data: Record<string, unknown>;
}

/** What became of an event: an alert of its own, part of a grouped one, or held for the digest. */
export type Disposition = 'alerted' | 'grouped' | 'muted';

/** Records an event the triggers do not write (the master key rotation), in the caller's transaction. */
export async function insertEvent(
  q: Queryable,
  e: { type: string; siteId?: string | null; subjectType: string; subjectId?: string | null; data: object },
): Promise<void> {
  await q.query(
    `INSERT INTO events (type, site_id, subject_type, subject_id, data) VALUES ($1, $2, $3, $4, $5::jsonb)`,
    [e.type, e.siteId ?? null, e.subjectType, e.subjectId ?? null, JSON.stringify(e.data)],
  );
}

/** Agents without a heartbeat since `cutoff` are marked offline (the trigger writes `agent.offline`). */
export async function markAgentsOffline(q: Queryable, cutoff: Date): Promise<number> {
  const r = await q.query(
    `UPDATE agents SET offline_since = now()
      WHERE offline_since IS NULL AND revoked_at IS NULL AND last_heartbeat_at < $1`,
    [cutoff.toISOString()],
  );
  return r.rowCount;
}

/** Open runs started before `cutoff` are marked overdue once (the trigger writes `run.overdue`). */
export async function markRunsOverdue(q: Queryable, cutoff: Date): Promise<number> {
  const r = await q.query(
    `UPDATE sync_runs SET overdue_at = now()
      WHERE finished_at IS NULL AND overdue_at IS NULL AND trigger <> 'schedule' AND started_at < $1`,
    [cutoff.toISOString()],
  );
  return r.rowCount;
}

/** Events not yet turned into alerts that happened before `before`, oldest first, locked. */
export async function takeEvents(q: Queryable, before: Date, limit: number): Promise<EventRow[]> {
  const { rows } = await q.query<EventRow>(
    `SELECT id, at, type, site_id, subject_type, subject_id, data FROM events
      WHERE dispatched_at IS NULL AND at <= $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [before.toISOString(), limit],
  );
  return rows;
}

export async function markDispatched(q: Queryable, dispositions: Map<number, Disposition>): Promise<void> {
  if (dispositions.size === 0) return;
  await q.query(
    `UPDATE events e SET dispatched_at = now(), disposition = d.disposition
       FROM unnest($1::bigint[], $2::text[]) AS d(id, disposition) WHERE e.id = d.id`,
    [[...dispositions.keys()], [...dispositions.values()]],
  );
}

/** When each alerting key last had an event (the repeat, flapping and site rules). */
export async function loadKeys(q: Queryable, keys: string[]): Promise<Map<string, Date>> {
  if (keys.length === 0) return new Map();
  const { rows } = await q.query<{ key: string; last_event_at: Date }>(
    'SELECT key, last_event_at FROM alert_keys WHERE key = ANY($1::text[])',
    [keys],
  );
  return new Map(rows.map((r) => [r.key, r.last_event_at]));
}

export async function saveKeys(q: Queryable, keys: Map<string, Date>): Promise<void> {
  if (keys.size === 0) return;
  await q.query(
    `INSERT INTO alert_keys (key, last_event_at)
     SELECT * FROM unnest($1::text[], $2::timestamptz[])
     ON CONFLICT (key) DO UPDATE SET last_event_at = greatest(alert_keys.last_event_at, EXCLUDED.last_event_at)`,
    [[...keys.keys()], [...keys.values()].map((d) => d.toISOString())],
  );
}

/** Keys whose last event is older than `before` can no longer hold anything back. */
export async function pruneKeys(q: Queryable, before: Date): Promise<void> {
  await q.query('DELETE FROM alert_keys WHERE last_event_at < $1', [before.toISOString()]);
}

/**
 * Deletes up to `limit` events that happened before `before` and are done with: dispatched, and
 * digested if they were held back (the digest counts those not yet digested). Answers how many.
 */
export async function pruneEvents(q: Queryable, before: Date, limit: number): Promise<number> {
  const { rowCount } = await q.query(
    `DELETE FROM events WHERE id IN (
       SELECT id FROM events
        WHERE at < $1 AND dispatched_at IS NOT NULL
          AND (disposition IS DISTINCT FROM 'muted' OR digested_at IS NOT NULL)
        ORDER BY at LIMIT $2)`,
    [before.toISOString(), limit],
  );
  return rowCount;
}

/** Status events per credential since `since` (the flapping rule). */
export async function statusEventCounts(
  q: Queryable,
  credentialIds: string[],
  types: readonly string[],
  since: Date,
): Promise<Map<string, number>> {
  if (credentialIds.length === 0) return new Map();
  const { rows } = await q.query<{ subject_id: string; n: number }>(
    `SELECT subject_id, count(*)::int AS n FROM events
      WHERE subject_type = 'credential' AND subject_id = ANY($1::text[]) AND type = ANY($2::text[]) AND at > $3
      GROUP BY subject_id`,
    [credentialIds, [...types], since.toISOString()],
  );
  return new Map(rows.map((r) => [r.subject_id, r.n]));
}

export async function siteNames(q: Queryable, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const { rows } = await q.query<{ id: string; name: string }>(
    'SELECT id, name FROM sites WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.name]));
}

/** When the oldest event held back for the digest happened (null: none). */
export async function oldestMuted(q: Queryable): Promise<Date | null> {
  const { rows } = await q.query<{ at: Date }>(
    `SELECT at FROM events WHERE disposition = 'muted' AND digested_at IS NULL ORDER BY id LIMIT 1`,
  );
  return rows[0]?.at ?? null;
}

export interface MutedLine {
  type: string;
  site_id: string | null;
  status: string | null;
  reason: string | null;
  count: number;
  last_id: number;
}

/** The events held back, counted by type, site, status and reason; marked digested. */
export async function takeMuted(q: Queryable): Promise<MutedLine[]> {
  const { rows } = await q.query<MutedLine>(
    `WITH taken AS (
       UPDATE events SET digested_at = now() WHERE disposition = 'muted' AND digested_at IS NULL
       RETURNING id, type, site_id, data)
     SELECT type, site_id, data->>'status' AS status, data->>'reason' AS reason,
            count(*)::int AS count, max(id) AS last_id
       FROM taken GROUP BY 1, 2, 3, 4 ORDER BY count(*) DESC`,
  );
  return rows;
}

// --- channels -----------------------------------------------------------------------------------

export interface ChannelRow {
  id: string;
  name: string;
  kind: 'webhook' | 'email';
  enabled: boolean;
  config: Record<string, unknown>;
  /** Sealed: the webhook's signing secret or the SMTP password. */
  secret: string | null;
  event_types: string[];
  site_ids: string[];
  statuses: string[];
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

export interface ChannelFields {
  name: string;
  enabled: boolean;
  config: Record<string, unknown>;
  secret: string | null;
  eventTypes: string[];
  siteIds: string[];
  statuses: string[];
}

export async function insertChannel(
  q: Queryable,
  id: string,
  kind: ChannelRow['kind'],
  f: ChannelFields,
  createdBy: string,
): Promise<ChannelRow> {
  const { rows } = await q.query<ChannelRow>(
    `INSERT INTO notification_channels (id, name, kind, enabled, config, secret, event_types, site_ids, statuses, created_by)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::text[], $8::uuid[], $9::text[], $10) RETURNING *`,
    [
      id,
      f.name,
      kind,
      f.enabled,
      JSON.stringify(f.config),
      f.secret,
      f.eventTypes,
      f.siteIds,
      f.statuses,
      createdBy,
    ],
  );
  return rows[0]!;
}

export async function updateChannel(q: Queryable, id: string, f: ChannelFields): Promise<ChannelRow> {
  const { rows } = await q.query<ChannelRow>(
    `UPDATE notification_channels SET name = $2, enabled = $3, config = $4::jsonb, secret = $5,
            event_types = $6::text[], site_ids = $7::uuid[], statuses = $8::text[], updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id, f.name, f.enabled, JSON.stringify(f.config), f.secret, f.eventTypes, f.siteIds, f.statuses],
  );
  return rows[0]!;
}

export async function getChannel(q: Queryable, id: string, lock = false): Promise<ChannelRow | null> {
  const { rows } = await q.query<ChannelRow>(
    `SELECT * FROM notification_channels WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

export async function listChannels(q: Queryable, onlyEnabled = false): Promise<ChannelRow[]> {
  const { rows } = await q.query<ChannelRow>(
    `SELECT * FROM notification_channels${onlyEnabled ? ' WHERE enabled' : ''} ORDER BY name`,
  );
  return rows;
}

export async function deleteChannel(q: Queryable, id: string): Promise<boolean> {
  return (await q.query('DELETE FROM notification_channels WHERE id = $1', [id])).rowCount > 0;
}

/** Channels with a sealed secret, a page at a time (the master key rotation re-wraps them). */
export async function channelSecretsPage(
  q: Queryable,
  after: string,
  limit: number,
): Promise<{ id: string; secret: string | null }[]> {
  const { rows } = await q.query<{ id: string; secret: string | null }>(
    'SELECT id, secret FROM notification_channels WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE',
    [after, limit],
  );
  return rows;
}

export async function setChannelSecret(q: Queryable, id: string, secret: string): Promise<void> {
  await q.query('UPDATE notification_channels SET secret = $2 WHERE id = $1', [id, secret]);
}

// --- deliveries ---------------------------------------------------------------------------------

export interface DeliveryRow {
  id: string;
  channel_id: string;
  alert_id: string;
  alert_type: string;
  body: AlertBody;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
  created_at: Date;
  sent_at: Date | null;
}

/** One delivery per channel and alert: an alert dispatched again (a retried transaction) adds none. */
export async function insertDeliveries(
  q: Queryable,
  rows: { id: string; channelId: string; body: AlertBody }[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO notification_deliveries (id, channel_id, alert_id, alert_type, body)
     SELECT d.id, d.channel_id, d.body->>'id', d.body->>'type', d.body
       FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS d(id, channel_id, body)
     ON CONFLICT (channel_id, alert_id) DO NOTHING`,
    [rows.map((r) => r.id), rows.map((r) => r.channelId), rows.map((r) => JSON.stringify(r.body))],
  );
}

/**
 * Takes due deliveries under a lease (`token` until now + leaseMs): no other replica takes them
 * while it runs; a replica that dies leaves them to be taken again once it expires.
 */
export async function claimDeliveries(
  q: Queryable,
  token: string,
  leaseMs: number,
  limit: number,
  onlyId?: string,
): Promise<DeliveryRow[]> {
  const { rows } = await q.query<DeliveryRow>(
    `UPDATE notification_deliveries d SET lease_token = $1, lease_until = now() + make_interval(secs => $2),
            attempts = d.attempts + 1
      WHERE d.id IN (
        SELECT id FROM notification_deliveries
         WHERE state IN ('pending', 'retrying') AND (lease_until IS NULL OR lease_until < now())
           AND ($4::uuid IS NOT NULL OR next_attempt_at <= now()) AND ($4::uuid IS NULL OR id = $4)
         ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
      RETURNING d.id, d.channel_id, d.alert_id, d.alert_type, d.body, d.state, d.attempts,
                d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.sent_at`,
    [token, leaseMs / 1000, limit, onlyId ?? null],
  );
  return rows;
}

/** Records an attempt's end, if the lease is still this replica's. */
export async function finishDelivery(
  q: Queryable,
  id: string,
  token: string,
  end: { state: DeliveryState; status: number | null; error: string | null; retryAt: Date | null },
): Promise<void> {
  await q.query(
    `UPDATE notification_deliveries SET state = $3, last_status = $4, last_error = $5,
            next_attempt_at = coalesce($6::timestamptz, next_attempt_at),
            sent_at = CASE WHEN $3 = 'sent' THEN now() END, lease_token = NULL, lease_until = NULL
      WHERE id = $1 AND lease_token = $2`,
    [id, token, end.state, end.status, end.error, end.retryAt?.toISOString() ?? null],
  );
}

export async function getDelivery(q: Queryable, id: string): Promise<DeliveryRow | null> {
  const { rows } = await q.query<DeliveryRow>('SELECT * FROM notification_deliveries WHERE id = $1', [id]);
  return rows[0] ?? null;
}

/**
 * A channel's deliveries, newest first, after the page key `after` ([created_at as a TimeKey, id]);
 * each row with its own key (`sort_key`) for the next page's cursor.
 */
export async function listDeliveries(
  q: Queryable,
  channelId: string,
  state: DeliveryState | undefined,
  after: [string, string] | null,
  limit: number,
): Promise<(DeliveryRow & { sort_key: string })[]> {
  const { rows } = await q.query<DeliveryRow & { sort_key: string }>(
    `SELECT *, ${timeKeySql('created_at')} AS sort_key FROM notification_deliveries
      WHERE channel_id = $1 AND ($2::text IS NULL OR state = $2)
        AND (created_at, id) < (${timeKeyParam(3)}, $4::uuid)
      ORDER BY created_at DESC, id DESC LIMIT $5`,
    [channelId, state ?? null, ...(after ?? ['infinity', 'ffffffff-ffff-ffff-ffff-ffffffffffff']), limit],
  );
  return rows;
}

/** The Overview's issues: agents marked offline, enabled sites with agents and none working. */
export async function overviewIssues(q: Queryable) {
  const [agents, sites] = await Promise.all([
    q.query<{ agentId: string; name: string; siteId: string; siteName: string; since: Date }>(
      `SELECT a.id AS "agentId", a.name, a.site_id AS "siteId", s.name AS "siteName", a.offline_since AS since
         FROM agents a JOIN sites s ON s.id = a.site_id
        WHERE a.offline_since IS NOT NULL AND a.revoked_at IS NULL ORDER BY a.offline_since LIMIT 100`,
    ),
    q.query<{ siteId: string; name: string; since: Date }>(
      `SELECT s.id AS "siteId", s.name, s.no_agent_since AS since FROM sites s
        WHERE s.enabled AND s.no_agent_since IS NOT NULL
          AND EXISTS (SELECT 1 FROM agents a WHERE a.site_id = s.id AND a.revoked_at IS NULL)
          AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.site_id = s.id AND a.revoked_at IS NULL
                             AND a.enabled AND a.approved AND a.last_heartbeat_at > $1::timestamptz)
        ORDER BY s.no_agent_since LIMIT 100`,
      // The run sweep records no_agent_since; an agent that can work now (one enrolled since) hides it at once.
      [new Date(Date.now() - ONLINE_WINDOW_MS).toISOString()],
    ),
  ]);
  return {
    agentsOffline: agents.rows.map((a) => ({ ...a, since: a.since.toISOString() })),
    sitesWithoutAgent: sites.rows.map((s) => ({ ...s, since: s.since.toISOString() })),
  };
}
