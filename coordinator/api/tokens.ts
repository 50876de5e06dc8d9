import { z } from 'zod';
import { CreateTokenBody, TokenView } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { createToken, revokeTokenAs } from '../operations/tokens.js';
import { listTokens, type TokenRow } from '../store/tokens.js';

const tokenView = (t: TokenRow) => ({
  id: t.id,
  name: t.name,
  role: t.role,
  createdBy: t.created_by,
  createdAt: t.created_at.toISOString(),
  revokedAt: t.revoked_at?.toISOString() ?? null,
});

/** Operator API tokens: created by admins, shown once, stored hashed, revocable. */
export function registerTokenRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/tokens',
    summary: 'Create an operator API token (the token is shown once)',
    tag: 'tokens',
    auth: 'admin',
    body: CreateTokenBody,
    response: { status: 201, schema: TokenView.extend({ token: z.string() }) },
    handler: async ({ body }, req) => {
      const { row, token } = await createToken(ctx, body, actOf(req));
      return { ...tokenView(row), token };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/tokens',
    summary: 'List operator API tokens (never the tokens themselves)',
    tag: 'tokens',
    auth: 'admin',
    response: { status: 200, schema: z.object({ items: z.array(TokenView) }) },
    handler: async () => {
      return { items: (await listTokens(ctx.db)).map(tokenView) };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/v1/tokens/:id/revoke',
    summary: 'Revoke an operator API token (refused on its next call)',
    tag: 'tokens',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: TokenView },
    handler: async ({ params }, req) => tokenView(await revokeTokenAs(ctx, params.id, actOf(req))),
  });
}
