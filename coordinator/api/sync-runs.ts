import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CreateSyncRunBody, listOf, SyncRunListQuery, SyncRunView } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { actorOf, audit } from '../http/actor.js';
import { decodeCursor, encodeCursor, TimeKey, UuidKey } from '../http/cursor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { markCancelled, withdrawRun } from '../runs/cancel.js';
import { requireScope, startRun } from '../runs/start.js';
import { namedRunViews } from './named.js';
import { syncRunView } from './views.js';
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
    handler: async ({ body }, req) => {
      const id = randomUUID();
      const run = await ctx.db.tx(async (q) => {
        await requireScope(q, body.scope);
        const run = await startRun(q, {
          id,
          kind: body.kind,
          scope: body.scope,
          trigger: 'manual',
          createdBy: actorOf(req).id,
        });
        await audit(q, req, 'sync_run.create', 'sync_run', id, {
          kind: body.kind,
          scope: body.scope,
          impacted: run.impacted,
        });
        return run;
      });
      ctx.kickScheduler();
      ctx.log.info({ runId: id, kind: body.kind, impacted: run.impacted }, 'sync run started');
      return syncRunView(run);
    },
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
    summary:
      'Cancel a running sync run: it ends now (items without a result count unsynced, reason cancelled); queued work it asked for is dropped, work an agent holds and changes whose new password may be set finish outside it',
    tag: 'sync-runs',
    auth: 'operator',
    params: IdParams,
    response: { status: 200, schema: SyncRunView },
    handler: async ({ params }, req) => {
      const actor = actorOf(req).id;
      await ctx.db.tx(async (q) => {
        const run = await markCancelled(q, params.id, actor);
        await audit(q, req, 'sync_run.cancel', 'sync_run', params.id, {
          kind: run.kind,
          trigger: run.trigger,
          scope: run.scope,
        });
      });
      // The withdrawal goes on in the run sweep if it takes longer than this (a huge run).
      const run = await withdrawRun(ctx, params.id, CANCEL_BUDGET_MS);
      ctx.log.info({ runId: params.id, finished: run.finished_at !== null }, 'sync run cancelled');
      return syncRunView(run);
    },
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
      return (await namedRunViews(ctx.db, [run]))[0];
    },
  });
}

/** How long a cancel request withdraws work before it answers (the run sweep finishes the rest). */
const CANCEL_BUDGET_MS = 5000;
