import type { Ctx } from '../context.js';
import { refreshAndSave } from '../credentials/refresh.js';
import type { CredentialRow } from '../credentials/store.js';
import { settlePendingSoon } from '../credentials/transitions.js';
import { leaveRuns } from '../runs/count.js';
import { dispatch } from '../queues/dispatch.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { lockCredential } from './load.js';

/**
 * Turns sync on (a verification is queued at once when no job is in flight; a pending password
 * goes out again soon) or off (scheduled verification stops; the credential leaves its run unless
 * an agent runs its job now).
 */
export async function setSyncEnabled(
  ctx: Ctx,
  id: string,
  enabled: boolean,
  by: OperatorAct,
): Promise<CredentialRow> {
  return ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    const now = new Date();
    row.sync_enabled = enabled;
    if (enabled) settlePendingSoon(row, now);
    if (enabled && row.job_state === 'idle') {
      await dispatch(ctx, q, [{ row, kind: 'verify' }], now);
    } else {
      if (!enabled) {
        row.next_verify_at = null;
        await leaveRunsWhenOff(q, row, now);
      }
      await refreshAndSave(q, [row], now);
    }
    await auditOperator(q, by, enabled ? 'credential.enable' : 'credential.disable', 'credential', row.id);
    return row;
  });
}

/**
 * Sync turned off: the credential's run gets no result from it unless a job already runs on an agent
 * (that result still counts). Idle or queued (the claim will skip the job), it leaves the run now.
 */
export async function leaveRunsWhenOff(q: Queryable, row: CredentialRow, now: Date): Promise<void> {
  if (row.job_state !== 'active') await leaveRuns(q, [row], 'sync_disabled', now);
}
