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
});
