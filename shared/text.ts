import type { FieldIssue } from './errors.js';

/**
 * Text PostgreSQL cannot store: a NUL (U+0000: refused in `text` and in `jsonb`) and a lone UTF-16
 * surrogate (JSON can spell one, `"\ud800"`, but it has no UTF-8 form: `jsonb` refuses it and a
 * `text` column, or a sealed password, would get U+FFFD instead: another value than was sent).
 */
const NUL = /\u0000/;
const BAD = '\\u0000|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]';
/** One test for the common case (nothing wrong); `UNSTORABLE_ALL` to replace. */
const UNSTORABLE = new RegExp(BAD);
const UNSTORABLE_ALL = new RegExp(BAD, 'g');

export const NUL_MESSAGE = 'must not contain a NUL character (U+0000)';
export const SURROGATE_MESSAGE = 'must not contain a lone UTF-16 surrogate (not valid Unicode)';

/** Why `text` cannot be stored as it is, or undefined when it can. */
export function unstorable(text: string): string | undefined {
  if (!UNSTORABLE.test(text)) return undefined;
  return NUL.test(text) ? NUL_MESSAGE : SURROGATE_MESSAGE;
}

/** `text` with every NUL and lone surrogate replaced by U+FFFD: for audit details and field names. */
export const storableText = (text: string): string => text.replace(UNSTORABLE_ALL, '\ufffd');

/**
 * JSON.stringify with every string in it (keys too) made storable (storableText), for `jsonb`
 * (the audit log): values are seen after their toJSON, so dates and the like stay as they were.
 */
export const storableJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string') return storableText(v);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const keys = Object.keys(v);
    if (!keys.some((key) => unstorable(key) !== undefined)) return v;
    return Object.fromEntries(Object.entries(v).map(([key, x]) => [storableText(key), x as unknown]));
  });

/** `text` cut to at most `max` characters, the last of them `…` when it was longer. */
export const cutText = (text: string, max: number): string =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** The most issues inputIssues reports: a megabyte of NULs gets a short answer. */
const MAX_ISSUES = 20;
/** Deeper than this, a request is refused (the deepest the API documents is about 10). */
export const MAX_DEPTH = 64;
export const DEPTH_MESSAGE = `nested deeper than ${MAX_DEPTH} levels`;
/**
 * More keys than this in one object, a request is refused before any schema reads it (the largest
 * object the API takes has a few dozen; a body of millions of keys kept the event loop for seconds
 * and got an answer listing each of them).
 */
export const MAX_KEYS = 1000;
export const KEYS_MESSAGE = `more than ${MAX_KEYS} keys`;

/**
 * What no schema may let through, as `{field, message}` issues named like zod's
 * (`body.connection.steps.0.url`; a bad key is named by its path with U+FFFD in its place): every
 * string (object keys too) PostgreSQL could not store, and nesting deeper than MAX_DEPTH (zod and
 * JSON.stringify recurse: a deep enough body would overflow the call stack, a 500), and objects of
 * more than MAX_KEYS keys. The walk stops
 * at MAX_DEPTH itself, so it cannot overflow; it runs on every request, so it builds a field name
 * only for an issue.
 */
export function inputIssues(value: unknown, root: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const path: (string | number)[] = [];
  const field = () => [root, ...path].join('.');
  const visit = (v: unknown, depth: number): void => {
    if (issues.length >= MAX_ISSUES) return;
    if (typeof v === 'string') {
      const message = unstorable(v);
      if (message) issues.push({ field: field(), message });
      return;
    }
    if (v === null || typeof v !== 'object') return;
    if (depth >= MAX_DEPTH) {
      issues.push({ field: field(), message: DEPTH_MESSAGE });
      return;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        visit(v[i], depth + 1);
        path.pop();
      }
      return;
    }
    const object = v as Record<string, unknown>;
    const keys = Object.keys(object);
    if (keys.length > MAX_KEYS) {
      issues.push({ field: field(), message: KEYS_MESSAGE });
      return;
    }
    for (const key of keys) {
      const message = unstorable(key);
      path.push(message ? storableText(key) : key);
      if (message) issues.push({ field: field(), message: `key ${message}` });
      else visit(object[key], depth + 1);
      path.pop();
    }
  };
  visit(value, 0);
  return issues;
}
