import { pipeline } from 'node:stream/promises';
import { request, type Dispatcher } from 'undici';
import { DEFAULT_TIMEOUT_MS } from './config.js';

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
    /** How long to wait for an answer to begin and between two parts of it (undici's own: 300 s). */
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {}

  /** One request, its answer read by `read` (with the host, for messages); no answer within `timeoutMs` is a clear error. */
  private async send<T>(
    method: 'GET' | 'POST' | 'DELETE' | 'PATCH',
    path: string,
    body: unknown,
    read: (res: Dispatcher.ResponseData, host: string) => Promise<T>,
  ): Promise<T> {
    const url = new URL(path, this.baseUrl);
    try {
      const res = await request(url, {
        method,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return await read(res, url.host);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
        throw new Error(
          `${url.host} ${code === 'UND_ERR_HEADERS_TIMEOUT' ? 'did not answer' : 'stopped sending its answer'} within ${this.timeoutMs / 1000} s (SYNCCTL_TIMEOUT_MS)`,
        );
      }
      throw err;
    }
  }

  call<T>(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', path: string, body?: unknown): Promise<T> {
    return this.send(method, path, body, async (res, host) => {
      const text = await res.body.text();
      if (res.statusCode >= 400) throw refusal(res.statusCode, text, host);
      try {
        return (text ? JSON.parse(text) : undefined) as T;
      } catch {
        throw new Error(`the server answered with something that is not JSON: ${snippet(text)}`);
      }
    });
  }

  /**
   * A download (an export): the body is piped to the sink `open` gives as it arrives, never held
   * whole; `open` is called only for the coordinator's export (a JSON or CSV answer), so an error
   * answer, or a proxy's page answered with 200, leaves no file behind. A reader of stdout that
   * goes away (`| head`) ends the download quietly. Resolves to the bytes written.
   */
  download(path: string, open: () => NodeJS.WritableStream): Promise<number> {
    return this.send('GET', path, undefined, async (res, host) => {
      if (res.statusCode >= 400) throw refusal(res.statusCode, await res.body.text(), host);
      const type = String(res.headers['content-type'] ?? '');
      if (!/^(application\/json|text\/csv)\b/.test(type)) {
        throw new Error(
          `${host} answered HTTP ${res.statusCode} with ${type || 'no content type'}, not the coordinator's export: ${snippet(await res.body.text())}`,
        );
      }
      const sink = open();
      let bytes = 0;
      res.body.on('data', (chunk: Buffer) => (bytes += chunk.length));
      try {
        await pipeline(res.body, sink, { end: sink !== process.stdout });
      } catch (err) {
        if (sink !== process.stdout || (err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
      }
      return bytes;
    });
  }
}

/** An answer of 400 or more: the coordinator's error, or the status of a page that is not its JSON. */
function refusal(status: number, text: string, host: string): ApiError {
  let err: { code?: string; message?: string } | undefined;
  try {
    err = (JSON.parse(text) as { error?: { code?: string; message?: string } } | undefined)?.error;
  } catch {
    // A proxy's HTML error page, say: its status and the start of its body.
    return new ApiError(
      status,
      'HTTP_ERROR',
      `HTTP ${status} from ${host} (not the coordinator's JSON: ${snippet(text)})`,
    );
  }
  return new ApiError(status, err?.code ?? 'HTTP_ERROR', err?.message ?? `HTTP ${status}`);
}

/** The first line of a body, short, for an error message. */
const snippet = (text: string): string => {
  const line = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return line.length > 80 ? `${line.slice(0, 80)}…` : line || 'empty body';
};
