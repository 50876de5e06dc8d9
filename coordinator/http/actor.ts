import type { FastifyRequest } from 'fastify';
import { recordAudit } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import type { Operator } from './operator-auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    operator?: Operator;
  }
}

export const actorOf = (req: FastifyRequest): Operator => req.operator ?? { id: 'anonymous', role: 'viewer' };

/** Records an operator's action in the audit log (inside the caller's transaction). */
export function audit(
  q: Queryable,
  req: FastifyRequest,
  action: string,
  objectType: string,
  objectId: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  return recordAudit(q, [
    {
      actorType: 'operator',
      actorId: actorOf(req).id,
      action,
      objectType,
      objectId,
      details: { ...details, reqId: req.id },
    },
  ]);
}
