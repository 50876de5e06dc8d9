import { z } from 'zod';
import { listOf, PolicyView } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { PasswordRulesSchema } from '../policies/rules.js';
import { createPolicy } from '../operations/policies.js';
import { getPolicy, listPolicies, policyView } from '../policies/store.js';
import { MaintenanceWindowSchema } from '../policies/window.js';

const DAY_S = 86_400;

export const CreatePolicyBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  /** Generation rules: length, class minimums (0 = may appear, -1 = must not), excluded characters. */
  rules: PasswordRulesSchema.default(PasswordRulesSchema.parse({})),
  /** How often its credentials are verified (default 24 h). */
  verifyIntervalSeconds: z
    .number()
    .int()
    .min(60)
    .max(366 * DAY_S)
    .default(DAY_S),
  /** Maximum age of a password: a change is scheduled this long after the last one. */
  rotateIntervalSeconds: z
    .number()
    .int()
    .min(60)
    .max(10 * 366 * DAY_S)
    .optional(),
  /** Scheduled changes start only inside this window; on-demand changes ignore it. */
  maintenanceWindow: MaintenanceWindowSchema.optional(),
});

/**
 * Password policies. A policy is checked against targets where it is used: assigning it to a
 * credential (POST/PATCH /credentials) or a sync group whose target cannot take any password the
 * policy allows is refused with a 400 naming `policyId` (coordinator/policies/store.ts).
 */
export function registerPolicyRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/policies',
    conflict: 'a policy with this name exists',
    summary: 'Create a password policy (rules, verification and rotation intervals, maintenance window)',
    tag: 'policies',
    auth: 'operator',
    body: CreatePolicyBody,
    response: { status: 201, schema: PolicyView },
    handler: async ({ body }, req) => policyView(await createPolicy(ctx, body, actOf(req))),
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/policies',
    summary: 'List password policies',
    tag: 'policies',
    auth: 'viewer',
    response: { status: 200, schema: listOf(PolicyView) },
    handler: async () => {
      const rows = await listPolicies(ctx.db);
      return { items: rows.map(policyView), nextCursor: null };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/policies/:id',
    summary: 'A password policy',
    tag: 'policies',
    auth: 'viewer',
    params: IdParams,
    response: { status: 200, schema: PolicyView },
    handler: async ({ params }) => {
      const p = await getPolicy(ctx.db, params.id);
      if (!p) throw new SyncError('NOT_FOUND', `policy ${params.id} not found`);
      return policyView(p);
    },
  });
}
