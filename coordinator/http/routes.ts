import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isSyncError, SyncError } from '../../shared/errors.js';
import { parseOrThrow } from '../../shared/validation.js';
import { parseBatch, type RefusedItem } from './batch.js';
import { badQueryBytes } from './errors.js';

export type Role = 'viewer' | 'operator' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** False for a route of Routes that takes no body: it ignores one, of any type (app.ts). */
    takesBody?: boolean;
  }
}

export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  url: string;
  summary: string;
  tag: string;
  /**
   * Operator role needed; 'agent' = agent gateway (an enabled, approved agent of an enabled site);
   * 'agent-identified' = any enrolled agent not revoked, disabled or not (the heartbeat);
   * 'public' = no authentication; 'metrics' = the METRICS_TOKEN bearer when one is configured
   * (public otherwise).
   */
  auth: Role | 'agent' | 'agent-identified' | 'public' | 'metrics';
  body?: B;
  query?: Q;
  params?: P;
  /**
   * A batch call (the agent gateway's extend, report, release): the name of the body's list whose
   * items are judged one by one (http/batch.ts); the handler gets the good ones in the body and the
   * bad ones in `refused`, and must answer and audit each of those.
   */
  batch?: string;
  /**
   * Response status and schema, for the OpenAPI document; `csv`: the route answers text/csv too
   * (an export, http/export-stream.ts).
   */
  response?: { status: number; schema?: z.ZodType; csv?: boolean };
  /** Largest body this route takes, in bytes, when not BODY_LIMIT_BYTES (for the OpenAPI document too). */
  bodyLimit?: number;
  /**
   * When the route answers 503 UNAVAILABLE (for the OpenAPI document): only routes that cannot do
   * their work without Redis. Every other route answers as usual while Redis is unavailable.
   */
  unavailable?: string;
  /** The 503's body when it is not the error body (GET /readyz). */
  unavailableBody?: z.ZodType;
  /** When the route answers 409 CONFLICT (for the OpenAPI document): the states and names that refuse it. */
  conflict?: string;
  handler: (
    input: { body: z.output<B>; query: z.output<Q>; params: z.output<P>; refused: RefusedItem[] },
    req: FastifyRequest,
    reply: FastifyReply,
  ) => Promise<unknown>;
}

export interface RegisteredRoute {
  method: string;
  url: string;
  summary: string;
  tag: string;
  auth: string;
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
  batch?: string;
  response?: { status: number; schema?: z.ZodType; csv?: boolean };
  bodyLimit?: number;
  unavailable?: string;
  unavailableBody?: z.ZodType;
  conflict?: string;
}

/**
 * Whether a route reads its query: a route that takes none refuses one (docs/api.md: every query is
 * parsed), as a strict query schema refuses a key it does not know; the system routes (health,
 * readiness, metrics, OpenAPI: what probes and scrapers call, maybe with a cache-buster) take no
 * input and ignore one.
 */
export const readsQuery = (r: Pick<RegisteredRoute, 'query' | 'tag'>): boolean =>
  r.query !== undefined || r.tag !== 'system';

/**
 * Declares a route once: the same zod schemas validate the request (a 400 naming each bad field,
 * before the handler runs, so bad input changes nothing) and describe it in /openapi.json. Every
 * string of every path parameter, query and body (keys too, inside free-form objects too) is
 * checked here first, for every route: a NUL or a lone surrogate (or nesting deeper than 64
 * levels) is a 400 naming the field (shared/text.ts), never a 500 from PostgreSQL or zod.
 */
export class Routes {
  readonly all: RegisteredRoute[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly authenticate: (
      req: FastifyRequest,
      auth: RouteSpec<z.ZodType, z.ZodType, z.ZodType>['auth'],
    ) => Promise<void>,
  ) {}

  add<
    B extends z.ZodType = z.ZodUndefined,
    Q extends z.ZodType = z.ZodUndefined,
    P extends z.ZodType = z.ZodUndefined,
  >(spec: RouteSpec<B, Q, P>): void {
    const { handler, ...meta } = spec;
    this.all.push(meta);
    this.app.route({
      method: spec.method,
      url: spec.url,
      ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
      config: { takesBody: spec.body !== undefined },
      handler: async (req, reply) => {
        await this.authenticate(req, spec.auth);
        const params = spec.params ? parseOrThrow(spec.params, req.params, 'params') : undefined;
        const takesQuery = readsQuery(spec);
        const bytes = takesQuery ? badQueryBytes(req.url) : undefined;
        if (bytes) throw bytes;
        const query = takesQuery ? parseOrThrow(spec.query ?? NO_QUERY, req.query ?? {}, 'query') : undefined;
        // No body at all reads as {} (an action sent without one); a JSON `null` is a body, refused
        // by the schema like any other that is not an object.
        const sent = req.body === undefined ? {} : req.body;
        const { body, refused } =
          spec.body && spec.batch
            ? parseBatch(spec.body, sent, spec.batch)
            : { body: spec.body ? parseOrThrow(spec.body, sent, 'body') : undefined, refused: [] };
        const input = { params, query, body, refused } as {
          body: z.output<B>;
          query: z.output<Q>;
          params: z.output<P>;
          refused: RefusedItem[];
        };
        let result: unknown;
        try {
          result = await handler(input, req, reply);
        } catch (err) {
          throw spec.body ? inBody(err) : err;
        }
        // The route's success status, unless the handler chose another (GET /readyz's 503).
        if (spec.response && reply.statusCode === 200) reply.code(spec.response.status);
        return result ?? (reply.sent ? undefined : {});
      },
    });
  }
}

const NO_QUERY = z.strictObject({});

const WHERE = /^(body|query|params)(\.|$)/;

/**
 * A handler checks the body further than its schema (a target that does not exist, a policy that
 * does not suit, a connection of the target's kind) and names fields relative to the body: name them
 * as the schema's own issues are named (`body.targetId`, `body.connection.failRate`), so every 400 of
 * the API speaks one language.
 */
function inBody(err: unknown): unknown {
  if (!isSyncError(err) || err.code !== 'VALIDATION_FAILED' || !err.issues) return err;
  if (err.issues.every((i) => WHERE.test(i.field))) return err;
  const issues = err.issues.map((i) => (WHERE.test(i.field) ? i : { ...i, field: `body.${i.field}` }));
  return new SyncError(
    'VALIDATION_FAILED',
    `invalid body: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
    {
      issues,
      cause: err,
    },
  );
}

export const IdParams = z.strictObject({ id: z.uuid({ message: 'must be a UUID' }) });
