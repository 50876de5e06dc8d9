import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../../shared/logger.js';

/** A caller's own request id (a proxy's, say) is kept when it looks like one; else a fresh UUID. */
const GIVEN_ID = /^[\w.:-]{1,64}$/;

export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && GIVEN_ID.test(given) ? given : randomUUID();
}

type Level = 'error' | 'info' | 'debug';

/**
 * How loud a finished request is. Operator writes, refusals and failures are `info` (errors
 * `error`): what an operator wants in the log by default. Reads (the dashboard polls every 3 s),
 * successful agent gateway calls (thousands a second under load), health, metrics and dashboard
 * files are `debug`, so the hot path costs one level check.
 */
export function requestLevel(method: string, route: string, status: number): Level {
  if (status >= 500) return 'error';
  if (status >= 400) return 'info';
  if (route.startsWith('/api/') && method !== 'GET') return 'info';
  return 'debug';
}

/**
 * One log line per request, with its id, method, route (the pattern, never ids or query strings),
 * status, duration and who called (agentId and siteId, or the operator's actor id); every response
 * carries the id as `x-request-id`, so an operator can find the line of a failed call.
 */
export function installRequestLog(app: FastifyInstance, log: Logger): void {
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    const status = reply.statusCode;
    const level = requestLevel(req.method, route, status);
    if (!log.isLevelEnabled(level)) return;
    log[level](
      {
        reqId: req.id,
        method: req.method,
        route,
        status,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        ...caller(req),
      },
      `${req.method} ${route} ${status}`,
    );
  });
}

function caller(req: FastifyRequest): Record<string, string> {
  if (req.agent) return { agentId: req.agent.id, siteId: req.agent.site_id };
  if (req.operator) return { actor: req.operator.id };
  return {};
}
