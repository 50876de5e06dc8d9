import { z } from 'zod';
import { CreateSyncRunBody, listOf, SyncRunListQuery, SyncRunView } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { decodeCursor, encodeCursor, TimeKey, UuidKey } from '../http/cursor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { cancelRun, startManualRun } from '../operations/sync-runs.js';
import { namedRunView, namedRunViews } from './named.js';
import { listRuns, loadRun } from '../runs/store.js';

export function registerSyncRunRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/sync-runs',
    summary: 'Start a manual sync run over a scope (empty scope = everything)',
    tag: 'sync-runs',
    auth: 'operator',
    body: CreateSyncRunBody,
    response: { status: 201, schema: SyncRunView },
    handler: async ({ body }, req) => namedRunView(ctx.db, await startManualRun(ctx, body, actOf(req))),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/sync-runs',
    summary:
      'Sync history, newest first (manual and group runs, and one schedule entry per site, kind and day for work outside runs), filterable by outcome, site and start time (keyset-paged)',
    tag: 'sync-runs',
    auth: 'viewer',
    query: SyncRunListQuery,
    response: { status: 200, schema: listOf(SyncRunView) },
    handler: async ({ query }) => {
      const after = query.cursor ? decodeCursor(query.cursor, z.tuple([TimeKey, UuidKey])) : null;
      const rows = await listRuns(ctx.db, {
        after,
        outcome: query.outcome,
        siteId: query.siteId,
        since: query.since,
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: await namedRunViews(ctx.db, page),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.sort_key, last.id]) : null,
      };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/v1/sync-runs/:id/cancel',
    conflict: 'the run has finished',
    summary:
      'Cancel a running sync run: it ends now (items without a result count unsynced, reason cancelled); queued work it asked for is dropped, work an agent holds and changes whose new password may be set finish outside it',
    tag: 'sync-runs',
    auth: 'operator',
    params: IdParams,
    response: { status: 200, schema: SyncRunView },
    handler: async ({ params }, req) => namedRunView(ctx.db, await cancelRun(ctx, params.id, actOf(req))),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/sync-runs/:id',
    summary: 'A sync run with its counts',
    tag: 'sync-runs',
    auth: 'viewer',
    params: IdParams,
    response: { status: 200, schema: SyncRunView },
    handler: async ({ params }) => {
      const run = await loadRun(ctx.db, params.id);
      if (!run) throw new SyncError('NOT_FOUND', `sync run ${params.id} not found`);
      return namedRunView(ctx.db, run);
    },
  });
}
