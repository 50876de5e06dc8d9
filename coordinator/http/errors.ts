import type { FastifyError, FastifyInstance } from 'fastify';
import { isSyncError, SyncError, type FieldIssue } from '../../shared/errors.js';
import { invalidInput } from '../../shared/validation.js';
import type { Logger } from '../../shared/logger.js';
import { isDatabaseUnavailable } from '../store/db.js';

/**
 * What the log keeps of an unexpected error (as `error`, not pino's `err`, whose serializer would
 * copy every field back): its type, code, message and stack. Not the rest: a
 * database error's `detail`, `where` and `hint` quote the values of the statement (a JSON document,
 * a row), which the log must never hold.
 */
function internalError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err };
  const { code } = err as { code?: unknown };
  const type = err.constructor.name || err.name;
  return { type, ...(code === undefined ? {} : { code }), message: err.message, stack: err.stack };
}

/** Maps every error to `{error: {code, message, issues?}}`; never a stack trace, never a secret. */
export function installErrorHandler(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | SyncError, req, reply) => {
    let e: SyncError;
    if (isSyncError(err)) e = err;
    else if (isDatabaseUnavailable(err)) {
      // Not the coordinator's fault: a short line, and the client may try again.
      log.warn(
        { reqId: req.id, route: req.routeOptions.url, err: (err as Error).message },
        'database unavailable',
      );
      e = new SyncError('UNAVAILABLE', 'the database (PostgreSQL) is unavailable; try again');
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      e = new SyncError('UNSUPPORTED_MEDIA_TYPE', 'send application/json');
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      e = new SyncError('VALIDATION_FAILED', 'body: too large');
    else if (
      err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      err.statusCode === 400
    ) {
      e = new SyncError('VALIDATION_FAILED', 'body: not valid JSON', {
        issues: [{ field: 'body', message: 'not valid JSON' }],
      });
    } else if (err.statusCode === 413) {
      e = new SyncError('VALIDATION_FAILED', 'body: too large');
    } else if (err.statusCode === 404) e = new SyncError('NOT_FOUND');
    else {
      log.error({ error: internalError(err), reqId: req.id, route: req.routeOptions.url }, 'request failed');
      e = new SyncError('INTERNAL', `internal error (request ${req.id})`);
    }
    if (e.code === 'DECRYPT_FAILED')
      log.error({ reqId: req.id, detail: e.message }, 'secret integrity check failed');
    if (e.retryAfterS !== undefined) void reply.header('retry-after', String(e.retryAfterS));
    const status = err.statusCode === 413 ? 413 : e.statusCode;
    void reply.code(status).send(e.toJSON());
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send(new SyncError('NOT_FOUND', 'no such route').toJSON());
  });
}

/**
 * Fastify's refusals before routing (`frameworkErrors`): a path that is not valid percent-encoded
 * UTF-8 (a lone surrogate `%ED%A0%80`, a stray `%FF`) is a 400 in the API's format, naming `path`.
 */
export const badPath = (): SyncError =>
  new SyncError('VALIDATION_FAILED', 'invalid path: not valid percent-encoded UTF-8', {
    issues: [{ field: 'path', message: 'not valid percent-encoded UTF-8' }],
  });

/**
 * The query parameters whose raw bytes are not valid percent-encoded UTF-8: the query-string parser
 * turns them into U+FFFD silently, so `q=%ED%A0%80` searched for something the client never sent.
 * Refused as the path's bytes are (400), each named `query.<name>`.
 */
export function badQueryBytes(url: string): SyncError | undefined {
  const at = url.indexOf('?');
  if (at < 0) return undefined;
  const issues: FieldIssue[] = [];
  for (const pair of url.slice(at + 1).split('&')) {
    const eq = pair.indexOf('=');
    const [rawKey, rawValue] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    const key = decodedQueryPart(rawKey);
    if (key === undefined || decodedQueryPart(rawValue) === undefined)
      issues.push({ field: `query.${key ?? '\ufffd'}`, message: 'not valid percent-encoded UTF-8' });
  }
  return issues.length === 0 ? undefined : invalidInput(issues, 'query');
}

/** A query string's name or value decoded (`+` a space), or undefined when its bytes are not UTF-8. */
function decodedQueryPart(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
