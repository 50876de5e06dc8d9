import { z } from 'zod';
import { CreateTokenBody, TokenView } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { createToken, revokeTokenAs } from '../operations/tokens.js';
import type { Queryable } from '../store/db.js';
import { lookupNames } from '../store/names.js';
import { listTokens, type TokenRow } from '../store/tokens.js';

/** Tokens as the API shows them, each with the name of the token that created it. */
async function tokenViews(q: Queryable, rows: TokenRow[]) {
  const names = await lookupNames(q, { token: rows.map((t) => t.created_by) });
  return rows.map((t) => ({
    id: t.id,
    name: t.name,
    role: t.role,
    createdBy: t.created_by,
    createdByName: names.token.get(t.created_by) ?? t.created_by,
    createdAt: t.created_at.toISOString(),
    revokedAt: t.revoked_at?.toISOString() ?? null,
  }));
}
const tokenView = async (q: Queryable, t: TokenRow) => (await tokenViews(q, [t]))[0]!;

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
      return { ...(await tokenView(ctx.db, row)), token };
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
      return { items: await tokenViews(ctx.db, await listTokens(ctx.db)) };
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
    handler: async ({ params }, req) => tokenView(ctx.db, await revokeTokenAs(ctx, params.id, actOf(req))),
  });
}
