import type { FastifyRequest } from 'fastify';
import {
  ClaimRequestSchema,
  ClaimResponseSchema,
  EnrollRequestSchema,
  EnrollResponseSchema,
  ExtendRequestSchema,
  ExtendResponseSchema,
  GATEWAY_PATHS,
  HeartbeatRequestSchema,
  HeartbeatResponseSchema,
  ReleaseRequestSchema,
  ReleaseResponseSchema,
  ReportRequestSchema,
  ReportResponseSchema,
} from '../../shared/contracts/gateway.js';
import { unsupportedReason, versionStatus } from '../../shared/agent-versions.js';
import type { Ctx } from '../context.js';
import type { Routes } from '../http/routes.js';
import { recordHeartbeat, type AgentRow } from '../store/agents.js';
import { agentState, refuseUnsupportedVersion, type IdentifiedAgent } from './agent-auth.js';
import { claim } from './claim.js';
import { enroll } from './enroll.js';
import { extend, release, releaseUndelivered } from './locks.js';
import { report } from './report.js';

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentRow;
  }
}

const agentOf = (req: FastifyRequest): AgentRow => req.agent!;

/** The agent gateway: the only door agents have. Every call but enroll is authenticated and site-scoped. */
export function registerGateway(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: GATEWAY_PATHS.enroll,
    summary: 'Enroll an agent with a one-time enrollment token',
    tag: 'gateway',
    auth: 'public',
    body: EnrollRequestSchema,
    response: { status: 201, schema: EnrollResponseSchema },
    handler: ({ body }) => enroll(ctx, body),
  });
  routes.add({
    method: 'POST',
    url: GATEWAY_PATHS.heartbeat,
    summary:
      "Agent heartbeat: recorded for every enrolled agent, disabled or waiting too; answers the agent's state",
    tag: 'gateway',
    // A disabled or pending agent is alive all the same: its heartbeat is recorded (online, version,
    // jobs in flight) and it hears its state, which pauses or resumes its claiming. Every call that
    // touches work still refuses it with 403.
    auth: 'agent-identified',
    body: HeartbeatRequestSchema,
    response: { status: 200, schema: HeartbeatResponseSchema },
    handler: async ({ body }, req) => {
      const agent = req.agent as IdentifiedAgent;
      await recordHeartbeat(ctx.db, agent.id, body);
      const version = body.version ?? agent.version;
      const message = unsupportedReason(version, ctx.config.agentVersions);
      return {
        agentId: agent.id,
        siteId: agent.site_id,
        state: agentState(agent),
        agentVersion: {
          status: versionStatus(version, ctx.config.agentVersions),
          supported: ctx.config.agentVersions,
          ...(message === undefined ? {} : { message }),
        },
        serverTime: new Date().toISOString(),
        lockMs: ctx.config.JOB_LOCK_MS,
        extendEveryMs: Math.floor(ctx.config.JOB_LOCK_MS / 3),
        heartbeatEveryMs: ctx.config.HEARTBEAT_EVERY_MS,
        // A report may carry the agent's next claim (report.ts); older coordinators never say so.
        reportMayClaim: true,
        // A claim may be the agent's priority lane (claim.ts, priorityOnly).
        priorityClaims: true,
      };
    },
  });
  routes.add({
    method: 'POST',
    url: GATEWAY_PATHS.claim,
    // With Redis unavailable a claim waits out its waitMs as on an empty queue and answers no jobs.
    summary: 'Claim jobs of the agent site (long-poll)',
    tag: 'gateway',
    auth: 'agent',
    body: ClaimRequestSchema,
    response: { status: 200, schema: ClaimResponseSchema },
    handler: async ({ body }, req, reply) => {
      // The response's 'close' before it was written = the agent went away: stop waiting.
      const aborted = new AbortController();
      reply.raw.once('close', () => aborted.abort());
      const agent = agentOf(req);
      refuseUnsupportedVersion(ctx, agent);
      // A coordinator shutting down ends the wait too (the agent asks again, elsewhere or later).
      const signal = AbortSignal.any([aborted.signal, ctx.shutdown]);
      const jobs = await claim(ctx, agent, body.max, body.waitMs, signal, body.priorityOnly === true);
      if (aborted.signal.aborted && jobs.length > 0) {
        // Nobody will read this answer: hand the jobs back now rather than after their locks expire
        // (no agent saw their secrets: a change's hand-out is taken back).
        await releaseUndelivered(ctx, agent, jobs);
        return { jobs: [] };
      }
      return { jobs };
    },
  });
  routes.add({
    method: 'POST',
    url: GATEWAY_PATHS.extend,
    summary: 'Extend the locks of jobs in flight',
    tag: 'gateway',
    auth: 'agent',
    body: ExtendRequestSchema,
    batch: 'jobs',
    response: { status: 200, schema: ExtendResponseSchema },
    unavailable:
      'Redis unavailable: locks could not be extended (none of the jobs counts as extended, none is lost); extend again',
    handler: ({ body, refused }, req) => extend(ctx, agentOf(req), body.jobs, refused),
  });
  routes.add({
    method: 'POST',
    url: GATEWAY_PATHS.report,
    summary: 'Report job results (batched)',
    tag: 'gateway',
    auth: 'agent',
    body: ReportRequestSchema,
    batch: 'results',
    response: { status: 200, schema: ReportResponseSchema },
    unavailable:
      'Redis unavailable: results not taken; keep the whole batch and send it again (results of it that were taken are then rejected as not held)',
    handler: async ({ body, refused }, req, reply) => {
      const agent = agentOf(req);
      if (!body.claim) return report(ctx, agent, body.results, refused);
      // With its next jobs (claim.max): as for a claim, an agent gone before the answer was written
      // never sees them, so they go back to the queue at once (and a change's hand-out is taken back).
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      const answer = await report(ctx, agent, body.results, refused, body.claim.max);
      const jobs = answer.jobs ?? [];
      if (gone.signal.aborted && jobs.length > 0) {
        await releaseUndelivered(ctx, agent, jobs);
        return { ...answer, jobs: [] };
      }
      return answer;
    },
  });
  routes.add({
    method: 'POST',
    url: GATEWAY_PATHS.release,
    summary: 'Hand jobs back to the queue',
    tag: 'gateway',
    auth: 'agent',
    body: ReleaseRequestSchema,
    batch: 'jobs',
    response: { status: 200, schema: ReleaseResponseSchema },
    unavailable: 'Redis unavailable: jobs not handed back; they return to the queue when their locks expire',
    handler: ({ body, refused }, req) => release(ctx, agentOf(req), body.jobs, false, refused),
  });
}
