import { z } from 'zod';
import { listOf, PageQuery, SyncGroupView, SyncRunView } from '../../shared/contracts/api.js';
import { DeletedView, PatchSyncGroupBody } from '../../shared/contracts/admin.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { groupRuns, loadGroup } from '../groups/store.js';
import { actOf } from '../http/actor.js';
import { decodeCursor, encodeCursor, TimeKey, UuidKey } from '../http/cursor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { deleteSyncGroup, editSyncGroup, setSyncGroupEnabled } from '../operations/sync-groups.js';
import { groupView } from './sync-groups.js';
import { namedRunViews } from './named.js';

/** Editing, disabling, deleting sync groups (admin: membership decides where the password goes), and their history. */
export function registerSyncGroupEditRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'PATCH',
    url: '/api/v1/sync-groups/:id',
    conflict:
      'a change of the group is in progress, a sync group with this name exists, or a member belongs to another group',
    summary:
      'Edit a sync group: name, policy, primary, members (the whole list; members left out rotate on their own again). Refused (409) while a change is in progress',
    tag: 'sync-groups',
    auth: 'admin',
    params: IdParams,
    body: PatchSyncGroupBody,
    response: { status: 200, schema: SyncGroupView },
    handler: async ({ params, body }, req) =>
      groupView(ctx.db, await editSyncGroup(ctx, params.id, body, actOf(req))),
  });

  for (const enabled of [true, false]) {
    routes.add({
      method: 'POST',
      url: `/api/v1/sync-groups/:id/${enabled ? 'enable' : 'disable'}`,
      summary: enabled
        ? 'Enable a sync group: its rotation is scheduled again'
        : 'Disable a sync group: not rotated, and a change now is refused (409) until enabled; a change already out settles',
      tag: 'sync-groups',
      auth: 'admin',
      params: IdParams,
      response: { status: 200, schema: SyncGroupView },
      handler: async ({ params }, req) =>
        groupView(ctx.db, await setSyncGroupEnabled(ctx, params.id, enabled, actOf(req))),
    });
  }

  routes.add({
    method: 'DELETE',
    url: '/api/v1/sync-groups/:id',
    conflict: 'a change of the group is in progress',
    summary:
      'Delete a sync group: its members stay and rotate on their own again. Refused (409) while a change is in progress',
    tag: 'sync-groups',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: DeletedView },
    handler: async ({ params }, req) => {
      await deleteSyncGroup(ctx, params.id, actOf(req));
      return { id: params.id, deleted: true as const };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sync-groups/:id/runs',
    summary:
      "A sync group's history: its change runs and the runs started over it, newest first, in pages (cursor)",
    tag: 'sync-groups',
    auth: 'viewer',
    params: IdParams,
    query: PageQuery,
    response: { status: 200, schema: listOf(SyncRunView) },
    handler: async ({ params, query }) => {
      if (!(await loadGroup(ctx.db, params.id)))
        throw new SyncError('NOT_FOUND', `sync group ${params.id} not found`);
      const after = query.cursor ? decodeCursor(query.cursor, z.tuple([TimeKey, UuidKey])) : null;
      const rows = await groupRuns(ctx.db, params.id, after, query.limit + 1);
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: await namedRunViews(ctx.db, page),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.sort_key, last.id]) : null,
      };
    },
  });
}
