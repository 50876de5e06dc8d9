/**
 * A small cookie jar for one workflow run against one site (RFC 6265, the parts sites use): name,
 * value, Domain (host-only when absent), Path (default: the request's directory), Expires and
 * Max-Age (a past date or Max-Age <= 0 removes the cookie), Secure (sent over https only).
 */
interface Cookie {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  /** ms since epoch; undefined = session cookie. */
  expiresAt: number | undefined;
}

const isIp = (host: string): boolean => /^[\d.]+$/.test(host) || host.includes(':');

function domainMatches(host: string, domain: string): boolean {
  if (host === domain) return true;
  return !isIp(host) && host.endsWith(`.${domain}`);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}

function defaultPath(pathname: string): string {
  if (!pathname.startsWith('/')) return '/';
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

/** The host as cookies see it: no brackets around IPv6, lower case. */
const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '').toLowerCase();

export class CookieJar {
  private cookies: Cookie[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Stores the Set-Cookie headers of a response to `url`; malformed or foreign ones are ignored. */
  store(url: URL, setCookie: string | string[] | undefined): void {
    if (setCookie === undefined) return;
    for (const line of Array.isArray(setCookie) ? setCookie : [setCookie]) this.storeOne(url, line);
  }

  private storeOne(url: URL, line: string): void {
    const [pair = '', ...attributes] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name === '') return;
    const host = hostOf(url);
    const cookie: Cookie = {
      name,
      value,
      domain: host,
      hostOnly: true,
      path: defaultPath(url.pathname),
      secure: false,
      expiresAt: undefined,
    };
    let maxAge: number | undefined;
    for (const attribute of attributes) {
      const i = attribute.indexOf('=');
      const key = (i < 0 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? '' : attribute.slice(i + 1).trim();
      if (key === 'domain' && val !== '') {
        const domain = val.replace(/^\./, '').toLowerCase();
        if (!domainMatches(host, domain)) return; // a cookie for another site: refused
        cookie.domain = domain;
        cookie.hostOnly = false;
      } else if (key === 'path' && val.startsWith('/')) {
        cookie.path = val;
      } else if (key === 'secure') {
        cookie.secure = true;
      } else if (key === 'max-age' && /^-?\d+$/.test(val)) {
        maxAge = Number(val);
      } else if (key === 'expires') {
        const at = Date.parse(val);
        if (!Number.isNaN(at)) cookie.expiresAt = at;
      }
    }
    if (maxAge !== undefined) cookie.expiresAt = this.now() + maxAge * 1000;
    this.cookies = this.cookies.filter(
      (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
    );
    if (cookie.expiresAt !== undefined && cookie.expiresAt <= this.now()) return; // deletion
    this.cookies.push(cookie);
  }

  private live(): Cookie[] {
    const now = this.now();
    this.cookies = this.cookies.filter((c) => c.expiresAt === undefined || c.expiresAt > now);
    return this.cookies;
  }

  /** The Cookie header for a request to `url` (longer paths first), or undefined when none apply. */
  header(url: URL): string | undefined {
    const host = hostOf(url);
    const secure = url.protocol === 'https:';
    const applicable = this.live()
      .filter(
        (c) =>
          (c.hostOnly ? c.domain === host : domainMatches(host, c.domain)) &&
          pathMatches(url.pathname || '/', c.path) &&
          (!c.secure || secure),
      )
      .sort((a, b) => b.path.length - a.path.length);
    return applicable.length === 0 ? undefined : applicable.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** The value of the newest live cookie called `name`, whatever its domain and path. */
  get(name: string): string | undefined {
    const found = this.live().filter((c) => c.name === name);
    return found.at(-1)?.value;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
}
