import { z } from 'zod';

/** The eight statuses a user sees, in precedence order (first wins). API codes are exact. */
export const STATUSES = [
  'not_synced',
  'unsyncable',
  'agent_disabled',
  'being_synced',
  'pending_sync',
  'change_not_configured',
  'in_sync',
  'out_of_sync',
] as const;
export type Status = (typeof STATUSES)[number];
export const StatusSchema = z.enum(STATUSES);

export const STATUS_LABELS: Record<Status, string> = {
  not_synced: 'Not Synced',
  in_sync: 'In Sync',
  out_of_sync: 'Out of Sync',
  being_synced: 'Being Synced',
  pending_sync: 'Pending Sync',
  unsyncable: 'Unsyncable',
  change_not_configured: 'Change not Configured',
  agent_disabled: 'Agent Disabled',
};

/** Why a credential is `out_of_sync`. */
export const REASONS = [
  'mismatch',
  'unreachable',
  'locked_or_disabled',
  'workflow_failed',
  'change_failed',
  'change_outcome_unknown',
  'stale',
  'error',
] as const;
export type Reason = (typeof REASONS)[number];
export const ReasonSchema = z.enum(REASONS);

/**
 * A machine-readable detail of a failure, beside its reason (the reasons are fixed by the brief): a
 * program or the dashboard can tell these cases apart from any other `error`.
 * `host_key_changed`: the SSH server presented a host key other than the pinned one (refused);
 * `second_factor_required`: the password was right but the server wants another factor too.
 */
export const DETAIL_CODES = ['host_key_changed', 'second_factor_required'] as const;
export type DetailCode = (typeof DETAIL_CODES)[number];
export const DetailCodeSchema = z.enum(DETAIL_CODES);

/** Reasons that mean "the target said no to this password": never retried with the same password. */
export const AUTH_REASONS: ReadonlySet<Reason> = new Set(['mismatch', 'locked_or_disabled']);

export const emptyStatusCounts = (): Record<Status, number> =>
  Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
