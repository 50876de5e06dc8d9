import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { GATEWAY_PATHS } from '../shared/contracts/gateway.js';
import { isSyncError, SyncError } from '../shared/errors.js';
import { AuthLimiter } from './http/auth-limiter.js';
import { registerAgentRoutes } from './api/agents.js';
import { registerAuditRoutes } from './api/audit.js';
import { registerCredentialRoutes } from './api/credentials.js';
import { registerPolicyRoutes } from './api/policies.js';
import { registerSiteRoutes } from './api/sites.js';
import { registerSummaryRoutes } from './api/summary.js';
import { registerSyncGroupRoutes } from './api/sync-groups.js';
import { registerSyncRunRoutes } from './api/sync-runs.js';
import { registerSystemRoutes } from './api/system.js';
import { registerTargetRoutes } from './api/targets.js';
import { registerTokenRoutes } from './api/tokens.js';
import type { Ctx } from './context.js';
import { registerOperatorSurfaces } from './dashboard/register.js';
import { authenticateAgent } from './gateway/agent-auth.js';
import { registerGateway } from './gateway/routes.js';
import { installErrorHandler } from './http/errors.js';
import { installRequestLog, requestId } from './http/request-log.js';
import { authenticateOperator, hasRole } from './http/operator-auth.js';
import { Routes } from './http/routes.js';

/**
 * A verified client certificate on this connection. `authorized` alone is not enough: on a resumed
 * TLS 1.3 session Node reports it true even when the client never sent a certificate (seen here), so
 * the certificate itself must be there too.
 */
function presentsClientCertificate(socket: TLSSocket): boolean {
  return socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0;
}

/** The coordinator's HTTP surface: operator API, agent gateway, health, metrics, OpenAPI. */
export function buildApp(ctx: Ctx): { app: FastifyInstance; routes: Routes } {
  const tls = ctx.config.tls;
  const app = Fastify({
    ...(tls
      ? {
          https: {
            cert: tls.cert,
            key: tls.key,
            // Mutual TLS: ask every client for a certificate; the gateway refuses agents without a valid one.
            ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: false } : {}),
          },
        }
      : {}),
    // Fastify's own request logging is off: http/request-log.ts writes one line per request, at a
    // level that keeps the agent gateway's hot path quiet.
    logger: false,
    bodyLimit: ctx.config.BODY_LIMIT_BYTES,
    requestTimeout: 120_000,
    genReqId: requestId,
  });
  installErrorHandler(app, ctx.log);
  installRequestLog(app, ctx.log);
  // JSON only: Fastify also parses text/plain by default, which turned such bodies into a confusing
  // 400 about the body's type instead of 415.
  app.removeContentTypeParser('text/plain');
  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('cache-control', 'no-store');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    ctx.metrics.httpDuration.observe(
      { route: req.routeOptions.url ?? 'unknown', method: req.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  // Failed authentication (a bad token, a bad enrollment token) is rate limited per source address.
  const limiter = new AuthLimiter(ctx.config.AUTH_FAILURES_PER_MINUTE);
  app.addHook('onError', async (req, _reply, err) => {
    if (isSyncError(err) && (err.code === 'UNAUTHENTICATED' || err.code === 'ENROLLMENT_INVALID'))
      limiter.fail(req.ip);
  });
  const routes = new Routes(app, async (req, auth) => {
    if (auth !== 'public' || req.routeOptions.url === GATEWAY_PATHS.enroll) {
      const waitMs = limiter.blockedFor(req.ip);
      if (waitMs > 0) {
        throw new SyncError(
          'RATE_LIMITED',
          `too many failed authentications from this address; retry in ${Math.ceil(waitMs / 1000)} s`,
        );
      }
    }
    if (tls?.ca && (auth === 'agent' || req.routeOptions.url === GATEWAY_PATHS.enroll)) {
      if (!presentsClientCertificate(req.raw.socket as TLSSocket)) {
        throw new SyncError('UNAUTHENTICATED', 'a client certificate signed by the agent CA is required');
      }
    }
    if (auth === 'public') return;
    if (auth === 'agent') {
      req.agent = await authenticateAgent(ctx, req.headers.authorization);
      return;
    }
    const operator = await authenticateOperator(ctx, req.headers.authorization);
    if (!hasRole(operator, auth)) throw new SyncError('FORBIDDEN', `this needs the ${auth} role`);
    req.operator = operator;
  });
  registerSystemRoutes(ctx, routes);
  registerSiteRoutes(ctx, routes);
  registerAgentRoutes(ctx, routes);
  registerTargetRoutes(ctx, routes);
  registerCredentialRoutes(ctx, routes);
  registerSummaryRoutes(ctx, routes);
  registerSyncRunRoutes(ctx, routes);
  registerPolicyRoutes(ctx, routes);
  registerSyncGroupRoutes(ctx, routes);
  registerAuditRoutes(ctx, routes);
  registerTokenRoutes(ctx, routes);
  registerGateway(ctx, routes);
  registerOperatorSurfaces(ctx, app, routes);
  return { app, routes };
}
