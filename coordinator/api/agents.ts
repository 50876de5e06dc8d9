import { z } from 'zod';
import { AgentVersionRangeSchema } from '../../shared/agent-versions.js';
import { AgentListQuery, AgentView } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { actOnAgentAs } from '../operations/agents.js';
import { listAgents, type AgentAct } from '../store/agents.js';
import { agentView } from './views.js';

export function registerAgentRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/agents',
    summary:
      'List agents (online = heartbeat within 60 s; versionStatus against the supported range, which the answer carries as agentVersions)',
    tag: 'agents',
    auth: 'viewer',
    query: AgentListQuery,
    response: {
      status: 200,
      schema: z.object({ items: z.array(AgentView), agentVersions: AgentVersionRangeSchema }),
    },
    handler: async ({ query }) => {
      const rows = await listAgents(ctx.db, query.siteId ?? null);
      const now = Date.now();
      const versions = ctx.config.agentVersions;
      return { items: rows.map((a) => agentView(a, versions, now)), agentVersions: versions };
    },
  });
  const acts: AgentAct[] = ['enable', 'disable', 'approve', 'revoke'];
  for (const act of acts) {
    routes.add({
      method: 'POST',
      url: `/api/v1/agents/:id/${act}`,
      summary: `${act[0]!.toUpperCase()}${act.slice(1)} an agent`,
      tag: 'agents',
      auth: 'admin',
      params: IdParams,
      response: { status: 200, schema: AgentView },
      handler: async ({ params }, req) =>
        agentView(await actOnAgentAs(ctx, params.id, act, actOf(req)), ctx.config.agentVersions),
    });
  }
}
