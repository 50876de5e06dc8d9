import { AgentView } from '../../shared/contracts/api.js';
import { PatchAgentBody } from '../../shared/contracts/admin.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { denyAgentAs, renameAgentAs } from '../operations/agents.js';
import { agentView } from './views.js';

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
    handler: async ({ params, body }, req) =>
      agentView(await renameAgentAs(ctx, params.id, body.name, actOf(req)), ctx.config.agentVersions),
  });
  routes.add({
    method: 'POST',
    url: '/api/v1/agents/:id/deny',
    conflict: 'the agent is approved already (disable or revoke it instead)',
    summary:
      'Deny an agent waiting for approval: it is revoked and can never take work (409 for an agent already approved: disable or revoke it)',
    tag: 'agents',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: AgentView },
    handler: async ({ params }, req) =>
      agentView(await denyAgentAs(ctx, params.id, actOf(req)), ctx.config.agentVersions),
  });
}
