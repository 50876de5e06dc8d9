import { pipeline } from 'node:stream/promises';
import { request } from 'undici';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A small JSON client of the operator API. Errors carry the API's own message. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async call<T>(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', path: string, body?: unknown): Promise<T> {
    const res = await request(new URL(path, this.baseUrl), {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      // Not JSON (a proxy's HTML error page, say): report the status and the start of the body.
      if (res.statusCode >= 400) {
        throw new ApiError(
          res.statusCode,
          'HTTP_ERROR',
          `HTTP ${res.statusCode} from ${new URL(path, this.baseUrl).host} (not the coordinator's JSON: ${snippet(text)})`,
        );
      }
      throw new Error(`the server answered with something that is not JSON: ${snippet(text)}`);
    }
    if (res.statusCode >= 400) {
      const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.statusCode, err?.code ?? 'HTTP_ERROR', err?.message ?? `HTTP ${res.statusCode}`);
    }
    return json as T;
  }

  /**
   * A download (an export): the body is piped to the sink `open` gives as it arrives, never held
   * whole; `open` is called only for a successful answer, so an error answer (read as `call` reads
   * it) leaves no file behind. Resolves to the bytes written.
   */
  async download(path: string, open: () => NodeJS.WritableStream): Promise<number> {
    const res = await request(new URL(path, this.baseUrl), {
      headers: { authorization: `Bearer ${this.token}` },
    });
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      let err: { code?: string; message?: string } | undefined;
      try {
        err = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      } catch {
        err = undefined;
      }
      throw new ApiError(res.statusCode, err?.code ?? 'HTTP_ERROR', err?.message ?? `HTTP ${res.statusCode}`);
    }
    const sink = open();
    let bytes = 0;
    res.body.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await pipeline(res.body, sink, { end: sink !== process.stdout });
    return bytes;
  }
}

/** The first line of a body, short, for an error message. */
const snippet = (text: string): string => {
  const line = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return line.length > 80 ? `${line.slice(0, 80)}…` : line || 'empty body';
};
