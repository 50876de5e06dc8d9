import { z } from 'zod';
import { PolicyView } from '../../shared/contracts/api.js';
import { DeletedView } from '../../shared/contracts/admin.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { deletePolicy, editPolicy } from '../operations/policies.js';
import { policyView } from '../policies/store.js';
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

/** Editing and deleting password policies (operator, as creating one). */
export function registerPolicyEditRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'PATCH',
    url: '/api/v1/policies/:id',
    conflict: 'a policy with this name exists',
    summary:
      'Edit a policy: refused (400 naming the field, the target or the group member) when it would no longer suit a credential or sync group using it',
    tag: 'policies',
    auth: 'operator',
    params: IdParams,
    body: PatchPolicyBody,
    response: { status: 200, schema: PolicyView },
    handler: async ({ params, body }, req) => policyView(await editPolicy(ctx, params.id, body, actOf(req))),
  });
  routes.add({
    method: 'DELETE',
    url: '/api/v1/policies/:id',
    conflict: 'the policy is in use by credentials or sync groups',
    summary: 'Delete a policy: refused (409, naming what) while a credential or a sync group uses it',
    tag: 'policies',
    auth: 'operator',
    params: IdParams,
    response: { status: 200, schema: DeletedView },
    handler: async ({ params }, req) => {
      await deletePolicy(ctx, params.id, actOf(req));
      return { id: params.id, deleted: true as const };
    },
  });
}
