import { z } from 'zod';
import { AgentVersionRangeSchema } from '../../shared/agent-versions.js';
import { AgentListQuery, AgentView } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { audit } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import { getAgent, type AgentRow } from '../store/agents.js';
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
      const { rows } = await ctx.db.query<AgentRow>(
        `SELECT * FROM agents WHERE revoked_at IS NULL AND ($1::uuid IS NULL OR site_id = $1) ORDER BY enrolled_at`,
        [query.siteId ?? null],
      );
      const now = Date.now();
      const versions = ctx.config.agentVersions;
      return { items: rows.map((a) => agentView(a, versions, now)), agentVersions: versions };
    },
  });
  const actions: { path: string; set: string; action: string }[] = [
    { path: 'enable', set: 'enabled = true', action: 'agent.enable' },
    { path: 'disable', set: 'enabled = false', action: 'agent.disable' },
    { path: 'approve', set: 'approved = true', action: 'agent.approve' },
    { path: 'revoke', set: 'revoked_at = now(), enabled = false', action: 'agent.revoke' },
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
          await q.query(`UPDATE agents SET ${a.set} WHERE id = $1`, [params.id]);
          await audit(q, req, a.action, 'agent', params.id, { siteId: before.site_id });
        });
        await refreshSiteStatuses(ctx, before.site_id);
        ctx.wake.notify(before.site_id);
        return agentView((await getAgent(ctx.db, params.id))!, ctx.config.agentVersions);
      },
    });
  }
}
