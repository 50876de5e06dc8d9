import type { z } from 'zod';
import type { CredentialFilterFields } from '../../shared/contracts/api.js';
import { PROBLEMS_FIRST } from '../../shared/contracts/status.js';
import type { Queryable } from '../store/db.js';
import { containsPattern, Where } from '../store/where.js';

/** The credential list's filters (GET /credentials, and bulk actions by filter). */
export type CredentialFilter = {
  [K in keyof typeof CredentialFilterFields]?: z.output<(typeof CredentialFilterFields)[K]>;
};

/** Past this many targets matching a search, the target side of it is a join (one scan) instead of a list of ids. */
const MAX_SEARCH_TARGETS = 1000;

/**
 * A credential's place in the `problems` order (PROBLEMS_FIRST), 1 first. The index
 * credentials_problems (migration 17) is on this very expression, so the order is read from it.
 */
export const PROBLEM_RANK_SQL = `array_position(ARRAY[${PROBLEMS_FIRST.map((s) => `'${s}'`).join(', ')}]::text[], c.status)`;

/** The FROM of a filtered credential query: `c` the credential, `t` its target (the search reads its name). */
export const FILTER_FROM = 'FROM credentials c JOIN targets t ON t.id = c.target_id';

/**
 * The WHERE of a credential filter, over FILTER_FROM. Only the filters given go into it (each can use
 * its index).
 */
export async function credentialFilterWhere(q: Queryable, filter: CredentialFilter): Promise<Where> {
  const where = new Where();
  if (filter.status) where.add('c.status = $1', filter.status);
  if (filter.reason) where.add('c.status_reason = $1', filter.reason);
  if (filter.siteId) where.add('c.site_id = $1', filter.siteId);
  if (filter.targetId) where.add('c.target_id = $1', filter.targetId);
  if (filter.groupId) where.add('c.group_id = $1', filter.groupId);
  if (filter.suspended) where.add('c.suspended = $1', filter.suspended === 'true');
  if (filter.jobState) where.add('c.job_state = $1', filter.jobState);
  if (filter.q) {
    const pattern = containsPattern(filter.q);
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
  return where;
}

/** How many credentials a filter matches. */
export async function countFiltered(q: Queryable, filter: CredentialFilter): Promise<number> {
  const where = await credentialFilterWhere(q, filter);
  const { rows } = await q.query<{ n: string }>(`SELECT count(*) AS n ${FILTER_FROM} ${where}`, where.params);
  return Number(rows[0]!.n);
}

/** The ids a filter matches, in id order, at most `max` (ask one more to know there are more). */
export async function filteredIds(q: Queryable, filter: CredentialFilter, max: number): Promise<string[]> {
  const where = await credentialFilterWhere(q, filter);
  const limit = where.param(max);
  const { rows } = await q.query<{ id: string }>(
    `SELECT c.id ${FILTER_FROM} ${where} ORDER BY c.id LIMIT ${limit}`,
    where.params,
  );
  return rows.map((r) => r.id);
}
