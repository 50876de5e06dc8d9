import { SyncError } from '../../shared/errors.js';
import type { Queryable } from '../store/db.js';
import { constraintsOf, mergeRules } from './constraints.js';
import { DEFAULT_RULES, PasswordRulesSchema, type PasswordRules } from './rules.js';
import { MaintenanceWindowSchema, type MaintenanceWindow } from './window.js';

export interface PolicyRow {
  id: string;
  name: string;
  rules: PasswordRules;
  verify_interval_s: number;
  rotate_interval_s: number | null;
  maintenance_window: MaintenanceWindow | null;
  created_at: Date;
}

export const parsePolicyRow = (r: PolicyRow): PolicyRow => ({
  ...r,
  rules: PasswordRulesSchema.parse(r.rules),
  maintenance_window: r.maintenance_window ? MaintenanceWindowSchema.parse(r.maintenance_window) : null,
});

/** Policies by id (ids that name none are left out). */
export async function loadPolicies(q: Queryable, ids: (string | null)[]): Promise<Map<string, PolicyRow>> {
  const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
  if (wanted.length === 0) return new Map();
  const { rows } = await q.query<PolicyRow>('SELECT * FROM policies WHERE id = ANY($1::uuid[])', [wanted]);
  return new Map(rows.map((r) => [r.id, parsePolicyRow(r)]));
}

/** Every policy, by name. */
export async function listPolicies(q: Queryable): Promise<PolicyRow[]> {
  const { rows } = await q.query<PolicyRow>('SELECT * FROM policies ORDER BY name');
  return rows.map(parsePolicyRow);
}

/** Inserts a policy; false when one of that name exists (nothing inserted). */
export async function insertPolicy(
  q: Queryable,
  p: Pick<
    PolicyRow,
    'id' | 'name' | 'rules' | 'verify_interval_s' | 'rotate_interval_s' | 'maintenance_window'
  >,
): Promise<boolean> {
  const { rows } = await q.query(
    `INSERT INTO policies (id, name, rules, verify_interval_s, rotate_interval_s, maintenance_window)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING RETURNING id`,
    [
      p.id,
      p.name,
      JSON.stringify(p.rules),
      p.verify_interval_s,
      p.rotate_interval_s,
      p.maintenance_window ? JSON.stringify(p.maintenance_window) : null,
    ],
  );
  return rows.length > 0;
}

export async function getPolicy(q: Queryable, id: string): Promise<PolicyRow | null> {
  return (await loadPolicies(q, [id])).get(id) ?? null;
}

/** A policy that must exist: a 400 naming `field` otherwise. */
export async function requirePolicy(q: Queryable, id: string, field: string): Promise<PolicyRow> {
  const p = await getPolicy(q, id);
  if (!p) {
    throw new SyncError('VALIDATION_FAILED', `${field}: policy ${id} not found`, {
      issues: [{ field, message: 'no such policy' }],
    });
  }
  return p;
}

export interface TargetRef {
  name: string;
  kind: string;
  connection: unknown;
}

/**
 * The rules to generate with for a policy (null = defaults) on these targets, or a 400 naming
 * `field` when no password can satisfy both the policy and every target's own limits.
 */
export function rulesForTargets(
  policy: PolicyRow | null,
  targets: TargetRef[],
  field: string,
): PasswordRules {
  const merged = mergeRules(
    policy?.rules ?? DEFAULT_RULES,
    targets.map((t) => constraintsOf(t.kind, t.connection)),
  );
  if (merged.ok) return merged.rules;
  const names = [...new Set(targets.map((t) => t.name))].join(', ');
  const what = policy ? `policy '${policy.name}'` : 'the default policy';
  const message = `${what} does not suit target(s) ${names}: ${merged.message}`;
  throw new SyncError('VALIDATION_FAILED', `${field}: ${message}`, { issues: [{ field, message }] });
}

export const policyView = (p: PolicyRow) => ({
  id: p.id,
  name: p.name,
  rules: p.rules,
  verifyIntervalSeconds: p.verify_interval_s,
  rotateIntervalSeconds: p.rotate_interval_s,
  maintenanceWindow: p.maintenance_window,
  createdAt: p.created_at.toISOString(),
});
