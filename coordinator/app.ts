import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GATEWAY_PATHS } from '../shared/contracts/gateway.js';
import { hashToken, safeEqualHex } from '../shared/crypto.js';
import { isSyncError, SyncError } from '../shared/errors.js';
import { AuthLimiter, isUnguessableToken, sourceKey } from './http/auth-limiter.js';
import { registerAgentEditRoutes } from './api/agents-edit.js';
import { registerAgentRoutes } from './api/agents.js';
import { registerPolicyEditRoutes } from './api/policies-edit.js';
import { registerSiteEditRoutes } from './api/sites-edit.js';
import { registerSyncGroupEditRoutes } from './api/sync-groups-edit.js';
import { registerTargetDeleteRoute } from './api/targets-delete.js';
import { registerWhoamiRoute } from './api/whoami.js';
import { registerAuditRoutes } from './api/audit.js';
import { registerExportRoutes } from './api/exports.js';
import { registerCredentialHistoryRoutes } from './api/credential-history.js';
import { registerCredentialRoutes } from './api/credentials.js';
import { registerOverviewRoutes } from './api/overview.js';
import { registerCredentialBatchRoutes } from './api/credentials-batch.js';
import { registerCredentialBulkRoutes } from './api/credentials-bulk.js';
import { registerDependencyRoutes } from './api/dependencies.js';
import { registerNotificationChannelRoutes } from './api/notification-channels.js';
import { registerPolicyRoutes } from './api/policies.js';
import { registerSiteRoutes } from './api/sites.js';
import { registerSummaryRoutes } from './api/summary.js';
import { registerSyncGroupRoutes } from './api/sync-groups.js';
import { registerSyncRunRoutes } from './api/sync-runs.js';
import { registerSystemRoutes } from './api/system.js';
import { registerTargetRoutes } from './api/targets.js';
import { registerLoginTrialRoutes } from './api/login-trials.js';
import { registerTokenRoutes } from './api/tokens.js';
import type { Ctx } from './context.js';
import { registerOperatorSurfaces } from './dashboard/register.js';
import { authenticateAgent, identifyAgent } from './gateway/agent-auth.js';
import { registerGateway } from './gateway/routes.js';
import { bearerToken } from './http/bearer.js';
import { badPath, installErrorHandler } from './http/errors.js';
import { installRequestLog, requestId } from './http/request-log.js';
import { authenticateOperator, hasRole, isBootstrapAdminToken } from './http/operator-auth.js';
import { Routes } from './http/routes.js';

/**
 * A verified client certificate on this connection. `authorized` alone is not enough: on a resumed
 * TLS 1.3 session Node reports it true even when the client never sent a certificate (seen here), so
 * the certificate itself must be there too.
 */
function presentsClientCertificate(socket: TLSSocket): boolean {
  return socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0;
}

/** TRUST_PROXY as Fastify takes it: a hop count trusts that many hops nearest the coordinator. */
function trustProxyOption(
  value: boolean | number | string[],
): boolean | string[] | ((addr: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_addr, hop) => hop < value : value;
}

/** The coordinator's HTTP surface: operator API, agent gateway, health, metrics, OpenAPI. */
export function buildApp(ctx: Ctx): { app: FastifyInstance; routes: Routes } {
  const tls = ctx.config.tls;
  /** The headers of every answer (the onSend hook below, and the one answer sent before it runs). */
  const answerHeaders = (reply: FastifyReply): void => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('cache-control', 'no-store');
    // Served over TLS: browsers keep to HTTPS for this host from now on (a year).
    if (tls) void reply.header('strict-transport-security', 'max-age=31536000');
  };
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
    // Behind a reverse proxy, req.ip (the rate limiter's source) comes from X-Forwarded-For as far
    // as TRUST_PROXY trusts it; without it the header is ignored (a client could forge it).
    trustProxy: trustProxyOption(ctx.config.trustProxy),
    genReqId: requestId,
    // A path parameter longer than Fastify's default 100 characters was answered as a path that
    // does not decode; up to this length it reaches its schema, which names it (`params.id`).
    routerOptions: { maxParamLength: 2000 },
    // The only framework error without a route: a path that does not decode (the API's 400), with
    // the headers the hooks below give every other answer (it is sent before they run).
    frameworkErrors: (_err, req, reply: FastifyReply) => {
      answerHeaders(reply);
      void reply.code(400).header('x-request-id', req.id).send(badPath().toJSON());
    },
  });
  installErrorHandler(app, ctx.log);
  installRequestLog(app, ctx.log);
  // JSON only: Fastify also parses text/plain by default, which turned such bodies into a confusing
  // 400 about the body's type instead of 415. A route that takes no body ignores one, whatever its
  // type (docs/api.md: an action sent with `Content-Type: application/json` and nothing, or `-d ''`);
  // an empty JSON body is no body (a route that takes one reads `{}`, http/routes.ts).
  app.removeContentTypeParser(['text/plain', 'application/json']);
  // (A request no route matches takes none either: its answer is the 404.)
  const takesBody = (req: FastifyRequest) =>
    req.routeOptions.url !== undefined &&
    (req.routeOptions.config as { takesBody?: boolean } | undefined)?.takesBody !== false;
  const json = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, text, done) => {
    if (!takesBody(req) || text === '') done(null, undefined);
    else json(req, text as string, done);
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, _body, done) => {
    if (takesBody(req)) done(new SyncError('UNSUPPORTED_MEDIA_TYPE', 'send application/json'), undefined);
    else done(null, undefined);
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    answerHeaders(reply);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    ctx.metrics.httpDuration.observe(
      { route: req.routeOptions.url ?? 'unknown', method: req.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  // Failed authentication (a bad token, a bad enrollment token) is rate limited per source address
  // (IPv6 per /64). A limited source still gets through with a token nobody can guess (agents and
  // API tokens, enrollment tokens): what the limiter slows down is guessing, and the one token a
  // person chooses, the bootstrap admin token, stays limited (docs/threat-model.md).
  const limiter = new AuthLimiter(ctx.config.AUTH_FAILURES_PER_MINUTE);
  app.addHook('onError', async (req, _reply, err) => {
    if (isSyncError(err) && (err.code === 'UNAUTHENTICATED' || err.code === 'ENROLLMENT_INVALID'))
      limiter.fail(sourceKey(req.ip));
  });
  const presented = (req: FastifyRequest): string | undefined => {
    if (req.routeOptions.url === GATEWAY_PATHS.enroll) {
      const token = (req.body as { enrollmentToken?: unknown } | undefined)?.enrollmentToken;
      return typeof token === 'string' ? token : undefined;
    }
    return bearerToken(req.headers.authorization);
  };
  const routes = new Routes(app, async (req, auth) => {
    const metricsToken = ctx.config.METRICS_TOKEN;
    const open = auth === 'public' || (auth === 'metrics' && metricsToken === undefined);
    if (!open || req.routeOptions.url === GATEWAY_PATHS.enroll) {
      const waitMs = limiter.blockedFor(sourceKey(req.ip));
      const token = presented(req);
      const letThrough = isUnguessableToken(token) && !isBootstrapAdminToken(ctx, token!);
      if (waitMs > 0 && !letThrough) {
        const retryAfterS = Math.ceil(waitMs / 1000);
        throw new SyncError(
          'RATE_LIMITED',
          `too many failed authentications from this address; retry in ${retryAfterS} s`,
          { retryAfterS },
        );
      }
    }
    const agentCall = auth === 'agent' || auth === 'agent-identified';
    if (tls?.ca && (agentCall || req.routeOptions.url === GATEWAY_PATHS.enroll)) {
      if (!presentsClientCertificate(req.raw.socket as TLSSocket)) {
        throw new SyncError('UNAUTHENTICATED', 'a client certificate signed by the agent CA is required');
      }
    }
    if (open) return;
    if (auth === 'metrics') {
      const token = presented(req);
      if (token === undefined || !safeEqualHex(hashToken(token), hashToken(metricsToken!))) {
        throw new SyncError('UNAUTHENTICATED', 'GET /metrics needs the METRICS_TOKEN bearer token');
      }
      return;
    }
    if (auth === 'agent') {
      req.agent = await authenticateAgent(ctx, req.headers.authorization);
      return;
    }
    if (auth === 'agent-identified') {
      req.agent = await identifyAgent(ctx, req.headers.authorization);
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
  registerLoginTrialRoutes(ctx, routes);
  registerCredentialRoutes(ctx, routes);
  registerCredentialBatchRoutes(ctx, routes);
  registerCredentialBulkRoutes(ctx, routes);
  registerDependencyRoutes(ctx, routes);
  registerSummaryRoutes(ctx, routes);
  registerSyncRunRoutes(ctx, routes);
  registerPolicyRoutes(ctx, routes);
  registerSyncGroupRoutes(ctx, routes);
  registerSiteEditRoutes(ctx, routes);
  registerAgentEditRoutes(ctx, routes);
  registerTargetDeleteRoute(ctx, routes);
  registerPolicyEditRoutes(ctx, routes);
  registerSyncGroupEditRoutes(ctx, routes);
  registerWhoamiRoute(ctx, routes);
  registerAuditRoutes(ctx, routes);
  registerExportRoutes(ctx, routes);
  registerTokenRoutes(ctx, routes);
  registerNotificationChannelRoutes(ctx, routes);
  registerGateway(ctx, routes);
  registerOverviewRoutes(ctx, routes);
  registerCredentialHistoryRoutes(ctx, routes);
  registerOperatorSurfaces(ctx, app);
  return { app, routes };
}
