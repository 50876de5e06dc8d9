import { SyncError } from '../../shared/errors.js';
import { capabilitiesOf } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { refreshAndSave } from '../credentials/refresh.js';
import { rowSealer } from '../credentials/sealing.js';
import type { CredentialRow } from '../credentials/store.js';
import { beginChange, resumeByOperator } from '../credentials/transitions.js';
import { constraintsOf, passwordProblems } from '../policies/constraints.js';
import { getPolicy } from '../policies/store.js';
import { dispatch } from '../queues/dispatch.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { lockCredential } from './load.js';

/**
 * Changes a credential's password now: `password` given (the caller checked the role that may
 * choose it), else generated from its policy. Refused for a credential with sync off, a member of a
 * sync group, and, with a given password, one whose change is in flight. Busy, the change goes out
 * as soon as the job in flight is over; without a mapped change step it is wanted (the status says
 * so). Asking for a change resumes a suspended credential. The scheduler is kicked when it is due.
 */
export async function changeNow(
  ctx: Ctx,
  id: string,
  password: string | undefined,
  by: OperatorAct,
): Promise<CredentialRow> {
  const row = await ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    const now = new Date();
    if (!row.sync_enabled) throw new SyncError('CONFLICT', 'sync is disabled for this credential');
    if (row.pending_secret && password) {
      throw new SyncError('CONFLICT', 'a change is already in flight; wait for it to settle');
    }
    if (row.group_id !== null) {
      throw new SyncError(
        'CONFLICT',
        `member of sync group ${row.group_id}: its members share one password; change the group`,
      );
    }
    if (password !== undefined) await checkGivenPassword(q, row, password);
    const caps = capabilitiesOf(row.target_kind, row.target_connection);
    // Asking for a change resumes a suspended credential: its count of errors starts again.
    resumeByOperator(row, 'change', now);
    if (!caps.change || !caps.changeConfigured) {
      row.change_wanted = true;
      await refreshAndSave(q, [row], now);
    } else if (row.job_state !== 'idle') {
      // Busy: the change is due now and goes out as soon as the job in flight is over (asked for:
      // no maintenance window holds it).
      row.next_change_at = now;
      row.change_wanted = true;
      // A given password is stored as pending now (sealed), so it is the one sent.
      if (password !== undefined) beginChange(row, password, rowSealer(ctx.box));
      await refreshAndSave(q, [row], now);
    } else {
      await dispatch(ctx, q, [{ row, kind: 'change', ...(password ? { password } : {}) }], now);
    }
    await auditOperator(q, by, 'credential.change', 'credential', row.id, {
      given: password !== undefined,
    });
    return row;
  });
  if (row.next_change_at) ctx.kickScheduler();
  return row;
}

/** A password an operator gives must suit the credential's policy (if any) and its target's limits. */
export async function checkGivenPassword(q: Queryable, row: CredentialRow, password: string): Promise<void> {
  const policy = row.policy_id ? await getPolicy(q, row.policy_id) : null;
  const problems = passwordProblems(password, policy?.rules ?? null, [
    constraintsOf(row.target_kind, row.target_connection),
  ]);
  if (problems.length === 0) return;
  const message = `does not suit the ${policy ? `policy '${policy.name}' or the ` : ''}target: ${problems.join('; ')}`;
  throw new SyncError('VALIDATION_FAILED', `password: ${message}`, {
    issues: [{ field: 'password', message }],
  });
}
