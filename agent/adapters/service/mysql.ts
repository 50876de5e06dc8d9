import { isIP } from 'node:net';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import mysql from 'mysql2';
import type { Connection, ConnectionOptions, SslOptions } from 'mysql2';
import type { MysqlConnection, ServiceTls } from '../../../shared/targets/service.js';
import type { AdapterContext, Attempt } from '../types.js';
import {
  ABORTED,
  adminLoginFailure,
  fail,
  isNetworkError,
  OK,
  scrub,
  textOf,
  uncertain,
  withAbort,
  type Failure,
} from '../common.js';

type Ctx = AdapterContext<MysqlConnection>;

/** Server error numbers (MySQL and MariaDB). */
const ER = {
  ACCESS_DENIED: 1045,
  CON_COUNT: 1040,
  TOO_MANY_USER_CONNECTIONS: 1203,
  USER_LIMIT_REACHED: 1226,
  MUST_CHANGE_PASSWORD: 1820,
  MUST_CHANGE_PASSWORD_LOGIN: 1862,
  /** MySQL's locked account. */
  ACCOUNT_HAS_BEEN_LOCKED: 3118,
  /** MariaDB's locked account ("Access denied, this account is locked"). */
  MARIADB_ACCOUNT_LOCKED: 4151,
  /** MySQL 8 with password_require_current: ALTER USER needs REPLACE '<current>'. */
  MISSING_CURRENT_PASSWORD: 3892,
} as const;

function sslOf(tls: ServiceTls, host: string): SslOptions | undefined {
  switch (tls.mode) {
    case 'disable':
      return undefined;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-full':
      // For an IP host, mysql2 would check the name 'localhost': guardIpIdentity checks the IP instead.
      return {
        rejectUnauthorized: true,
        verifyIdentity: isIP(host) === 0,
        ...(tls.ca ? { ca: tls.ca } : {}),
      };
  }
}

/** A numeric error of the server (an ERR packet), as opposed to a transport failure. */
function serverErrno(err: unknown): number | undefined {
  const e = err as { errno?: unknown; sqlState?: unknown } | null;
  return typeof e?.errno === 'number' && typeof e.sqlState === 'string' ? e.errno : undefined;
}

const isExpired = (errno: number | undefined): boolean =>
  errno === ER.MUST_CHANGE_PASSWORD || errno === ER.MUST_CHANGE_PASSWORD_LOGIN;

/** Maps a failed login; nothing was changed on the server, so every failure is definite. */
function loginFailure(err: unknown, secrets: readonly string[]): Failure {
  const errno = serverErrno(err);
  const message = scrub(textOf(err), secrets);
  switch (errno) {
    case ER.ACCESS_DENIED:
      return fail('mismatch', message);
    case ER.ACCOUNT_HAS_BEEN_LOCKED:
    case ER.MARIADB_ACCOUNT_LOCKED:
      return fail('locked_or_disabled', message);
    case ER.MUST_CHANGE_PASSWORD:
    case ER.MUST_CHANGE_PASSWORD_LOGIN:
      return fail('locked_or_disabled', `password expired: ${message}`);
    case ER.CON_COUNT:
    case ER.TOO_MANY_USER_CONNECTIONS:
    case ER.USER_LIMIT_REACHED:
      return fail('unreachable', message);
    case undefined:
      return isNetworkError(err) ? fail('unreachable', message) : fail('error', message);
    default:
      return fail('error', `${errno}: ${message}`);
  }
}

export interface Session {
  query(sql: string, values?: unknown[]): Promise<unknown>;
}

function connectOnce(conn: Connection): Promise<void> {
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
}

export async function withSession(
  ctx: Ctx,
  user: string,
  password: string,
  secrets: readonly string[],
  work: (s: Session) => Promise<Attempt>,
  onLoginFailure: (f: Failure) => Failure = (f) => f,
): Promise<Attempt> {
  if (ctx.signal.aborted) return ABORTED;
  const c = ctx.connection;
  const ssl = sslOf(c.tls, c.host);
  const options: ConnectionOptions = {
    host: c.host,
    port: c.port,
    user,
    password,
    connectTimeout: c.connectTimeoutMs,
    charset: 'utf8mb4',
    multipleStatements: false,
    ...(c.database !== undefined ? { database: c.database } : {}),
    ...(ssl ? { ssl } : {}),
  };
  const conn = mysql.createConnection(options);
  const ipIdentityChecked = guardIpIdentity(c, conn);
  // A connection that dies later emits 'error'; the pending call reports it, this only keeps the process alive.
  conn.on('error', () => undefined);
  const session: Session = {
    query: (sql, values) => conn.promise().query({ sql, values, timeout: c.connectTimeoutMs }),
  };
  let connected = false;
  try {
    return await withAbort(
      ctx.signal,
      () => conn.destroy(),
      async () => {
        try {
          await connectOnce(conn);
          connected = true;
          // Fails closed should mysql2 ever stop calling startTLS the way guardIpIdentity expects.
          if (ipIdentityChecked && !ipIdentityChecked()) {
            return fail('error', `TLS: the server's certificate was not checked against ${c.host}`);
          }
        } catch (err) {
          if (ctx.signal.aborted) return ABORTED;
          return onLoginFailure(loginFailure(err, secrets));
        }
        return work(session);
      },
    );
  } finally {
    await close(conn, connected, c.connectTimeoutMs);
  }
}

/**
 * mysql2 checks a certificate's name only for host names: with an IP address it checks the name
 * 'localhost' (Node's default), so it refuses a certificate for the IP and accepts one that names
 * localhost only. For verify-full on an IP, mysql2's name check is off (sslOf) and the certificate
 * is checked against the IP here: in the callback of mysql2's startTLS, once the TLS handshake is
 * done and before mysql2 sends the credentials, so an impostor gets neither the password's proof
 * nor a chance to answer for it (an error there ends the handshake, and the login is `error`).
 * Returns whether the check ran and passed, or undefined when there is nothing to check.
 */
function guardIpIdentity(c: MysqlConnection, conn: Connection): (() => boolean) | undefined {
  if (c.tls.mode !== 'verify-full' || isIP(c.host) === 0) return undefined;
  type OnSecure = (err?: Error) => void;
  const internals = conn as unknown as {
    startTLS?: (onSecure: OnSecure) => void;
    stream?: Partial<TLSSocket>;
  };
  const startTLS = internals.startTLS;
  if (typeof startTLS !== 'function') return () => false;
  let passed = false;
  internals.startTLS = (onSecure: OnSecure) =>
    startTLS.call(conn, (err?: Error) => {
      if (err) return onSecure(err);
      const problem = ipIdentityProblem(c.host, internals.stream);
      passed = problem === undefined;
      onSecure(problem);
    });
  return () => passed;
}

function ipIdentityProblem(host: string, stream: Partial<TLSSocket> | undefined): Error | undefined {
  const cert = stream?.getPeerCertificate?.();
  if (!cert || Object.keys(cert).length === 0) return new Error('TLS: the server presented no certificate');
  const problem = checkServerIdentity(host, cert);
  return problem ? new Error(`TLS: ${problem.message}`) : undefined;
}

/** A polite QUIT when the session is up (bounded in time), else just the socket closed. */
async function close(conn: Connection, connected: boolean, timeoutMs: number): Promise<void> {
  if (!connected) {
    conn.destroy();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.min(timeoutMs, 2_000));
  });
  await Promise.race([
    conn
      .promise()
      .end()
      .catch(() => undefined),
    late,
  ]);
  clearTimeout(timer);
  conn.destroy();
}

/** Connects as the account and runs SELECT 1. */
export function verifyMysql(ctx: Ctx, password: string): Promise<Attempt> {
  const secrets = [password];
  return withSession(ctx, ctx.username, password, secrets, async (s) => {
    try {
      await s.query('SELECT 1');
      return OK;
    } catch (err) {
      const errno = serverErrno(err);
      const message = scrub(textOf(err), secrets);
      // MariaDB lets an expired account in, in "sandbox" mode, and refuses every statement.
      if (isExpired(errno)) return fail('locked_or_disabled', `password expired: ${message}`);
      if (errno === undefined && isNetworkError(err)) return fail('unreachable', message);
      return fail('error', message);
    }
  });
}

/**
 * The statements below pass the password as a `?` value, escaped by mysql2 with backslashes. That
 * escaping is only right when the session does not run with NO_BACKSLASH_ESCAPES, so that mode is
 * dropped for the session first. Returns whether the server is MariaDB.
 */
async function prepareSession(s: Session): Promise<{ mariadb: boolean }> {
  const [rows] = (await s.query('SELECT @@SESSION.sql_mode AS mode, VERSION() AS version')) as [
    { mode: string; version: string }[],
  ];
  const row = rows[0] ?? { mode: '', version: '' };
  const modes = row.mode.split(',').filter((m) => m !== '');
  if (modes.includes('NO_BACKSLASH_ESCAPES')) {
    await s.query('SET SESSION sql_mode = ?', [modes.filter((m) => m !== 'NO_BACKSLASH_ESCAPES').join(',')]);
  }
  return { mariadb: /mariadb/i.test(row.version) };
}

/**
 * self: MariaDB only lets an account without CREATE USER change its own password with
 * SET PASSWORD = PASSWORD(?); MySQL 8 removed PASSWORD() and uses ALTER USER CURRENT_USER().
 * privileged: ALTER USER 'user'@'accountHost' IDENTIFIED BY ?, as the admin account.
 */
export function changeMysql(ctx: Ctx, current: string, next: string): Promise<Attempt> {
  const c = ctx.connection;
  const viaAdmin = c.changeVia === 'privileged';
  if (viaAdmin && !ctx.privileged) {
    return Promise.resolve(fail('change_failed', 'no privileged credential was handed out for this change'));
  }
  const login = viaAdmin ? ctx.privileged! : { username: ctx.username, password: current };
  const secrets = [current, next, ...(ctx.privileged ? [ctx.privileged.password] : [])];
  const onLoginFailure = (f: Failure) => (viaAdmin ? adminLoginFailure(f, login.username) : f);
  return withSession(
    ctx,
    login.username,
    login.password,
    secrets,
    async (s) => {
      let mariadb: boolean;
      try {
        ({ mariadb } = await prepareSession(s));
      } catch (err) {
        // Nothing was sent that changes anything yet.
        const message = scrub(textOf(err), secrets);
        if (serverErrno(err) === undefined && isNetworkError(err)) return fail('unreachable', message);
        return fail('change_failed', `could not prepare the session: ${message}`);
      }
      try {
        if (viaAdmin) {
          await s.query('ALTER USER ?@? IDENTIFIED BY ?', [ctx.username, c.accountHost, next]);
        } else if (mariadb) {
          await s.query('SET PASSWORD = PASSWORD(?)', [next]);
        } else {
          try {
            await s.query('ALTER USER CURRENT_USER() IDENTIFIED BY ?', [next]);
          } catch (err) {
            if (serverErrno(err) !== ER.MISSING_CURRENT_PASSWORD) throw err;
            await s.query('ALTER USER CURRENT_USER() IDENTIFIED BY ? REPLACE ?', [next, current]);
          }
        }
        ctx.log.debug({ driver: 'mysql', via: c.changeVia, mariadb }, 'password changed');
        return OK;
      } catch (err) {
        const errno = serverErrno(err);
        const message = scrub(textOf(err), secrets);
        // An ERR packet: the server refused the statement (e.g. 1819 password policy), nothing changed.
        if (errno !== undefined)
          return fail('change_failed', `server refused the change (${errno}): ${message}`);
        return uncertain(`connection lost after the change was sent: ${message}`);
      }
    },
    onLoginFailure,
  );
}
