import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { refreshAndSave } from '../credentials/refresh.js';
import type { CredentialRow } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import { resumeByOperator } from '../credentials/transitions.js';
import { dispatch } from '../queues/dispatch.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { lockCredential } from './load.js';

/**
 * Sync now: the stored password is verified at once (queued unless a job is in flight, sync is
 * off or the credential cannot be synced). An operator asking resumes what waits for an operator.
 */
export async function verifyNow(ctx: Ctx, id: string, by: OperatorAct): Promise<CredentialRow> {
  return ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    // Said plainly, not a 202 that does nothing: sync off queues nothing.
    if (!row.sync_enabled) {
      throw new SyncError('CONFLICT', 'sync is disabled for this credential: enable it to verify it');
    }
    await verifyLocked(ctx, q, row, new Date());
    await auditOperator(q, by, 'credential.verify', 'credential', row.id);
    return row;
  });
}

/**
 * Queues a verification of a row locked in the caller's transaction, as an operator asked (resuming
 * what waits for one); saved with its refreshed status when a job is in flight or it cannot be synced.
 */
export async function verifyLocked(ctx: Ctx, q: Queryable, row: CredentialRow, now: Date): Promise<void> {
  resumeByOperator(row, 'verify', now);
  if (row.job_state === 'idle' && row.sync_enabled && row.status !== 'unsyncable') {
    await dispatch(ctx, q, [{ row, kind: 'verify', urgent: true }], now);
  } else {
    await refreshAndSave(q, [row], now);
  }
}
