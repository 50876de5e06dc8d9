import { z } from 'zod';
import { AgentVersionRangeSchema } from '../../shared/agent-versions.js';
import { AgentListQuery, AgentView } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { audit } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import { actOnAgent, getAgent, listAgents, type AgentAct } from '../store/agents.js';
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
  const actions: { path: AgentAct; action: string }[] = [
    { path: 'enable', action: 'agent.enable' },
    { path: 'disable', action: 'agent.disable' },
    { path: 'approve', action: 'agent.approve' },
    { path: 'revoke', action: 'agent.revoke' },
  ];
  for (const a of actions) {
    routes.add({
      method: 'POST',
      url: `/api/v1/agents/:id/${a.path}`,
      summary: `${a.path[0]!.toUpperCase()}${a.path.slice(1)} an agent`,
      tag: 'agents',
      auth: 'admin',
      params: IdParams,
      response: { status: 200, schema: AgentView },
      handler: async ({ params }, req) => {
        const before = await getAgent(ctx.db, params.id);
        if (!before || before.revoked_at) throw new SyncError('NOT_FOUND', `agent ${params.id} not found`);
        await ctx.db.tx(async (q) => {
          await actOnAgent(q, params.id, a.path);
          await audit(q, req, a.action, 'agent', params.id, { siteId: before.site_id });
        });
        await refreshSiteStatuses(ctx, before.site_id);
        ctx.wake.notify(before.site_id);
        return agentView((await getAgent(ctx.db, params.id))!, ctx.config.agentVersions);
      },
    });
  }
}
