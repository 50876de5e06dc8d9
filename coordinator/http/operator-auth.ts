import { hashToken, safeEqualHex } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { activeToken } from '../store/tokens.js';
import { bearerToken, OPERATOR_TOKEN } from './bearer.js';
import type { Role } from './routes.js';

export interface Operator {
  id: string;
  role: Role;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export const operatorToken = (id: string, secret: string) => `pwo_${id}.${secret}`;

/** The bootstrap admin's actor id (COORDINATOR_ADMIN_TOKEN), and its name wherever an actor is named. */
export const BOOTSTRAP_ADMIN = 'bootstrap-admin';

export const hasRole = (op: Operator, needed: Role) => RANK[op.role] >= RANK[needed];

/**
 * Operators present a bearer token: the bootstrap admin token (COORDINATOR_ADMIN_TOKEN) or an API
 * token `pwo_<id>.<secret>` stored hashed. Agent tokens are never accepted here.
 */
export async function authenticateOperator(ctx: Ctx, authorization: string | undefined): Promise<Operator> {
  const token = bearerToken(authorization);
  if (!token) throw new SyncError('UNAUTHENTICATED', 'a bearer token is required');
  const hash = hashToken(token);
  if (safeEqualHex(hash, adminHash(ctx))) return { id: BOOTSTRAP_ADMIN, role: 'admin' };
  const match = OPERATOR_TOKEN.exec(token);
  if (match) {
    const row = await activeToken(ctx.db, match[1]!);
    if (row && safeEqualHex(row.token_hash, hash)) return { id: row.id, role: row.role };
  }
  throw new SyncError('UNAUTHENTICATED', 'token invalid or revoked');
}

/** Is this the bootstrap admin token (COORDINATOR_ADMIN_TOKEN)? */
export const isBootstrapAdminToken = (ctx: Ctx, token: string): boolean =>
  safeEqualHex(hashToken(token), adminHash(ctx));

const adminHashes = new WeakMap<Ctx, string>();
function adminHash(ctx: Ctx): string {
  let h = adminHashes.get(ctx);
  if (!h) {
    h = hashToken(ctx.config.COORDINATOR_ADMIN_TOKEN);
    adminHashes.set(ctx, h);
  }
  return h;
}
