import type { FastifyError, FastifyInstance } from 'fastify';
import { isSyncError, SyncError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** Maps every error to `{error: {code, message, issues?}}`; never a stack trace, never a secret. */
export function installErrorHandler(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | SyncError, req, reply) => {
    let e: SyncError;
    if (isSyncError(err)) e = err;
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
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
      log.error({ err, reqId: req.id, route: req.routeOptions.url }, 'request failed');
      e = new SyncError('INTERNAL', `internal error (request ${req.id})`);
    }
    if (e.code === 'DECRYPT_FAILED')
      log.error({ reqId: req.id, detail: e.message }, 'secret integrity check failed');
    const status = err.statusCode === 413 ? 413 : e.statusCode;
    void reply.code(status).send(e.toJSON());
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send(new SyncError('NOT_FOUND', 'no such route').toJSON());
  });
}
