import { AuditQuery, AuditView, listOf } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
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
      const before = query.cursor === undefined ? null : Number(query.cursor);
      if (before !== null && !Number.isSafeInteger(before)) {
        throw new SyncError('VALIDATION_FAILED', 'query.cursor: not a cursor from a previous page');
      }
      const { rows } = await ctx.db.query<AuditRow>(
        `SELECT * FROM audit_events
          WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR actor_id = $2)
            AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR object_id = $4)
            AND ($6::text IS NULL OR object_type = $6)
            AND ($7::timestamptz IS NULL OR at >= $7) AND ($8::timestamptz IS NULL OR at < $8)
          ORDER BY id DESC LIMIT $5`,
        [
          before,
          query.actor ?? null,
          query.action ?? null,
          query.objectId ?? null,
          query.limit + 1,
          query.objectType ?? null,
          query.since ?? null,
          query.until ?? null,
        ],
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
