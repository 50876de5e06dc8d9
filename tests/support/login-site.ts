import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP login site for the `web` adapter's tests, on 127.0.0.1:
 * - GET /login: a form with a CSRF token (new per session) and a `sid` session cookie;
 * - POST /login (csrf, username, password): 302 to /home with an `auth` cookie, or 200 "Invalid
 *   username or password", or 200 "Account locked" for a locked user (403 on a bad CSRF token);
 * - GET /home: "Welcome, <user>" when signed in, else 302 to /login;
 * - GET /account/password: a change form with its own CSRF token (signed in only);
 * - POST /account/password (csrf, current, new, confirm): "Password changed", or "Password does not
 *   meet requirements" (shorter than minLength), "Current password is incorrect", "Passwords do
 *   not match";
 * - GET /settings: a settings form with its own CSRF token (signed in only); POST /settings (csrf,
 *   name, value) stores the setting ("Saved"): what a web dependency updates (setting() reads it);
 * - POST /api/login (JSON {username, password}): {data: {token}} or 401, for JSON workflows;
 * - POST /moved/login: answers `moved` (307 or 308) to `movedTo` (default: /login on this site), so a
 *   client that follows it re-sends its body there;
 * - any other POST: records its body (see bodies()) and answers 200 "received".
 * Users live in memory; helpers set and read passwords out of band, lock users, switch to a
 * "redesigned" login page whose fields have other names, and make the pages echo the passwords they
 * were sent (a careless site: what the adapter says about a page must never quote it).
 */
export interface LoginSite {
  url: string;
  port: number;
  addUser(username: string, password: string): void;
  setPassword(username: string, password: string): void;
  getPassword(username: string): string | undefined;
  lock(username: string, locked?: boolean): void;
  /** The login page's fields become user_login / user_pass / authenticity_token. */
  redesign(on?: boolean): void;
  /** The change page's CSRF field becomes authenticity_token (the login page stays as it is). */
  redesignChange(on?: boolean): void;
  /** Applies a submitted password change, then drops the connection without answering. */
  dropChangeAnswers(on?: boolean): void;
  /** The login and home pages print the password the session signed in (or tried) with. */
  echoPasswords(on?: boolean): void;
  /** Where POST /moved/login sends its client, and with which status. */
  moveLogin(to: string, status?: 307 | 308): void;
  /** Bodies of POST requests to paths this site does not know (what a redirect carried here). */
  bodies(): { path: string; body: string }[];
  /** POST /login attempts with a wrong password, per user. */
  failedLogins(username: string): number;
  /** A setting stored by POST /settings (a web dependency's read-back). */
  setting(name: string): string | undefined;
  /** Every request so far: method and path (never a body). */
  requests(): { method: string; path: string }[];
  /** Checks a password by logging in over HTTP the way a browser would. */
  canLogIn(username: string, password: string): Promise<boolean>;
  close(): Promise<void>;
}

interface User {
  password: string;
  locked: boolean;
  failed: number;
}

interface Session {
  csrf: string;
  changeCsrf?: string;
  settingsCsrf?: string;
  user?: string;
  /** The password last submitted in this session (shown only in echo mode). */
  tried?: string;
}

const token = (): string => randomBytes(16).toString('hex');

const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const page = (title: string, body: string): string =>
  `<!doctype html><html><head><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startLoginSite(options: { minLength?: number } = {}): Promise<LoginSite> {
  const minLength = options.minLength ?? 8;
  const users = new Map<string, User>();
  const sessions = new Map<string, Session>();
  /** auth cookie value → username */
  const auth = new Map<string, string>();
  const log: { method: string; path: string }[] = [];
  let redesigned = false;
  let changeRedesigned = false;
  let dropChangeAnswers = false;
  let echo = false;
  let movedTo = '/login';
  let movedStatus: 307 | 308 = 307;
  const bodies: { path: string; body: string }[] = [];
  const settings = new Map<string, string>();
  const echoed = (session: Session) =>
    echo && session.tried !== undefined
      ? `<p class="debug">You used the password ${escapeHtml(session.tried)}</p>`
      : '';

  const send = (
    res: ServerResponse,
    status: number,
    html: string,
    headers: Record<string, string | string[]> = {},
  ) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
    res.end(html);
  };
  const redirect = (
    res: ServerResponse,
    location: string,
    headers: Record<string, string | string[]> = {},
  ) => {
    res.writeHead(302, { location, ...headers });
    res.end();
  };

  function sessionOf(req: IncomingMessage): { id: string; session: Session; fresh: boolean } {
    const id = parseCookies(req.headers.cookie).get('sid');
    const existing = id === undefined ? undefined : sessions.get(id);
    if (id !== undefined && existing) return { id, session: existing, fresh: false };
    const newId = token();
    const session: Session = { csrf: token() };
    sessions.set(newId, session);
    return { id: newId, session, fresh: true };
  }

  const signedIn = (req: IncomingMessage): string | undefined => {
    const value = parseCookies(req.headers.cookie).get('auth');
    return value === undefined ? undefined : auth.get(value);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    log.push({ method: req.method ?? 'GET', path: url.pathname });
    const route = `${req.method} ${url.pathname}`;
    const { id, session, fresh } = sessionOf(req);
    const sidCookie: Record<string, string> = fresh
      ? { 'set-cookie': `sid=${id}; Path=/; HttpOnly; SameSite=Lax` }
      : {};

    switch (route) {
      case 'GET /login': {
        const [u, p, c] = redesigned
          ? ['user_login', 'user_pass', 'authenticity_token']
          : ['username', 'password', 'csrf'];
        const form = redesigned
          ? `<form method="post" action="/login" class="new-login"><div><input type="hidden" name="${c}" value="${session.csrf}"></div><label>Email or user <input name="${u}"></label><label>Secret <input type="password" name="${p}"></label><button>Continue</button></form>`
          : `<form method="post" action="/login"><input type="hidden" name="${c}" value="${session.csrf}"><label>User <input name="${u}"></label><label>Password <input type="password" name="${p}"></label><button>Sign in</button></form>`;
        return send(res, 200, page('Sign in', form), sidCookie);
      }
      case 'POST /login': {
        const form = new URLSearchParams(await readBody(req));
        const [u, p, c] = redesigned
          ? ['user_login', 'user_pass', 'authenticity_token']
          : ['username', 'password', 'csrf'];
        if (form.get(c) !== session.csrf || fresh) {
          return send(res, 403, page('Forbidden', '<p>Invalid CSRF token</p>'), sidCookie);
        }
        const username = form.get(u) ?? '';
        const user = users.get(username);
        session.tried = form.get(p) ?? '';
        if (user?.locked)
          return send(res, 200, page('Sign in', `<p class="error">Account locked</p>${echoed(session)}`));
        if (user === undefined || user.password !== (form.get(p) ?? '')) {
          if (user) user.failed += 1;
          return send(
            res,
            200,
            page('Sign in', `<p class="error">Invalid username or password</p>${echoed(session)}`),
          );
        }
        const value = token();
        auth.set(value, username);
        session.user = username;
        return redirect(res, '/home', { 'set-cookie': `auth=${value}; Path=/; HttpOnly; SameSite=Lax` });
      }
      case 'GET /home': {
        const user = signedIn(req);
        if (user === undefined) return redirect(res, '/login', sidCookie);
        return send(
          res,
          200,
          page(
            'Home',
            `<p>Welcome, ${escapeHtml(user)}</p>${echoed(session)}<a href="/account/password">Change password</a>`,
          ),
        );
      }
      case 'GET /account/password': {
        const user = signedIn(req);
        if (user === undefined) return redirect(res, '/login', sidCookie);
        session.changeCsrf = token();
        return send(
          res,
          200,
          page(
            'Change password',
            `<form method="post" action="/account/password"><input type="hidden" name="${changeRedesigned ? 'authenticity_token' : 'csrf'}" value="${session.changeCsrf}"><input type="password" name="current"><input type="password" name="new"><input type="password" name="confirm"><button>Save</button></form>`,
          ),
          sidCookie,
        );
      }
      case 'POST /account/password': {
        const username = signedIn(req);
        if (username === undefined) return redirect(res, '/login', sidCookie);
        const form = new URLSearchParams(await readBody(req));
        if (session.changeCsrf === undefined || form.get('csrf') !== session.changeCsrf) {
          return send(res, 403, page('Forbidden', '<p>Invalid CSRF token</p>'));
        }
        session.changeCsrf = undefined;
        const user = users.get(username);
        if (user === undefined) return send(res, 404, page('Gone', '<p>No such user</p>'));
        const next = form.get('new') ?? '';
        if (form.get('current') !== user.password) {
          return send(
            res,
            200,
            page('Change password', '<p class="error">Current password is incorrect</p>'),
          );
        }
        if (next !== form.get('confirm')) {
          return send(res, 200, page('Change password', '<p class="error">Passwords do not match</p>'));
        }
        if (next.length < minLength) {
          return send(
            res,
            200,
            page('Change password', '<p class="error">Password does not meet requirements</p>'),
          );
        }
        user.password = next;
        if (dropChangeAnswers) return void req.socket.destroy();
        return send(res, 200, page('Change password', '<p class="ok">Password changed</p>'));
      }
      case 'GET /settings': {
        if (signedIn(req) === undefined) return redirect(res, '/login', sidCookie);
        session.settingsCsrf = token();
        return send(
          res,
          200,
          page(
            'Settings',
            `<form method="post" action="/settings"><input type="hidden" name="csrf" value="${session.settingsCsrf}"><input name="name"><input type="password" name="value"><button>Save</button></form>`,
          ),
        );
      }
      case 'POST /settings': {
        if (signedIn(req) === undefined) return redirect(res, '/login', sidCookie);
        const form = new URLSearchParams(await readBody(req));
        if (session.settingsCsrf === undefined || form.get('csrf') !== session.settingsCsrf) {
          return send(res, 403, page('Forbidden', '<p>Invalid CSRF token</p>'));
        }
        const name = form.get('name') ?? '';
        if (name === '') return send(res, 400, page('Settings', '<p class="error">Name required</p>'));
        settings.set(name, form.get('value') ?? '');
        return send(res, 200, page('Settings', '<p class="ok">Saved</p>'));
      }
      case 'POST /api/login': {
        let body: { username?: unknown; password?: unknown } = {};
        try {
          body = JSON.parse(await readBody(req)) as typeof body;
        } catch {
          // an empty object answers 401 below
        }
        const user = typeof body.username === 'string' ? users.get(body.username) : undefined;
        res.setHeader('content-type', 'application/json');
        if (user === undefined || user.password !== body.password) {
          res.writeHead(401);
          return void res.end(JSON.stringify({ error: 'invalid credentials' }));
        }
        const value = token();
        auth.set(value, String(body.username));
        res.writeHead(200);
        return void res.end(JSON.stringify({ data: { token: value, user: { name: body.username } } }));
      }
      case 'POST /moved/login': {
        await readBody(req);
        res.writeHead(movedStatus, { location: movedTo });
        return void res.end();
      }
      default:
        if (req.method === 'POST') {
          bodies.push({ path: url.pathname, body: await readBody(req) });
          return send(res, 200, page('Received', '<p>received</p>'));
        }
        return send(res, 404, page('Not found', '<p>Not found</p>'));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  const userOf = (username: string): User => {
    const user = users.get(username);
    if (!user) throw new Error(`login site: no user ${username}`);
    return user;
  };

  const site: LoginSite = {
    url,
    port,
    addUser: (username, password) => void users.set(username, { password, locked: false, failed: 0 }),
    setPassword: (username, password) => {
      userOf(username).password = password;
    },
    getPassword: (username) => users.get(username)?.password,
    lock: (username, locked = true) => {
      userOf(username).locked = locked;
    },
    redesign: (on = true) => {
      redesigned = on;
    },
    redesignChange: (on = true) => {
      changeRedesigned = on;
    },
    dropChangeAnswers: (on = true) => {
      dropChangeAnswers = on;
    },
    echoPasswords: (on = true) => {
      echo = on;
    },
    moveLogin: (to, status = 307) => {
      movedTo = to;
      movedStatus = status;
    },
    bodies: () => [...bodies],
    setting: (name) => settings.get(name),
    failedLogins: (username) => users.get(username)?.failed ?? 0,
    requests: () => [...log],
    canLogIn: async (username, password) => {
      const first = await fetch(`${url}/login`);
      const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const html = await first.text();
      const csrf = /name="(?:csrf|authenticity_token)" value="([^"]+)"/.exec(html)?.[1] ?? '';
      const [u, p, c] = redesigned
        ? ['user_login', 'user_pass', 'authenticity_token']
        : ['username', 'password', 'csrf'];
      const res = await fetch(`${url}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ [c]: csrf, [u]: username, [p]: password }).toString(),
      });
      await res.arrayBuffer();
      return res.status === 302 && res.headers.get('location') === '/home';
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return site;
}

/**
 * The `web` connection for this site (the example of docs/adapters/web.md): login with a CSRF
 * token, verify on /home, change on /account/password.
 */
export function loginSiteConnection(baseUrl: string) {
  return {
    baseUrl,
    login: {
      steps: [
        {
          name: 'login-page',
          method: 'GET',
          url: '/login',
          extract: [
            { name: 'csrf', from: 'body', css: { selector: 'input[name=csrf]', attribute: 'value' } },
          ],
          expect: [{ status: 200, cookie: 'sid' }],
        },
        {
          name: 'submit-login',
          method: 'POST',
          url: '/login',
          form: { csrf: '{{vars.csrf}}', username: '{{username}}', password: '{{password}}' },
          failWhen: [
            { bodyMatches: 'Account locked', reason: 'locked_or_disabled' },
            { bodyMatches: 'Invalid username or password', reason: 'mismatch' },
          ],
          expect: [{ status: 302, header: { name: 'location', matches: '^/home$' }, cookie: 'auth' }],
        },
      ],
    },
    verify: {
      steps: [
        {
          name: 'home',
          method: 'GET',
          url: '/home',
          expect: [{ status: 200, bodyMatches: 'Welcome, ' }],
        },
      ],
    },
    change: {
      steps: [
        {
          name: 'change-page',
          method: 'GET',
          url: '/account/password',
          extract: [{ name: 'changeCsrf', from: 'body', regex: 'name="csrf" value="([^"]+)"' }],
          expect: [{ status: 200 }],
        },
        {
          name: 'submit-change',
          method: 'POST',
          url: '/account/password',
          form: {
            csrf: '{{vars.changeCsrf}}',
            current: '{{password}}',
            new: '{{newPassword}}',
            confirm: '{{newPassword}}',
          },
          failWhen: [
            { bodyMatches: 'does not meet requirements', reason: 'change_failed' },
            { bodyMatches: 'Current password is incorrect', reason: 'mismatch' },
          ],
          expect: [{ status: 200, bodyMatches: 'Password changed' }],
        },
      ],
    },
    timeoutMs: 5000,
  };
}

/**
 * A `web` dependency's steps for this site (the example of docs/adapters/dependencies.md): after
 * the login, store {{newPassword}} as the setting `name` on the settings page.
 */
export function settingSteps(name: string) {
  return [
    {
      name: 'settings-page',
      method: 'GET' as const,
      url: '/settings',
      extract: [{ name: 'settingsCsrf', from: 'body' as const, regex: 'name="csrf" value="([^"]+)"' }],
      expect: [{ status: 200 }],
    },
    {
      name: 'save-setting',
      method: 'POST' as const,
      url: '/settings',
      form: { csrf: '{{vars.settingsCsrf}}', name, value: '{{newPassword}}' },
      expect: [{ status: 200, bodyMatches: 'Saved' }],
    },
  ];
}
