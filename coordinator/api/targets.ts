import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  CreateTargetBody,
  listOf,
  PatchTargetBody,
  TargetListQuery,
  TargetView,
} from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import { capabilitiesOf, parseConnection, targetSpec } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { containsPattern, Where } from '../store/where.js';
import { actorOf, audit } from '../http/actor.js';
import { decodeCursor, encodeCursor, UuidKey } from '../http/cursor.js';
import { hasRole } from '../http/operator-auth.js';
import { IdParams, type Routes } from '../http/routes.js';
import { inheritPin, namedPrivileged, privilegedMismatch, routingOf } from '../credentials/privileged.js';
import { refreshStatus } from '../credentials/status.js';
import { loadCredential, saveCredentials, selectCredentials } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import { getSite, siteFacts } from '../store/sites.js';

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

/**
 * A connection that names a privileged credential must name one on the same target (same site,
 * kind and endpoint: coordinator/privileged.ts), else a 400 naming the field. Returns the connection
 * to store: it takes over the privileged credential's pinned host key when it pins none.
 */
async function checkPrivileged(
  q: Queryable,
  siteId: string,
  kind: string,
  connection: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const id = namedPrivileged(connection);
  if (id === undefined) return connection;
  const row = await loadCredential(q, id);
  const problem = privilegedMismatch({ siteId, kind, connection }, id, row ?? undefined);
  if (problem !== undefined) {
    throw new SyncError('VALIDATION_FAILED', `connection.privilegedCredentialId: ${problem}`, {
      issues: [{ field: 'connection.privilegedCredentialId', message: problem }],
    });
  }
  return inheritPin(kind, connection, row!);
}

/** Connection fields shown in the audit trail when they change (ids and addresses, never a secret). */
const AUDITED_FIELDS = [
  'host',
  'port',
  'baseUrl',
  'driver',
  'hostKeySha256',
  'changeVia',
  'privilegedCredentialId',
  'flavour',
  'domain',
  'baseDn',
  'userDnTemplate',
  'accountDomainSid',
  'protection',
] as const;

/** The connection merged with a patch: a key set to null is removed. */
function merged(stored: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out = { ...stored };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return out;
}

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
      const parsed = parseConnection(body.kind, body.connection);
      if (!(await getSite(ctx.db, body.siteId))) {
        throw new SyncError('VALIDATION_FAILED', `siteId: site ${body.siteId} not found`, {
          issues: [{ field: 'siteId', message: 'no such site' }],
        });
      }
      const id = randomUUID();
      await ctx.db.tx(async (q) => {
        const connection = await checkPrivileged(q, body.siteId, body.kind, parsed);
        const r = await q.query(
          `INSERT INTO targets (id, site_id, name, kind, connection) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (site_id, name) DO NOTHING`,
          [id, body.siteId, body.name, body.kind, JSON.stringify(connection)],
        );
        if (r.rowCount === 0)
          throw new SyncError('CONFLICT', `name: the site has a target named '${body.name}'`);
        await audit(q, req, 'target.create', 'target', id, {
          siteId: body.siteId,
          kind: body.kind,
          ...(namedPrivileged(connection) ? { privilegedCredentialId: namedPrivileged(connection) } : {}),
        });
      });
      return { id };
    },
  });
  routes.add({
    method: 'PATCH',
    url: '/api/v1/targets/:id',
    summary:
      'Edit a target: name, connection fields (merged; null removes). Changing where its passwords go (host, port, URLs, TLS, privileged account) needs admin',
    tag: 'targets',
    auth: 'operator',
    params: IdParams,
    body: PatchTargetBody,
    response: { status: 200, schema: TargetView },
    handler: async ({ params, body }, req) =>
      ctx.db.tx(async (q) => {
        const { rows } = await q.query<TargetRow>('SELECT * FROM targets WHERE id = $1 FOR UPDATE', [
          params.id,
        ]);
        const before = rows[0];
        if (!before) throw new SyncError('NOT_FOUND', `target ${params.id} not found`);
        const spec = targetSpec(before.kind);
        let connection = before.connection;
        if (body.connection !== undefined) {
          connection = parseConnection(before.kind, merged(before.connection, body.connection));
        }
        // A new host, port, URL, TLS setting or privileged account sends the target's passwords (its
        // credentials' and, with a privileged account, that one's) somewhere else: an admin decision.
        const stored = spec.connectionSchema.safeParse(before.connection);
        const rerouted =
          routingOf(spec, stored.success ? stored.data : before.connection) !== routingOf(spec, connection);
        if (rerouted && !hasRole(actorOf(req), 'admin')) {
          throw new SyncError(
            'FORBIDDEN',
            'changing where this target sends passwords (host, port, URLs, TLS, privileged account) needs the admin role',
          );
        }
        if (body.connection !== undefined) {
          connection = await checkPrivileged(q, before.site_id, before.kind, connection);
        }
        const name = body.name ?? before.name;
        if (name !== before.name) {
          const clash = await q.query('SELECT 1 FROM targets WHERE site_id = $1 AND name = $2 AND id <> $3', [
            before.site_id,
            name,
            before.id,
          ]);
          if (clash.rows.length > 0)
            throw new SyncError('CONFLICT', `name: the site has a target named '${name}'`);
        }
        const { rows: after } = await q.query<TargetRow>(
          'UPDATE targets SET name = $2, connection = $3 WHERE id = $1 RETURNING *',
          [before.id, name, JSON.stringify(connection)],
        );
        const fields: Record<string, { from: unknown; to: unknown }> = {};
        for (const key of AUDITED_FIELDS) {
          const from = before.connection[key] ?? null;
          const to = connection[key] ?? null;
          if (from !== to) fields[key] = { from, to };
        }
        await audit(q, req, 'target.update', 'target', before.id, {
          siteId: before.site_id,
          kind: before.kind,
          ...(name !== before.name ? { name: { from: before.name, to: name } } : {}),
          changedKeys: Object.keys(connection)
            .concat(Object.keys(before.connection))
            .filter((k, i, all) => all.indexOf(k) === i)
            .filter((k) => JSON.stringify(before.connection[k]) !== JSON.stringify(connection[k]))
            .sort(),
          fields,
          rerouted,
        });
        // What the target can do may have changed (a change workflow now sets {{newPassword}}…).
        const caps = (c: unknown) => JSON.stringify(capabilitiesOf(before.kind, c));
        if (caps(before.connection) !== caps(connection)) {
          const creds = await selectCredentials(q, 'WHERE c.target_id = $1 ORDER BY c.id FOR UPDATE OF c', [
            before.id,
          ]);
          const facts = (await siteFacts(q, [before.site_id])).get(before.site_id)!;
          const now = new Date();
          for (const row of creds) refreshStatus(row, facts, now);
          await saveCredentials(q, creds);
        }
        return targetView(after[0]!);
      }),
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
      const where = new Where();
      if (query.siteId) where.add('site_id = $1', query.siteId);
      if (query.q) where.add('name ILIKE $1', containsPattern(query.q));
      if (after) where.add('(name, id) > ($1, $2::uuid)', after[0], after[1]);
      const limit = where.param(query.limit + 1);
      const { rows } = await ctx.db.query<TargetRow>(
        `SELECT * FROM targets ${where} ORDER BY name, id LIMIT ${limit}`,
        where.params,
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
