import { randomUUID } from 'node:crypto';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { loadCredentials, saveCredentials } from '../credentials/store.js';
import { loadGroup, memberIds, setGroupNextChange } from '../groups/store.js';
import { nextRotation, scheduleOnAssignment } from '../policies/rotation.js';
import type { PasswordRules } from '../policies/rules.js';
import {
  credentialsWithPolicy,
  deletePolicyRow,
  getPolicy,
  insertPolicy,
  memberRef,
  policyUse,
  refuseCutLength,
  rulesForTargets,
  setPolicyVerifyInterval,
  updatePolicyRow,
  type PolicyRow,
} from '../policies/store.js';
import type { MaintenanceWindow } from '../policies/window.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';

/*
 * What an operator can do to password policies, without HTTP: create, edit, delete. Each is one
 * transaction, audited.
 */

export interface NewPolicy {
  name: string;
  rules: PasswordRules;
  verifyIntervalSeconds: number;
  rotateIntervalSeconds?: number | undefined;
  maintenanceWindow?: MaintenanceWindow | undefined;
}

/** A new policy (409 when another has the name). */
export async function createPolicy(ctx: Ctx, input: NewPolicy, by: OperatorAct): Promise<PolicyRow> {
  const id = randomUUID();
  return ctx.db.tx(async (q) => {
    const inserted = await insertPolicy(q, {
      id,
      name: input.name,
      rules: input.rules,
      verify_interval_s: input.verifyIntervalSeconds,
      rotate_interval_s: input.rotateIntervalSeconds ?? null,
      maintenance_window: input.maintenanceWindow ?? null,
    });
    if (!inserted) {
      throw new SyncError('CONFLICT', `name: a policy named '${input.name}' exists`);
    }
    await auditOperator(q, by, 'policy.create', 'policy', id, { name: input.name });
    return (await getPolicy(q, id))!;
  });
}

/**
 * The edited policy must still suit everything that uses it: each credential's target, and each
 * sync group's members together (none cut shorter than the policy: policies/store.ts refuseCutLength).
 */
async function checkUse(q: Queryable, policy: PolicyRow): Promise<void> {
  const use = await policyUse(q, policy.id);
  for (const target of use.targets) rulesForTargets(policy, [target], 'rules');
  for (const g of use.groups) {
    const members = (await loadCredentials(q, await memberIds(q, g.id), false)).map(memberRef);
    rulesForTargets(policy, members, 'rules');
    refuseCutLength(policy, members, 'rules.length');
  }
}

/** A new rotation interval reschedules the policy's credentials and the groups that follow it. */
async function reschedule(q: Queryable, policy: PolicyRow): Promise<void> {
  const now = new Date();
  const rows = await credentialsWithPolicy(q, policy.id);
  for (const row of rows) scheduleOnAssignment(row, policy, now);
  await saveCredentials(q, rows);
  for (const { id } of (await policyUse(q, policy.id)).groups) {
    const group = (await loadGroup(q, id, true))!;
    if (!group.enabled || group.change_pending_id) continue;
    const primary = rows.find((r) => r.id === group.primary_credential_id);
    await setGroupNextChange(q, id, nextRotation(policy, primary?.last_changed_at ?? null, now));
  }
}

/**
 * Edits a policy (only the fields given; `null` removes the rotation or window): refused (400
 * naming the field, the target or the group member) when it would no longer suit a credential or
 * sync group using it. A new verification or rotation interval reaches what uses it.
 */
export async function editPolicy(
  ctx: Ctx,
  id: string,
  patch: {
    name?: string | undefined;
    rules?: PasswordRules | undefined;
    verifyIntervalSeconds?: number | undefined;
    rotateIntervalSeconds?: number | null | undefined;
    maintenanceWindow?: MaintenanceWindow | null | undefined;
  },
  by: OperatorAct,
): Promise<PolicyRow> {
  return ctx.db.tx(async (q) => {
    const before = await getPolicy(q, id);
    if (!before) throw new SyncError('NOT_FOUND', `policy ${id} not found`);
    const next: PolicyRow = {
      ...before,
      name: patch.name ?? before.name,
      rules: patch.rules ?? before.rules,
      verify_interval_s: patch.verifyIntervalSeconds ?? before.verify_interval_s,
      rotate_interval_s:
        patch.rotateIntervalSeconds === undefined ? before.rotate_interval_s : patch.rotateIntervalSeconds,
      maintenance_window:
        patch.maintenanceWindow === undefined ? before.maintenance_window : patch.maintenanceWindow,
    };
    await checkUse(q, next);
    const after = await updatePolicyRow(q, next);
    if (after === 'taken') throw new SyncError('CONFLICT', `name: a policy named '${next.name}' exists`);
    if (after.verify_interval_s !== before.verify_interval_s)
      await setPolicyVerifyInterval(q, after.id, after.verify_interval_s);
    if (after.rotate_interval_s !== before.rotate_interval_s) await reschedule(q, after);
    await auditOperator(q, by, 'policy.update', 'policy', after.id, {
      changed: Object.keys(patch).sort(),
      ...(after.name !== before.name ? { name: { from: before.name, to: after.name } } : {}),
    });
    return after;
  });
}

/** The names of the groups that name the policy themselves (the others follow their primary's). */
async function groupsOwning(q: Queryable, groups: { id: string; name: string }[], policyId: string) {
  const out: string[] = [];
  for (const g of groups) if ((await loadGroup(q, g.id))?.policy_id === policyId) out.push(`'${g.name}'`);
  return out;
}

/** Deletes a policy: refused (409, naming what) while a credential or a sync group uses it. */
export async function deletePolicy(ctx: Ctx, id: string, by: OperatorAct): Promise<void> {
  await ctx.db.tx(async (q) => {
    const policy = await getPolicy(q, id);
    if (!policy) throw new SyncError('NOT_FOUND', `policy ${id} not found`);
    const use = await policyUse(q, id);
    const own = use.groups.length > 0 ? await groupsOwning(q, use.groups, id) : [];
    if (use.credentials > 0 || own.length > 0) {
      const parts = [
        use.credentials > 0 ? `${use.credentials} credential(s)` : '',
        own.length > 0 ? `sync group(s) ${own.join(', ')}` : '',
      ].filter(Boolean);
      throw new SyncError('CONFLICT', `policy '${policy.name}' is in use by ${parts.join(' and ')}`);
    }
    await deletePolicyRow(q, id);
    await auditOperator(q, by, 'policy.delete', 'policy', id, { name: policy.name });
  });
}
