import { ResultCodeError } from 'ldapts';
import type { DetailCode } from '../../../shared/contracts/status.js';
import type { AttemptReason } from '../types.js';
import { fail, isNetworkError, scrub, textOf, uncertain, withDetail, type Failure } from '../common.js';
import type { PpolicyError } from './ldap-values.js';

/** LDAP result codes the adapter tells apart (RFC 4511). */
export const LDAP = {
  INVALID_CREDENTIALS: 49,
  INSUFFICIENT_ACCESS: 50,
  UNWILLING_TO_PERFORM: 53,
  CONSTRAINT_VIOLATION: 19,
  STRONG_AUTH_REQUIRED: 8,
  CONFIDENTIALITY_REQUIRED: 13,
  BUSY: 51,
  UNAVAILABLE: 52,
  NO_SUCH_OBJECT: 32,
} as const;

export const resultCode = (err: unknown): number | undefined =>
  err instanceof ResultCodeError ? err.code : undefined;

/**
 * Active Directory's reason for a refused bind, in its diagnostic message: `…, data 52e, …`
 * (the Windows error of the logon, in hex).
 */
const AD_BIND_DATA: Record<string, { reason: AttemptReason; detail?: DetailCode; what: string }> = {
  '525': { reason: 'mismatch', what: 'no such user' },
  '52e': { reason: 'mismatch', what: 'invalid credentials' },
  '530': {
    reason: 'locked_or_disabled',
    detail: 'logon_restricted',
    what: 'not permitted to log on at this time',
  },
  '531': {
    reason: 'locked_or_disabled',
    detail: 'logon_restricted',
    what: 'not permitted to log on from this workstation',
  },
  '532': { reason: 'locked_or_disabled', detail: 'password_expired', what: 'password expired' },
  '533': { reason: 'locked_or_disabled', detail: 'account_disabled', what: 'account disabled' },
  '701': { reason: 'locked_or_disabled', detail: 'account_expired', what: 'account expired' },
  '773': { reason: 'locked_or_disabled', detail: 'password_must_change', what: 'password must be changed' },
  '775': { reason: 'locked_or_disabled', detail: 'account_locked', what: 'account locked out' },
};

/** The password policy overlay's errors, where they decide the outcome. */
const PPOLICY_OUTCOME: Record<PpolicyError, { reason: AttemptReason; detail: DetailCode }> = {
  passwordExpired: { reason: 'locked_or_disabled', detail: 'password_expired' },
  accountLocked: { reason: 'locked_or_disabled', detail: 'account_locked' },
  changeAfterReset: { reason: 'locked_or_disabled', detail: 'password_must_change' },
  passwordModNotAllowed: { reason: 'change_failed', detail: 'change_not_allowed' },
  mustSupplyOldPassword: { reason: 'change_failed', detail: 'change_not_allowed' },
  insufficientPasswordQuality: { reason: 'change_failed', detail: 'password_policy' },
  passwordTooShort: { reason: 'change_failed', detail: 'password_policy' },
  passwordTooYoung: { reason: 'change_failed', detail: 'password_min_age' },
  passwordInHistory: { reason: 'change_failed', detail: 'password_history' },
};

const detailed = (reason: AttemptReason, message: string, detail?: DetailCode): Failure =>
  detail === undefined ? fail(reason, message) : withDetail(fail(reason, message), detail);

/** The server's words, without ldapts' " Code: 0x31" suffix, scrubbed of the passwords. */
export const serverText = (err: unknown, secrets: readonly string[]): string =>
  scrub(textOf(err).replace(/ Code: 0x[0-9a-f]+$/i, ''), secrets);

/**
 * A failed bind. `ppolicy`: what the password policy control said, if the server sent one. Nothing
 * was changed, so every failure is definite.
 */
export function bindFailure(
  err: unknown,
  who: string,
  secrets: readonly string[],
  ppolicy?: PpolicyError,
): Failure {
  const code = resultCode(err);
  const text = serverText(err, secrets);
  if (code === undefined) {
    return isNetworkError(err) || /socket|connection closed|timed out/i.test(text)
      ? fail('unreachable', `bind as ${who}: ${text}`)
      : fail('error', `bind as ${who}: ${text}`);
  }
  if (ppolicy !== undefined && PPOLICY_OUTCOME[ppolicy].reason === 'locked_or_disabled') {
    const o = PPOLICY_OUTCOME[ppolicy];
    return detailed(o.reason, `bind as ${who} refused (${ppolicy}): ${text}`, o.detail);
  }
  if (code === LDAP.INVALID_CREDENTIALS) {
    const data = /\bdata ([0-9a-f]{3,8})\b/i.exec(text)?.[1]?.toLowerCase();
    const ad = data !== undefined ? AD_BIND_DATA[data] : undefined;
    if (ad) return detailed(ad.reason, `bind as ${who} refused: ${ad.what} (data ${data})`, ad.detail);
    return fail('mismatch', `bind as ${who} refused: ${text || 'invalid credentials'}`);
  }
  if (code === LDAP.STRONG_AUTH_REQUIRED || code === LDAP.CONFIDENTIALITY_REQUIRED) {
    return fail(
      'error',
      `the server wants an encrypted connection for binds (set tls.mode ldaps or starttls): ${text}`,
    );
  }
  if (code === LDAP.BUSY || code === LDAP.UNAVAILABLE) return fail('unreachable', `bind as ${who}: ${text}`);
  return fail('error', `bind as ${who} failed (LDAP ${code}): ${text}`);
}

/**
 * A failed password change (modify or Password Modify). `sent`: the request went out, so a
 * transport failure leaves the outcome open. An LDAP result is the server's answer: nothing changed.
 */
export function changeFailure(err: unknown, secrets: readonly string[], ppolicy?: PpolicyError): Failure {
  const code = resultCode(err);
  const text = serverText(err, secrets);
  if (code === undefined) return uncertain(`connection lost after the change was sent: ${text}`);
  if (ppolicy !== undefined) {
    const o = PPOLICY_OUTCOME[ppolicy];
    return detailed(
      o.reason === 'locked_or_disabled' ? 'change_failed' : o.reason,
      `change refused (${ppolicy}): ${text}`,
      o.detail,
    );
  }
  // Active Directory: the Windows error leads the message, e.g. "0000052D: Constraint violation - …".
  const win = /^([0-9A-F]{8}):/i.exec(text)?.[1]?.toUpperCase();
  if (win === '00000056') return fail('mismatch', `the current password was refused: ${text}`);
  if (win === '0000052D' || code === LDAP.CONSTRAINT_VIOLATION) {
    return detailed('change_failed', `the server refused the new password: ${text}`, policyDetail(text));
  }
  if (code === LDAP.INSUFFICIENT_ACCESS) {
    return detailed('change_failed', `not allowed to change the password: ${text}`, 'change_not_allowed');
  }
  if (code === LDAP.UNWILLING_TO_PERFORM) {
    return detailed(
      'change_failed',
      `the server will not change the password: ${text}`,
      'change_not_allowed',
    );
  }
  if (code === LDAP.BUSY || code === LDAP.UNAVAILABLE) {
    return fail('change_failed', `the server could not take the change now: ${text}`);
  }
  return fail('change_failed', `the change failed (LDAP ${code}): ${text}`);
}

/**
 * Which rule refused a password, from the server's words where it names one (Samba and OpenLDAP
 * do; Windows says only 0000052D), else the general `password_policy`.
 */
export function policyDetail(text: string): DetailCode {
  if (/histor/i.test(text)) return 'password_history';
  if (/too young|minimum password age|min(imum)?[ _-]?pwd[ _-]?age|changed too recently/i.test(text)) {
    return 'password_min_age';
  }
  return 'password_policy';
}
