import { AuditQuery, AuditView, listOf } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import { Where } from '../store/where.js';
import type { Routes } from '../http/routes.js';

interface AuditRow {
  id: number;
  at: Date;
  actor_type: string;
  actor_id: string;
  action: string;
  object_type: string;
  object_id: string | null;
  details: Record<string, unknown>;
}

export function registerAuditRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/audit',
    summary: 'Audit events, newest first, filterable by actor, action, object and time',
    tag: 'audit',
    auth: 'viewer',
    query: AuditQuery,
    response: { status: 200, schema: listOf(AuditView) },
    handler: async ({ query }) => {
      // The schema lets digits only through: the id of the previous page's last event.
      const before = query.cursor === undefined ? null : Number(query.cursor);
      const where = new Where();
      if (before !== null) where.add('id < $1::bigint', before);
      if (query.actor) where.add('actor_id = $1', query.actor);
      if (query.action) where.add('action = $1', query.action);
      if (query.objectId) where.add('object_id = $1', query.objectId);
      if (query.objectType) where.add('object_type = $1', query.objectType);
      if (query.since) where.add('at >= $1::timestamptz', query.since);
      if (query.until) where.add('at < $1::timestamptz', query.until);
      const limit = where.param(query.limit + 1);
      const { rows } = await ctx.db.query<AuditRow>(
        `SELECT * FROM audit_events ${where} ORDER BY id DESC LIMIT ${limit}`,
        where.params,
      );
      const page = rows.slice(0, query.limit);
      return {
        items: page.map((r) => ({
          id: Number(r.id),
          at: r.at.toISOString(),
          actorType: r.actor_type,
          actorId: r.actor_id,
          action: r.action,
          objectType: r.object_type,
          objectId: r.object_id,
          details: r.details,
        })),
        nextCursor: rows.length > query.limit ? String(page.at(-1)!.id) : null,
      };
    },
  });
}
