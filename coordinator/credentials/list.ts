import { z } from 'zod';
import type { CredentialListQuery } from '../../shared/contracts/api.js';
import { TimeKey, timeKeyParam, timeKeySql, UuidKey } from '../http/cursor.js';
import type { Queryable } from '../store/db.js';
import { containsPattern, Where } from '../store/where.js';
import type { CredentialRow } from './store.js';

/** Past this many targets matching a search, the target side of it is a join (one scan) instead of a list of ids. */
const MAX_SEARCH_TARGETS = 1000;

/** The list's rows: a credential with its target, and the sort key of the page's order. */
const LIST_SELECT = (keySql: string) => `
SELECT c.*, t.kind AS target_kind, t.name AS target_name, t.connection AS target_connection, ${keySql} AS sort_key
FROM credentials c JOIN targets t ON t.id = c.target_id`;

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
}

const text = (expr: string): Omit<ListSort, 'desc'> => ({
  expr,
  keySql: `${expr}::text`,
  param: (n) => `$${n}::text`,
  key: z.string().max(1024),
});
const time = (expr: string): Omit<ListSort, 'desc'> => ({
  expr,
  keySql: timeKeySql(expr),
  param: timeKeyParam,
  key: TimeKey,
});

const SORT_KEYS: Record<string, Omit<ListSort, 'desc'>> = {
  id: { expr: 'c.id', keySql: 'c.id::text', param: (n) => `$${n}::uuid`, key: UuidKey },
  username: text('c.username'),
  target: text('t.name'),
  status: text('c.status'),
  statusChangedAt: time('c.status_changed_at'),
  lastVerifiedAt: time("coalesce(c.last_verified_at, '-infinity'::timestamptz)"),
};

/** The order a list request names (`-` for descending). */
export function listSort(sort: string): ListSort {
  const desc = sort.startsWith('-');
  return { ...SORT_KEYS[desc ? sort.slice(1) : sort]!, desc };
}

/** Sorted by id ascending (the default): the order of the id alone. */
export const plainOrder = (s: ListSort) => s.expr === 'c.id' && !s.desc;

export type CredentialFilter = Pick<
  z.output<typeof CredentialListQuery>,
  'status' | 'reason' | 'siteId' | 'targetId' | 'groupId' | 'suspended' | 'jobState' | 'q'
>;

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
  const where = new Where();
  if (f.status) where.add('c.status = $1', f.status);
  if (f.reason) where.add('c.status_reason = $1', f.reason);
  if (f.siteId) where.add('c.site_id = $1', f.siteId);
  if (f.targetId) where.add('c.target_id = $1', f.targetId);
  if (f.groupId) where.add('c.group_id = $1', f.groupId);
  if (f.suspended) where.add('c.suspended = $1', f.suspended === 'true');
  if (f.jobState) where.add('c.job_state = $1', f.jobState);
  if (f.q) {
    const pattern = containsPattern(f.q);
    // The targets whose name matches first, then credentials by username (the trigram index of
    // credential_names) or by those target ids (the (target_id, username) index): an OR across
    // the join would scan every credential.
    const targets = await q.query<{ id: string }>('SELECT id FROM targets WHERE name ILIKE $1 LIMIT $2', [
      pattern,
      MAX_SEARCH_TARGETS + 1,
    ]);
    const byName = 'c.id IN (SELECT credential_id FROM credential_names WHERE username ILIKE $1)';
    if (targets.rows.length > MAX_SEARCH_TARGETS) where.add(`(${byName} OR t.name ILIKE $1)`, pattern);
    else if (targets.rows.length > 0) {
      where.add(
        `(${byName} OR c.target_id = ANY($2::uuid[]))`,
        pattern,
        targets.rows.map((r) => r.id),
      );
    } else where.add(byName, pattern);
  }
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
