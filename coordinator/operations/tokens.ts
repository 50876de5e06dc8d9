import { randomUUID } from 'node:crypto';
import { hashToken, randomSecret } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { operatorToken } from '../http/operator-auth.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { insertToken, revokeToken, type TokenRow } from '../store/tokens.js';

/** A new operator API token: the token is returned once, stored hashed. */
export async function createToken(
  ctx: Ctx,
  input: { name: string; role: TokenRow['role'] },
  by: OperatorAct,
): Promise<{ row: TokenRow; token: string }> {
  const id = randomUUID();
  const token = operatorToken(id, randomSecret());
  const row = await ctx.db.tx(async (q) => {
    const row = await insertToken(q, {
      id,
      name: input.name,
      role: input.role,
      created_by: by.operatorId,
      tokenHash: hashToken(token),
    });
    await auditOperator(q, by, 'token.create', 'token', id, { name: input.name, role: input.role });
    return row;
  });
  return { row, token };
}

/** Revokes an operator API token (refused on its next call). */
export async function revokeTokenAs(ctx: Ctx, id: string, by: OperatorAct): Promise<TokenRow> {
  return ctx.db.tx(async (q) => {
    const revoked = await revokeToken(q, id);
    if (!revoked) throw new SyncError('NOT_FOUND', `token ${id} not found`);
    await auditOperator(q, by, 'token.revoke', 'token', id);
    return revoked;
  });
}
