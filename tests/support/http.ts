import { request } from 'undici';

export interface ApiResponse<T> {
  status: number;
  /** Parsed JSON when the response is JSON, the text otherwise, null when empty. */
  body: T;
}

export interface ApiClient {
  get<T = unknown>(path: string): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  delete<T = unknown>(path: string): Promise<ApiResponse<T>>;
  patch<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>>;
}

/**
 * A JSON client for tests: `api('http://127.0.0.1:8080/api/v1', token).get('/sites')`. Never
 * throws for an HTTP status; tests assert on `status` and `body`.
 */
export function api(baseUrl: string, token?: string): ApiClient {
  const base = baseUrl.replace(/\/+$/, '');
  async function send<T>(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', path: string, body?: unknown) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    const isJson = String(res.headers['content-type'] ?? '').includes('json');
    const parsed: unknown = text === '' ? null : isJson ? JSON.parse(text) : text;
    return { status: res.statusCode, body: parsed as T };
  }
  return {
    get: (path) => send('GET', path),
    post: (path, body) => send('POST', path, body),
    delete: (path) => send('DELETE', path),
    patch: (path, body) => send('PATCH', path, body),
  };
}
