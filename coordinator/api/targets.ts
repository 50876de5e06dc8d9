import { z } from 'zod';
import {
  CreateTargetBody,
  listOf,
  PatchTargetBody,
  TargetListQuery,
  TargetView,
} from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { actOf, actorOf } from '../http/actor.js';
import { decodeCursor, encodeCursor, UuidKey } from '../http/cursor.js';
import { hasRole } from '../http/operator-auth.js';
import { IdParams, type Routes } from '../http/routes.js';
import { createTarget, editTarget } from '../operations/targets.js';
import { getTarget, listTargets, type TargetRow } from '../store/targets.js';

const targetView = (t: TargetRow) => ({
  id: t.id,
  siteId: t.site_id,
  name: t.name,
  kind: t.kind,
  connection: t.connection,
  createdAt: t.created_at.toISOString(),
});

export function registerTargetRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/targets',
    conflict: 'the site has a target with this name',
    summary: 'Create a target (a system on a site) with its kind-specific connection',
    tag: 'targets',
    auth: 'operator',
    body: CreateTargetBody,
    response: { status: 201, schema: z.object({ id: z.uuid() }) },
    handler: async ({ body }, req) => ({ id: await createTarget(ctx, body, actOf(req)) }),
  });
  routes.add({
    method: 'PATCH',
    url: '/api/v1/targets/:id',
    conflict: 'the site has a target with this name',
    summary:
      'Edit a target: name, connection fields (merged; null removes). Changing where its passwords go (host, port, URLs, TLS, privileged account) needs admin',
    tag: 'targets',
    auth: 'operator',
    params: IdParams,
    body: PatchTargetBody,
    response: { status: 200, schema: TargetView },
    handler: async ({ params, body }, req) =>
      targetView(await editTarget(ctx, params.id, body, hasRole(actorOf(req), 'admin'), actOf(req))),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/targets',
    summary: 'List targets by name, in pages (cursor), optionally of one site or matching a text',
    tag: 'targets',
    auth: 'viewer',
    query: TargetListQuery,
    response: { status: 200, schema: listOf(TargetView) },
    handler: async ({ query }) => {
      const after = query.cursor ? decodeCursor(query.cursor, z.tuple([z.string(), UuidKey])) : null;
      const rows = await listTargets(ctx.db, {
        siteId: query.siteId,
        text: query.q,
        after,
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: page.map(targetView),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.name, last.id]) : null,
      };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/targets/:id',
    summary: 'Get a target',
    tag: 'targets',
    auth: 'viewer',
    params: IdParams,
    response: { status: 200, schema: TargetView },
    handler: async ({ params }) => {
      const target = await getTarget(ctx.db, params.id);
      if (!target) throw new SyncError('NOT_FOUND', `target ${params.id} not found`);
      return targetView(target);
    },
  });
}
