import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import {
  actOnAgent,
  denyAgent,
  getAgent,
  renameAgent,
  type AgentAct,
  type AgentRow,
} from '../store/agents.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';

/*
 * What an admin can do to an agent, without HTTP. Each write is one transaction, audited; what
 * changes which agents can take work is followed by the site's credential statuses.
 */

/** The agent `id`, not revoked; 404 otherwise. */
export async function liveAgent(ctx: Ctx, id: string): Promise<AgentRow> {
  const agent = await getAgent(ctx.db, id);
  if (!agent || agent.revoked_at) throw new SyncError('NOT_FOUND', `agent ${id} not found`);
  return agent;
}

/** Enables, disables, approves or revokes an agent (audited as `agent.<act>`); its site's agents wake. */
export async function actOnAgentAs(ctx: Ctx, id: string, act: AgentAct, by: OperatorAct): Promise<AgentRow> {
  const before = await liveAgent(ctx, id);
  await ctx.db.tx(async (q) => {
    await actOnAgent(q, id, act);
    await auditOperator(q, by, `agent.${act}`, 'agent', id, { siteId: before.site_id });
  });
  await refreshSiteStatuses(ctx, before.site_id);
  ctx.wake.notify(before.site_id);
  return (await getAgent(ctx.db, id))!;
}

/** Renames an agent (the name it enrolled with is only a label). */
export async function renameAgentAs(ctx: Ctx, id: string, name: string, by: OperatorAct): Promise<AgentRow> {
  const before = await liveAgent(ctx, id);
  await ctx.db.tx(async (q) => {
    await renameAgent(q, id, name);
    await auditOperator(q, by, 'agent.rename', 'agent', id, {
      siteId: before.site_id,
      name: { from: before.name, to: name },
    });
  });
  return liveAgent(ctx, id);
}

/** Denies an agent waiting for approval: it is revoked (409 for one approved already). */
export async function denyAgentAs(ctx: Ctx, id: string, by: OperatorAct): Promise<AgentRow> {
  const before = await liveAgent(ctx, id);
  if (before.approved) {
    throw new SyncError(
      'CONFLICT',
      `agent '${before.name}' is approved already: disable or revoke it instead`,
    );
  }
  await ctx.db.tx(async (q) => {
    await denyAgent(q, id);
    await auditOperator(q, by, 'agent.deny', 'agent', id, { siteId: before.site_id });
  });
  await refreshSiteStatuses(ctx, before.site_id);
  return (await getAgent(ctx.db, id))!;
}
