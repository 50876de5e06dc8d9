/** The operator API, with the token kept for this browser tab only (sessionStorage). */

const TOKEN_KEY = 'pws.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** A 400's fields and what is wrong with each (`body.connection.host`). */
    readonly issues: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

export const getToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (t: string): void => sessionStorage.setItem(TOKEN_KEY, t);
export const clearToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

let onUnauthenticated: () => void = () => undefined;
export const whenUnauthenticated = (fn: () => void): void => {
  onUnauthenticated = fn;
};

async function call<T>(method: string, path: string, body?: unknown, explicitToken?: string): Promise<T> {
  const token = explicitToken ?? getToken();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = (
      json as {
        error?: { code?: string; message?: string; issues?: { field: string; message: string }[] };
      } | null
    )?.error;
    // A stored token that stopped working ends the session; a token being tried does not.
    if (res.status === 401 && explicitToken === undefined) onUnauthenticated();
    throw new ApiError(
      res.status,
      err?.code ?? 'HTTP_ERROR',
      err?.message ?? `HTTP ${res.status}`,
      err?.issues ?? [],
    );
  }
  return json as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
  del: <T>(path: string) => call<T>('DELETE', path),
  patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
  /** Checks a token before keeping it. */
  check: (token: string) => call<unknown>('GET', '/summary', undefined, token),
};

export function qs(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The API's largest page. */
export const MAX_PAGE = 500;

/**
 * Reads a keyset-paged list from its start until `want` items (or its end), in pages of at most
 * MAX_PAGE: a refresh of a list the operator has extended with "load more" past 500 rows re-reads
 * all it shows without asking for a page the API refuses.
 */
export async function fetchPages<T>(
  path: string,
  params: Record<string, string | number | undefined | null>,
  want: number,
): Promise<{ items: T[]; nextCursor: string | null }> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: T[]; nextCursor: string | null } = await api.get(
      `${path}${qs({ ...params, limit: Math.min(MAX_PAGE, want - items.length), cursor })}`,
    );
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null && items.length < want);
  return { items, nextCursor: cursor };
}
