import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { deleteSiteRow, deleteTargetRow, siteUsage, targetUsage, type Usage } from '../store/removals.js';
import { getSite } from '../store/sites.js';
import { getTarget } from '../store/targets.js';
import { deleteAllCredentials } from './delete-all.js';

/** The 409 of a delete refused while something hangs on the object, saying what and how to force it. */
function inUse(what: string, usage: Usage): SyncError {
  const parts = [
    usage.credentials > 0 ? `${usage.credentials} credential(s)` : '',
    usage.agents > 0 ? `${usage.agents} agent(s)` : '',
  ].filter(Boolean);
  return new SyncError(
    'CONFLICT',
    `${what} still has ${parts.join(' and ')}: delete or move them first, or use force=true to delete them with it`,
  );
}

/** How each kind is loaded, counted, deleted and audited. */
const KINDS = {
  site: {
    load: async (q: Queryable, id: string) => {
      const site = await getSite(q, id);
      return site && { name: site.name, details: {} };
    },
    usage: siteUsage,
    scope: (id: string) => ({ siteId: id }),
    deleteRow: deleteSiteRow,
    details: (usage: Usage) => ({ agents: usage.agents }),
  },
  target: {
    load: async (q: Queryable, id: string) => {
      const target = await getTarget(q, id, true);
      return target && { name: target.name, details: { siteId: target.site_id, kind: target.kind } };
    },
    usage: targetUsage,
    scope: (id: string) => ({ targetId: id }),
    deleteRow: deleteTargetRow,
    details: () => ({}),
  },
};

/**
 * Deletes a site (with its targets, agents and enrollment tokens) or a target, in one transaction:
 * refused (409) while credentials (or a site's agents not revoked) hang on it unless `force`, which
 * deletes its credentials too (as forced credential deletes: operations/delete-all.ts). Audited as
 * `<kind>.delete` or `<kind>.force_delete`. Returns how many credentials went with it.
 */
export async function deleteSiteOrTarget(
  ctx: Ctx,
  kind: keyof typeof KINDS,
  id: string,
  force: boolean,
  by: OperatorAct,
): Promise<number> {
  const k = KINDS[kind];
  return ctx.db.tx(async (q) => {
    const found = await k.load(q, id);
    if (!found) throw new SyncError('NOT_FOUND', `${kind} ${id} not found`);
    const usage = await k.usage(q, id);
    if ((usage.credentials > 0 || usage.agents > 0) && !force) throw inUse(`${kind} '${found.name}'`, usage);
    const credentials = await deleteAllCredentials(ctx, q, k.scope(id));
    await k.deleteRow(q, id);
    await auditOperator(q, by, `${kind}.${force ? 'force_delete' : 'delete'}`, kind, id, {
      ...found.details,
      name: found.name,
      credentials,
      ...k.details(usage),
    });
    return credentials;
  });
}
