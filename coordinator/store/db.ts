import pg from 'pg';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { timestamptzParser } from './timestamptz.js';

/**
 * What a statement gave: its rows, and `rowCount`, the count of its command tag on both drivers: the
 * rows a SELECT returned (so `rowCount === rows.length`), the rows an INSERT, UPDATE or DELETE changed
 * (with or without RETURNING), 0 for a statement without a count (DDL, SET).
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

/** Anything that runs SQL: the pool, or a transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /**
   * In a transaction: runs `fn` once it has committed (never if it rolls back), before `tx` returns.
   * Outside one: absent. `fn` must not throw.
   */
  afterCommit?: (fn: () => Promise<void>) => void;
}

/** Runs `fn` after the transaction of `q` commits, or at once when `q` is not a transaction. */
export async function whenCommitted(q: Queryable, fn: () => Promise<void>): Promise<void> {
  if (q.afterCommit) q.afterCommit(fn);
  else await fn();
}

/**
 * Runs `fn` in a savepoint of the transaction `q`: when it throws, what it did is undone (the rest
 * of the transaction stays) and the error goes on to the caller.
 */
export async function inSavepoint<T>(q: Queryable, name: string, fn: () => Promise<T>): Promise<T> {
  await q.query(`SAVEPOINT ${name}`);
  let value: T;
  try {
    value = await fn();
  } catch (err) {
    await q.query(`ROLLBACK TO SAVEPOINT ${name}`);
    throw err;
  }
  await q.query(`RELEASE SAVEPOINT ${name}`);
  return value;
}

async function runHooks(hooks: (() => Promise<void>)[]): Promise<void> {
  for (const hook of hooks) await hook();
}

/** What `exclusive` did: ran `fn` (with its value), or skipped it because the lock was held. */
export type Exclusive<T> = { ran: true; value: T } | { ran: false };

/**
 * PostgreSQL, as a server (`pg`) or embedded (PGlite). Same SQL and the same results on both:
 * `rowCount` as above; `int8` (counts, bigserial ids) as a number; `timestamptz` as a Date (the
 * schema has no `date`, `timestamp`, `interval` or `bytea` columns, whose parsing differs between
 * the drivers); `json`/`jsonb` parsed; arrays both ways (`= ANY($1)`, `$1::uuid[]`). Pass JSON
 * parameters as `JSON.stringify(...)` strings: `pg` turns a JS array into a PostgreSQL array literal.
 *
 * PGlite is one session: its statements and transactions run one at a time, in the order asked,
 * and `exclusive` needs no lock (one process owns the folder). A statement on the pool (or a second
 * `tx`) awaited inside a transaction would wait for that transaction forever there; it throws instead
 * (inside `tx`, use its `q`).
 */
export interface Db extends Queryable {
  readonly kind: 'pg' | 'pglite';
  /**
   * `queryTimeoutMs`: how long each statement of this transaction may wait for its answer, when not
   * DATABASE_QUERY_TIMEOUT_MS (migrations, whose index builds take longer on a large table).
   */
  tx<T>(fn: (q: Queryable) => Promise<T>, options?: { queryTimeoutMs?: number }): Promise<T>;
  /**
   * Runs `fn` while holding the session advisory lock `key` (pg_try_advisory_lock on a connection of
   * its own, held for the whole of `fn`, whatever connections `fn` itself uses), or skips it at once
   * when another session (another replica) holds the lock. A lost connection drops the lock.
   */
  exclusive<T>(key: number, fn: () => Promise<T>): Promise<Exclusive<T>>;
  close(): Promise<void>;
}

// int8 (count(*), bigserial ids) as a number on both drivers (PGlite: `parsers` below).
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
// timestamptz read in place (timestamptz.ts), the driver's own parser for what that does not read.
pg.types.setTypeParser(
  pg.types.builtins.TIMESTAMPTZ,
  timestamptzParser(pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ)),
);

/** How long a statement waits for a connection (a new one, or one of the pool's) by default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Connection errors of PostgreSQL (refused, reset, no connection within `connectTimeoutMs`, the
 * server shutting down or not accepting connections yet): the database is unavailable, not the
 * coordinator at fault. An API request answers 503 UNAVAILABLE for them (http/errors.ts).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (
      [
        'ECONNREFUSED',
        'ECONNRESET',
        'ETIMEDOUT',
        'EHOSTUNREACH',
        'ENETUNREACH',
        'EPIPE',
        'ENOTFOUND',
      ].includes(code)
    )
      return true;
    // Class 08 (connection exception), 57P01-57P03 (shutdown, crash, cannot connect now).
    if (code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code)) return true;
  }
  return /^(timeout exceeded when trying to connect|Connection terminated|Query read timeout)/.test(
    err.message,
  );
}

/** How long a statement waits for its answer by default (DATABASE_QUERY_TIMEOUT_MS). */
export const DEFAULT_QUERY_TIMEOUT_MS = 15_000;

/** PostgreSQL's connection settings of the coordinator (DATABASE_CONNECT_TIMEOUT_MS, DATABASE_QUERY_TIMEOUT_MS). */
export interface PgTimeouts {
  connectTimeoutMs?: number | undefined;
  queryTimeoutMs?: number | undefined;
}

/**
 * `connectTimeoutMs`: the longest a statement waits for a connection, a new one (a server that
 * accepts and never answers) or one of the pool's (every one busy); `queryTimeoutMs`: the longest it
 * waits for its answer on one (a server that stops answering: stopped, frozen, cut off), after which
 * that connection is closed, never used again. Past either the statement fails as unavailable
 * rather than waiting for ever. A transaction may give its statements longer (Db.tx's `queryTimeoutMs`:
 * migrations).
 */
export function connectPg(
  url: string,
  max = 10,
  {
    connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
    queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
  }: PgTimeouts = {},
): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: 'sync-coordinator',
    connectionTimeoutMillis: connectTimeoutMs,
    query_timeout: queryTimeoutMs,
    keepAlive: true,
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const query: Queryable['query'] = async (sql, params) => {
    const r = await pool.query(sql, params as unknown[]);
    return { rows: r.rows, rowCount: r.rowCount ?? 0 };
  };
  return {
    kind: 'pg',
    query,
    async tx(fn, options = {}) {
      const client = await pool.connect();
      const hooks: (() => Promise<void>)[] = [];
      // A connection that failed as unavailable is closed, not given back to the pool.
      let broken: Error | undefined;
      let result;
      try {
        await client.query('BEGIN');
        result = await fn({
          async query(sql, params) {
            // pg reads query_timeout of a statement's config too (its types leave it out); unset,
            // the pool's applies.
            const r = await client.query({
              text: sql,
              values: params as unknown[],
              query_timeout: options.queryTimeoutMs,
            } as pg.QueryConfig<unknown[]>);
            return { rows: r.rows, rowCount: r.rowCount ?? 0 };
          },
          afterCommit: (hook) => hooks.push(hook),
        });
        await client.query('COMMIT');
      } catch (err) {
        if (isDatabaseUnavailable(err)) broken = err as Error;
        else
          await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
            broken = rollbackErr as Error;
          });
        throw err;
      } finally {
        client.release(broken);
      }
      await runHooks(hooks);
      return result;
    },
    async exclusive(key, fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        const { rows } = await client
          .query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key])
          .catch((err: unknown) => {
            broken = isDatabaseUnavailable(err); // timed out or cut: never reused
            throw err;
          });
        if (!rows[0]?.ok) return { ran: false };
        try {
          return { ran: true, value: await fn() };
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => {
            broken = true; // the session is gone, and its lock with it: do not reuse the client
          });
        }
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/** Embedded PostgreSQL in a data folder: a newcomer needs no database server. */
export async function connectPglite(dataDir: string, opts: { trigrams?: boolean } = {}): Promise<Db> {
  mkdirSync(dataDir, { recursive: true });
  const { PGlite, types } = await import('@electric-sql/pglite');
  // pg_trgm: the credentials search's trigram indexes (migration 5), as on a PostgreSQL server.
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
  const db = await PGlite.create(dataDir, {
    // pg (above) gives every int8 as a number; PGlite would give a BigInt past 2^53.
    parsers: { [types.INT8]: (v: string) => Number(v) },
    ...(opts.trigrams === false ? {} : { extensions: { pg_trgm } }),
  });
  type PgliteResults = { rows: unknown[]; rowCount?: number };
  type PgliteQueryable = {
    query: (sql: string, params?: unknown[]) => Promise<PgliteResults>;
    exec: (sql: string) => Promise<PgliteResults[]>;
  };
  const wrap = (q: PgliteQueryable): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      // Without parameters, run as a script (several statements allowed), as pg's simple protocol does.
      const r =
        params === undefined ? ((await q.exec(sql)).at(-1) ?? { rows: [] }) : await q.query(sql, params);
      // rowCount is the command tag's count, as pg reports it. (PGlite's affectedRows is not: it is 0
      // for a SELECT, and adds up the statements of a script.)
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    },
  });
  // The transaction open in this async context, if any: a statement on `db` awaited inside it would
  // queue behind it forever (one session).
  const openTx = new AsyncLocalStorage<{ open: boolean }>();
  const outsideTx = (what: string): void => {
    if (openTx.getStore()?.open)
      throw new Error(
        `${what} inside a transaction on the embedded database would wait for it forever: use the transaction's q`,
      );
  };
  const pool = wrap(db);
  return {
    kind: 'pglite',
    async query(sql, params) {
      outsideTx('db.query');
      return pool.query(sql, params);
    },
    async tx(fn) {
      outsideTx('db.tx');
      const hooks: (() => Promise<void>)[] = [];
      const state = { open: true };
      const result = await openTx.run(state, () =>
        db
          .transaction((tx) => fn({ ...wrap(tx), afterCommit: (hook) => hooks.push(hook) }))
          .finally(() => (state.open = false)),
      );
      await runHooks(hooks);
      return result;
    },
    // One process owns an embedded database: there is no other replica to exclude.
    exclusive: async (_key, fn) => ({ ran: true, value: await fn() }),
    close: () => db.close(),
  };
}

/** The database of a configuration: `DATABASE_URL`, else PGlite in `DATA_DIR/postgres`. */
export async function connectDb(config: {
  DATABASE_URL?: string | undefined;
  DATABASE_CONNECT_TIMEOUT_MS?: number;
  DATABASE_QUERY_TIMEOUT_MS?: number;
  DATA_DIR: string;
}): Promise<Db> {
  return config.DATABASE_URL
    ? connectPg(config.DATABASE_URL, undefined, {
        connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
        queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
      })
    : connectPglite(join(config.DATA_DIR, 'postgres'));
}

/** One round trip: whether the database answers (readiness). */
export async function ping(q: Queryable): Promise<void> {
  await q.query('SELECT 1');
}
