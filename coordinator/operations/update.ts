import type { Ctx } from '../context.js';
import { refreshAndSave } from '../credentials/refresh.js';
import { setCredentialPolicy, type CredentialRow } from '../credentials/store.js';
import { settlePendingSoon } from '../credentials/transitions.js';
import { scheduleOnAssignment } from '../policies/rotation.js';
import { requirePolicy, rulesForTargets } from '../policies/store.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { lockCredential } from './load.js';
import { leaveRunsWhenOff } from './sync-enabled.js';

export interface CredentialUpdate {
  /** A policy (it must suit the target: a 400 naming policyId), or null for the defaults. */
  policyId?: string | null;
  syncEnabled?: boolean;
}

/** Sets a credential's policy or sync flag; the scheduler is kicked when something became due. */
export async function updateCredential(
  ctx: Ctx,
  id: string,
  change: CredentialUpdate,
  by: OperatorAct,
): Promise<CredentialRow> {
  const row = await ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    const now = new Date();
    if (change.policyId !== undefined) {
      const policy = change.policyId === null ? null : await requirePolicy(q, change.policyId, 'policyId');
      if (policy) {
        rulesForTargets(
          policy,
          [{ name: row.target_name, kind: row.target_kind, connection: row.target_connection }],
          'policyId',
        );
      }
      await setCredentialPolicy(q, row, policy);
      // The new verification interval counts from the last verification.
      if (row.last_verified_at) {
        row.stale_at = new Date(row.last_verified_at.getTime() + row.verify_interval_s * 1000);
        if (row.next_verify_at && row.next_verify_at > row.stale_at) row.next_verify_at = row.stale_at;
      }
      scheduleOnAssignment(row, policy, now);
    }
    if (change.syncEnabled !== undefined && change.syncEnabled !== row.sync_enabled) {
      row.sync_enabled = change.syncEnabled;
      if (!change.syncEnabled) {
        row.next_verify_at = null;
        await leaveRunsWhenOff(q, row, now);
      } else {
        settlePendingSoon(row, now);
        if (row.job_state === 'idle') row.next_verify_at = now;
      }
    }
    await refreshAndSave(q, [row], now);
    await auditOperator(q, by, 'credential.update', 'credential', row.id, {
      ...(change.policyId === undefined ? {} : { policyId: change.policyId }),
      ...(change.syncEnabled === undefined ? {} : { syncEnabled: change.syncEnabled }),
    });
    return row;
  });
  if (row.next_verify_at || row.next_change_at) ctx.kickScheduler();
  return row;
}
