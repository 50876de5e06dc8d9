import { z } from 'zod';
import { TimeKey, timeKeyParam, timeKeySql, UuidKey } from '../http/cursor.js';
import { StatusSchema } from '../../shared/contracts/status.js';
import type { Queryable } from '../store/db.js';
import {
  credentialFilterWhere,
  FILTER_FROM,
  PROBLEM_RANK_SQL,
  type CredentialFilter,
} from './list-filter.js';
import type { CredentialRow } from './store.js';

/** The list's rows: a credential with its target, and the sort key of the page's order. */
const LIST_SELECT = (keySql: string) => `
SELECT c.*, t.kind AS target_kind, t.name AS target_name, t.connection AS target_connection, ${keySql} AS sort_key
${FILTER_FROM}`;

/** An order of the credential list. */
export interface ListSort {
  /** The ORDER BY expression (an index matches it: migrations v5). */
  expr: string;
  /** The sort key as text, computed in SQL (exact: timestamps to the microsecond). */
  keySql: string;
  /** The cursor's key read back, as SQL of parameter $n. */
  param: (n: number) => string;
  /** What a cursor's key must look like. */
  key: z.ZodType<string>;
  desc: boolean;
  /** As the request names it (`-status`): a cursor is good for this sort only. */
  name: string;
}

const text = (expr: string): Omit<ListSort, 'desc' | 'name'> => ({
  expr,
  keySql: `${expr}::text`,
  param: (n) => `$${n}::text`,
  key: z.string().max(1024),
});
const time = (expr: string): Omit<ListSort, 'desc' | 'name'> => ({
  expr,
  keySql: timeKeySql(expr),
  param: timeKeyParam,
  key: TimeKey,
});

const SORT_KEYS: Record<string, Omit<ListSort, 'desc' | 'name'>> = {
  id: { expr: 'c.id', keySql: 'c.id::text', param: (n) => `$${n}::uuid`, key: UuidKey },
  username: text('c.username'),
  target: text('t.name'),
  status: { ...text('c.status'), key: StatusSchema },
  statusChangedAt: time('c.status_changed_at'),
  lastVerifiedAt: time("coalesce(c.last_verified_at, '-infinity'::timestamptz)"),
  problems: {
    expr: PROBLEM_RANK_SQL,
    keySql: `${PROBLEM_RANK_SQL}::text`,
    param: (n) => `$${n}::int`,
    key: z.string().regex(/^\d{1,2}$/),
  },
};

/** The order a list request names (`-` for descending). */
export function listSort(sort: string): ListSort {
  const desc = sort.startsWith('-');
  return { ...SORT_KEYS[desc ? sort.slice(1) : sort]!, desc, name: sort };
}

/** Sorted by id ascending (the default): the order of the id alone. */
export const plainOrder = (s: ListSort) => s.expr === 'c.id' && !s.desc;

/**
 * A page of credentials (with their targets) matching the filter, in the order `sort`, after the
 * row whose sort key and id are `after`; each row carries its sort key (rendered by PostgreSQL).
 */
export async function listCredentials(
  q: Queryable,
  f: CredentialFilter,
  sort: ListSort,
  after: { key: string; id: string } | null,
  limit: number,
): Promise<(CredentialRow & { sort_key: string })[]> {
  const where = await credentialFilterWhere(q, f);
  if (after) {
    const op = sort.desc ? '<' : '>';
    if (sort.expr === 'c.id') where.add(`c.id ${op} $1::uuid`, after.id);
    else where.add(`(${sort.expr}, c.id) ${op} (${sort.param(1)}, $2::uuid)`, after.key, after.id);
  }
  const limitParam = where.param(limit);
  const dir = sort.desc ? 'DESC' : 'ASC';
  const { rows } = await q.query<CredentialRow & { sort_key: string }>(
    `${LIST_SELECT(sort.keySql)} ${where}
      ORDER BY ${sort.expr === 'c.id' ? '' : `${sort.expr} ${dir}, `}c.id ${dir} LIMIT ${limitParam}`,
    where.params,
  );
  return rows;
}
