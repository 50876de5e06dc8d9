import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterContext } from '../../agent/adapters/types.js';
import { webAdapter } from '../../agent/adapters/web/index.js';
import { runChange, runReconcile, runVerify, type Primitives } from '../../agent/change-protocol.js';
import { createLogger } from '../../shared/logger.js';
import { WebConnectionSchema, webHost, type WebConnection } from '../../shared/targets/web.js';
import { freePort } from '../support/ports.js';
import { loginSiteConnection, startLoginSite, type LoginSite } from '../support/login-site.js';
import { createPki, type Pki } from '../support/tls.js';

/** The web adapter against the real login site (tests/support/login-site.ts), without a coordinator. */

let site: LoginSite;
let n = 0;

beforeAll(async () => {
  site = await startLoginSite({ minLength: 8 });
});
afterAll(() => site?.close());

const log = createLogger('web-adapter-test', 'silent');

function ctxFor(
  username: string,
  connection: unknown = loginSiteConnection(site.url),
): AdapterContext<WebConnection> {
  const parsed = WebConnectionSchema.parse(connection);
  return {
    username,
    connection: parsed,
    host: webHost(parsed.baseUrl),
    signal: new AbortController().signal,
    log,
  };
}

const primitives = (ctx: AdapterContext<WebConnection>): Primitives => ({
  verify: (password) => webAdapter.verify(ctx, password),
  change: (current, next) => webAdapter.change(ctx, current, next),
  mayStartChange: () => Promise.resolve(!ctx.signal.aborted),
});

/** A user of its own per test, with a password that needs escaping in a form body. */
function newUser(password = `pa&ss=wo"rd\\${n}+%20 ü`): { username: string; password: string } {
  const username = `user${++n}@example.com`;
  site.addUser(username, password);
  return { username, password };
}

describe('web adapter against a real login site', () => {
  it('verifies a password that logs in (CSRF token, session cookie, redirect, verify page)', async () => {
    const { username, password } = newUser();
    expect(await webAdapter.verify(ctxFor(username), password)).toEqual({ ok: true });
    expect(await runVerify(primitives(ctxFor(username)), password)).toEqual({ outcome: 'ok' });
  });

  it('a wrong password is a definite mismatch, tried once', async () => {
    const { username } = newUser();
    const attempt = await webAdapter.verify(ctxFor(username), 'not-the-password');
    expect(attempt).toMatchObject({ ok: false, reason: 'mismatch', definite: true });
    expect(site.failedLogins(username)).toBe(1);
  });

  it('a locked account is locked_or_disabled', async () => {
    const { username, password } = newUser();
    site.lock(username);
    expect(await webAdapter.verify(ctxFor(username), password)).toMatchObject({
      ok: false,
      reason: 'locked_or_disabled',
    });
  });

  it('changes the password: the new one logs in on the site, the old one no longer does', async () => {
    const { username, password } = newUser();
    const next = `new&pass=word"\\${n}`;
    const outcome = await runChange(primitives(ctxFor(username)), password, next);
    expect(outcome).toEqual({ outcome: 'ok', works: 'pending' });
    expect(site.getPassword(username)).toBe(next);
    expect(await site.canLogIn(username, next)).toBe(true);
    expect(await site.canLogIn(username, password)).toBe(false);
  });

  it('a changed login form is workflow_failed naming the failing step', async () => {
    const { username, password } = newUser();
    site.redesign();
    try {
      const attempt = await webAdapter.verify(ctxFor(username), password);
      expect(attempt).toMatchObject({ ok: false, reason: 'workflow_failed' });
      expect(attempt.ok === false && attempt.message).toBe(
        "login workflow, step 'login-page': could not extract 'csrf' from the body (status 200)",
      );

      // A workflow that takes the token by regex from any hidden field gets further, and fails on
      // the login's own expectation: the site no longer knows the old field names.
      const connection = loginSiteConnection(site.url);
      connection.login.steps[0]!.extract = [
        { name: 'csrf', from: 'body', regex: 'type="hidden" name="[^"]+" value="([^"]+)"' },
      ] as never;
      const second = await webAdapter.verify(ctxFor(username, connection), password);
      expect(second).toMatchObject({
        ok: false,
        reason: 'workflow_failed',
        message: "login workflow, step 'submit-login': expected status 302, got 403",
      });
    } finally {
      site.redesign(false);
    }
  });

  it('a new password the site refuses is change_failed, and the old one still works', async () => {
    const { username, password } = newUser();
    const attempt = await webAdapter.change(ctxFor(username), password, 'short');
    expect(attempt).toMatchObject({ ok: false, reason: 'change_failed', definite: true });
    expect(attempt.ok === false && attempt.message).toContain("step 'submit-change'");
    expect(await runChange(primitives(ctxFor(username)), password, 'short')).toMatchObject({
      outcome: 'failed',
      reason: 'change_failed',
    });
    expect(site.getPassword(username)).toBe(password);
    expect(await site.canLogIn(username, password)).toBe(true);
  });

  it('a connection lost after the new password was sent is uncertain; reconcile finds the new one', async () => {
    const { username, password } = newUser();
    const next = `lost-answer-${n}-password`;
    site.dropChangeAnswers();
    try {
      const attempt = await webAdapter.change(ctxFor(username), password, next);
      expect(attempt).toMatchObject({ ok: false, reason: 'unreachable', definite: false });
      expect(attempt.ok === false && attempt.message).toContain("change workflow, step 'submit-change'");
      // Through the change protocol: the coordinator keeps both passwords and reconciles.
      const next2 = `${next}-2`;
      expect(await runChange(primitives(ctxFor(username)), next, next2)).toMatchObject({
        outcome: 'failed',
        reason: 'change_outcome_unknown',
      });
      expect(site.getPassword(username)).toBe(next2);
    } finally {
      site.dropChangeAnswers(false);
    }
    expect(await runReconcile(primitives(ctxFor(username)), next, `${next}-2`)).toEqual({
      outcome: 'ok',
      works: 'pending',
    });
  });

  it('a site that is not there is unreachable, definite before anything was sent', async () => {
    const { username, password } = newUser();
    const connection = { ...loginSiteConnection(`http://127.0.0.1:${await freePort()}`), timeoutMs: 2000 };
    const verify = await webAdapter.verify(ctxFor(username, connection), password);
    expect(verify).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
    expect(verify.ok === false && verify.message).toMatch(/step 'login-page': connection refused/);
    const change = await webAdapter.change(ctxFor(username, connection), password, 'whatever-new-1');
    expect(change).toMatchObject({ ok: false, reason: 'unreachable', definite: true });
  });

  it('an unknown host name is unreachable', async () => {
    const { username, password } = newUser();
    const connection = { ...loginSiteConnection('http://no-such-host.invalid'), timeoutMs: 3000 };
    expect(await webAdapter.verify(ctxFor(username, connection), password)).toMatchObject({
      ok: false,
      reason: 'unreachable',
    });
  });

  it('a JSON login: json body from templates, token taken by jsonPath, sent as a cookie header', async () => {
    const { username, password } = newUser();
    const connection = {
      baseUrl: site.url,
      login: {
        steps: [
          {
            name: 'api-login',
            method: 'POST',
            url: '/api/login',
            json: { username: '{{username}}', password: '{{password}}' },
            failWhen: [{ status: 401, reason: 'mismatch' }],
            expect: [{ status: 200 }],
            extract: [{ name: 'token', from: 'body', jsonPath: 'data.token' }],
          },
        ],
      },
      verify: {
        steps: [
          {
            name: 'home',
            url: '/home',
            headers: { cookie: 'auth={{vars.token}}' },
            expect: [{ status: 200, bodyMatches: 'Welcome' }],
          },
        ],
      },
    };
    expect(await webAdapter.verify(ctxFor(username, connection), password)).toEqual({ ok: true });
    expect(await webAdapter.verify(ctxFor(username, connection), 'wrong')).toMatchObject({
      ok: false,
      reason: 'mismatch',
    });
  });

  it('follows redirects when asked, keeping cookies on the way', async () => {
    const { username, password } = newUser();
    const connection = loginSiteConnection(site.url);
    const submit = connection.login.steps[1]!;
    Object.assign(submit, {
      followRedirects: true,
      expect: [{ status: 200, bodyMatches: 'Welcome, ' }],
    });
    const parsed = ctxFor(username, { ...connection, verify: undefined, change: undefined });
    expect(await webAdapter.verify(parsed, password)).toEqual({ ok: true });
  });

  it('never puts a password in a message, though the site echoes it on its pages', async () => {
    const { username, password } = newUser('secret-in-the-page-1234');
    site.echoPasswords();
    try {
      // The pages do carry the password (else this test could not fail)...
      const echoing = loginSiteConnection(site.url);
      echoing.verify.steps[0]!.expect = [
        { status: 200, bodyMatches: `You used the password ${password}` },
      ] as never;
      expect(await webAdapter.verify(ctxFor(username, echoing), password)).toEqual({ ok: true });

      // ...and an unmet expectation on such a page says what it expected, never what the page said.
      const verify = loginSiteConnection(site.url);
      verify.verify.steps[0]!.expect = [{ status: 200, bodyMatches: 'never there' }] as never;
      const attempt = await webAdapter.verify(ctxFor(username, verify), password);
      expect(attempt).toMatchObject({ ok: false, reason: 'workflow_failed' });
      expect(JSON.stringify(attempt)).not.toContain(password);

      // The same on the login page that echoes a refused password (no failWhen to recognise it).
      const login = loginSiteConnection(site.url);
      delete (login.login.steps[1] as { failWhen?: unknown }).failWhen;
      const wrong = 'wrong-secret-in-the-page-5678';
      const refused = await webAdapter.verify(ctxFor(username, login), wrong);
      expect(refused).toMatchObject({ ok: false, reason: 'workflow_failed' });
      expect(JSON.stringify(refused)).not.toContain(wrong);
      expect(JSON.stringify(refused)).not.toContain(password);
    } finally {
      site.echoPasswords(false);
    }
  });
});

describe('redirects that would carry the body elsewhere', () => {
  let other: LoginSite;
  beforeAll(async () => {
    other = await startLoginSite();
  });
  afterAll(() => other?.close());

  /** Login through POST /moved/login, which answers 307 / 308 to wherever the site is told. */
  function movedLogin() {
    const connection = loginSiteConnection(site.url);
    Object.assign(connection.login.steps[1]!, {
      url: '/moved/login',
      followRedirects: true,
      expect: [{ status: 200, bodyMatches: 'Welcome, ' }],
    });
    return { ...connection, verify: undefined, change: undefined };
  }

  it('a 307 within the same origin is followed with the body (the login works)', async () => {
    const { username, password } = newUser('same-origin-pw-1');
    site.moveLogin('/login', 307);
    expect(await webAdapter.verify(ctxFor(username, movedLogin()), password)).toEqual({ ok: true });
  });

  it.each([307, 308] as const)(
    'a %s to another origin is refused: workflow_failed naming the step, nothing sent there',
    async (status) => {
      const { username, password } = newUser(`cross-origin-pw-${status}`);
      site.moveLogin(`${other.url}/collect`, status);
      try {
        const attempt = await webAdapter.verify(ctxFor(username, movedLogin()), password);
        expect(attempt).toMatchObject({ ok: false, reason: 'workflow_failed', definite: true });
        expect(attempt.ok === false && attempt.message).toBe(
          `login workflow, step 'submit-login': refused to follow a ${status} redirect to ${other.url}: it would re-send the step's body to another origin`,
        );
        expect(other.bodies()).toEqual([]);
        expect(other.requests()).toEqual([]);
      } finally {
        site.moveLogin('/login');
      }
    },
  );
});

describe('TLS', () => {
  let pki: Pki;
  let server: HttpsServer;
  let url: string;

  beforeAll(async () => {
    pki = createPki();
    const { cert, key } = pki.issue('web-site', 'server');
    server = createHttpsServer({ cert: pki.pem(cert), key: pki.pem(key) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>Welcome</p>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  const connection = (tls: Record<string, unknown> = {}) => ({
    baseUrl: url,
    login: { steps: [{ name: 'home', url: '/', expect: [{ status: 200, bodyMatches: 'Welcome' }] }] },
    tls,
    timeoutMs: 3000,
  });

  it('a certificate the agent cannot trust is error (as for SSH and databases), not unreachable, definite', async () => {
    const attempt = await webAdapter.verify(ctxFor('someone', connection()), 'a-password');
    expect(attempt).toMatchObject({ ok: false, reason: 'error', definite: true });
    expect(attempt.ok === false && attempt.message).toMatch(
      /^login workflow, step 'home': TLS: the certificate of 127\.0\.0\.1:\d+ was refused \([A-Z_]+\)$/,
    );
  });

  it('with the CA in tls.ca it is trusted', async () => {
    const ca = readFileSync(pki.caCert, 'utf8');
    expect(await webAdapter.verify(ctxFor('someone', connection({ ca })), 'a-password')).toEqual({
      ok: true,
    });
  });
});
