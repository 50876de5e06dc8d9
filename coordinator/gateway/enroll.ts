import { randomUUID } from 'node:crypto';
import type { EnrollRequest, EnrollResponse } from '../../shared/contracts/gateway.js';
import { hashToken, randomSecret } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import { recordAudit } from '../store/audit.js';
import { agentToken } from './agent-auth.js';

/**
 * Trades a one-time (or N-time), expiring enrollment token for the agent's own credential. A use is
 * taken in the same transaction that creates the agent, so a token never enrolls more agents than it allows.
 */
export async function enroll(ctx: Ctx, req: EnrollRequest): Promise<EnrollResponse> {
  const result = await ctx.db.tx(async (q) => {
    const { rows } = await q.query<{ id: string; site_id: string; require_approval: boolean }>(
      `SELECT e.id, e.site_id, s.require_approval FROM enrollment_tokens e JOIN sites s ON s.id = e.site_id
        WHERE e.token_hash = $1 AND e.uses_left > 0 AND e.expires_at > now() AND e.revoked_at IS NULL
        FOR UPDATE OF e`,
      [hashToken(req.enrollmentToken)],
    );
    const grant = rows[0];
    if (!grant) throw new SyncError('ENROLLMENT_INVALID');
    const agentId = randomUUID();
    const token = agentToken(agentId, randomSecret());
    const approved = !grant.require_approval;
    await q.query(
      `INSERT INTO agents (id, site_id, name, host, version, adapters, concurrency, approved, token_hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        agentId,
        grant.site_id,
        req.name,
        req.host,
        req.version,
        req.adapters,
        req.concurrency,
        approved,
        hashToken(token),
      ],
    );
    await q.query(
      'UPDATE enrollment_tokens SET uses_left = uses_left - 1, used_at = now(), used_by = $2 WHERE id = $1',
      [grant.id, agentId],
    );
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
