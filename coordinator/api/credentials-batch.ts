import {
  BATCH_BODY_LIMIT_BYTES,
  CreateCredentialsBatchBody,
  CreateCredentialsBatchView,
} from '../../shared/contracts/credentials-batch.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import type { Routes } from '../http/routes.js';
import { createCredentialsBatch } from '../operations/create-credentials-batch.js';

export function registerCredentialBatchRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/batch',
    summary:
      'Create up to 10,000 credentials: a result per item in request order (created, exists: same target and username, invalid: the field); idempotent',
    tag: 'credentials',
    auth: 'operator',
    body: CreateCredentialsBatchBody,
    batch: 'items',
    bodyLimit: BATCH_BODY_LIMIT_BYTES,
    response: { status: 200, schema: CreateCredentialsBatchView },
    handler: async ({ body, refused }, req) => {
      // The items that passed their schema, at their places in the request.
      const refusedAt = new Set(refused.map((r) => r.index));
      const items = [];
      let next = 0;
      for (let index = 0; next < body.items.length; index++) {
        if (!refusedAt.has(index)) items.push({ index, input: body.items[next++]! });
      }
      return createCredentialsBatch(ctx, items, refused, actOf(req));
    },
  });
}
