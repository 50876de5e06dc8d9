import { BulkCredentialsBody, BulkCredentialsView } from '../../shared/contracts/credentials-bulk.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import type { Routes } from '../http/routes.js';
import { bulkCredentials } from '../operations/bulk-credentials.js';

export function registerCredentialBulkRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/bulk',
    summary:
      'Sync now, change, enable, disable or delete up to 1,000 credentials chosen by ids or by a filter: a result per credential (ok, or failed with why)',
    tag: 'credentials',
    auth: 'operator',
    body: BulkCredentialsBody,
    response: { status: 200, schema: BulkCredentialsView },
    handler: async ({ body }, req) => bulkCredentials(ctx, body, actOf(req)),
  });
}
