import { z } from 'zod';
import { PolicyView } from '../../shared/contracts/api.js';
import { DeletedView } from '../../shared/contracts/admin.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { loadCredentials, saveCredentials } from '../credentials/store.js';
import { loadGroup, memberIds, setGroupNextChange } from '../groups/store.js';
import { audit } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { nextRotation, scheduleOnAssignment } from '../policies/rotation.js';
import {
  credentialsWithPolicy,
  deletePolicyRow,
  getPolicy,
  memberRef,
  policyUse,
  policyView,
  refuseCutLength,
  rulesForTargets,
  setPolicyVerifyInterval,
  updatePolicyRow,
  type PolicyRow,
} from '../policies/store.js';
import type { Queryable } from '../store/db.js';
import { CreatePolicyBody } from './policies.js';

const fields = CreatePolicyBody.shape;
/** Only the fields given change; `rules` replaces the rules whole, `null` removes the rotation or window. */
export const PatchPolicyBody = z.strictObject({
  name: fields.name.optional(),
  rules: fields.rules.unwrap().optional(),
  verifyIntervalSeconds: fields.verifyIntervalSeconds.unwrap().optional(),
  rotateIntervalSeconds: fields.rotateIntervalSeconds.unwrap().nullable().optional(),
  maintenanceWindow: fields.maintenanceWindow.unwrap().nullable().optional(),
});

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

/** Editing and deleting password policies (operator, as creating one). */
export function registerPolicyEditRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'PATCH',
    url: '/api/v1/policies/:id',
    summary:
      'Edit a policy: refused (400 naming the field, the target or the group member) when it would no longer suit a credential or sync group using it',
    tag: 'policies',
    auth: 'operator',
    params: IdParams,
    body: PatchPolicyBody,
    response: { status: 200, schema: PolicyView },
    handler: async ({ params, body }, req) =>
      ctx.db.tx(async (q) => {
        const before = await getPolicy(q, params.id);
        if (!before) throw new SyncError('NOT_FOUND', `policy ${params.id} not found`);
        const next: PolicyRow = {
          ...before,
          name: body.name ?? before.name,
          rules: body.rules ?? before.rules,
          verify_interval_s: body.verifyIntervalSeconds ?? before.verify_interval_s,
          rotate_interval_s:
            body.rotateIntervalSeconds === undefined ? before.rotate_interval_s : body.rotateIntervalSeconds,
          maintenance_window:
            body.maintenanceWindow === undefined ? before.maintenance_window : body.maintenanceWindow,
        };
        await checkUse(q, next);
        const after = await updatePolicyRow(q, next);
        if (after === 'taken') throw new SyncError('CONFLICT', `name: a policy named '${next.name}' exists`);
        if (after.verify_interval_s !== before.verify_interval_s)
          await setPolicyVerifyInterval(q, after.id, after.verify_interval_s);
        if (after.rotate_interval_s !== before.rotate_interval_s) await reschedule(q, after);
        await audit(q, req, 'policy.update', 'policy', after.id, {
          changed: Object.keys(body).sort(),
          ...(after.name !== before.name ? { name: { from: before.name, to: after.name } } : {}),
        });
        return policyView(after);
      }),
  });
  routes.add({
    method: 'DELETE',
    url: '/api/v1/policies/:id',
    summary: 'Delete a policy: refused (409, naming what) while a credential or a sync group uses it',
    tag: 'policies',
    auth: 'operator',
    params: IdParams,
    response: { status: 200, schema: DeletedView },
    handler: async ({ params }, req) =>
      ctx.db.tx(async (q) => {
        const policy = await getPolicy(q, params.id);
        if (!policy) throw new SyncError('NOT_FOUND', `policy ${params.id} not found`);
        const use = await policyUse(q, params.id);
        const own = use.groups.length > 0 ? await groupsOwning(q, use.groups, params.id) : [];
        if (use.credentials > 0 || own.length > 0) {
          const parts = [
            use.credentials > 0 ? `${use.credentials} credential(s)` : '',
            own.length > 0 ? `sync group(s) ${own.join(', ')}` : '',
          ].filter(Boolean);
          throw new SyncError('CONFLICT', `policy '${policy.name}' is in use by ${parts.join(' and ')}`);
        }
        await deletePolicyRow(q, params.id);
        await audit(q, req, 'policy.delete', 'policy', params.id, { name: policy.name });
        return { id: params.id, deleted: true as const };
      }),
  });
}

/** The names of the groups that name the policy themselves (the others follow their primary's). */
async function groupsOwning(q: Queryable, groups: { id: string; name: string }[], policyId: string) {
  const out: string[] = [];
  for (const g of groups) if ((await loadGroup(q, g.id))?.policy_id === policyId) out.push(`'${g.name}'`);
  return out;
}
