import { DeleteQuery, SiteView } from '../../shared/contracts/api.js';
import { DeletedView, PatchSiteBody } from '../../shared/contracts/admin.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { deleteSiteOrTarget } from '../operations/delete-site-or-target.js';
import { editSite } from '../operations/sites.js';
import { siteView } from './views.js';

/** Editing and deleting sites (admin). */
export function registerSiteEditRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'PATCH',
    url: '/api/v1/sites/:id',
    conflict: 'a site with this name exists',
    summary:
      'Edit a site: rename, require approval of new agents, enable or disable (as POST /sites/{id}/enable, /disable)',
    tag: 'sites',
    auth: 'admin',
    params: IdParams,
    body: PatchSiteBody,
    response: { status: 200, schema: SiteView },
    handler: async ({ params, body }, req) => siteView(await editSite(ctx, params.id, body, actOf(req))),
  });
  routes.add({
    method: 'DELETE',
    url: '/api/v1/sites/:id',
    conflict: 'the site still has credentials or agents (force=true deletes them with it)',
    summary:
      'Delete a site with its targets and enrollment tokens: refused (409) while it has credentials or agents (not revoked) unless force=true, which deletes them too',
    tag: 'sites',
    auth: 'admin',
    params: IdParams,
    query: DeleteQuery,
    response: { status: 200, schema: DeletedView },
    handler: async ({ params, query }, req) => {
      const credentials = await deleteSiteOrTarget(
        ctx,
        'site',
        params.id,
        query.force === 'true',
        actOf(req),
      );
      return { id: params.id, deleted: true as const, credentials };
    },
  });
}
