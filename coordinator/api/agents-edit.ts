import { AgentView } from '../../shared/contracts/api.js';
import { PatchAgentBody } from '../../shared/contracts/admin.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import { audit } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { denyAgent, getAgent, renameAgent, type AgentRow } from '../store/agents.js';
import { agentView } from './views.js';

async function liveAgent(ctx: Ctx, id: string): Promise<AgentRow> {
  const agent = await getAgent(ctx.db, id);
  if (!agent || agent.revoked_at) throw new SyncError('NOT_FOUND', `agent ${id} not found`);
  return agent;
}

/** Renaming an agent, and refusing one that waits for approval (admin). */
export function registerAgentEditRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'PATCH',
    url: '/api/v1/agents/:id',
    summary: 'Rename an agent (the name it enrolled with is only a label)',
    tag: 'agents',
    auth: 'admin',
    params: IdParams,
    body: PatchAgentBody,
    response: { status: 200, schema: AgentView },
    handler: async ({ params, body }, req) => {
      const before = await liveAgent(ctx, params.id);
      await ctx.db.tx(async (q) => {
        await renameAgent(q, params.id, body.name);
        await audit(q, req, 'agent.rename', 'agent', params.id, {
          siteId: before.site_id,
          name: { from: before.name, to: body.name },
        });
      });
      return agentView(await liveAgent(ctx, params.id), ctx.config.agentVersions);
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/v1/agents/:id/deny',
    summary:
      'Deny an agent waiting for approval: it is revoked and can never take work (409 for an agent already approved: disable or revoke it)',
    tag: 'agents',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: AgentView },
    handler: async ({ params }, req) => {
      const before = await liveAgent(ctx, params.id);
      if (before.approved) {
        throw new SyncError(
          'CONFLICT',
          `agent '${before.name}' is approved already: disable or revoke it instead`,
        );
      }
      await ctx.db.tx(async (q) => {
        await denyAgent(q, params.id);
        await audit(q, req, 'agent.deny', 'agent', params.id, { siteId: before.site_id });
      });
      await refreshSiteStatuses(ctx, before.site_id);
      return agentView((await getAgent(ctx.db, params.id))!, ctx.config.agentVersions);
    },
  });
}
