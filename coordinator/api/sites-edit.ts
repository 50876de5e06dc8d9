import { DeleteQuery, SiteView } from '../../shared/contracts/api.js';
import { DeletedView, PatchSiteBody } from '../../shared/contracts/admin.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import { audit } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { deleteAllCredentials } from '../operations/delete-all.js';
import { deleteSiteRow, siteUsage, type Usage } from '../store/removals.js';
import { getSite, updateSite } from '../store/sites.js';
import { siteView } from './views.js';

/** The 409 of a delete refused while something hangs on the object, saying what and how to force it. */
export function inUse(what: string, usage: Usage): SyncError {
  const parts = [
    usage.credentials > 0 ? `${usage.credentials} credential(s)` : '',
    usage.agents > 0 ? `${usage.agents} agent(s)` : '',
  ].filter(Boolean);
  return new SyncError(
    'CONFLICT',
    `${what} still has ${parts.join(' and ')}: delete or move them first, or use force=true to delete them with it`,
  );
}

/** Editing and deleting sites (admin). */
export function registerSiteEditRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'PATCH',
    url: '/api/v1/sites/:id',
    summary:
      'Edit a site: rename, require approval of new agents, enable or disable (as POST /sites/{id}/enable, /disable)',
    tag: 'sites',
    auth: 'admin',
    params: IdParams,
    body: PatchSiteBody,
    response: { status: 200, schema: SiteView },
    handler: async ({ params, body }, req) => {
      const { row, before } = await ctx.db.tx(async (q) => {
        const before = await getSite(q, params.id);
        if (!before) throw new SyncError('NOT_FOUND', `site ${params.id} not found`);
        const row = await updateSite(q, params.id, body);
        if (row === 'taken') throw new SyncError('CONFLICT', `name: a site named '${body.name}' exists`);
        if (!row) throw new SyncError('NOT_FOUND', `site ${params.id} not found`);
        await audit(q, req, 'site.update', 'site', params.id, {
          ...(row.name !== before.name ? { name: { from: before.name, to: row.name } } : {}),
          ...(row.require_approval !== before.require_approval
            ? { requireApproval: row.require_approval }
            : {}),
          ...(row.enabled !== before.enabled ? { enabled: row.enabled } : {}),
        });
        return { row, before };
      });
      if (row.enabled !== before.enabled) {
        await refreshSiteStatuses(ctx, params.id);
        if (row.enabled) ctx.wake.notify(params.id);
      }
      return siteView(row);
    },
  });
  routes.add({
    method: 'DELETE',
    url: '/api/v1/sites/:id',
    summary:
      'Delete a site with its targets and enrollment tokens: refused (409) while it has credentials or agents (not revoked) unless force=true, which deletes them too',
    tag: 'sites',
    auth: 'admin',
    params: IdParams,
    query: DeleteQuery,
    response: { status: 200, schema: DeletedView },
    handler: async ({ params, query }, req) => {
      const force = query.force === 'true';
      const credentials = await ctx.db.tx(async (q) => {
        const site = await getSite(q, params.id);
        if (!site) throw new SyncError('NOT_FOUND', `site ${params.id} not found`);
        const usage = await siteUsage(q, params.id);
        if ((usage.credentials > 0 || usage.agents > 0) && !force) throw inUse(`site '${site.name}'`, usage);
        const credentials = await deleteAllCredentials(ctx, q, { siteId: params.id });
        await deleteSiteRow(q, params.id);
        await audit(q, req, force ? 'site.force_delete' : 'site.delete', 'site', params.id, {
          name: site.name,
          credentials,
          agents: usage.agents,
        });
        return credentials;
      });
      return { id: params.id, deleted: true as const, credentials };
    },
  });
}
