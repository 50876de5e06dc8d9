import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  CreateSiteBody,
  EnrollmentTokenBody,
  EnrollmentTokenListItem,
  EnrollmentTokenView,
  SiteView,
} from '../../shared/contracts/api.js';
import { hashToken, randomSecret } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { actorOf, audit } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import { getSite, type SiteRow } from '../store/sites.js';
import { siteView } from './views.js';

async function mustGetSite(ctx: Ctx, id: string): Promise<SiteRow> {
  const site = await getSite(ctx.db, id);
  if (!site) throw new SyncError('NOT_FOUND', `site ${id} not found`);
  return site;
}

export function registerSiteRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/sites',
    summary: 'Create a site (a customer network with its own queue and agents)',
    tag: 'sites',
    auth: 'admin',
    body: CreateSiteBody,
    response: { status: 201, schema: SiteView },
    handler: async ({ body }, req) => {
      const id = randomUUID();
      const { rows } = await ctx.db.tx(async (q) => {
        const r = await q.query<SiteRow>(
          `INSERT INTO sites (id, name, require_approval) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING *`,
          [id, body.name, body.requireApproval],
        );
        if (r.rows.length === 0) throw new SyncError('CONFLICT', `name: a site named '${body.name}' exists`);
        await audit(q, req, 'site.create', 'site', id, { name: body.name });
        return r;
      });
      return siteView(rows[0]!);
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/sites',
    summary: 'List sites',
    tag: 'sites',
    auth: 'viewer',
    response: { status: 200, schema: z.object({ items: z.array(SiteView) }) },
    handler: async () => {
      const { rows } = await ctx.db.query<SiteRow>('SELECT * FROM sites ORDER BY name');
      return { items: rows.map(siteView) };
    },
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
      handler: async ({ params }, req) => {
        await mustGetSite(ctx, params.id);
        await ctx.db.tx(async (q) => {
          await q.query('UPDATE sites SET enabled = $2 WHERE id = $1', [params.id, enabled]);
          await audit(q, req, enabled ? 'site.enable' : 'site.disable', 'site', params.id);
        });
        await refreshSiteStatuses(ctx, params.id);
        if (enabled) ctx.wake.notify(params.id);
        return siteView(await mustGetSite(ctx, params.id));
      },
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
      await mustGetSite(ctx, params.id);
      const token = `pwe_${randomSecret()}`;
      const id = randomUUID();
      const ttl = body.ttlSeconds ?? ctx.config.ENROLLMENT_TTL_S;
      const expiresAt = new Date(Date.now() + ttl * 1000);
      await ctx.db.tx(async (q) => {
        await q.query(
          `INSERT INTO enrollment_tokens (id, site_id, token_hash, expires_at, uses_left, created_by)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [id, params.id, hashToken(token), expiresAt.toISOString(), body.uses, actorOf(req).id],
        );
        await audit(q, req, 'enrollment_token.create', 'site', params.id, {
          tokenId: id,
          expiresAt,
          uses: body.uses,
        });
      });
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
      const { rows } = await ctx.db.query<EnrollmentTokenRow>(
        `SELECT id, site_id, uses_left, expires_at, created_by, created_at, used_at, used_by, revoked_at, revoked_by
           FROM enrollment_tokens WHERE site_id = $1 ORDER BY created_at DESC, id LIMIT 500`,
        [params.id],
      );
      const now = Date.now();
      return { items: rows.map((r) => enrollmentTokenView(r, now)) };
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
      ctx.db.tx(async (q) => {
        const { rows } = await q.query<EnrollmentTokenRow>(
          `UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, $2)
            WHERE id = $1
            RETURNING id, site_id, uses_left, expires_at, created_by, created_at, used_at, used_by, revoked_at, revoked_by`,
          [params.id, actorOf(req).id],
        );
        const row = rows[0];
        if (!row) throw new SyncError('NOT_FOUND', `enrollment token ${params.id} not found`);
        await audit(q, req, 'enrollment_token.revoke', 'enrollment_token', row.id, { siteId: row.site_id });
        return enrollmentTokenView(row, Date.now());
      }),
  });
}

interface EnrollmentTokenRow {
  id: string;
  site_id: string;
  uses_left: number;
  expires_at: Date;
  created_by: string;
  created_at: Date;
  used_at: Date | null;
  used_by: string | null;
  revoked_at: Date | null;
  revoked_by: string | null;
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
