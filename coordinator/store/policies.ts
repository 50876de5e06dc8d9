import { DEFAULT_RULES, PasswordRulesSchema, type PasswordRules } from '../policies/rules.js';
import type { Queryable } from './db.js';

export interface PolicyRow {
  id: string;
  name: string;
  rules: PasswordRules;
  verify_interval_s: number;
  rotate_interval_s: number | null;
  created_at: Date;
}

/** Generation rules per policy id (null id = the default rules). */
export async function rulesFor(
  q: Queryable,
  policyIds: (string | null)[],
): Promise<Map<string | null, PasswordRules>> {
  const ids = [...new Set(policyIds.filter((id): id is string => id !== null))];
  const map = new Map<string | null, PasswordRules>([[null, DEFAULT_RULES]]);
  if (ids.length === 0) return map;
  const { rows } = await q.query<{ id: string; rules: unknown }>(
    'SELECT id, rules FROM policies WHERE id = ANY($1::uuid[])',
    [ids],
  );
  for (const r of rows) map.set(r.id, PasswordRulesSchema.parse(r.rules));
  return map;
}
