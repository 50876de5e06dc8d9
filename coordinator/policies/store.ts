import { SyncError } from '../../shared/errors.js';
import { selectCredentials, type CredentialRow } from '../credentials/store.js';
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

/** The columns a policy is written with (insert and update): $1 id … $6 maintenance window. */
type PolicyFields = Pick<
  PolicyRow,
  'id' | 'name' | 'rules' | 'verify_interval_s' | 'rotate_interval_s' | 'maintenance_window'
>;
const policyParams = (p: PolicyFields) => [
  p.id,
  p.name,
  JSON.stringify(p.rules),
  p.verify_interval_s,
  p.rotate_interval_s,
  p.maintenance_window ? JSON.stringify(p.maintenance_window) : null,
];

/** Inserts a policy; false when one of that name exists (nothing inserted). */
export async function insertPolicy(q: Queryable, p: PolicyFields): Promise<boolean> {
  const { rows } = await q.query(
    `INSERT INTO policies (id, name, rules, verify_interval_s, rotate_interval_s, maintenance_window)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING RETURNING id`,
    policyParams(p),
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

/** A sync group member as a policy check names it. */
export interface MemberRef extends TargetRef {
  username: string;
}

/**
 * A sync group's members share one password, so a policy longer than a member's target takes
 * would be cut for every member: refused with a 400 naming `field` and each member too short for it.
 */
export function refuseCutLength(policy: PolicyRow | null, members: MemberRef[], field: string): void {
  if (!policy) return;
  const short = members.flatMap((m) => {
    const max = constraintsOf(m.kind, m.connection).maxLength;
    return max !== undefined && max < policy.rules.length ? [`${m.username} on ${m.name} (${max})`] : [];
  });
  if (short.length === 0) return;
  const message = `policy '${policy.name}' asks for ${policy.rules.length} characters, more than member(s) take: ${short.join(', ')}`;
  throw new SyncError('VALIDATION_FAILED', `${field}: ${message}`, { issues: [{ field, message }] });
}

/** Where a policy is used: how many credentials, their targets (each once), the groups following it. */
export interface PolicyUse {
  credentials: number;
  targets: TargetRef[];
  /** Groups with this policy, or without one whose primary has it. */
  groups: { id: string; name: string }[];
}

export async function policyUse(q: Queryable, id: string): Promise<PolicyUse> {
  const { rows: targets } = await q.query<TargetRef & { n: number }>(
    `SELECT t.name, t.kind, t.connection, count(*)::int AS n
       FROM credentials c JOIN targets t ON t.id = c.target_id
      WHERE c.policy_id = $1 GROUP BY t.id, t.name, t.kind, t.connection ORDER BY t.name`,
    [id],
  );
  const { rows: groups } = await q.query<{ id: string; name: string }>(
    `SELECT g.id, g.name FROM sync_groups g LEFT JOIN credentials p ON p.id = g.primary_credential_id
      WHERE g.policy_id = $1 OR (g.policy_id IS NULL AND p.policy_id = $1) ORDER BY g.name`,
    [id],
  );
  return {
    credentials: targets.reduce((sum, t) => sum + t.n, 0),
    targets: targets.map(({ name, kind, connection }) => ({ name, kind, connection })),
    groups,
  };
}

/** Stores a policy's new fields (a name another policy has: 'taken', nothing changed). */
export async function updatePolicyRow(q: Queryable, p: PolicyRow): Promise<PolicyRow | 'taken'> {
  const clash = await q.query('SELECT 1 FROM policies WHERE name = $1 AND id <> $2', [p.name, p.id]);
  if (clash.rows.length > 0) return 'taken';
  await q.query(
    `UPDATE policies SET name = $2, rules = $3, verify_interval_s = $4, rotate_interval_s = $5,
            maintenance_window = $6 WHERE id = $1`,
    policyParams(p),
  );
  return (await getPolicy(q, p.id))!;
}

/** The verification interval of the policy's credentials follows the policy's. */
export async function setPolicyVerifyInterval(q: Queryable, id: string, seconds: number): Promise<void> {
  await q.query('UPDATE credentials SET verify_interval_s = $2 WHERE policy_id = $1', [id, seconds]);
}

export async function deletePolicyRow(q: Queryable, id: string): Promise<void> {
  await q.query('DELETE FROM policies WHERE id = $1', [id]);
}

/** The credentials that have this policy, locked (a policy edit reschedules them). */
export async function credentialsWithPolicy(q: Queryable, id: string): Promise<CredentialRow[]> {
  return selectCredentials(q, 'WHERE c.policy_id = $1 ORDER BY c.id FOR UPDATE OF c', [id]);
}

/** A credential as a policy check names it: its username on its target. */
export const memberRef = (r: CredentialRow): MemberRef => ({
  username: r.username,
  name: r.target_name,
  kind: r.target_kind,
  connection: r.target_connection,
});
