import { Pool } from 'undici';
import { z } from 'zod';

/** The coordinator answered with an error status (or an answer that breaks the contract). */
export class GatewayHttpError extends Error {
  constructor(
    readonly status: number,
    /** Error code of the body `{error: {code}}`, e.g. AGENT_DISABLED; `HTTP_<status>` without one. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayHttpError';
  }
}

/** The coordinator could not be reached, or did not answer in time: no HTTP status. */
export class GatewayNetworkError extends Error {
  constructor(
    message: string,
    /** True when the caller's own signal cancelled the request. */
    readonly aborted: boolean,
    options?: { cause?: unknown },
    /** True when the request was sent and no answer came within its time (it may have been acted on). */
    readonly timedOut = false,
  ) {
    super(message, options);
    this.name = 'GatewayNetworkError';
  }
}

/** Worth retrying later: the coordinator was unreachable or failed on its side. */
export const isTransient = (err: unknown): boolean =>
  err instanceof GatewayNetworkError ||
  (err instanceof GatewayHttpError && (err.status >= 500 || err.status === 429));

export const hasErrorCode = (err: unknown, ...codes: string[]): err is GatewayHttpError =>
  err instanceof GatewayHttpError && codes.includes(err.code);

const ErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export interface RequestOptions {
  signal?: AbortSignal;
  /** Whole-request deadline; a timeout is a network error. */
  timeoutMs?: number;
  /** Bearer token for the Authorization header. */
  bearer?: string;
}

/** PEM for TLS to the coordinator: a CA to trust, and a client certificate and key for mutual TLS. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * JSON over HTTP to one origin, on a keep-alive connection pool. Responses are parsed with the
 * contract's zod schema; an answer that does not fit is a 502 INVALID_RESPONSE (transient: the
 * coordinator may be mid-deploy). Request bodies may hold secrets: they are never logged here.
 */
export class JsonHttpClient {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    baseUrl: string,
    private readonly userAgent: string,
    tls?: TlsMaterial,
  ) {
    const url = new URL(baseUrl);
    this.pool = new Pool(url.origin, {
      connections: 16,
      keepAliveTimeout: 30_000,
      pipelining: 1,
      ...(tls ? { connect: { ...tls } } : {}),
    });
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  async post<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
    options: RequestOptions = {},
  ): Promise<z.output<S>> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': this.userAgent,
    };
    if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
    let status: number;
    let text: string;
    try {
      const res = await this.pool.request({
        path: `${this.basePath}${path}`,
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.any(signals),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      if (options.signal?.aborted)
        throw new GatewayNetworkError(`POST ${path}: aborted`, true, { cause: err });
      const timedOut = signals[0]?.aborted === true;
      const detail = timedOut ? `timed out after ${timeoutMs} ms` : describeNetworkError(err);
      throw new GatewayNetworkError(`POST ${path}: ${detail}`, false, { cause: err }, timedOut);
    }
    const json = parseJson(text);
    if (status < 200 || status >= 300) {
      const parsed = ErrorBodySchema.safeParse(json);
      const code = parsed.success ? parsed.data.error.code : `HTTP_${status}`;
      const message = parsed.success ? parsed.data.error.message : `HTTP ${status}`;
      throw new GatewayHttpError(status, code, `POST ${path}: ${status} ${code}: ${message}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      throw new GatewayHttpError(
        502,
        'INVALID_RESPONSE',
        `POST ${path}: response breaks the contract at ${fields}`,
      );
    }
    return parsed.data;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Drops open connections, e.g. a long-poll, without waiting. */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code} ${err.message}` : err.message;
  }
  return 'network error';
}
