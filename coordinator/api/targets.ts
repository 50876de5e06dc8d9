import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CreateTargetBody, listOf, TargetListQuery, TargetView } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import { parseConnection } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { audit } from '../http/actor.js';
import { decodeCursor, encodeCursor, UuidKey } from '../http/cursor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { getSite } from '../store/sites.js';

interface TargetRow {
  id: string;
  site_id: string;
  name: string;
  kind: string;
  connection: Record<string, unknown>;
  created_at: Date;
}

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
    summary: 'Create a target (a system on a site) with its kind-specific connection',
    tag: 'targets',
    auth: 'operator',
    body: CreateTargetBody,
    response: { status: 201, schema: z.object({ id: z.uuid() }) },
    handler: async ({ body }, req) => {
      const connection = parseConnection(body.kind, body.connection);
      if (!(await getSite(ctx.db, body.siteId))) {
        throw new SyncError('VALIDATION_FAILED', `siteId: site ${body.siteId} not found`, {
          issues: [{ field: 'siteId', message: 'no such site' }],
        });
      }
      const id = randomUUID();
      await ctx.db.tx(async (q) => {
        const r = await q.query(
          `INSERT INTO targets (id, site_id, name, kind, connection) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (site_id, name) DO NOTHING`,
          [id, body.siteId, body.name, body.kind, JSON.stringify(connection)],
        );
        if (r.rowCount === 0)
          throw new SyncError('CONFLICT', `name: the site has a target named '${body.name}'`);
        await audit(q, req, 'target.create', 'target', id, { siteId: body.siteId, kind: body.kind });
      });
      return { id };
    },
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
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, ...values: unknown[]) => {
        const n = params.length;
        params.push(...values);
        where.push(sql.replace(/\$(\d)/g, (_, i: string) => `$${n + Number(i)}`));
      };
      if (query.siteId) add('site_id = $1', query.siteId);
      if (query.q) add(`name ILIKE $1`, `%${query.q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`);
      if (after) add('(name, id) > ($1, $2::uuid)', after[0], after[1]);
      params.push(query.limit + 1);
      const { rows } = await ctx.db.query<TargetRow>(
        `SELECT * FROM targets ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY name, id LIMIT $${params.length}`,
        params,
      );
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
      const { rows } = await ctx.db.query<TargetRow>('SELECT * FROM targets WHERE id = $1', [params.id]);
      if (!rows[0]) throw new SyncError('NOT_FOUND', `target ${params.id} not found`);
      return targetView(rows[0]);
    },
  });
}
