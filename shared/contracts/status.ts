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

/** Display order on the dashboard's overview: healthy first, then work in progress, then what needs a person. */
export const DISPLAY_ORDER: readonly Status[] = [
  'in_sync',
  'being_synced',
  'pending_sync',
  'out_of_sync',
  'agent_disabled',
  'change_not_configured',
  'unsyncable',
  'not_synced',
];

/**
 * The credential list's `problems` order (the dashboard's default): what needs a person first
 * (failing, cannot be synced, change not mapped, no agent), then work in progress, healthy last.
 */
export const PROBLEMS_FIRST: readonly Status[] = [
  'out_of_sync',
  'unsyncable',
  'change_not_configured',
  'agent_disabled',
  'not_synced',
  'pending_sync',
  'being_synced',
  'in_sync',
];

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
 * A machine-readable detail of a failure, beside its reason (the reasons are the fixed `REASONS`
 * above, the README's status table): a program or the dashboard can tell these cases apart from
 * any other failure of the same reason.
 *
 * The target is not the one pinned (reason `error`, nothing sent but what the protocol needs to find
 * out): `host_key_changed` (SSH host key), `tls_certificate_changed` (TLS certificate fingerprint),
 * `account_domain_changed` (the SMB server answers for another account domain SID), `tls_untrusted`
 * (the TLS certificate does not chain to the target's CA or does not name its host).
 * The password was right, the account may not be used (`locked_or_disabled`): `account_disabled`,
 * `account_locked`, `account_expired`, `password_expired`, `password_must_change`,
 * `logon_restricted` (logon hours or workstations); or not with a password alone (`error`):
 * `second_factor_required`. `guest_session`: an SMB server logged the account in as its guest
 * (`mismatch`).
 * The target refused the new password (`change_failed`, the stored one still works):
 * `password_policy` (length, complexity, or a rule the server does not name), `password_history`
 * (used before), `password_min_age` (changed too recently), `change_not_allowed` (the account may
 * not change it, or the privileged account may not set it).
 * `account_not_found`: the account's entry could not be found (or was not unique) for a change;
 * `tool_missing`: a program the adapter runs is not installed on the agent's host.
 * `dependency_unreachable` (`change_failed`): a dependency of the credential could not be reached
 * or written before the change, so the change was not sent (docs/adapters/dependencies.md).
 */
export const DETAIL_CODES = [
  'host_key_changed',
  'second_factor_required',
  'tls_certificate_changed',
  'tls_untrusted',
  'account_domain_changed',
  'account_disabled',
  'account_locked',
  'account_expired',
  'password_expired',
  'password_must_change',
  'logon_restricted',
  'guest_session',
  'password_policy',
  'password_history',
  'password_min_age',
  'change_not_allowed',
  'account_not_found',
  'tool_missing',
  'dependency_unreachable',
] as const;
export type DetailCode = (typeof DETAIL_CODES)[number];
export const DetailCodeSchema = z.enum(DETAIL_CODES);

/** Reasons that mean "the target said no to this password": never retried with the same password. */
export const AUTH_REASONS: ReadonlySet<Reason> = new Set(['mismatch', 'locked_or_disabled']);

export const emptyStatusCounts = (): Record<Status, number> =>
  Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
