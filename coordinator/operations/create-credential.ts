import { randomUUID } from 'node:crypto';
import { SyncError } from '../../shared/errors.js';
import { capabilitiesOf } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { refreshAndSave } from '../credentials/refresh.js';
import { insertCredential, type CredentialRow } from '../credentials/store.js';
import { scheduleOnAssignment } from '../policies/rotation.js';
import { requirePolicy, rulesForTargets } from '../policies/store.js';
import { dispatch } from '../queues/dispatch.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { getTarget } from '../store/targets.js';
import { lockCredential } from './load.js';

export interface CredentialInput {
  targetId: string;
  username: string;
  password: string;
  policyId?: string | null;
  syncEnabled: boolean;
}

/** A new credential, its status refreshed, is verified at once when it can be (sync on, an adapter that verifies). */
export const wantsFirstVerification = (row: CredentialRow): boolean =>
  row.status !== 'not_synced' &&
  row.status !== 'unsyncable' &&
  capabilitiesOf(row.target_kind, row.target_connection).verify;

/**
 * Stores a credential, its password sealed, and queues its first verification (once the row is
 * committed) when it can be verified. 400 for a target that does not exist or a policy that does not
 * suit it; 409 when the target has a credential of that username already.
 */
export async function createCredential(
  ctx: Ctx,
  input: CredentialInput,
  by: OperatorAct,
): Promise<CredentialRow> {
  const id = randomUUID();
  const row = await ctx.db.tx(async (q) => {
    const target = await getTarget(q, input.targetId);
    if (!target) {
      throw new SyncError('VALIDATION_FAILED', `targetId: target ${input.targetId} not found`, {
        issues: [{ field: 'targetId', message: 'no such target' }],
      });
    }
    // A policy must suit the target: some password satisfies both (else a 400 naming policyId).
    const policy = input.policyId ? await requirePolicy(q, input.policyId, 'policyId') : null;
    if (policy) rulesForTargets(policy, [target], 'policyId');
    const inserted = await insertCredential(q, {
      id,
      targetId: input.targetId,
      siteId: target.site_id,
      username: input.username,
      policyId: input.policyId ?? null,
      syncEnabled: input.syncEnabled,
      sealedSecret: ctx.box.seal(input.password, id, 'secret'),
    });
    if (!inserted) {
      throw new SyncError('CONFLICT', `username: the target has a credential for '${input.username}'`);
    }
    const row = await lockCredential(q, id);
    const now = new Date();
    scheduleOnAssignment(row, policy, now);
    await refreshAndSave(q, [row], now);
    // The first verification: its job reaches the queue once this row is committed (dispatch).
    if (wantsFirstVerification(row)) await dispatch(ctx, q, [{ row, kind: 'verify' }], now);
    await auditOperator(q, by, 'credential.create', 'credential', id, {
      targetId: input.targetId,
      username: input.username,
    });
    return row;
  });
  ctx.log.info({ credentialId: id, status: row.status }, 'credential created');
  return row;
}
