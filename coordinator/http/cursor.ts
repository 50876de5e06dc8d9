import { z } from 'zod';
import { SyncError } from '../../shared/errors.js';
import { inputIssues } from '../../shared/text.js';

/**
 * Keyset-paging cursors: opaque to clients (base64url of JSON), parsed with zod when they come
 * back, so a cursor that was not written by us is a 400 naming `query.cursor`, never a 500 from a
 * cast in SQL.
 */
export function badCursor(): SyncError {
  return new SyncError('VALIDATION_FAILED', 'query.cursor: not a cursor from a previous page', {
    issues: [{ field: 'query.cursor', message: 'not a cursor from a previous page' }],
  });
}

export const encodeCursor = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    throw badCursor();
  }
  // Text PostgreSQL cannot take (a NUL, a lone surrogate) is never one of our cursors either.
  if (inputIssues(value, 'query.cursor').length > 0) throw badCursor();
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badCursor();
  return parsed.data;
}

const TIME_KEY = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})$/;

/**
 * A timestamp as a sort key, exact to the microsecond (PostgreSQL's precision; a JS Date has
 * milliseconds only, which made pages skip or repeat rows): `YYYY-MM-DDTHH:MI:SS.US` in UTC, or
 * `-infinity` / `infinity`. Built in SQL by `timeKeySql`, read back by `timeKeyParam`.
 */
export const TimeKey = z.union([
  z.literal('-infinity'),
  z.literal('infinity'),
  z.string().refine((s) => {
    const m = TIME_KEY.exec(s);
    // Year 0000 is a JavaScript date but not a PostgreSQL one.
    if (!m || m[1] === '0000') return false;
    // A real calendar time (no 30 February, no hour 25), as PostgreSQL would parse it.
    const d = new Date(`${s.slice(0, 23)}Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 19) === s.slice(0, 19);
  }),
]);

/** SQL that renders a timestamptz expression as a TimeKey. */
export const timeKeySql = (expr: string): string =>
  `CASE WHEN isfinite(${expr}) THEN to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') ELSE (${expr})::text END`;

/** SQL that reads parameter `$n` (a TimeKey) back as a timestamptz. */
export const timeKeyParam = (n: number): string => `($${n}::timestamp AT TIME ZONE 'UTC')`;

export const UuidKey = z.uuid();
