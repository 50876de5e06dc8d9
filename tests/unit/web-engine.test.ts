import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar } from '../../agent/adapters/web/cookies.js';
import { runWorkflows } from '../../agent/adapters/web/engine.js';
import { byCss, byJsonPath, byRegex, extractValue } from '../../agent/adapters/web/extract.js';
import { render, renderForm, renderJson, type TemplateValues } from '../../agent/adapters/web/templates.js';
import { WebConnectionSchema } from '../../shared/targets/web.js';
import { ExtractSchema } from '../../shared/targets/web-workflow.js';

const NASTY = 'p&a=s"s\\w%20o+r d\n{{password}}';

describe('templates', () => {
  const values: TemplateValues = {
    username: 'alice',
    password: NASTY,
    newPassword: 'n3w&=',
    vars: new Map([['csrf', 'tok/en']]),
  };

  it('replaces placeholders, with optional spaces, leaving other text alone', () => {
    expect(render('u={{username}} p={{ password }} c={{vars.csrf}} m={{vars.missing}}', values)).toBe(
      `u=alice p=${NASTY} c=tok/en m=`,
    );
    // A value that looks like a placeholder is not expanded again.
    expect(render('{{password}}', { ...values, password: '{{username}}' })).toBe('{{username}}');
  });

  it('escapes for the context: URL components, form bodies, JSON bodies', () => {
    expect(render('/x?u={{username}}&p={{password}}', values, encodeURIComponent)).toBe(
      `/x?u=alice&p=${encodeURIComponent(NASTY)}`,
    );
    const form = renderForm({ user: '{{username}}', pass: '{{password}}', 'a&b': 'x' }, values);
    expect(new URLSearchParams(form).get('pass')).toBe(NASTY);
    expect(new URLSearchParams(form).get('a&b')).toBe('x');
    expect(form.split('&')).toHaveLength(3);
    const json = JSON.stringify(
      renderJson({ a: ['{{password}}', 1, null], b: { c: '{{newPassword}}' } }, values),
    );
    expect(JSON.parse(json)).toEqual({ a: [NASTY, 1, null], b: { c: 'n3w&=' } });
  });

  it('refuses {{newPassword}} where it has no value', () => {
    expect(() => render('{{newPassword}}', { ...values, newPassword: undefined })).toThrow(/no value/);
  });
});

describe('extraction', () => {
  const html = `<form><input type="hidden" name="csrf" value="a&amp;b"><input name="user" value="u1"></form>
    <p class="msg"> Hello &amp; welcome </p><meta name="token" content="m-1">`;

  it('by regex: first group, or the whole match', () => {
    expect(byRegex(html, 'name="csrf" value="([^"]+)"')).toBe('a&amp;b');
    expect(byRegex('abc123', '\\d+')).toBe('123');
    expect(byRegex('abc', 'x(y)')).toBeUndefined();
  });

  it('by css selector: attribute (entities decoded) or text', () => {
    expect(byCss(html, 'input[name=csrf]', 'value')).toBe('a&b');
    expect(byCss(html, 'meta[name="token"]', 'content')).toBe('m-1');
    expect(byCss(html, 'p.msg')).toBe('Hello & welcome');
    expect(byCss(html, 'input[name=nope]', 'value')).toBeUndefined();
    expect(byCss(html, 'input[name=user]', 'missing')).toBeUndefined();
  });

  it('by JSON path', () => {
    const body = JSON.stringify({ data: { token: 't-1', n: 5, items: [{ id: 'i0' }, { id: 'i1' }] } });
    expect(byJsonPath(body, 'data.token')).toBe('t-1');
    expect(byJsonPath(body, 'data.n')).toBe('5');
    expect(byJsonPath(body, 'data.items.1.id')).toBe('i1');
    expect(byJsonPath(body, 'data.items.x')).toBeUndefined();
    expect(byJsonPath(body, 'data.missing')).toBeUndefined();
    expect(byJsonPath('<html>', 'data')).toBeUndefined();
  });

  it('from headers and cookies, with an optional regex', () => {
    const jar = new CookieJar();
    jar.store(new URL('http://site.test/'), 'session=s%3D1; Path=/');
    const res = { status: 200, headers: { 'x-token': 'Bearer abc', location: '/next' }, body: '' };
    const e = (x: unknown) => ExtractSchema.parse(x);
    expect(
      extractValue(e({ name: 't', from: 'header', header: 'X-Token', regex: 'Bearer (.+)' }), res, jar),
    ).toBe('abc');
    expect(extractValue(e({ name: 'l', from: 'header', header: 'location' }), res, jar)).toBe('/next');
    expect(extractValue(e({ name: 's', from: 'cookie', cookie: 'session' }), res, jar)).toBe('s%3D1');
    expect(extractValue(e({ name: 's', from: 'cookie', cookie: 'other' }), res, jar)).toBeUndefined();
  });
});

describe('cookie jar', () => {
  it('keeps cookies per host and path, replaces and deletes them', () => {
    let now = 1_000_000;
    const jar = new CookieJar(() => now);
    const base = new URL('http://app.example.com/login');
    jar.store(base, [
      'sid=1; Path=/; HttpOnly',
      'pref=x',
      'acct=2; Path=/account',
      'ext=3; Domain=other.com',
    ]);
    expect(jar.header(new URL('http://app.example.com/home'))).toBe('sid=1; pref=x');
    expect(jar.header(new URL('http://app.example.com/account/password'))).toBe('acct=2; sid=1; pref=x');
    expect(jar.header(new URL('http://app.example.com/accounts'))).toBe('sid=1; pref=x');
    expect(jar.header(new URL('http://other.example.com/'))).toBeUndefined();
    expect(jar.has('ext')).toBe(false);

    jar.store(base, 'sid=2; Path=/');
    expect(jar.get('sid')).toBe('2');
    jar.store(base, 'sid=; Path=/; Max-Age=0');
    expect(jar.has('sid')).toBe(false);

    jar.store(base, 'short=1; Max-Age=10');
    expect(jar.has('short')).toBe(true);
    now += 11_000;
    expect(jar.has('short')).toBe(false);
    jar.store(base, 'old=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    expect(jar.has('old')).toBe(false);
  });

  it('domain cookies reach subdomains; secure cookies only https', () => {
    const jar = new CookieJar();
    jar.store(new URL('https://login.example.com/'), [
      'd=1; Domain=.example.com; Path=/',
      's=2; Secure; Path=/',
    ]);
    expect(jar.header(new URL('https://www.example.com/'))).toBe('d=1');
    expect(jar.header(new URL('http://login.example.com/'))).toBe('d=1');
    expect(jar.header(new URL('https://login.example.com/'))).toBe('d=1; s=2');
  });
});

/** A small site to watch what the engine sends, per path. */
let server: Server;
let baseUrl = '';
const seen: { method: string; path: string; headers: IncomingMessage['headers']; body: string }[] = [];

function handler(req: IncomingMessage, res: ServerResponse, body: string): void {
  const url = new URL(req.url ?? '/', 'http://x');
  seen.push({ method: req.method ?? '', path: url.pathname + url.search, headers: req.headers, body });
  switch (url.pathname) {
    case '/echo':
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'echoed=1; Path=/' });
      return void res.end(JSON.stringify({ body, contentType: req.headers['content-type'] ?? null }));
    case '/r1':
      res.writeHead(302, { location: '/r2', 'set-cookie': 'hop1=a; Path=/' });
      return void res.end();
    case '/r2':
      res.writeHead(303, { location: `${baseUrl}/final`, 'set-cookie': 'hop2=b; Path=/' });
      return void res.end();
    case '/final':
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end(`<p>cookies: ${req.headers.cookie ?? ''}</p>`);
    case '/loop':
      res.writeHead(302, { location: '/loop' });
      return void res.end();
    case '/slow':
      setTimeout(() => {
        res.writeHead(200);
        res.end('late');
      }, 2_000).unref();
      return;
    case '/locked':
      res.writeHead(403, { 'content-type': 'text/html' });
      return void res.end('<p>This account is disabled</p>');
    default:
      res.writeHead(404);
      return void res.end('not found');
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
);

type Steps = Record<string, unknown>[];

const run = (steps: Steps, opts: { change?: Steps; timeoutMs?: number; password?: string } = {}) => {
  const connection = WebConnectionSchema.parse({
    baseUrl,
    login: { steps },
    ...(opts.change ? { change: { steps: opts.change } } : {}),
    timeoutMs: opts.timeoutMs ?? 5_000,
  });
  return runWorkflows({
    connection,
    workflows: opts.change
      ? [
          ['login', connection.login],
          ['change', connection.change!],
        ]
      : [['login', connection.login]],
    values: { username: 'al&ce', password: opts.password ?? NASTY, newPassword: 'N3w"pass\\&=' },
    signal: new AbortController().signal,
  });
};

describe('workflow engine', () => {
  it('sends form bodies escaped, JSON bodies escaped, and keeps extracted values', async () => {
    seen.length = 0;
    const attempt = await run([
      {
        name: 'form',
        method: 'POST',
        url: '/echo?u={{username}}',
        form: { u: '{{username}}', p: '{{password}}' },
        extract: [{ name: 'echo', from: 'body', jsonPath: 'contentType' }],
        expect: [{ status: 200, cookie: 'echoed', header: { name: 'content-type', matches: 'json' } }],
      },
      {
        name: 'json',
        method: 'POST',
        url: '/echo',
        headers: { 'x-previous': '{{vars.echo}}' },
        json: { user: '{{username}}', password: '{{password}}', nested: ['{{vars.echo}}'] },
        expect: [{ bodyMatches: 'contentType', bodyNotMatches: 'error' }],
      },
    ]);
    expect(attempt).toEqual({ ok: true });
    const [form, json] = seen;
    expect(form?.path).toBe('/echo?u=al%26ce');
    expect(form?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(form?.body))).toEqual({ u: 'al&ce', p: NASTY });
    expect(json?.headers['content-type']).toBe('application/json');
    expect(json?.headers['x-previous']).toBe('application/x-www-form-urlencoded');
    expect(json?.headers.cookie).toBe('echoed=1');
    expect(JSON.parse(json?.body ?? '')).toEqual({
      user: 'al&ce',
      password: NASTY,
      nested: ['application/x-www-form-urlencoded'],
    });
  });

  it('does not follow redirects unless asked', async () => {
    expect(
      await run([
        { name: 'r', url: '/r1', expect: [{ status: 302, header: { name: 'location', matches: '^/r2$' } }] },
      ]),
    ).toEqual({
      ok: true,
    });
  });

  it('follows redirects when asked: POST becomes GET, cookies from each hop are kept', async () => {
    seen.length = 0;
    const attempt = await run([
      {
        name: 'r',
        method: 'POST',
        url: '/r1',
        form: { a: '1' },
        followRedirects: true,
        expect: [{ status: 200, bodyMatches: 'hop1=a; hop2=b', cookie: 'hop2' }],
      },
    ]);
    expect(attempt).toEqual({ ok: true });
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /r1', 'GET /r2', 'GET /final']);
    expect(seen[2]?.body).toBe('');
  });

  it('stops after 5 redirects', async () => {
    const attempt = await run([{ name: 'loop', url: '/loop', followRedirects: true }]);
    expect(attempt).toMatchObject({
      ok: false,
      reason: 'error',
      message: "login workflow, step 'loop': more than 5 redirects",
    });
  });

  it('an unmet expectation is workflow_failed naming the step and what failed', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ status: 302 }, 'expected status 302, got 200'],
      [{ status: [301, 302] }, 'expected status one of 301, 302, got 200'],
      [{ header: { name: 'location', matches: '.' } }, "expected header 'location', got none (status 200)"],
      [
        { header: { name: 'content-type', matches: 'html' } },
        "expected header 'content-type' to match /html/ (status 200)",
      ],
      [{ bodyMatches: 'Welcome' }, 'expected the page to match /Welcome/ (status 200)'],
      [{ bodyNotMatches: 'contentType' }, 'expected the page not to match /contentType/ (status 200)'],
      [{ cookie: 'auth' }, "expected cookie 'auth' to be set (status 200)"],
    ];
    for (const [expectation, message] of cases) {
      const attempt = await run([
        {
          name: 'echo-step',
          method: 'POST',
          url: '/echo',
          form: { p: '{{password}}' },
          expect: [expectation],
        },
      ]);
      expect(attempt).toEqual({
        ok: false,
        reason: 'workflow_failed',
        message: `login workflow, step 'echo-step': ${message}`,
        definite: true,
      });
      expect(JSON.stringify(attempt)).not.toContain('w%20o');
    }
  });

  it('without expectations a status of 400 or more fails the step', async () => {
    expect(await run([{ name: 'missing', url: '/nope' }])).toMatchObject({
      ok: false,
      reason: 'workflow_failed',
      message: "login workflow, step 'missing': expected a status below 400, got 404",
    });
  });

  it('failWhen maps a known page to its reason (definite), before expectations', async () => {
    const attempt = await run([
      {
        name: 'login',
        url: '/locked',
        failWhen: [
          { status: 200, reason: 'mismatch' },
          { status: 403, bodyMatches: 'disabled', reason: 'locked_or_disabled' },
        ],
        expect: [{ status: 302 }],
      },
    ]);
    expect(attempt).toEqual({
      ok: false,
      reason: 'locked_or_disabled',
      message:
        "login workflow, step 'login': the site answered with a known locked_or_disabled page (status 403)",
      definite: true,
    });
  });

  it('a required extraction that finds nothing fails the step; an optional one leaves the variable empty', async () => {
    expect(
      await run([
        {
          name: 'e',
          url: '/final',
          extract: [{ name: 'tok', from: 'body', css: { selector: 'input', attribute: 'value' } }],
        },
      ]),
    ).toMatchObject({
      ok: false,
      reason: 'workflow_failed',
      message: "login workflow, step 'e': could not extract 'tok' from the body (status 200)",
    });
    seen.length = 0;
    expect(
      await run([
        {
          name: 'e',
          url: '/final',
          extract: [{ name: 'tok', from: 'body', regex: 'nothing(.)', required: false }],
        },
        { name: 'use', method: 'POST', url: '/echo', form: { t: '[{{vars.tok}}]' } },
      ]),
    ).toEqual({ ok: true });
    expect(seen[1]?.body).toBe('t=%5B%5D');
  });

  it('timeouts and refused connections are unreachable; after {{newPassword}} went out they are not definite', async () => {
    const slow = await run([{ name: 'slow', url: '/slow' }], { timeoutMs: 300 });
    expect(slow).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
    expect(slow.ok === false && slow.message).toMatch(
      /step 'slow': no answer from 127\.0\.0\.1:\d+ within 300 ms/,
    );

    const afterSubmit = await run([{ name: 'ok', url: '/echo' }], {
      timeoutMs: 300,
      change: [{ name: 'submit', method: 'POST', url: '/slow', form: { n: '{{newPassword}}' } }],
    });
    expect(afterSubmit).toMatchObject({ ok: false, reason: 'unreachable', definite: false });

    const beforeSubmit = await run([{ name: 'ok', url: '/echo' }], {
      timeoutMs: 300,
      change: [
        { name: 'page', url: '/slow' },
        { name: 'submit', method: 'POST', url: '/echo', form: { n: '{{newPassword}}' } },
      ],
    });
    expect(beforeSubmit).toMatchObject({ ok: false, reason: 'unreachable', definite: true });

    const afterSubmitUnexpected = await run([{ name: 'ok', url: '/echo' }], {
      change: [
        {
          name: 'submit',
          method: 'POST',
          url: '/echo',
          form: { n: '{{newPassword}}' },
          expect: [{ bodyMatches: 'changed' }],
        },
      ],
    });
    expect(afterSubmitUnexpected).toMatchObject({ ok: false, reason: 'workflow_failed', definite: false });
  });

  it('a header value with a line break is refused, not sent', async () => {
    seen.length = 0;
    const attempt = await run([{ name: 'h', url: '/echo', headers: { 'x-p': '{{password}}' } }]);
    expect(attempt).toMatchObject({
      ok: false,
      reason: 'error',
      message: "login workflow, step 'h': header 'x-p' would contain a line break",
    });
    expect(seen).toHaveLength(0);
  });

  it('an aborted job stops before the next step', async () => {
    const controller = new AbortController();
    controller.abort();
    const connection = WebConnectionSchema.parse({
      baseUrl,
      login: { steps: [{ name: 'a', url: '/echo' }] },
    });
    expect(
      await runWorkflows({
        connection,
        workflows: [['login', connection.login]],
        values: { username: 'u', password: 'p' },
        signal: controller.signal,
      }),
    ).toMatchObject({ ok: false, reason: 'unreachable' });
  });
});
