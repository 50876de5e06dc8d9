import type { CredentialRow } from '../credentials/store.js';
import type { PolicyRow } from './store.js';

const DAY_MS = 86_400_000;

/**
 * When a credential's next scheduled change is due under a policy: one rotation interval after
 * its last change (or after `now` when it never changed), never before `now`. Null = no rotation.
 */
export function nextRotation(
  policy: PolicyRow | null | undefined,
  lastChangedAt: Date | null,
  now: Date,
): Date | null {
  if (!policy?.rotate_interval_s) return null;
  const due = (lastChangedAt ?? now).getTime() + policy.rotate_interval_s * 1000;
  return new Date(Math.max(due, now.getTime()));
}

/**
 * After a change settled (`success` or not): schedules the next rotation of a credential that
 * rotates on its own (not a sync group member: the group rotates them together). Leaves the row
 * alone while a pending password still waits to be settled, when it is suspended, or paused for
 * an operator (a change could only fail the same way). A failed rotation is tried again after
 * the shorter of the rotation interval and a day.
 */
export function scheduleAfterChange(
  row: CredentialRow,
  policy: PolicyRow | null | undefined,
  success: boolean,
  now: Date,
): void {
  if (!policy?.rotate_interval_s || row.group_id !== null) return;
  if (row.pending_secret !== null || row.suspended || row.verify_paused) return;
  const interval = policy.rotate_interval_s * 1000;
  if (success) row.next_change_at = new Date(now.getTime() + interval);
  else row.next_change_at ??= new Date(now.getTime() + Math.min(interval, DAY_MS));
}

/** Rotation schedule of a credential that just got `policy` (or lost its policy: null). */
export function scheduleOnAssignment(row: CredentialRow, policy: PolicyRow | null, now: Date): void {
  // A pending password still to settle, or an operator's request, keeps its due time.
  if (row.pending_secret !== null || row.change_wanted) return;
  row.next_change_at = row.group_id === null ? nextRotation(policy, row.last_changed_at, now) : null;
}
