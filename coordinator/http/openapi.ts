import { z } from 'zod';
import type { RegisteredRoute } from './routes.js';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'openapi-3.0' });

/** The OpenAPI 3 document, generated from the zod schemas the routes validate with. */
export function openApiDocument(routes: RegisteredRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['path', r.params],
      ['query', r.query],
    ] as const) {
      if (!schema) continue;
      const js = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
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
      tags: [r.tag],
      security: r.auth === 'public' ? [] : [{ bearer: [] }],
      'x-required-role': r.auth,
      ...(parameters.length ? { parameters } : {}),
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(r.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [status]: {
          description: 'success',
          ...(r.response?.schema
            ? { content: { 'application/json': { schema: jsonSchema(r.response.schema, 'output') } } }
            : {}),
        },
        '400': { description: 'invalid input: `error.issues` names each field' },
        ...(r.auth === 'public'
          ? {}
          : { '401': { description: 'no or bad token' }, '403': { description: 'role too low' } }),
        ...(r.unavailable ? { '503': { description: r.unavailable } } : {}),
      },
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Password sync coordinator', version },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
