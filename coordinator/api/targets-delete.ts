import { DeleteQuery } from '../../shared/contracts/api.js';
import { DeletedView } from '../../shared/contracts/admin.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { audit } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { deleteAllCredentials } from '../operations/delete-all.js';
import { deleteTargetRow, targetUsage } from '../store/removals.js';
import { getTarget } from '../store/targets.js';
import { inUse } from './sites-edit.js';

/** Deleting a target (operator, as creating one): the same rules as a site's delete. */
export function registerTargetDeleteRoute(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'DELETE',
    url: '/api/v1/targets/:id',
    summary:
      'Delete a target: refused (409) while it has credentials unless force=true, which deletes them too (as forced credential deletes)',
    tag: 'targets',
    auth: 'operator',
    params: IdParams,
    query: DeleteQuery,
    response: { status: 200, schema: DeletedView },
    handler: async ({ params, query }, req) => {
      const force = query.force === 'true';
      const credentials = await ctx.db.tx(async (q) => {
        const target = await getTarget(q, params.id, true);
        if (!target) throw new SyncError('NOT_FOUND', `target ${params.id} not found`);
        const usage = await targetUsage(q, params.id);
        if (usage.credentials > 0 && !force) throw inUse(`target '${target.name}'`, usage);
        const credentials = await deleteAllCredentials(ctx, q, { targetId: params.id });
        await deleteTargetRow(q, params.id);
        await audit(q, req, force ? 'target.force_delete' : 'target.delete', 'target', params.id, {
          siteId: target.site_id,
          name: target.name,
          kind: target.kind,
          credentials,
        });
        return credentials;
      });
      return { id: params.id, deleted: true as const, credentials };
    },
  });
}
