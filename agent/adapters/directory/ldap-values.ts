import { BerWriter, Control, type BerReader } from 'ldapts';

/** The Password Modify extended operation (RFC 3062). */
export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

/** PasswdModifyRequestValue: userIdentity [0], oldPasswd [1], newPasswd [2], each optional. */
export function passwordModifyValue(fields: {
  userIdentity: string;
  oldPasswd?: string;
  newPasswd: string;
}): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeBuffer(Buffer.from(fields.userIdentity, 'utf8'), 0x80);
  if (fields.oldPasswd !== undefined) w.writeBuffer(Buffer.from(fields.oldPasswd, 'utf8'), 0x81);
  w.writeBuffer(Buffer.from(fields.newPasswd, 'utf8'), 0x82);
  w.endSequence();
  return w.buffer;
}

/** Active Directory's unicodePwd value: the password in double quotes, UTF-16LE. */
export const unicodePwd = (password: string): Buffer => Buffer.from(`"${password}"`, 'utf16le');

/** The error values of the password policy response control (draft-behera-ldap-password-policy). */
export const PPOLICY_ERRORS = [
  'passwordExpired',
  'accountLocked',
  'changeAfterReset',
  'passwordModNotAllowed',
  'mustSupplyOldPassword',
  'insufficientPasswordQuality',
  'passwordTooShort',
  'passwordTooYoung',
  'passwordInHistory',
] as const;
export type PpolicyError = (typeof PPOLICY_ERRORS)[number];

/**
 * The password policy control (OpenLDAP's ppolicy overlay). Sent empty with a request; ldapts
 * parses the server's response control of the same type into this object (ControlParser gives a
 * response control to the request control of its type), so after the call `error` says why a bind
 * or a password change was refused, when the server said.
 */
export class PasswordPolicyControl extends Control {
  static readonly type = '1.3.6.1.4.1.42.2.27.8.5.1';
  error?: PpolicyError;
  /** Binds left in a grace period after the password expired. */
  graceAuthNsRemaining?: number;

  constructor() {
    super(PasswordPolicyControl.type, { critical: false });
  }

  override parseControl(reader: BerReader): void {
    const parsed = parsePpolicyValue(reader.buffer);
    if (parsed.error !== undefined) this.error = parsed.error;
    if (parsed.graceAuthNsRemaining !== undefined) this.graceAuthNsRemaining = parsed.graceAuthNsRemaining;
  }
}

interface Tlv {
  tag: number;
  value: Buffer;
}

/** Reads the DER elements of `buf` (one level); stops at anything malformed. */
function elements(buf: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const tag = buf[i]!;
    let length = buf[i + 1]!;
    let start = i + 2;
    if (length & 0x80) {
      const bytes = length & 0x7f;
      if (bytes === 0 || bytes > 4 || start + bytes > buf.length) break;
      length = 0;
      for (let k = 0; k < bytes; k++) length = length * 256 + buf[start + k]!;
      start += bytes;
    }
    if (start + length > buf.length) break;
    out.push({ tag, value: buf.subarray(start, start + length) });
    i = start + length;
  }
  return out;
}

const uint = (b: Buffer): number => b.reduce((n, byte) => n * 256 + byte, 0);

/** PasswordPolicyResponseValue ::= SEQUENCE { warning [0] CHOICE {…} OPTIONAL, error [1] ENUMERATED OPTIONAL } */
export function parsePpolicyValue(value: Buffer): { error?: PpolicyError; graceAuthNsRemaining?: number } {
  const [seq] = elements(value);
  if (!seq || seq.tag !== 0x30) return {};
  const out: { error?: PpolicyError; graceAuthNsRemaining?: number } = {};
  for (const el of elements(seq.value)) {
    if (el.tag === 0x81) {
      const name = PPOLICY_ERRORS[uint(el.value)];
      if (name !== undefined) out.error = name;
    } else if (el.tag === 0xa0) {
      for (const w of elements(el.value)) if (w.tag === 0x81) out.graceAuthNsRemaining = uint(w.value);
    }
  }
  return out;
}
