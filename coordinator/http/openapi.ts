import { z } from 'zod';
import { AlertBody } from '../../shared/contracts/alerts.js';
import { ErrorView } from '../../shared/contracts/api.js';
import { readsQuery, type RegisteredRoute } from './routes.js';

/**
 * The document's shared schemas (`components.schemas`), with the definitions jsonSchema hoisted
 * into them, each known by what zod wrote for it (so the same definition is kept once).
 */
interface Shared {
  schemas: Record<string, unknown>;
  hoisted: Map<string, string>;
}

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output', shared: Shared) =>
  hoistDefinitions(
    nullInEnums(z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'openapi-3.0' })),
    shared,
  );

/**
 * zod writes a recursive schema (a web step's `json`: any JSON value) as `definitions` inside the
 * schema that uses it, referred to as `#/definitions/…`; OpenAPI 3.0 resolves a reference from the
 * document's root, where there is no such thing. Each definition moves to `components.schemas` (the
 * same definition once, whichever route uses it) and its references follow.
 */
function hoistDefinitions(schema: Record<string, unknown>, shared: Shared): Record<string, unknown> {
  const local = (schema.definitions ?? schema.$defs) as Record<string, unknown> | undefined;
  if (!local) return schema;
  delete schema.definitions;
  delete schema.$defs;
  const names = new Map<string, string>();
  const fresh: [string, unknown][] = [];
  for (const [name, def] of Object.entries(local)) {
    const written = JSON.stringify(def);
    let global = shared.hoisted.get(written);
    if (global === undefined) {
      global = `Hoisted${shared.hoisted.size + 1}`;
      shared.hoisted.set(written, global);
      fresh.push([global, def]);
    }
    names.set(name, global);
  }
  const rewrite = (node: unknown): void => {
    if (Array.isArray(node)) for (const item of node) rewrite(item);
    else if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      const ref = typeof o.$ref === 'string' ? /^#\/(?:definitions|\$defs)\/(.+)$/.exec(o.$ref) : null;
      const global = ref ? names.get(ref[1]!) : undefined;
      if (global !== undefined) o.$ref = `#/components/schemas/${global}`;
      for (const value of Object.values(o)) rewrite(value);
    }
  };
  rewrite(schema);
  for (const [global, def] of fresh) {
    rewrite(def);
    shared.schemas[global] = def;
  }
  return schema;
}

/**
 * OpenAPI 3.0 checks `enum` before `nullable`: a nullable enum must list `null` among its values, or
 * a strict validator refuses the `null` the API sends (`statusReason: null`). zod writes it without.
 */
function nullInEnums<T>(node: T): T {
  if (Array.isArray(node)) for (const item of node) nullInEnums(item);
  else if (node !== null && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.nullable === true && Array.isArray(o.enum) && !o.enum.includes(null)) o.enum.push(null);
    for (const value of Object.values(o)) nullInEnums(value);
  }
  return node;
}

const error = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const BAD_INPUT =
  'invalid input: `error.issues` names each field (`body.name`, `query.q`, `params.id`, `path`); ' +
  'a NUL or a lone UTF-16 surrogate in any string or key is refused too (docs/api.md#errors)';
const BATCH =
  'Each item of `{list}` is judged on its own: an item that fails its schema (a NUL or a lone ' +
  'surrogate in any of its strings too) is refused and audited alone, and the others are taken; ' +
  'the body as a whole (its keys, the number of items) is a 400 like any body.';

/** Every route but the system ones reads PostgreSQL (http/errors.ts maps its connection errors). */
const DATABASE_DOWN =
  'the database (PostgreSQL) refused a connection, gave none within DATABASE_CONNECT_TIMEOUT_MS or no answer within DATABASE_QUERY_TIMEOUT_MS (try again)';

/** 429 of the auth-failure limiter (coordinator/app.ts): every route that takes a token, and enroll. */
const TOO_MANY = error(
  'too many failed authentications from this source (AUTH_FAILURES_PER_MINUTE); try again after `Retry-After` seconds',
  { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer', minimum: 1 } } },
);

/** The error answers of a route, by what it takes and who may call it. */
function errorResponses(r: RegisteredRoute, shared: Shared): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Every route that reads a query refuses one it does not take (an unknown key), even with no query schema.
  if (r.params || r.body || readsQuery(r)) out['400'] = error(BAD_INPUT);
  if (r.url.includes('/:')) out['404'] = error('NOT_FOUND: no such object (an id of the path)');
  if (r.unavailable || r.tag !== 'system')
    out['503'] = r.unavailableBody
      ? {
          description: r.unavailable,
          content: { 'application/json': { schema: jsonSchema(r.unavailableBody, 'output', shared) } },
        }
      : error(r.unavailable ? `${r.unavailable}; or ${DATABASE_DOWN}` : `UNAVAILABLE: ${DATABASE_DOWN}`);
  if (r.conflict) out['409'] = error(`CONFLICT: ${r.conflict}`);
  // A route that takes no body ignores one (app.ts), but reads it: within the limit too.
  if (r.method !== 'GET')
    out['413'] = error(`body larger than ${r.bodyLimit ? `${r.bodyLimit} bytes` : 'BODY_LIMIT_BYTES'}`);
  if (r.body) out['415'] = error('a body that is not `application/json`');
  if (r.auth === 'public') {
    if (!r.url.endsWith('/enroll')) return out;
    out['401'] = error('enrollment token invalid, used or expired (counted by the limiter)');
  } else if (r.auth === 'metrics') {
    out['401'] = error(
      'METRICS_TOKEN is set and the bearer token is missing or wrong (counted by the limiter)',
    );
  } else {
    out['401'] = error('no bearer token, or a wrong, malformed or revoked one (counted by the limiter)');
    if (r.auth !== 'agent-identified') {
      out['403'] = error(
        r.auth === 'agent' ? 'the agent or its site is disabled, or it awaits approval' : 'role too low',
      );
    }
  }
  out['429'] = TOO_MANY;
  return out;
}

/** The OpenAPI 3 document, generated from the zod schemas the routes validate with. */
export function openApiDocument(routes: RegisteredRoute[], version: string): Record<string, unknown> {
  const shared: Shared = { schemas: {}, hoisted: new Map() };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['path', r.params],
      ['query', r.query],
    ] as const) {
      if (!schema) continue;
      const js = jsonSchema(schema, 'input', shared) as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (js.required ?? []).includes(name),
          schema: s,
        });
      }
    }
    const status = String(r.response?.status ?? 200);
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      ...(r.batch ? { description: BATCH.replace('{list}', r.batch), 'x-batch-items': r.batch } : {}),
      tags: [r.tag],
      security: r.auth === 'public' ? [] : [{ bearer: [] }],
      'x-required-role': r.auth,
      ...(r.bodyLimit ? { 'x-body-limit-bytes': r.bodyLimit } : {}),
      // The routes that answer 503 while Redis is unavailable (docs/operations.md); every other
      // route's 503 is the database's.
      ...(r.unavailable ? { 'x-redis-required': true } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body
        ? {
            requestBody: {
              // Sent without a body, a route reads `{}` (http/routes.ts): optional where `{}` will do.
              required: !r.body.safeParse({}).success,
              content: { 'application/json': { schema: jsonSchema(r.body, 'input', shared) } },
            },
          }
        : {}),
      responses: {
        [status]: {
          description: 'success',
          ...(r.response?.schema
            ? { content: { 'application/json': { schema: jsonSchema(r.response.schema, 'output', shared) } } }
            : {}),
          ...(r.response?.csv
            ? {
                description:
                  'a streamed download: format=json the JSON below, format=csv a header row and one row per item',
                content: {
                  'application/json': {
                    schema: r.response.schema
                      ? jsonSchema(r.response.schema, 'output', shared)
                      : { type: 'array', items: {} },
                  },
                  'text/csv': { schema: { type: 'string' } },
                },
              }
            : {}),
        },
        ...errorResponses(r, shared),
      },
    };
  }
  // AlertBody: what every webhook (format json) carries; docs/alerts.md.
  const named = {
    Error: jsonSchema(ErrorView, 'output', shared),
    AlertBody: jsonSchema(AlertBody, 'output', shared),
  };
  return {
    openapi: '3.0.3',
    info: { title: 'Password sync coordinator', version },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { ...named, ...shared.schemas },
    },
    paths,
  };
}
