import { DeleteQuery } from '../../shared/contracts/api.js';
import { DeletedView } from '../../shared/contracts/admin.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { deleteSiteOrTarget } from '../operations/delete-site-or-target.js';

/** Deleting a target (operator, as creating one): the same rules as a site's delete. */
export function registerTargetDeleteRoute(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'DELETE',
    url: '/api/v1/targets/:id',
    conflict: 'the target still has credentials (force=true deletes them with it)',
    summary:
      'Delete a target: refused (409) while it has credentials unless force=true, which deletes them too (as forced credential deletes)',
    tag: 'targets',
    auth: 'operator',
    params: IdParams,
    query: DeleteQuery,
    response: { status: 200, schema: DeletedView },
    handler: async ({ params, query }, req) => {
      const credentials = await deleteSiteOrTarget(
        ctx,
        'target',
        params.id,
        query.force === 'true',
        actOf(req),
      );
      return { id: params.id, deleted: true as const, credentials };
    },
  });
}
