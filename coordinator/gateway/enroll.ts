import { randomUUID } from 'node:crypto';
import type { EnrollRequest, EnrollResponse } from '../../shared/contracts/gateway.js';
import { hashToken, randomSecret } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import { recordAudit } from '../store/audit.js';
import { insertEnrolledAgent, takeEnrollmentGrant } from '../store/enrollment.js';
import { agentToken } from './agent-auth.js';

/**
 * Trades a one-time (or N-time), expiring enrollment token for the agent's own credential. A use is
 * taken in the same transaction that creates the agent, so a token never enrolls more agents than it allows.
 */
export async function enroll(ctx: Ctx, req: EnrollRequest): Promise<EnrollResponse> {
  const result = await ctx.db.tx(async (q) => {
    const grant = await takeEnrollmentGrant(q, hashToken(req.enrollmentToken));
    if (!grant) throw new SyncError('ENROLLMENT_INVALID');
    const agentId = randomUUID();
    const token = agentToken(agentId, randomSecret());
    const approved = !grant.require_approval;
    await insertEnrolledAgent(q, grant, {
      id: agentId,
      name: req.name,
      host: req.host,
      version: req.version,
      adapters: req.adapters,
      concurrency: req.concurrency,
      approved,
      tokenHash: hashToken(token),
    });
    await recordAudit(q, [
      {
        actorType: 'agent',
        actorId: agentId,
        action: 'agent.enroll',
        objectType: 'agent',
        objectId: agentId,
        details: { siteId: grant.site_id, name: req.name, host: req.host, version: req.version, approved },
      },
    ]);
    return {
      agentId,
      siteId: grant.site_id,
      agentToken: token,
      state: approved ? ('active' as const) : ('pending' as const),
    };
  });
  await refreshSiteStatuses(ctx, result.siteId);
  ctx.log.info({ agentId: result.agentId, siteId: result.siteId, state: result.state }, 'agent enrolled');
  return result;
}
