/**
 * Malformed bearer tokens (`pwo_<not a uuid>.…`, `pwa_…` on the gateway, empty, huge, not ASCII,
 * without a dot) are a plain 401, counted by the auth-failure limiter like any bad token, and leave
 * at most one log line per request, below error and without a stack (the pino output is captured).
 * A limited source gets 429 with `Retry-After`.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
import {
  ADMIN_TOKEN,
  LogCapture,
  startInProcessCoordinator,
  type InProcessCoordinator,
} from '../support/coordinator.js';
import { createSite, FakeAgent, type ErrorBody } from '../support/fixtures.js';
import { api } from '../support/http.js';
import { sleep, waitFor } from '../support/wait.js';

const LIMIT = 6;
const logs = new LogCapture();
let c: InProcessCoordinator;
let agent: FakeAgent;

beforeAll(async () => {
  c = await startInProcessCoordinator(
    'malformed-tokens',
    inject('redisUrl'),
    // The source of each request is named with X-Forwarded-For, so each case is limited on its own.
    { AUTH_FAILURES_PER_MINUTE: String(LIMIT), TRUST_PROXY: '127.0.0.1', LOG_LEVEL: 'info' },
    { logs },
  );
  agent = await FakeAgent.enroll(c.url, c.admin, (await createSite(c.admin)).id);
});
afterAll(() => c?.close());

const secret = 'x'.repeat(43);
const uuid = randomUUID();
/** Shapes of bearer token that are not a token the coordinator issues. */
const MALFORMED: Record<string, string> = {
  'pwo_ dashes for a uuid': `pwo_${'-'.repeat(36)}.${secret}`,
  'pwo_ hex but not a uuid': `pwo_${'a'.repeat(36)}.${secret}`,
  'pwo_ not a uuid': `pwo_not-a-uuid.${secret}`,
  'pwo_ without a dot': `pwo_${uuid}${secret}`,
  'pwo_ empty secret': `pwo_${uuid}.`,
  'pwa_ dashes for a uuid': `pwa_${'-'.repeat(36)}.${secret}`,
  'pwa_ not a uuid': `pwa_${'0'.repeat(8)}-zzzz-0000-0000-${'0'.repeat(12)}.${secret}`,
  'pwe_ as a bearer token': `pwe_${secret}`,
  huge: `pwo_${uuid}.${'y'.repeat(12_000)}`,
  'not ASCII (latin-1 bytes)': `pwo_${uuid.slice(0, 30)}\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9.${secret}`,
  'just a word': 'garbage',
};

let nextSource = 1;
const freshSource = () => `198.51.100.${nextSource++}`;

async function call(path: string, method: 'GET' | 'POST', authorization: string | undefined, source: string) {
  const res = await request(`${c.url}${path}`, {
    method,
    headers: {
      'x-forwarded-for': source,
      ...(authorization === undefined ? {} : { authorization }),
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    body: method === 'POST' ? JSON.stringify({ inFlight: 0 }) : undefined,
  });
  const body = (await res.body.json()) as ErrorBody;
  return {
    status: res.statusCode,
    body,
    reqId: String(res.headers['x-request-id']),
    retryAfter: res.headers['retry-after'],
  };
}

/** The log lines of a request: its one request line, below error, no stack, not quoting the token. */
async function expectQuietLog(reqId: string, token: string, what: string): Promise<void> {
  // The request line is written once the response is sent: it may come a moment after the answer.
  await waitFor(() => logs.lines.some((l) => l.includes(reqId)), { message: `the log line of ${what}` });
  await sleep(20);
  const lines = logs.lines.filter((l) => l.includes(reqId));
  expect(lines.length, `${what}: ${lines.join('\n')}`).toBe(1);
  for (const line of lines) {
    const entry = JSON.parse(line) as { level: number };
    expect(entry.level, what).toBeLessThanOrEqual(40);
    expect(line, what).not.toMatch(/stack|\n\s+at /);
    if (token.length > 8) expect(line, what).not.toContain(token.slice(4));
  }
}

describe('malformed bearer tokens', () => {
  it('are a 401 on the API and on the gateway, logged quietly', async () => {
    for (const [what, token] of Object.entries(MALFORMED)) {
      for (const [path, method] of [
        ['/api/v1/summary', 'GET'],
        [GATEWAY_PATHS.heartbeat, 'POST'],
        [GATEWAY_PATHS.claim, 'POST'],
      ] as const) {
        const res = await call(path, method, `Bearer ${token}`, freshSource());
        expect(res.status, `${what} on ${path}: ${JSON.stringify(res.body)}`).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHENTICATED');
        await expectQuietLog(res.reqId, token, `${what} on ${path}`);
      }
    }
    // (The scheme's name is case-insensitive: `bearer <token>` is taken, request-bodies.test.ts.)
    for (const header of ['Bearer ', 'Bearer', 'bearer', 'Basic Zm9vOmJhcg==', `Bearer\t${ADMIN_TOKEN}`]) {
      const res = await call('/api/v1/summary', 'GET', header, freshSource());
      expect(res.status, header).toBe(401);
      await expectQuietLog(res.reqId, header, header);
    }
    expect(logs.entries().filter((e) => (e.level as number) >= 50)).toEqual([]);
  });

  it('a NUL in the header is refused by the HTTP parser: 400, no error logged', async () => {
    const before = logs.lines.length;
    const answer = await new Promise<string>((resolve, reject) => {
      const url = new URL(c.url);
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(`GET /api/v1/summary HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pwo_\u0000x\r\n\r\n`);
      });
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString('latin1')));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      socket.setTimeout(5_000, () => socket.destroy(new Error('no answer')));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(
      logs
        .entries()
        .slice(before)
        .filter((e) => (e.level as number) >= 50),
    ).toEqual([]);
  });

  it('count toward the limiter like any bad token; a limited source gets 429 with Retry-After', async () => {
    for (const [what, token, path, method] of [
      ['operator', MALFORMED['pwo_ dashes for a uuid']!, '/api/v1/summary', 'GET'],
      ['agent', MALFORMED['pwa_ dashes for a uuid']!, GATEWAY_PATHS.heartbeat, 'POST'],
    ] as const) {
      const source = freshSource();
      for (let i = 0; i < LIMIT; i++) {
        expect((await call(path, method, `Bearer ${token}`, source)).status, `${what} ${i}`).toBe(401);
      }
      const limited = await call('/api/v1/summary', 'GET', `Bearer ${ADMIN_TOKEN}`, source);
      expect(limited.status, what).toBe(429);
      expect(limited.body.error.code).toBe('RATE_LIMITED');
      const retryAfter = Number(limited.retryAfter);
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(retryAfter)).toBe(
        true,
      );
      await expectQuietLog(limited.reqId, ADMIN_TOKEN, `${what}: the 429`);
      // The agent's own token (unguessable) still gets through from that source; another source is free.
      expect((await call(GATEWAY_PATHS.heartbeat, 'POST', `Bearer ${agent.token}`, source)).status).toBe(200);
      expect((await call('/api/v1/summary', 'GET', `Bearer ${ADMIN_TOKEN}`, freshSource())).status).toBe(200);
    }
  });

  it('a path that does not decode is a 400 naming `path`, with the headers of every answer', async () => {
    const res = await request(`${c.url}/api/v1/sites/%FF`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const body = (await res.body.json()) as ErrorBody;
    expect(res.statusCode).toBe(400);
    expect(body.error.issues?.map((i) => i.field)).toEqual(['path']);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
    // A long id is an id of the wrong shape, named as such.
    const long = await request(`${c.url}/api/v1/sites/${'a'.repeat(101)}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(long.statusCode).toBe(400);
    expect(((await long.body.json()) as ErrorBody).error.issues?.map((i) => i.field)).toEqual(['params.id']);
  });

  it('a route that takes no query refuses one (400 naming query), as a strict query schema does', async () => {
    const res = await request(`${c.url}/api/v1/policies?limit=1&cursor=zzz`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const body = (await res.body.json()) as ErrorBody;
    expect(res.statusCode).toBe(400);
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.message).toMatch(/^invalid query: /);
    const plain = await request(`${c.url}/api/v1/policies`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(plain.statusCode).toBe(200);
    await plain.body.text();
    // The system routes, which probes and scrapers call (maybe with a cache-buster), ignore one.
    for (const path of ['/healthz?ts=1', '/readyz?ts=1', '/openapi.json?v=2']) {
      const probe = await request(`${c.url}${path}`);
      expect(probe.statusCode, path).toBe(200);
      await probe.body.text();
    }
  });

  it('a JSON null body is refused as not an object (400 naming body), not read as {}', async () => {
    const site = await createSite(c.admin);
    for (const [method, path] of [
      ['POST', `/api/v1/sites/${site.id}/enrollment-tokens`],
      ['PATCH', `/api/v1/sites/${site.id}`],
    ] as const) {
      const res = await request(`${c.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: 'null',
      });
      const body = (await res.body.json()) as ErrorBody;
      expect(res.statusCode, path).toBe(400);
      expect(
        body.error.issues?.map((i) => i.field),
        path,
      ).toEqual(['body']);
    }
    const tokens = await c.admin.get<{ items: unknown[] }>(`/sites/${site.id}/enrollment-tokens`);
    expect(tokens.body.items).toEqual([]);
  });

  it('the OpenAPI document shows the 400, 401 and 429 (with Retry-After) answers and their body', async () => {
    const doc = (await api(c.url).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { 'x-required-role': string; responses: Record<string, Answer> }>>;
      components: { schemas: { Error: { properties: { error: { properties: Record<string, unknown> } } } } };
    };
    expect(Object.keys(doc.components.schemas.Error.properties.error.properties).sort()).toEqual([
      'code',
      'issues',
      'message',
    ]);
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ name: `${method} ${path}`, ...op })),
    );
    const summary = ops.find((op) => op.name === 'get /api/v1/summary')!;
    const enroll = ops.find((op) => op.name === `post ${GATEWAY_PATHS.enroll}`)!;
    for (const op of ops.filter((o) => o['x-required-role'] !== 'public').concat(enroll)) {
      expect(Object.keys(op.responses), op.name).toEqual(expect.arrayContaining(['401', '429']));
      expect(op.responses['429']!.headers, op.name).toHaveProperty('Retry-After');
      expect(op.responses['401']!.content['application/json'].schema, op.name).toEqual({
        $ref: '#/components/schemas/Error',
      });
    }
    // It takes no input, but refuses a query it does not take (400); the probes' routes ignore one.
    expect(Object.keys(summary.responses)).toContain('400');
    expect(ops.find((op) => op.name === 'get /healthz')!.responses['400']).toBeUndefined();
    expect(Object.keys(enroll.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '429']));
    expect(ops.find((op) => op.name === `post ${GATEWAY_PATHS.report}`)).toMatchObject({
      'x-batch-items': 'results',
    });
  });
});

interface Answer {
  description: string;
  headers?: Record<string, unknown>;
  content: { 'application/json': { schema: unknown } };
}
