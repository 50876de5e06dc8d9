import { Agent, request } from 'undici';
import type { CredentialView } from '../../shared/contracts/api.js';

export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    const detail =
      body && typeof body === 'object' && 'message' in body ? String(body.message) : JSON.stringify(body);
    super(`${method} ${path} answered ${status}: ${detail}`);
  }
}

export interface Api {
  readonly baseUrl: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/**
 * A JSON client of the operator API for the demo and the bench: `api(url, token).get('/api/v1/sites')`.
 * Throws ApiError for a non-2xx answer (tests use ./http.ts, which never throws). Keeps connections
 * alive (many requests in the benchmark).
 */
export function api(baseUrl: string, token: string, connections = 64): Api {
  const base = baseUrl.replace(/\/+$/, '');
  const dispatcher = new Agent({ connections, keepAliveTimeout: 30_000, pipelining: 1 });
  async function send<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${token}`,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(`${base}${path}`, {
      method,
      headers,
      dispatcher,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    if (res.statusCode < 200 || res.statusCode >= 300)
      throw new ApiError(method, path, res.statusCode, parsed);
    return parsed as T;
  }
  return {
    baseUrl: base,
    get: (path) => send('GET', path),
    post: (path, body) => send('POST', path, body ?? {}),
    close: () => dispatcher.close(),
  };
}

export interface SiteView {
  id: string;
  name: string;
  enabled: boolean;
}
export interface TargetView {
  id: string;
  siteId: string;
  name: string;
  kind: string;
  connection: Record<string, unknown>;
}
export interface AgentView {
  id: string;
  siteId: string;
  name: string;
  enabled: boolean;
  online: boolean;
}
/** Every credential matching `query` (e.g. `siteId=…`), following the cursor. */
export async function listCredentials(client: Api, query = ''): Promise<CredentialView[]> {
  const all: CredentialView[] = [];
  let cursor: string | null = null;
  do {
    const qs: string[] = ['limit=500', ...(query ? [query] : []), ...(cursor ? [`cursor=${cursor}`] : [])];
    const page: { items: CredentialView[]; nextCursor: string | null } = await client.get(
      `/api/v1/credentials?${qs.join('&')}`,
    );
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}
