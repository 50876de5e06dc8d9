import type { Ctx } from '../context.js';
import { refreshAndSave } from '../credentials/refresh.js';
import type { CredentialRow } from '../credentials/store.js';
import { resumeByOperator } from '../credentials/transitions.js';
import { scheduleOnAssignment } from '../policies/rotation.js';
import { getPolicy } from '../policies/store.js';
import { dispatch } from '../queues/dispatch.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { lockCredential } from './load.js';

/** Resumes a credential suspended after repeated errors: verified at once, its schedule restored. */
export async function resume(ctx: Ctx, id: string, by: OperatorAct): Promise<CredentialRow> {
  return ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    const now = new Date();
    const was = row.suspended;
    resumeByOperator(row, 'resume', now);
    if (row.next_change_at === null && row.policy_id !== null) {
      scheduleOnAssignment(row, await getPolicy(q, row.policy_id), now);
    }
    if (row.job_state === 'idle' && row.sync_enabled && row.status !== 'unsyncable') {
      await dispatch(ctx, q, [{ row, kind: 'verify' }], now);
    } else {
      await refreshAndSave(q, [row], now);
    }
    await auditOperator(q, by, 'credential.resume', 'credential', row.id, { wasSuspended: was });
    return row;
  });
}
