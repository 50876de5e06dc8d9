import { z } from 'zod';
import {
  CreateSiteBody,
  EnrollmentTokenBody,
  EnrollmentTokenListItem,
  EnrollmentTokenView,
  SiteView,
} from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import {
  createEnrollmentToken,
  createSite,
  mustGetSite,
  revokeEnrollmentToken,
  setSiteEnabled,
} from '../operations/sites.js';
import type { Queryable } from '../store/db.js';
import { listEnrollmentTokens, type EnrollmentTokenRow } from '../store/enrollment.js';
import { lookupNames } from '../store/names.js';
import { listSites } from '../store/sites.js';
import { siteView } from './views.js';

export function registerSiteRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/sites',
    conflict: 'a site with this name exists',
    summary: 'Create a site (a customer network with its own queue and agents)',
    tag: 'sites',
    auth: 'admin',
    body: CreateSiteBody,
    response: { status: 201, schema: SiteView },
    handler: async ({ body }, req) => siteView(await createSite(ctx, body, actOf(req))),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/sites',
    summary: 'List sites',
    tag: 'sites',
    auth: 'viewer',
    response: { status: 200, schema: z.object({ items: z.array(SiteView) }) },
    handler: async () => ({ items: (await listSites(ctx.db)).map(siteView) }),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/sites/:id',
    summary: 'Get a site',
    tag: 'sites',
    auth: 'viewer',
    params: IdParams,
    response: { status: 200, schema: SiteView },
    handler: async ({ params }) => siteView(await mustGetSite(ctx, params.id)),
  });
  for (const enabled of [true, false]) {
    routes.add({
      method: 'POST',
      url: `/api/v1/sites/:id/${enabled ? 'enable' : 'disable'}`,
      summary: `${enabled ? 'Enable' : 'Disable'} a site (its credentials show agent_disabled while disabled)`,
      tag: 'sites',
      auth: 'admin',
      params: IdParams,
      response: { status: 200, schema: SiteView },
      handler: async ({ params }, req) => siteView(await setSiteEnabled(ctx, params.id, enabled, actOf(req))),
    });
  }
  routes.add({
    method: 'POST',
    url: '/api/v1/sites/:id/enrollment-tokens',
    summary: 'Create a one-time, expiring enrollment token for a new agent of the site',
    tag: 'sites',
    auth: 'admin',
    params: IdParams,
    body: EnrollmentTokenBody,
    response: { status: 201, schema: EnrollmentTokenView },
    handler: async ({ params, body }, req) => {
      const { id, token, expiresAt } = await createEnrollmentToken(ctx, params.id, body, actOf(req));
      return { id, token, expiresAt: expiresAt.toISOString() };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/sites/:id/enrollment-tokens',
    summary:
      "A site's enrollment tokens, newest first: state, uses left, who created, used and revoked them (never the token)",
    tag: 'sites',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: z.object({ items: z.array(EnrollmentTokenListItem) }) },
    handler: async ({ params }) => {
      await mustGetSite(ctx, params.id);
      const rows = await listEnrollmentTokens(ctx.db, params.id);
      return { items: await enrollmentTokenViews(ctx.db, rows, Date.now()) };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/v1/enrollment-tokens/:id/revoke',
    summary: 'Revoke an enrollment token: it enrolls no agent any more (agents it enrolled stay)',
    tag: 'sites',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: EnrollmentTokenListItem },
    handler: async ({ params }, req) =>
      (
        await enrollmentTokenViews(
          ctx.db,
          [await revokeEnrollmentToken(ctx, params.id, actOf(req))],
          Date.now(),
        )
      )[0]!,
  });
}

/** Enrollment tokens as listed, with the names of who created, used and revoked them. */
async function enrollmentTokenViews(q: Queryable, rows: EnrollmentTokenRow[], now: number) {
  const names = await lookupNames(q, {
    token: rows.flatMap((r) => [r.created_by, r.revoked_by]),
    agent: rows.map((r) => r.used_by),
  });
  return rows.map((r) => ({
    ...enrollmentTokenView(r, now),
    createdByName: names.token.get(r.created_by) ?? r.created_by,
    lastUsedByName: r.used_by ? (names.agent.get(r.used_by) ?? r.used_by) : null,
    revokedByName: r.revoked_by ? (names.token.get(r.revoked_by) ?? r.revoked_by) : null,
  }));
}

function enrollmentTokenView(r: EnrollmentTokenRow, now: number) {
  const state = r.revoked_at
    ? ('revoked' as const)
    : r.uses_left <= 0
      ? ('used_up' as const)
      : r.expires_at.getTime() <= now
        ? ('expired' as const)
        : ('active' as const);
  return {
    id: r.id,
    siteId: r.site_id,
    state,
    usesLeft: r.uses_left,
    expiresAt: r.expires_at.toISOString(),
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.used_at?.toISOString() ?? null,
    lastUsedBy: r.used_by,
    revokedAt: r.revoked_at?.toISOString() ?? null,
    revokedBy: r.revoked_by,
  };
}
