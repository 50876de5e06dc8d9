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
import { actOf, actorOf } from '../http/actor.js';
import { changeNow } from '../operations/change.js';
import { createCredential } from '../operations/create-credential.js';
import { deleteCredential } from '../operations/delete.js';
import { resume } from '../operations/resume.js';
import { revealPassword, revealPasswordHistory } from '../operations/reveal.js';
import { setSyncEnabled } from '../operations/sync-enabled.js';
import { updateCredential } from '../operations/update.js';
import { verifyNow } from '../operations/verify-now.js';
import { badCursor, decodeCursor, encodeCursor, UuidKey } from '../http/cursor.js';
import { hasRole } from '../http/operator-auth.js';
import { IdParams, type Routes } from '../http/routes.js';
import { listCredentials, listSort, plainOrder, type ListSort } from '../credentials/list.js';
import { countFiltered } from '../credentials/list-filter.js';
import { type CredentialRow } from '../credentials/store.js';
import { credentialWithDependencies } from '../dependencies/operations.js';
import { dependencyView } from '../dependencies/store.js';
import { namedCredentialViews } from './named.js';

/** One credential as its list shows it, names included (the answer of its actions). */
async function namedCredentialView(ctx: Ctx, row: CredentialRow): Promise<z.output<typeof CredentialView>> {
  return (await namedCredentialViews(ctx.db, [row]))[0]!;
}

/** The default order's cursor: the last id alone (as before sorting existed). */
const encodeIdCursor = (id: string) => Buffer.from(id).toString('base64url');
function decodeIdCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!UuidKey.safeParse(id).success) throw badCursor();
  return id;
}

/**
 * Keyset paging for a sort: the cursor carries the sort it was written for (a cursor of another
 * sort is a 400, not a page from the wrong place), the last row's sort key (rendered by PostgreSQL)
 * and id. Sorted by id ascending (the default) the cursor is the id alone.
 */
const encodeListCursor = (s: ListSort, row: CredentialRow & { sort_key: string }) =>
  plainOrder(s) ? encodeIdCursor(row.id) : encodeCursor([s.name, row.sort_key, row.id]);
function decodeListCursor(s: ListSort, cursor: string): { key: string; id: string } {
  if (plainOrder(s)) {
    const id = decodeIdCursor(cursor);
    return { key: id, id };
  }
  const [, key, id] = decodeCursor(cursor, z.tuple([z.literal(s.name), s.key, UuidKey]));
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

/** The filters of the credential list (and of its export), with a page's size and cursor. */
export type CredentialPageQuery = Omit<z.output<typeof CredentialListQuery>, 'cursor'> & {
  cursor?: string | undefined;
};

/** One page of the filtered, sorted credential list (keyset: `nextCursor` reads the next). */
export async function credentialsPage(
  ctx: Ctx,
  query: CredentialPageQuery,
): Promise<{ rows: CredentialRow[]; nextCursor: string | null }> {
  const sort = listSort(query.sort);
  const after = query.cursor ? decodeListCursor(sort, query.cursor) : null;
  const rows = await listCredentials(ctx.db, query, sort, after, query.limit + 1);
  const page = rows.slice(0, query.limit);
  return {
    rows: page,
    nextCursor: rows.length > query.limit ? encodeListCursor(sort, page.at(-1)!) : null,
  };
}

export function registerCredentialRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/credentials',
    conflict: 'the target has a credential with this username',
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
      const [page, total] = await Promise.all([
        credentialsPage(ctx, query),
        query.total === 'true' ? countFiltered(ctx.db, query) : undefined,
      ]);
      return {
        items: await namedCredentialViews(ctx.db, page.rows),
        nextCursor: page.nextCursor,
        ...(total !== undefined ? { total } : {}),
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
      const { row, dependencies } = await credentialWithDependencies(ctx.db, params.id);
      const [view] = await namedCredentialViews(ctx.db, [row]);
      return { ...view!, dependencies: dependencies.map(dependencyView) };
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
    handler: async ({ params }, req) => ({ password: await revealPassword(ctx, params.id, actOf(req)) }),
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
    handler: async ({ params, query }, req) => ({
      items: await revealPasswordHistory(ctx, params.id, query.limit, actOf(req)),
    }),
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/verify',
    conflict: 'sync is disabled for the credential',
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
    conflict:
      'sync is disabled for the credential, a change with a chosen password while another is in flight, or the credential is a member of a sync group (change the group)',
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
    conflict: 'a password change is in flight (force=true deletes anyway)',
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
        namedCredentialView(ctx, await setSyncEnabled(ctx, params.id, enabled, actOf(req))),
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
      namedCredentialView(ctx, await updateCredential(ctx, params.id, body, actOf(req))),
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/resume',
    summary: 'Resume a credential suspended after repeated errors (verified at once, schedule restored)',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    response: { status: 200, schema: CredentialView },
    handler: async ({ params }, req) => namedCredentialView(ctx, await resume(ctx, params.id, actOf(req))),
  });
}
