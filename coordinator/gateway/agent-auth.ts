import { unsupportedReason } from '../../shared/agent-versions.js';
import { hashToken, safeEqualHex } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { AGENT_TOKEN, bearerToken } from '../http/bearer.js';
import { loadAgentWithSite, type AgentRow } from '../store/agents.js';

/** Agent credentials look like `pwa_<agentId>.<secret>`; operator tokens never do. */
export const AGENT_TOKEN_PREFIX = 'pwa_';

export const agentToken = (agentId: string, secret: string) => `${AGENT_TOKEN_PREFIX}${agentId}.${secret}`;

/** An agent identified by its token, with whether its site is enabled. */
export type IdentifiedAgent = AgentRow & { site_enabled: boolean };

/** What an agent may do now: `active` = claim work; `pending` = awaits approval; `disabled` = it or its site is. */
export type AgentState = 'active' | 'pending' | 'disabled';

export function agentState(agent: IdentifiedAgent): AgentState {
  if (!agent.enabled || !agent.site_enabled) return 'disabled';
  if (!agent.approved) return 'pending';
  return 'active';
}

/**
 * Identifies an agent by its token: it must match the stored hash and the agent must not be revoked
 * (401). Says nothing about whether it may work: see authenticateAgent.
 */
export async function identifyAgent(ctx: Ctx, authorization: string | undefined): Promise<IdentifiedAgent> {
  const token = bearerToken(authorization);
  const match = token ? AGENT_TOKEN.exec(token) : null;
  if (!token || !match) throw new SyncError('UNAUTHENTICATED', 'an agent token is required');
  const agent = await loadAgentWithSite(ctx.db, match[1]!);
  if (!agent || agent.revoked_at || !safeEqualHex(agent.token_hash, hashToken(token))) {
    throw new SyncError('UNAUTHENTICATED', 'agent token invalid or revoked');
  }
  return agent;
}

/**
 * Authenticates an agent on every gateway call that touches work: identified (401 otherwise), and
 * enabled, approved and of an enabled site (403 otherwise). The heartbeat only identifies: a
 * disabled or waiting agent still reports that it is alive, and hears its state.
 */
export async function authenticateAgent(ctx: Ctx, authorization: string | undefined): Promise<AgentRow> {
  const agent = await identifyAgent(ctx, authorization);
  if (!agent.enabled) throw new SyncError('AGENT_DISABLED', 'this agent is disabled');
  if (!agent.approved)
    throw new SyncError('AGENT_PENDING_APPROVAL', 'this agent waits for an administrator to approve it');
  if (!agent.site_enabled) throw new SyncError('AGENT_DISABLED', "this agent's site is disabled");
  return agent;
}

/**
 * Claims only: an agent whose version (as its last heartbeat or its enrollment said) is outside the
 * supported range gets 403 AGENT_VERSION_UNSUPPORTED saying why, and no job, so none of its jobs
 * fails. Extend, report and release still work: what it holds can finish or go back.
 */
export function refuseUnsupportedVersion(ctx: Ctx, agent: AgentRow): void {
  const reason = unsupportedReason(agent.version, ctx.config.agentVersions);
  if (reason === undefined) return;
  ctx.log.info(
    { agentId: agent.id, siteId: agent.site_id, version: agent.version },
    `claim refused: ${reason}`,
  );
  throw new SyncError('AGENT_VERSION_UNSUPPORTED', reason);
}

/** A lock token names the agent that claimed the job: `<agentId>.<random>`. */
export const lockTokenFor = (agentId: string, random: string) => `${agentId}.${random}`;
export const holdsToken = (agent: AgentRow, token: string) => token.startsWith(`${agent.id}.`);
