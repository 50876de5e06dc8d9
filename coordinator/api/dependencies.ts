import { z } from 'zod';
import {
  DependencyView,
  RetryDependenciesBody,
  SetDependenciesBody,
  SetStoredPasswordBody,
} from '../../shared/contracts/dependencies.js';
import { StatusSchema } from '../../shared/contracts/status.js';
import type { Ctx } from '../context.js';
import type { CredentialRow } from '../credentials/store.js';
import {
  askDependencies,
  credentialWithDependencies,
  setDependencies,
  setStoredPassword,
} from '../dependencies/operations.js';
import { dependencyView } from '../dependencies/store.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';

const Asked = z.object({ id: z.uuid(), status: StatusSchema, requested: z.array(z.uuid()) });

/** What a check or retry answers: the credential's status and the dependencies asked. */
const askedView = ({ row, requested }: { row: CredentialRow; requested: string[] }) => ({
  id: row.id,
  status: row.status,
  requested,
});

/** A credential's dependencies (docs/adapters/dependencies.md) and the out-of-band password. */
export function registerDependencyRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/:id/dependencies',
    summary: "List a credential's dependencies in order, each with its last push and check",
    tag: 'credentials',
    auth: 'viewer',
    params: IdParams,
    response: { status: 200, schema: z.object({ items: z.array(DependencyView) }) },
    handler: async ({ params }) => {
      const { dependencies } = await credentialWithDependencies(ctx.db, params.id);
      return { items: dependencies.map(dependencyView) };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/dependencies',
    summary:
      "Replace a credential's dependencies: what must follow its password after each change (admin: they decide where the password goes)",
    tag: 'credentials',
    auth: 'admin',
    params: IdParams,
    body: SetDependenciesBody,
    response: { status: 200, schema: z.object({ items: z.array(DependencyView) }) },
    handler: async ({ params, body }, req) => {
      const rows = await setDependencies(ctx, params.id, body.dependencies, actOf(req));
      return { items: rows.map(dependencyView) };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/dependencies/check',
    conflict: 'the credential has no dependencies, or sync is disabled for it',
    summary:
      'Check every dependency can be reached and written (with the next verification, queued now); nothing is changed',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    response: { status: 202, schema: Asked },
    handler: async ({ params }, req) =>
      askedView(await askDependencies(ctx, params.id, 'check', undefined, actOf(req))),
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/dependencies/retry',
    conflict: 'the credential has no dependencies or none failed, or sync is disabled for it',
    summary:
      'Push the stored password again to failed dependencies (or the ones named), without changing it (with the next verification, queued now)',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    body: RetryDependenciesBody,
    response: { status: 202, schema: Asked },
    handler: async ({ params, body }, req) =>
      askedView(await askDependencies(ctx, params.id, 'push', body.dependencyIds, actOf(req))),
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/stored-password',
    conflict: 'a change is open whose new password may be the one on the target',
    summary:
      'Set stored password: store the password now on the target (changed there by hand) without changing it, then verify it; optionally push it to the dependencies (admin; audited)',
    tag: 'credentials',
    auth: 'admin',
    params: IdParams,
    body: SetStoredPasswordBody,
    response: { status: 202, schema: z.object({ id: z.uuid(), status: StatusSchema }) },
    handler: async ({ params, body }, req) => {
      const row = await setStoredPassword(ctx, params.id, body.password, body.pushDependencies, actOf(req));
      return { id: row.id, status: row.status };
    },
  });
}
