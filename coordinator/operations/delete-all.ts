import type { Ctx } from '../context.js';
import { loadCredentials } from '../credentials/store.js';
import { abandonGroupChanges } from '../groups/change.js';
import { leaveRuns } from '../runs/count.js';
import type { Queryable } from '../store/db.js';
import { credentialIdsOf, deleteCredentialRows, groupChangesLedByAny } from '../store/removals.js';

/**
 * Deletes every credential of a site or a target, inside the caller's transaction (a forced delete
 * of the site or target, audited there once): as a forced credential delete does one by one
 * (operations/delete.ts), their runs count them `unsynced` (`deleted`) so the runs can finish, and
 * sync group changes they were the primary of end. Returns how many were deleted.
 */
export async function deleteAllCredentials(
  ctx: Ctx,
  q: Queryable,
  scope: { siteId: string } | { targetId: string },
): Promise<number> {
  const rows = await loadCredentials(q, await credentialIdsOf(q, scope), true);
  if (rows.length === 0) return 0;
  const ids = rows.map((r) => r.id);
  const now = new Date();
  const led = await groupChangesLedByAny(q, ids);
  await leaveRuns(q, rows, 'deleted', now);
  await deleteCredentialRows(q, ids);
  await abandonGroupChanges(ctx, q, led, now);
  return rows.length;
}
