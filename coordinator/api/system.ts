import { z } from 'zod';
import type { Ctx } from '../context.js';
import { openApiDocument } from '../http/openapi.js';
import type { Routes } from '../http/routes.js';
import { ping } from '../store/db.js';
import { VERSION } from '../../shared/version.js';

/** GET /readyz's answer: 200 with ok true, 503 with ok false and which one did not answer. */
const Readiness = z.object({ ok: z.boolean(), postgres: z.boolean(), redis: z.boolean() });

export function registerSystemRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/healthz',
    summary: 'Liveness',
    tag: 'system',
    auth: 'public',
    handler: async () => ({ ok: true }),
  });
  routes.add({
    method: 'GET',
    url: '/readyz',
    summary: 'Readiness: PostgreSQL and Redis reachable',
    tag: 'system',
    auth: 'public',
    response: { status: 200, schema: Readiness },
    unavailable:
      '`{ok: false, postgres, redis}`: PostgreSQL or Redis did not answer (Redis: at once when not connected, else within REDIS_REQUEST_TIMEOUT_MS; PostgreSQL within 2 s)',
    unavailableBody: Readiness,
    handler: async (_input, _req, reply) => {
      const check = async (p: () => Promise<unknown>) =>
        Promise.race([
          p().then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref()),
        ]).catch(() => false);
      const [postgres, redis] = await Promise.all([
        check(() => ping(ctx.db)),
        check(() => ctx.queues.call('readiness check', () => ctx.queues.connection.ping())),
      ]);
      const ok = postgres && redis;
      void reply.code(ok ? 200 : 503);
      return { ok, postgres, redis };
    },
  });
  routes.add({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics (bearer METRICS_TOKEN when configured)',
    tag: 'system',
    auth: 'metrics',
    handler: async (_input, _req, reply) => {
      void reply.header('content-type', ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    },
  });
  routes.add({
    method: 'GET',
    url: '/openapi.json',
    summary: 'This API, described',
    tag: 'system',
    auth: 'public',
    handler: async () => openApiDocument(routes.all, VERSION),
  });
}
