import type { DetailCode } from '../../../shared/contracts/status.js';
import type { AttemptReason } from '../types.js';

/** What an NTSTATUS means for this adapter. */
export interface StatusOutcome {
  reason: AttemptReason;
  detail?: DetailCode;
  what: string;
}

/** NTSTATUS of a failed SMB session setup (the account's logon). */
export const LOGON_STATUS: Record<string, StatusOutcome> = {
  NT_STATUS_LOGON_FAILURE: { reason: 'mismatch', what: 'logon failure (wrong password or no such account)' },
  NT_STATUS_WRONG_PASSWORD: { reason: 'mismatch', what: 'wrong password' },
  NT_STATUS_NO_SUCH_USER: { reason: 'mismatch', what: 'no such account' },
  NT_STATUS_ACCOUNT_DISABLED: {
    reason: 'locked_or_disabled',
    detail: 'account_disabled',
    what: 'account disabled',
  },
  NT_STATUS_ACCOUNT_LOCKED_OUT: {
    reason: 'locked_or_disabled',
    detail: 'account_locked',
    what: 'account locked out',
  },
  NT_STATUS_ACCOUNT_EXPIRED: {
    reason: 'locked_or_disabled',
    detail: 'account_expired',
    what: 'account expired',
  },
  NT_STATUS_PASSWORD_EXPIRED: {
    reason: 'locked_or_disabled',
    detail: 'password_expired',
    what: 'password expired',
  },
  NT_STATUS_PASSWORD_MUST_CHANGE: {
    reason: 'locked_or_disabled',
    detail: 'password_must_change',
    what: 'password must be changed',
  },
  NT_STATUS_INVALID_LOGON_HOURS: {
    reason: 'locked_or_disabled',
    detail: 'logon_restricted',
    what: 'not allowed to log on at this time',
  },
  NT_STATUS_INVALID_WORKSTATION: {
    reason: 'locked_or_disabled',
    detail: 'logon_restricted',
    what: 'not allowed to log on from this workstation',
  },
  NT_STATUS_ACCOUNT_RESTRICTION: {
    reason: 'locked_or_disabled',
    detail: 'logon_restricted',
    what: 'account restriction (for example a blank password or logon hours)',
  },
  NT_STATUS_LOGON_TYPE_NOT_GRANTED: {
    reason: 'locked_or_disabled',
    detail: 'logon_restricted',
    what: 'network logon not granted to the account',
  },
};

/** NTSTATUS of a transport failure: the server was not reached or went away. */
export const UNREACHABLE_STATUS = new Set([
  'NT_STATUS_CONNECTION_REFUSED',
  'NT_STATUS_HOST_UNREACHABLE',
  'NT_STATUS_NETWORK_UNREACHABLE',
  'NT_STATUS_PORT_UNREACHABLE',
  'NT_STATUS_IO_TIMEOUT',
  'NT_STATUS_CONNECTION_RESET',
  'NT_STATUS_CONNECTION_DISCONNECTED',
  'NT_STATUS_CONNECTION_ABORTED',
  'NT_STATUS_BAD_NETWORK_NAME',
  'NT_STATUS_NETWORK_NAME_DELETED',
  'NT_STATUS_INVALID_ADDRESS',
  'NT_STATUS_NOT_FOUND',
  'NT_STATUS_UNSUCCESSFUL',
  'NT_STATUS_INSUFFICIENT_RESOURCES',
  'NT_STATUS_REQUEST_NOT_ACCEPTED',
]);

/** NTSTATUS of a password change or set that the server refused (nothing changed). */
export const CHANGE_STATUS: Record<string, StatusOutcome> = {
  NT_STATUS_PASSWORD_RESTRICTION: {
    reason: 'change_failed',
    detail: 'password_policy',
    what: 'the new password does not meet the password policy (length, complexity, history or minimum age)',
  },
  NT_STATUS_WRONG_PASSWORD: { reason: 'mismatch', what: 'the current password was refused' },
  NT_STATUS_ACCESS_DENIED: {
    reason: 'change_failed',
    detail: 'change_not_allowed',
    what: 'access denied (the account may not change its password, or the privileged account may not set it)',
  },
  NT_STATUS_NONE_MAPPED: { reason: 'change_failed', detail: 'account_not_found', what: 'no such account' },
  NT_STATUS_NO_SUCH_USER: { reason: 'change_failed', detail: 'account_not_found', what: 'no such account' },
  NT_STATUS_ACCOUNT_LOCKED_OUT: {
    reason: 'locked_or_disabled',
    detail: 'account_locked',
    what: 'account locked out',
  },
  NT_STATUS_ACCOUNT_DISABLED: {
    reason: 'locked_or_disabled',
    detail: 'account_disabled',
    what: 'account disabled',
  },
};
