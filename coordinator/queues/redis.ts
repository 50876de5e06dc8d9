import type { RedisOptions } from 'ioredis';
import { isSyncError, SyncError } from '../../shared/errors.js';
import type { RedisClient } from './connect.js';

/**
 * How long a connection waits before each new attempt to reach Redis: 0.2 s, 0.4 s, … at most 2 s,
 * so the coordinator is connected again within about 2 s of Redis coming back (BullMQ's own default
 * grows to 20 s).
 */
export const reconnectDelay = (attempt: number): number => Math.min(attempt * 200, 2_000);

/**
 * Connections whose commands serve requests: the site queues' connection, their manual workers
 * (claims, extends, reports, releases), the wake-up publisher. A command sent while the connection
 * is down fails at once instead of waiting in ioredis' offline queue until Redis is back (BullMQ's
 * advice for producers: "failing fast when Redis is down"); a command in flight when the connection
 * drops fails then (`maxRetriesPerRequest: 0`) rather than being sent again on reconnect, where it
 * would take a job or complete one after its request had answered.
 */
export const REQUEST_PATH_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: reconnectDelay,
};

/**
 * Connections that wait for Redis, serving no request: the scheduler's BullMQ worker (blocking
 * commands; `maxRetriesPerRequest: null` is BullMQ's rule for them) and the wake-up subscriber.
 */
export const WAITING_OPTIONS: RedisOptions = { maxRetriesPerRequest: null, retryStrategy: reconnectDelay };

/**
 * Waits until `connection` is ready, at most `timeoutMs` (false then): at start-up, so the first
 * requests and /readyz do not find a request-path connection still connecting and answer 503.
 */
export async function readyWithin(connection: RedisClient, timeoutMs: number): Promise<boolean> {
  if (connection.status === 'ready') return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      connection.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    connection.on('ready', onReady);
  });
}

/** What ioredis and BullMQ throw when Redis cannot be reached (as opposed to an answer from Redis). */
const CONNECTION_FAILURE =
  /Stream isn't writeable|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN/;

function isConnectionFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'MaxRetriesPerRequestError' || CONNECTION_FAILURE.test(err.message);
}

/** The error of a Redis call that could not be made or got no answer in time: 503 UNAVAILABLE. */
export const isRedisUnavailable = (err: unknown): boolean => isSyncError(err) && err.code === 'UNAVAILABLE';

function unavailable(what: string, why: string): SyncError {
  return new SyncError('UNAVAILABLE', `the job queues (Redis) are unavailable: ${what} failed (${why})`);
}

/**
 * Runs `work` (Redis calls on `connection`): UNAVAILABLE at once when the connection is not
 * connected (nothing is sent), UNAVAILABLE for a connection failure; an answer of Redis (a lock
 * refused, say) is thrown as it is.
 */
export async function onRedis<T>(connection: RedisClient, what: string, work: () => Promise<T>): Promise<T> {
  if (connection.status !== 'ready') throw unavailable(what, `not connected: ${connection.status}`);
  try {
    return await work();
  } catch (err) {
    if (isConnectionFailure(err)) throw unavailable(what, (err as Error).message);
    throw err;
  }
}

/**
 * Waits for `pending` at most `timeoutMs`; past it, UNAVAILABLE (Redis hangs), and `cutShort` is
 * aborted. What it waited for goes on: a call cut short may still run in Redis later.
 */
export async function within<T>(
  pending: Promise<T>,
  timeoutMs: number,
  what: string,
  cutShort?: AbortController,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      cutShort?.abort();
      reject(unavailable(what, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([pending, deadline]);
  } finally {
    clearTimeout(timer);
    // Cut short: its own failure, later, is the business of whoever else awaits it.
    pending.catch(() => undefined);
  }
}
