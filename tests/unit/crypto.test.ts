import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { masterKeyFromBase64, SecretBox } from '../../shared/crypto.js';

const newKey = () => masterKeyFromBase64(randomBytes(32).toString('base64'));

describe('SecretBox (envelope encryption)', () => {
  const box = new SecretBox(newKey());

  it('opens what it sealed, and the ciphertext does not contain the secret', () => {
    const sealed = box.seal('Tr0ub4dor&3', 'cred-1', 'secret');
    expect(sealed).not.toContain('Tr0ub4dor');
    expect(box.open(sealed, 'cred-1', 'secret')).toBe('Tr0ub4dor&3');
  });

  it('uses a fresh data key and IV each time', () => {
    expect(box.seal('same', 'cred-1', 'secret')).not.toBe(box.seal('same', 'cred-1', 'secret'));
  });

  it('refuses a ciphertext moved to another record or field (associated data)', () => {
    const sealed = box.seal('pw', 'cred-1', 'secret');
    expect(() => box.open(sealed, 'cred-2', 'secret')).toThrow(/integrity/);
    expect(() => box.open(sealed, 'cred-1', 'pending_secret')).toThrow(/integrity/);
  });

  it('refuses a tampered ciphertext', () => {
    const parts = box.seal('pw', 'cred-1', 'secret').split('.');
    const data = Buffer.from(parts[5]!, 'base64url');
    data[0] = data[0]! ^ 1;
    parts[5] = data.toString('base64url');
    expect(() => box.open(parts.join('.'), 'cred-1', 'secret')).toThrow(/integrity/);
  });

  it('refuses a truncated authentication tag (only the full 16 bytes count)', () => {
    // An empty secret's ciphertext is its tag alone: cut to 4, 8 or 12 bytes, GCM would still
    // accept it unless the tag length is pinned, and a 4-byte tag is forgeable by trial.
    const sealed = box.seal('', 'cred-1', 'secret');
    expect(box.open(sealed, 'cred-1', 'secret')).toBe('');
    const parts = sealed.split('.');
    for (const keep of [4, 8, 12, 15]) {
      const cut = [
        ...parts.slice(0, 5),
        Buffer.from(parts[5]!, 'base64url').subarray(0, keep).toString('base64url'),
      ];
      expect(() => box.open(cut.join('.'), 'cred-1', 'secret'), `${keep} bytes`).toThrow(
        expect.objectContaining({ code: 'DECRYPT_FAILED' }),
      );
    }
    // The wrapped data key's tag too.
    const wrapped = Buffer.from(parts[3]!, 'base64url');
    const shortKey = [
      ...parts.slice(0, 3),
      wrapped.subarray(0, 32 + 12).toString('base64url'),
      ...parts.slice(4),
    ];
    expect(() => box.open(shortKey.join('.'), 'cred-1', 'secret')).toThrow(
      expect.objectContaining({ code: 'DECRYPT_FAILED' }),
    );
  });

  it('re-wraps data keys under a new master key; the old key is then no longer needed', () => {
    const oldKey = newKey();
    const sealed = new SecretBox(oldKey).seal('pw', 'cred-1', 'secret');
    const nextKey = newKey();
    const rotated = new SecretBox(nextKey, [oldKey]);
    const rewrapped = rotated.rewrap(sealed, 'cred-1', 'secret');
    expect(rewrapped.split('.')[5]).toBe(sealed.split('.')[5]); // the secret itself is not re-encrypted
    const onlyNew = new SecretBox(nextKey);
    expect(onlyNew.open(rewrapped, 'cred-1', 'secret')).toBe('pw');
    expect(() => onlyNew.open(sealed, 'cred-1', 'secret')).toThrow(/not readable/);
  });
});
