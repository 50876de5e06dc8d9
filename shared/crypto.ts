import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SyncError } from './errors.js';

/**
 * Envelope encryption for secrets at rest: each record gets its own random data key; the secret is
 * sealed with AES-256-GCM under that key, and the data key is wrapped (AES-256-GCM) by the master
 * key. The record's id and the field name are bound as associated data, so a ciphertext copied to
 * another row or field fails to open.
 *
 * Format: `v1.<keyId>.<wrapIv>.<wrappedKey+tag>.<iv>.<ciphertext+tag>` (base64url parts).
 */
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface MasterKey {
  /** Short id of the key (first bytes of its hash), stored with every wrapped data key. */
  id: string;
  key: Buffer;
}

/**
 * Exactly 32 bytes in standard base64, as `openssl rand -base64 32` prints them (43 characters and
 * one `=`; surrounding whitespace ignored). Strict on purpose: Buffer.from(…, 'base64') skips
 * characters that are not base64 and takes the URL-safe alphabet too, so a mistyped or truncated
 * key could otherwise decode to some other 32 bytes.
 */
const MASTER_KEY_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

export const isMasterKeyBase64 = (value: string): boolean => MASTER_KEY_BASE64.test(value.trim());

export function masterKeyFromBase64(value: string): MasterKey {
  if (!isMasterKeyBase64(value)) {
    throw new SyncError('CONFIG_INVALID', 'master key must be 32 bytes in base64');
  }
  const key = Buffer.from(value.trim(), 'base64');
  if (key.length !== 32) throw new SyncError('CONFIG_INVALID', 'master key must be 32 bytes in base64');
  return { id: createHash('sha256').update(key).digest('base64url').slice(0, 8), key };
}

function gcmSeal(key: Buffer, plaintext: Buffer, aad: string): { iv: Buffer; data: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { iv, data };
}

function gcmOpen(key: Buffer, iv: Buffer, data: Buffer, aad: string): Buffer {
  // The tag must be the full 16 bytes: GCM accepts shorter tags (down to 4 bytes) unless told not
  // to, and a truncated tag is far easier to forge.
  if (iv.length !== IV_BYTES || data.length < TAG_BYTES) throw new Error('malformed sealed value');
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]);
}

const b64 = (b: Buffer) => b.toString('base64url');
const unb64 = (s: string) => Buffer.from(s, 'base64url');

export class SecretBox {
  private readonly keys: Map<string, MasterKey>;

  /** `current` seals; `previous` keys can still open (during master key rotation). */
  constructor(
    private readonly current: MasterKey,
    previous: MasterKey[] = [],
  ) {
    this.keys = new Map([current, ...previous].map((k) => [k.id, k]));
  }

  get keyId(): string {
    return this.current.id;
  }

  seal(plaintext: string, recordId: string, field: string): string {
    const aad = `${recordId}/${field}`;
    const dataKey = randomBytes(32);
    try {
      const wrapped = gcmSeal(this.current.key, dataKey, aad);
      const sealed = gcmSeal(dataKey, Buffer.from(plaintext, 'utf8'), aad);
      return [
        VERSION,
        this.current.id,
        b64(wrapped.iv),
        b64(wrapped.data),
        b64(sealed.iv),
        b64(sealed.data),
      ].join('.');
    } finally {
      dataKey.fill(0);
    }
  }

  open(sealed: string, recordId: string, field: string): string {
    const parts = sealed.split('.');
    const [version, keyId, wrapIv, wrappedKey, iv, data] = parts;
    const master = keyId === undefined ? undefined : this.keys.get(keyId);
    if (parts.length !== 6 || version !== VERSION || !master || !wrapIv || !wrappedKey || !iv || !data) {
      throw new SyncError(
        'DECRYPT_FAILED',
        `secret ${field} of ${recordId} is not readable with the configured keys`,
      );
    }
    const aad = `${recordId}/${field}`;
    try {
      const dataKey = gcmOpen(master.key, unb64(wrapIv), unb64(wrappedKey), aad);
      try {
        return gcmOpen(dataKey, unb64(iv), unb64(data), aad).toString('utf8');
      } finally {
        dataKey.fill(0);
      }
    } catch (cause) {
      throw new SyncError('DECRYPT_FAILED', `secret ${field} of ${recordId} failed its integrity check`, {
        cause,
      });
    }
  }

  /** Re-wraps the data key under the current master key; the secret itself is not re-encrypted. */
  rewrap(sealed: string, recordId: string, field: string): string {
    const [version, keyId, wrapIv, wrappedKey, iv, data] = sealed.split('.');
    if (keyId === this.current.id) return sealed;
    const master = keyId === undefined ? undefined : this.keys.get(keyId);
    if (version !== VERSION || !master || !wrapIv || !wrappedKey || !iv || !data) {
      throw new SyncError(
        'DECRYPT_FAILED',
        `secret ${field} of ${recordId} is not readable with the configured keys`,
      );
    }
    const aad = `${recordId}/${field}`;
    const dataKey = gcmOpen(master.key, unb64(wrapIv), unb64(wrappedKey), aad);
    try {
      const wrapped = gcmSeal(this.current.key, dataKey, aad);
      return [VERSION, this.current.id, b64(wrapped.iv), b64(wrapped.data), iv, data].join('.');
    } finally {
      dataKey.fill(0);
    }
  }
}

/** A random bearer token with a readable prefix, e.g. `pwa_<id>.<secret>`. */
export const randomSecret = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/** Tokens are high-entropy random strings, so a plain SHA-256 is the right hash (no salt or KDF needed). */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export function safeEqualHex(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}
