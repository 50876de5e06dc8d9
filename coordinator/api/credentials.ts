import { z } from 'zod';
import {
  ChangeBody,
  CreateCredentialBody,
  CredentialListQuery,
  CredentialView,
  DeleteQuery,
  listOf,
  PasswordHistoryQuery,
  PasswordHistoryView,
  PatchCredentialBody,
} from '../../shared/contracts/api.js';
import { StatusSchema } from '../../shared/contracts/status.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import type { FastifyRequest } from 'fastify';
import { actOf, actorOf, audit } from '../http/actor.js';
import { changeNow } from '../operations/change.js';
import { createCredential } from '../operations/create-credential.js';
import { deleteCredential } from '../operations/delete.js';
import { getCredential } from '../operations/load.js';
import { resume } from '../operations/resume.js';
import { setSyncEnabled } from '../operations/sync-enabled.js';
import { updateCredential } from '../operations/update.js';
import { verifyNow } from '../operations/verify-now.js';
import {
  badCursor,
  decodeCursor,
  encodeCursor,
  TimeKey,
  timeKeyParam,
  timeKeySql,
  UuidKey,
} from '../http/cursor.js';
import { hasRole } from '../http/operator-auth.js';
import { IdParams, type Routes } from '../http/routes.js';
import { revealHistory } from '../credentials/history.js';
import {
  countFiltered,
  credentialFilterWhere,
  FILTER_FROM,
  PROBLEM_RANK_SQL,
} from '../credentials/list-filter.js';
import { type CredentialRow } from '../credentials/store.js';
import { dependencyView, loadDependencies } from '../dependencies/store.js';
import { credentialView } from './views.js';

/** The list's rows: a credential with its target, and the sort key of the page's order. */
const LIST_SELECT = (keySql: string) => `
SELECT c.*, t.kind AS target_kind, t.name AS target_name, t.connection AS target_connection, ${keySql} AS sort_key
${FILTER_FROM}`;

/** The default order's cursor: the last id alone (as before sorting existed). */
const encodeIdCursor = (id: string) => Buffer.from(id).toString('base64url');
function decodeIdCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!UuidKey.safeParse(id).success) throw badCursor();
  return id;
}

interface ListSort {
  /** The ORDER BY expression (an index matches it: migrations v5). */
  expr: string;
  /** The sort key as text, computed in SQL (exact: timestamps to the microsecond). */
  keySql: string;
  /** The cursor's key read back, as SQL of parameter $n. */
  param: (n: number) => string;
  /** What a cursor's key must look like. */
  key: z.ZodType<string>;
  desc: boolean;
}

const text = (expr: string): Omit<ListSort, 'desc'> => ({
  expr,
  keySql: `${expr}::text`,
  param: (n) => `$${n}::text`,
  key: z.string().max(1024),
});
const time = (expr: string): Omit<ListSort, 'desc'> => ({
  expr,
  keySql: timeKeySql(expr),
  param: timeKeyParam,
  key: TimeKey,
});

const SORT_KEYS: Record<string, Omit<ListSort, 'desc'>> = {
  id: { expr: 'c.id', keySql: 'c.id::text', param: (n) => `$${n}::uuid`, key: UuidKey },
  username: text('c.username'),
  target: text('t.name'),
  status: text('c.status'),
  statusChangedAt: time('c.status_changed_at'),
  lastVerifiedAt: time("coalesce(c.last_verified_at, '-infinity'::timestamptz)"),
  problems: {
    expr: PROBLEM_RANK_SQL,
    keySql: `${PROBLEM_RANK_SQL}::text`,
    param: (n) => `$${n}::int`,
    key: z.string().regex(/^\d{1,2}$/),
  },
};

function listSort(sort: string): ListSort {
  const desc = sort.startsWith('-');
  return { ...SORT_KEYS[desc ? sort.slice(1) : sort]!, desc };
}

/**
 * Keyset paging for a sort: the cursor carries the last row's sort key (rendered by PostgreSQL)
 * and id. Sorted by id ascending (the default) the cursor is the id alone.
 */
const plainOrder = (s: ListSort) => s.expr === 'c.id' && !s.desc;
const encodeListCursor = (s: ListSort, row: CredentialRow & { sort_key: string }) =>
  plainOrder(s) ? encodeIdCursor(row.id) : encodeCursor([row.sort_key, row.id]);
function decodeListCursor(s: ListSort, cursor: string): { key: string; id: string } {
  if (plainOrder(s)) {
    const id = decodeIdCursor(cursor);
    return { key: id, id };
  }
  const [key, id] = decodeCursor(cursor, z.tuple([s.key, UuidKey]));
  return { key, id };
}

/**
 * Whoever chooses the new password knows it: choosing one is as good as a reveal, so it needs the
 * role that may reveal (admin). An operator may still ask for a change; the password is then
 * generated from the policy and nobody sees it without the audited reveal.
 */
export function requireAdminToChoose(req: FastifyRequest, password: string | undefined): void {
  if (password !== undefined && !hasRole(actorOf(req), 'admin')) {
    throw new SyncError(
      'FORBIDDEN',
      'choosing the new password needs the admin role (whoever chooses it knows it); leave it out to have one generated',
    );
  }
}

export function registerCredentialRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/credentials',
    summary: 'Create a credential (its password is stored encrypted; a first verification is queued)',
    tag: 'credentials',
    auth: 'operator',
    body: CreateCredentialBody,
    response: { status: 201, schema: z.object({ id: z.uuid(), status: StatusSchema }) },
    handler: async ({ body }, req) => {
      const row = await createCredential(ctx, body, actOf(req));
      return { id: row.id, status: row.status };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/credentials',
    summary: 'List credentials, filtered, in pages (cursor)',
    tag: 'credentials',
    auth: 'viewer',
    query: CredentialListQuery,
    response: {
      status: 200,
      schema: listOf(CredentialView).extend({ total: z.number().int().optional() }),
    },
    handler: async ({ query }) => {
      const where = await credentialFilterWhere(ctx.db, query);
      const total = query.total === 'true' ? countFiltered(ctx.db, query) : undefined;
      const sort = listSort(query.sort);
      if (query.cursor) {
        const after = decodeListCursor(sort, query.cursor);
        const op = sort.desc ? '<' : '>';
        if (sort.expr === 'c.id') where.add(`c.id ${op} $1::uuid`, after.id);
        else where.add(`(${sort.expr}, c.id) ${op} (${sort.param(1)}, $2::uuid)`, after.key, after.id);
      }
      const limit = where.param(query.limit + 1);
      const dir = sort.desc ? 'DESC' : 'ASC';
      const { rows } = await ctx.db.query<CredentialRow & { sort_key: string }>(
        `${LIST_SELECT(sort.keySql)} ${where}
          ORDER BY ${sort.expr === 'c.id' ? '' : `${sort.expr} ${dir}, `}c.id ${dir} LIMIT ${limit}`,
        where.params,
      );
      const page = rows.slice(0, query.limit);
      return {
        items: page.map(credentialView),
        nextCursor: rows.length > query.limit ? encodeListCursor(sort, page.at(-1)!) : null,
        ...(total ? { total: await total } : {}),
      };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/:id',
    summary: 'Get a credential with its dependencies and their status (never its password)',
    tag: 'credentials',
    auth: 'viewer',
    params: IdParams,
    response: { status: 200, schema: CredentialView },
    handler: async ({ params }) => {
      const row = await getCredential(ctx.db, params.id);
      const dependencies = await loadDependencies(ctx.db, [row.id]);
      return { ...credentialView(row), dependencies: dependencies.map(dependencyView) };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/:id/password',
    summary: 'Reveal the stored password (admin; audited)',
    tag: 'credentials',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: z.object({ password: z.string() }) },
    handler: async ({ params }, req) => {
      const row = await getCredential(ctx.db, params.id);
      const password = ctx.box.open(row.secret, row.id, 'secret');
      await audit(ctx.db, req, 'credential.reveal', 'credential', row.id);
      return { password };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/:id/password-history',
    summary:
      'Reveal the earlier passwords kept sealed: ones a change replaced, and new ones discarded after they were handed out (admin; audited)',
    tag: 'credentials',
    auth: 'admin',
    params: IdParams,
    query: PasswordHistoryQuery,
    response: { status: 200, schema: PasswordHistoryView },
    handler: async ({ params, query }, req) => {
      const row = await getCredential(ctx.db, params.id);
      const items = await revealHistory(ctx.db, ctx.box, row.id, query.limit);
      await audit(ctx.db, req, 'credential.reveal_history', 'credential', row.id, { entries: items.length });
      return { items };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/verify',
    summary: 'Sync now: verify the stored password on the target at once',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    response: { status: 202, schema: z.object({ id: z.uuid(), status: StatusSchema }) },
    handler: async ({ params }, req) => {
      const row = await verifyNow(ctx, params.id, actOf(req));
      return { id: row.id, status: row.status };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/change',
    summary: 'Change the password now (generated from the policy; choosing it needs admin)',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    body: ChangeBody,
    response: { status: 202, schema: z.object({ id: z.uuid(), status: StatusSchema }) },
    handler: async ({ params, body }, req) => {
      requireAdminToChoose(req, body.password);
      const row = await changeNow(ctx, params.id, body.password, actOf(req));
      return { id: row.id, status: row.status };
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/credentials/:id',
    summary: 'Delete a credential (refused while a change is in flight unless force=true)',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    query: DeleteQuery,
    response: { status: 200, schema: z.object({ id: z.uuid(), deleted: z.literal(true) }) },
    handler: async ({ params, query }, req) => {
      await deleteCredential(ctx, params.id, query.force === 'true', actOf(req));
      return { id: params.id, deleted: true as const };
    },
  });

  for (const enabled of [true, false]) {
    routes.add({
      method: 'POST',
      url: `/api/v1/credentials/:id/${enabled ? 'enable' : 'disable'}`,
      summary: `${enabled ? 'Enable' : 'Disable'} sync for a credential`,
      tag: 'credentials',
      auth: 'operator',
      params: IdParams,
      response: { status: 200, schema: CredentialView },
      handler: async ({ params }, req) =>
        credentialView(await setSyncEnabled(ctx, params.id, enabled, actOf(req))),
    });
  }

  routes.add({
    method: 'PATCH',
    url: '/api/v1/credentials/:id',
    summary: "Set a credential's policy (it must suit the target) or sync flag",
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    body: PatchCredentialBody,
    response: { status: 200, schema: CredentialView },
    handler: async ({ params, body }, req) =>
      credentialView(await updateCredential(ctx, params.id, body, actOf(req))),
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/resume',
    summary: 'Resume a credential suspended after repeated errors (verified at once, schedule restored)',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    response: { status: 200, schema: CredentialView },
    handler: async ({ params }, req) => credentialView(await resume(ctx, params.id, actOf(req))),
  });
}
