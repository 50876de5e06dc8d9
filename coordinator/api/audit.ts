import { AuditQuery, AuditView, listOf } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import { listAuditEvents } from '../store/audit.js';
import type { Routes } from '../http/routes.js';
import { namedAuditViews } from './named.js';

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
      const rows = await listAuditEvents(ctx.db, {
        before,
        actor: query.actor,
        action: query.action,
        objectId: query.objectId,
        objectType: query.objectType,
        since: query.since,
        until: query.until,
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      return {
        items: await namedAuditViews(ctx.db, page),
        nextCursor: rows.length > query.limit ? String(page.at(-1)!.id) : null,
      };
    },
  });
}
