import { SerialPageQuery, StatusHistoryView } from '../../shared/contracts/api.js';
import { STATUS_LABELS } from '../../shared/contracts/status.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { statusHistory } from '../credentials/status-history.js';
import { IdParams, type Routes } from '../http/routes.js';

/**
 * A credential's status history: every settled status it took, newest first (written with the
 * credential itself, see credentials/store.ts saveCredentials).
 */
export function registerCredentialHistoryRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/:id/history',
    summary: 'Status history of a credential, newest first (pending and being-synced steps left out)',
    tag: 'credentials',
    auth: 'viewer',
    params: IdParams,
    query: SerialPageQuery,
    response: { status: 200, schema: StatusHistoryView },
    handler: async ({ params, query }) => {
      const before = query.cursor === undefined ? null : Number(query.cursor);
      const rows = await statusHistory(ctx.db, params.id, before, query.limit + 1);
      if (rows === null) throw new SyncError('NOT_FOUND', `credential ${params.id} not found`);
      const page = rows.slice(0, query.limit);
      return {
        items: page.map((r) => ({
          at: r.at.toISOString(),
          status: r.status,
          statusLabel: STATUS_LABELS[r.status],
          reason: r.reason,
          message: r.message,
        })),
        nextCursor: rows.length > query.limit ? String(page.at(-1)!.id) : null,
      };
    },
  });
}
