import { describe, expect, it } from 'vitest';
import {
  DEPTH_MESSAGE,
  KEYS_MESSAGE,
  MAX_KEYS,
  NUL_MESSAGE,
  storableJson,
  storableText,
  SURROGATE_MESSAGE,
  inputIssues,
  unstorable,
} from '../../shared/text.js';

describe('text PostgreSQL cannot store', () => {
  it('is a NUL or a lone surrogate (high or low); a surrogate pair is fine', () => {
    expect(unstorable('plain é 字 \ud83d\ude00')).toBeUndefined();
    expect(unstorable('a\u0000b')).toBe(NUL_MESSAGE);
    for (const lone of ['\ud800', 'x\ud800y', '\udc00', 'x\udfffy', '\ude00\ud83d', '\ud83d\ud83d\ude00'])
      expect(unstorable(lone), JSON.stringify(lone)).toBe(SURROGATE_MESSAGE);
  });

  it('is named by its path, keys too, like zod names fields', () => {
    const value = {
      name: 'ok',
      connection: { steps: [{ url: '/a' }, { url: '/b\u0000' }], ['bad\ud800key']: 1 },
      tags: ['x', 'y\udc00'],
    };
    expect(inputIssues(value, 'body')).toEqual(
      expect.arrayContaining([
        { field: 'body.connection.steps.1.url', message: NUL_MESSAGE },
        { field: 'body.connection.bad\ufffdkey', message: `key ${SURROGATE_MESSAGE}` },
        { field: 'body.tags.1', message: SURROGATE_MESSAGE },
      ]),
    );
    expect(inputIssues(value, 'body')).toHaveLength(3);
    expect(inputIssues({ a: [1, true, null, { b: 'fine' }] }, 'query')).toEqual([]);
  });

  it('refuses nesting deeper than 64 levels without overflowing the stack; at most 20 issues', () => {
    const nest = (levels: number, inner: unknown): unknown => {
      let v = inner;
      for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: v };
      return v;
    };
    expect(inputIssues(nest(64, 'fine'), 'body')).toEqual([]);
    const [issue, ...more] = inputIssues(nest(200_000, 'bottom\u0000'), 'body');
    expect(more).toEqual([]);
    expect(issue!.message).toBe(DEPTH_MESSAGE);
    expect(issue!.field.split('.')).toHaveLength(65);
    expect(
      inputIssues(
        Array.from({ length: 1000 }, () => '\u0000'),
        'body',
      ),
    ).toHaveLength(20);
  });

  it('refuses an object of more than MAX_KEYS keys at once, naming it, without reading them', () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(inputIssues({ items: [many(MAX_KEYS)] }, 'body')).toEqual([]);
    expect(inputIssues({ items: [{ ...many(1_500_000), bad: 'x\u0000' }] }, 'body')).toEqual([
      { field: 'body.items.0', message: KEYS_MESSAGE },
    ]);
  });

  it('made storable: U+FFFD in place, in values and keys; dates stay dates', () => {
    expect(storableText('a\u0000b\ud800c\ud83d\ude00')).toBe('a\ufffdb\ufffdc\ud83d\ude00');
    const at = new Date('2030-01-02T03:04:05.000Z');
    expect(JSON.parse(storableJson({ at, ['k\u0000']: ['v\udc00', 1], ok: { x: 'y' } }))).toEqual({
      at: at.toISOString(),
      'k\ufffd': ['v\ufffd', 1],
      ok: { x: 'y' },
    });
  });
});
