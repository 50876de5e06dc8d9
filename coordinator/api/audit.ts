import { AuditQuery, AuditView, listOf } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
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
      // Only the filters given go into the SQL, so each can use its index (object, action: v5).
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (before !== null) add('id < ?::bigint', before);
      if (query.actor) add('actor_id = ?', query.actor);
      if (query.action) add('action = ?', query.action);
      if (query.objectId) add('object_id = ?', query.objectId);
      if (query.objectType) add('object_type = ?', query.objectType);
      if (query.since) add('at >= ?::timestamptz', query.since);
      if (query.until) add('at < ?::timestamptz', query.until);
      params.push(query.limit + 1);
      const { rows } = await ctx.db.query<AuditRow>(
        `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY id DESC LIMIT $${params.length}`,
        params,
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
