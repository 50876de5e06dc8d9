import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { abandonGroupChanges } from '../groups/change.js';
import { leaveRuns } from '../runs/count.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { groupChangesLedByAny } from '../store/removals.js';
import { deleteCredentialRow } from '../credentials/store.js';
import { lockCredential } from './load.js';

/**
 * Deletes a credential. Refused (409) while a change is in flight, whose outcome would be lost,
 * unless `force` (audited as `credential.force_delete`).
 */
export async function deleteCredential(ctx: Ctx, id: string, force: boolean, by: OperatorAct): Promise<void> {
  await ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    const changing = row.pending_secret !== null || (row.job_state !== 'idle' && row.job_kind !== 'verify');
    if (changing && !force) {
      throw new SyncError(
        'CONFLICT',
        'a password change is in flight: its outcome would be lost; use force=true to delete anyway',
      );
    }
    // Its run gets no result from it any more: counted unsynced now, so the run can finish; and
    // so can a sync group change it was the primary of (ended once it is gone).
    const now = new Date();
    const led = await groupChangesLedByAny(q, [row.id]);
    await leaveRuns(q, [row], 'deleted', now);
    await deleteCredentialRow(q, row.id);
    await abandonGroupChanges(ctx, q, led, now);
    await auditOperator(
      q,
      by,
      force ? 'credential.force_delete' : 'credential.delete',
      'credential',
      row.id,
      {
        changeInFlight: changing,
      },
    );
  });
}
