import type { FastifyRequest } from 'fastify';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import type { Operator } from './operator-auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    operator?: Operator;
  }
}

export const actorOf = (req: FastifyRequest): Operator => req.operator ?? { id: 'anonymous', role: 'viewer' };

/** The operator and request an action comes from, as operations take it (store/audit.ts). */
export const actOf = (req: FastifyRequest): OperatorAct => ({
  operatorId: actorOf(req).id,
  requestId: req.id,
});

/** Records an operator's action in the audit log (inside the caller's transaction). */
export function audit(
  q: Queryable,
  req: FastifyRequest,
  action: string,
  objectType: string,
  objectId: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  return auditOperator(q, actOf(req), action, objectType, objectId, details);
}
