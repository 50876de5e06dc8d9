/**
 * What docs/api.md promises about the shape of a request, beyond each route's schema: a route that
 * takes no body ignores one of any type; a route that takes one reads an empty body as `{}` and
 * refuses other types (415); the bearer scheme's name is case-insensitive; /openapi.json resolves
 * every reference from its root and marks a body required only where `{}` would not do.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { createSite, createTarget, expectStatus } from '../support/fixtures.js';
import { api } from '../support/http.js';

let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('request-bodies', inject('redisUrl'));
});
afterAll(() => c?.close());

/** A raw request with the admin token (or `authorization`), a content type and a body as given. */
async function send(
  method: 'POST' | 'DELETE' | 'PATCH',
  path: string,
  opts: { type?: string; body?: string; authorization?: string } = {},
): Promise<{ status: number; body: { error?: { code: string; issues?: { field: string }[] } } }> {
  const headers: Record<string, string> = {
    authorization: opts.authorization ?? `Bearer ${ADMIN_TOKEN}`,
  };
  if (opts.type !== undefined) headers['content-type'] = opts.type;
  const res = await request(`${c.url}/api/v1${path}`, { method, headers, body: opts.body });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? {} : (JSON.parse(text) as never) };
}

describe('request bodies', () => {
  it('a route that takes no body ignores one, whatever it is', async () => {
    const site = await createSite(c.admin);
    const runId = randomUUID();
    for (const [type, body] of [
      ['application/json', undefined],
      ['application/json', ''],
      ['application/json', '{not json'],
      ['text/plain', 'hello'],
      ['application/x-www-form-urlencoded', ''],
      ['application/octet-stream', '\u0000\u0001'],
      [undefined, 'bytes without a type'],
    ] as const) {
      const what = `${type ?? 'no type'} ${JSON.stringify(body)}`;
      // An action on a run that does not exist: the body is not what answers.
      const cancel = await send('POST', `/sync-runs/${runId}/cancel`, { type, body });
      expect(cancel.status, what).toBe(404);
      expect(cancel.body.error?.code, what).toBe('NOT_FOUND');
      // The action itself runs: disabling the site, with a body it ignores.
      expect((await send('POST', `/sites/${site.id}/disable`, { type, body })).status, what).toBe(200);
      expect((await send('POST', `/sites/${site.id}/enable`, { type, body })).status, what).toBe(200);
    }
    const gone = await createSite(c.admin);
    const deleted = await send('DELETE', `/sites/${gone.id}`, { type: 'application/json' });
    expect(deleted.status).toBeLessThan(300);
  });

  it('a route that takes a body reads an empty one as {} and refuses any type but JSON', async () => {
    const empty = await send('POST', '/sites', { type: 'application/json' });
    expect(empty.status).toBe(400);
    expect(empty.body.error?.issues?.map((i) => i.field)).toContain('body.name');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const res = await send('POST', '/sites', { type, body: '{"name":"x"}' });
      expect(res.status, String(type)).toBe(415);
      expect(res.body.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    const bad = await send('POST', '/sites', { type: 'application/json', body: '{"name":' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.issues?.map((i) => i.field)).toEqual(['body']);
    const poisoned = await send('POST', '/sites', {
      type: 'application/json',
      body: '{"name":"p","__proto__":{"admin":true}}',
    });
    expect(poisoned.status).toBe(400);
    // A body that is fine to a route that takes one, PATCH reading nothing as "no change".
    const site = await createSite(c.admin);
    expect((await send('PATCH', `/sites/${site.id}`, { type: 'application/json' })).status).toBe(200);
  });

  it('a request no route matches is a 404, whatever its body', async () => {
    const res = await send('POST', '/no-such-route', { type: 'application/json', body: '{not json' });
    expect(res.status).toBe(404);
    expect(res.body.error?.code).toBe('NOT_FOUND');
  });
});

describe('the bearer scheme', () => {
  it('is taken in any case', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await request(`${c.url}/api/v1/sites`, {
        headers: { authorization: `${scheme} ${ADMIN_TOKEN}` },
      });
      await res.body.text();
      expect(res.statusCode, scheme).toBe(200);
    }
    const other = await request(`${c.url}/api/v1/sites`, {
      headers: { authorization: `Basic ${ADMIN_TOKEN}` },
    });
    await other.body.text();
    expect(other.statusCode).toBe(401);
  });
});

describe('the OpenAPI document', () => {
  type Operation = {
    requestBody?: { required: boolean };
    responses: Record<string, unknown>;
  };
  let doc: { paths: Record<string, Record<string, Operation>> } & Record<string, unknown>;
  beforeAll(async () => {
    doc = await expectStatus(api(c.url).get('/openapi.json'), 200);
  });

  it('resolves every $ref from the document root', () => {
    const refs = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node !== null && typeof node === 'object') {
        const o = node as Record<string, unknown>;
        if (typeof o.$ref === 'string') refs.add(o.$ref);
        Object.values(o).forEach(walk);
      }
    };
    walk(doc);
    expect(refs.size).toBeGreaterThan(1);
    for (const ref of refs) {
      expect(ref, ref).toMatch(/^#\/components\/schemas\//);
      let at: unknown = doc;
      for (const part of ref.slice(2).split('/')) at = (at as Record<string, unknown> | undefined)?.[part];
      expect(at, ref).toBeTypeOf('object');
    }
    // The recursive schema (a web step's JSON body) is one of them, no longer nested.
    expect(JSON.stringify(doc)).not.toContain('"definitions"');
  });

  it('marks a body required only where {} would not do', () => {
    const op = (path: string, method: string) => doc.paths[path]![method]!;
    expect(op('/api/v1/sites', 'post').requestBody?.required).toBe(true);
    expect(op('/api/v1/credentials/{id}/change', 'post').requestBody?.required).toBe(false);
    expect(op('/api/v1/sites/{id}/enrollment-tokens', 'post').requestBody?.required).toBe(false);
    // Any route with a body-carrying method lists the body limit; only those that take a body, 415.
    expect(Object.keys(op('/api/v1/sync-runs/{id}/cancel', 'post').responses)).toContain('413');
    expect(Object.keys(op('/api/v1/sync-runs/{id}/cancel', 'post').responses)).not.toContain('415');
    expect(Object.keys(op('/api/v1/sites', 'post').responses)).toContain('415');
  });
});

describe('names and routing', () => {
  it('a notification channel name taken is a 409 whose message starts with name:', async () => {
    const body = { kind: 'webhook', name: `ch-${randomUUID()}`, webhook: { url: 'http://127.0.0.1:9/hook' } };
    await expectStatus(c.admin.post('/notification-channels', body), 201);
    const again = await c.admin.post<{ error: { code: string; message: string } }>(
      '/notification-channels',
      body,
    );
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/^name: /);
  });

  it("an operator may not change a simulated target's host; an admin may", async () => {
    const site = await createSite(c.admin);
    const target = await createTarget(c.admin, site.id, { host: 'sim-1' });
    const token = await expectStatus<{ token: string }>(
      c.admin.post('/tokens', { name: `op-${randomUUID()}`, role: 'operator' }),
      201,
    );
    const operator = api(`${c.url}/api/v1`, token.token);
    expect((await operator.patch(`/targets/${target}`, { connection: { host: 'sim-2' } })).status).toBe(403);
    expect((await operator.patch(`/targets/${target}`, { connection: { latencyMs: 5 } })).status).toBe(200);
    await expectStatus(c.admin.patch(`/targets/${target}`, { connection: { host: 'sim-2' } }), 200);
  });
});
