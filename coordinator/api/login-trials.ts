import { z } from 'zod';
import { LoginTrialBody, LoginTrialView } from '../../shared/contracts/api.js';
import { labelOf, LOGIN_TRIAL_REASON_LABELS } from '../../shared/contracts/labels.js';
import type { Ctx } from '../context.js';
import { actOf, actorOf } from '../http/actor.js';
import { hasRole } from '../http/operator-auth.js';
import { IdParams, type Routes } from '../http/routes.js';
import { readLoginTrial, startLoginTrial } from '../trials/operations.js';
import type { TrialRow } from '../trials/store.js';

const trialView = (t: TrialRow): z.infer<typeof LoginTrialView> => ({
  id: t.id,
  targetId: t.target_id,
  credentialId: t.credential_id,
  state: t.state,
  outcome: t.outcome,
  reason: t.reason,
  reasonLabel: labelOf(LOGIN_TRIAL_REASON_LABELS, t.reason),
  detail: t.detail,
  createdAt: t.created_at.toISOString(),
  startedAt: t.started_at?.toISOString() ?? null,
  finishedAt: t.finished_at?.toISOString() ?? null,
  by: t.created_by,
});

const TrialParams = z.strictObject({
  id: z.uuid({ message: 'must be a UUID' }),
  trialId: z.uuid({ message: 'must be a UUID' }),
});

/** Login trials of a web target (docs/api.md "Login trials"; coordinator/trials/). */
export function registerLoginTrialRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/targets/:id/login-trials',
    conflict: 'the target is not a web target, or sync is disabled for the credential named',
    summary:
      "Try an unsaved web login workflow with the stored password of one of the target's credentials, on an agent of the target's site; the credential itself is left as it is",
    tag: 'targets',
    auth: 'operator',
    params: IdParams,
    body: LoginTrialBody,
    response: { status: 202, schema: LoginTrialView },
    handler: async ({ params, body }, req) =>
      trialView(await startLoginTrial(ctx, params.id, body, hasRole(actorOf(req), 'admin'), actOf(req))),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/targets/:id/login-trials/:trialId',
    summary:
      'A login trial: queued, running, done (outcome ok or failed, with its reason) or failed (timeout)',
    tag: 'targets',
    auth: 'viewer',
    params: TrialParams,
    response: { status: 200, schema: LoginTrialView },
    handler: async ({ params }) => trialView(await readLoginTrial(ctx, params.id, params.trialId)),
  });
}
