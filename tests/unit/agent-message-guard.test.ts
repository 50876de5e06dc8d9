import { describe, expect, it } from 'vitest';
import { guardMessage, WITHHELD_MESSAGE } from '../../agent/message-guard.js';

describe('guardMessage', () => {
  const secrets = ['s3cr3t "pw"/&', undefined, ''];

  it('keeps a message without secrets', () => {
    expect(guardMessage('login refused', secrets)).toBe('login refused');
    expect(guardMessage(undefined, secrets)).toBeUndefined();
  });

  it('withholds a message with a secret as is, URL-encoded or JSON-escaped', () => {
    expect(guardMessage('bad password s3cr3t "pw"/& here', secrets)).toBe(WITHHELD_MESSAGE);
    expect(guardMessage(`body=${encodeURIComponent('s3cr3t "pw"/&')}`, secrets)).toBe(WITHHELD_MESSAGE);
    expect(guardMessage(JSON.stringify({ password: 's3cr3t "pw"/&' }), secrets)).toBe(WITHHELD_MESSAGE);
  });

  it('ignores empty or missing secrets', () => {
    expect(guardMessage('anything', [undefined, ''])).toBe('anything');
  });

  it('cuts long messages to 500 characters', () => {
    expect(guardMessage('a'.repeat(501), [])).toHaveLength(500);
    expect(guardMessage('a'.repeat(500), [])).toHaveLength(500);
  });

  it('makes a message storable: a NUL or half a surrogate pair (also cut short) becomes U+FFFD', () => {
    expect(guardMessage('bad\u0000byte', [])).toBe('bad\ufffdbyte');
    expect(guardMessage('lone \ud800 high, lone \udc00 low, pair \ud83d\ude00', [])).toBe(
      'lone \ufffd high, lone \ufffd low, pair \ud83d\ude00',
    );
    // 498 letters, then an emoji (2 code units): the cut at 499 keeps only its high half.
    const cut = guardMessage(`${'a'.repeat(498)}\ud83d\ude00${'b'.repeat(10)}`, []);
    expect(cut).toBe(`${'a'.repeat(498)}\ufffd…`);
  });
});
