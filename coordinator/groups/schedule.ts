import { isSyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { deferToWindow } from '../policies/window.js';
import { recordAudit } from '../store/audit.js';
import { loadCredential } from '../credentials/store.js';
import { inSavepoint, type Queryable } from '../store/db.js';
import { groupPolicy, startGroupChange } from './change.js';
import { lockDueGroups, setGroupNextChange, type GroupRow } from './store.js';

/** A group due while it cannot start (a member's change in flight, primary not changeable) looks again this much later. */
export const GROUP_RETRY_MS = 5 * 60_000;
/** A group whose change can never start as configured (its policy suits no password) looks again a day later. */
const GROUP_RETRY_INVALID_MS = 86_400_000;

/**
 * The scheduler's group lane: takes sync groups whose rotation is due (`sync_groups.next_change_at`,
 * locked with SKIP LOCKED like the credentials' lanes) and starts each one's change, the primary
 * first, as the scheduler. A change only due by the schedule waits for the group policy's
 * maintenance window (a random time in its next opening). A group that cannot start now is looked
 * at again later; one group's trouble never stops the others. Returns how many groups it took.
 */
export async function takeDueGroups(ctx: Ctx, limit: number): Promise<number> {
  return ctx.db.tx(async (q) => {
    const now = new Date();
    const rows = await lockDueGroups(q, now, limit);
    for (const group of rows) await startDueGroup(ctx, q, group, now);
    return rows.length;
  });
}

async function startDueGroup(ctx: Ctx, q: Queryable, group: GroupRow, now: Date): Promise<void> {
  const primary = group.primary_credential_id
    ? ((await loadCredential(q, group.primary_credential_id)) ?? undefined)
    : undefined;
  const policy = await groupPolicy(q, group, primary);
  const later = deferToWindow(policy?.maintenance_window, now);
  if (later !== null) {
    await setGroupNextChange(q, group.id, later);
    return;
  }
  // Each group in a savepoint: a refusal (SyncError) or a failed statement undoes that group only.
  let run;
  try {
    run = await inSavepoint(q, 'group_change', () =>
      startGroupChange(ctx, q, group.id, { createdBy: 'scheduler' }),
    );
  } catch (err) {
    if (!isSyncError(err)) throw err;
    const retryMs = err.code === 'VALIDATION_FAILED' ? GROUP_RETRY_INVALID_MS : GROUP_RETRY_MS;
    await setGroupNextChange(q, group.id, new Date(now.getTime() + retryMs));
    ctx.log.warn(
      { groupId: group.id, code: err.code, detail: err.message, retryInMs: retryMs },
      'sync group: scheduled change cannot start now; tried again later',
    );
    return;
  }
  await recordAudit(q, [
    {
      actorType: 'system',
      actorId: 'scheduler',
      action: 'sync_group.change',
      objectType: 'sync_group',
      objectId: group.id,
      details: { runId: run.id, scheduled: true },
    },
  ]);
  ctx.log.info({ groupId: group.id, runId: run.id }, 'sync group: scheduled change started');
}
