import { storableJson, storableText } from '../../shared/text.js';
import type { Queryable } from './db.js';
import { Where } from './where.js';

export type ActorType = 'operator' | 'agent' | 'system';

export interface AuditEvent {
  actorType: ActorType;
  actorId: string;
  action: string;
  objectType: string;
  objectId?: string | null;
  /** Ids and facts only: never a secret. */
  details?: Record<string, unknown>;
}

/**
 * Appends audit events (append-only: nothing updates or deletes them). What an agent or a client
 * sent may be recorded (a refused job id): a NUL or a lone surrogate in it is stored as U+FFFD, so
 * no event is ever lost to text PostgreSQL cannot store.
 */
export async function recordAudit(q: Queryable, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await q.query(
    `INSERT INTO audit_events (actor_type, actor_id, action, object_type, object_id, details)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])`,
    [
      events.map((e) => e.actorType),
      events.map((e) => storableText(e.actorId)),
      events.map((e) => e.action),
      events.map((e) => e.objectType),
      events.map((e) => (e.objectId == null ? null : storableText(e.objectId))),
      events.map((e) => storableJson(e.details ?? {})),
    ],
  );
}

/** Who asked for an operator action: the operator, and the request it came with (for the audit). */
export interface OperatorAct {
  operatorId: string;
  requestId: string;
}

/** Records an operator's action in the audit log (inside the caller's transaction). */
export function auditOperator(
  q: Queryable,
  by: OperatorAct,
  action: string,
  objectType: string,
  objectId: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  return recordAudit(q, [
    {
      actorType: 'operator',
      actorId: by.operatorId,
      action,
      objectType,
      objectId,
      details: { ...details, reqId: by.requestId },
    },
  ]);
}

/** An `audit_events` row. */
export interface AuditRow {
  id: number;
  at: Date;
  actor_type: string;
  actor_id: string;
  action: string;
  object_type: string;
  object_id: string | null;
  details: Record<string, unknown>;
}

/** Filters of GET /audit; `before` is the id of the previous page's last event. */
export interface AuditFilter {
  before: number | null;
  actor?: string | undefined;
  action?: string | undefined;
  objectId?: string | undefined;
  objectType?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit: number;
}

/** Audit events, newest first. */
export async function listAuditEvents(q: Queryable, f: AuditFilter): Promise<AuditRow[]> {
  const where = new Where();
  if (f.before !== null) where.add('id < $1::bigint', f.before);
  if (f.actor) where.add('actor_id = $1', f.actor);
  if (f.action) where.add('action = $1', f.action);
  if (f.objectId) where.add('object_id = $1', f.objectId);
  if (f.objectType) where.add('object_type = $1', f.objectType);
  if (f.since) where.add('at >= $1::timestamptz', f.since);
  if (f.until) where.add('at < $1::timestamptz', f.until);
  const limit = where.param(f.limit);
  const { rows } = await q.query<AuditRow>(
    `SELECT * FROM audit_events ${where} ORDER BY id DESC LIMIT ${limit}`,
    where.params,
  );
  return rows;
}
