import type { Socket } from 'node:net';
import pg from 'pg';
import type { PostgresConnection, ServiceTls } from '../../../shared/targets/service.js';
import type { AdapterContext, Attempt } from '../types.js';
import {
  ABORTED,
  adminLoginFailure,
  codeOf,
  fail,
  isNetworkError,
  OK,
  scrub,
  textOf,
  uncertain,
  withAbort,
  type Failure,
} from '../common.js';

type Ctx = AdapterContext<PostgresConnection>;

function sslOf(tls: ServiceTls): pg.ClientConfig['ssl'] {
  switch (tls.mode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-full':
      // pg sends the host name as SNI and Node checks it (or the IP) against the certificate.
      return { rejectUnauthorized: true, ...(tls.ca ? { ca: tls.ca } : {}) };
  }
}

/** An ErrorResponse of the server (carries a SQLSTATE), as opposed to a transport failure. */
const isServerError = (err: unknown): err is pg.DatabaseError => err instanceof pg.DatabaseError;

/** SQLSTATEs that mean "try again later": the server was not asked about the password. */
const TRANSIENT = new Set(['53300', '57P03', '08001', '08004', '08006', '57P01']);

/** Maps a failed login; nothing was changed on the server, so every failure is definite. */
function loginFailure(err: unknown, secrets: readonly string[]): Failure {
  const code = codeOf(err);
  const message = scrub(textOf(err), secrets);
  if (code === '28P01') return fail('mismatch', message);
  if (code === '28000' && /not permitted to log in/i.test(message))
    return fail('locked_or_disabled', message);
  if (isServerError(err) && code !== undefined) {
    if (TRANSIENT.has(code)) return fail('unreachable', message);
    return fail('error', `${code}: ${message}`);
  }
  if (isNetworkError(err)) return fail('unreachable', message);
  return fail('error', message);
}

export interface Session {
  client: pg.Client;
}

/**
 * Connects as `user`, runs `work`, and always closes. A failure to connect (refused, wrong
 * password, TLS) is mapped by loginFailure; `work` maps its own statement errors.
 */
export async function withSession(
  ctx: Ctx,
  user: string,
  password: string,
  secrets: readonly string[],
  work: (s: Session) => Promise<Attempt>,
  onLoginFailure: (f: Failure) => Failure | Promise<Failure> = (f) => f,
): Promise<Attempt> {
  if (ctx.signal.aborted) return ABORTED;
  const c = ctx.connection;
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    database: c.database,
    user,
    password,
    ssl: sslOf(c.tls),
    connectionTimeoutMillis: c.connectTimeoutMs,
    query_timeout: c.connectTimeoutMs,
    application_name: 'password-sync-agent',
  });
  // A connection that dies later emits 'error'; the pending call reports it, this only keeps the process alive.
  client.on('error', () => undefined);
  const destroy = () => {
    const stream = (client as unknown as { connection?: { stream?: Socket } }).connection?.stream;
    stream?.destroy();
  };
  try {
    return await withAbort(ctx.signal, destroy, async () => {
      try {
        await client.connect();
      } catch (err) {
        if (ctx.signal.aborted) return ABORTED;
        return onLoginFailure(loginFailure(err, secrets));
      }
      return work({ client });
    });
  } finally {
    // A polite Terminate, bounded in time; the socket is closed either way.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.min(c.connectTimeoutMs, 2_000));
    });
    await Promise.race([client.end().catch(() => undefined), late]);
    clearTimeout(timer);
    destroy();
  }
}

/** Connects as the account and runs SELECT 1. */
export function verifyPostgres(ctx: Ctx, password: string): Promise<Attempt> {
  const secrets = [password];
  return withSession(
    ctx,
    ctx.username,
    password,
    secrets,
    async ({ client }) => {
      try {
        await client.query('SELECT 1');
        return OK;
      } catch (err) {
        const message = scrub(textOf(err), secrets);
        return isNetworkError(err) ? fail('unreachable', message) : fail('error', message);
      }
    },
    (f) => (f.reason === 'mismatch' ? refineMismatch(ctx, f) : f),
  );
}

/**
 * PostgreSQL answers an expired password (VALID UNTIL in the past) exactly like a wrong one. When a
 * privileged account is at hand (change and reconcile jobs), ask the catalog which one it is.
 */
async function refineMismatch(ctx: Ctx, f: Failure): Promise<Failure> {
  const admin = ctx.privileged;
  if (!admin || ctx.connection.changeVia !== 'privileged' || ctx.signal.aborted) return f;
  let refined: Failure = f;
  await withSession(ctx, admin.username, admin.password, [admin.password], async ({ client }) => {
    try {
      const res = await client.query<{ rolcanlogin: boolean; expired: boolean }>(
        'SELECT rolcanlogin, coalesce(rolvaliduntil < now(), false) AS expired FROM pg_roles WHERE rolname = $1',
        [ctx.username],
      );
      const row = res.rows[0];
      if (row?.expired)
        refined = fail('locked_or_disabled', `password of role "${ctx.username}" has expired (VALID UNTIL)`);
      else if (row && !row.rolcanlogin)
        refined = fail('locked_or_disabled', `role "${ctx.username}" is not permitted to log in`);
    } catch {
      // Keep the plain mismatch: the refinement is best effort.
    }
    return OK;
  });
  return refined;
}

/**
 * ALTER ROLE … PASSWORD, as the account itself or as the privileged account. DDL takes no bind
 * parameters: the role name and the password go through pg's escapeIdentifier / escapeLiteral.
 */
export function changePostgres(ctx: Ctx, current: string, next: string): Promise<Attempt> {
  const c = ctx.connection;
  const viaAdmin = c.changeVia === 'privileged';
  if (viaAdmin && !ctx.privileged) {
    return Promise.resolve(fail('change_failed', 'no privileged credential was handed out for this change'));
  }
  const login = viaAdmin ? ctx.privileged! : { username: ctx.username, password: current };
  const secrets = [current, next, ...(ctx.privileged ? [ctx.privileged.password] : [])];
  const onLoginFailure = (f: Failure): Failure => (viaAdmin ? adminLoginFailure(f, login.username) : f);
  return withSession(
    ctx,
    login.username,
    login.password,
    secrets,
    async ({ client }) => {
      const sql = `ALTER ROLE ${client.escapeIdentifier(ctx.username)} PASSWORD ${client.escapeLiteral(next)}`;
      try {
        await client.query(sql);
        ctx.log.debug({ driver: 'postgres', via: c.changeVia }, 'password changed');
        return OK;
      } catch (err) {
        const code = codeOf(err);
        const message = scrub(textOf(err), secrets);
        // The server answered with an error: the statement was refused and rolled back.
        if (isServerError(err))
          return fail('change_failed', `server refused the change (${code}): ${message}`);
        return uncertain(`connection lost after the change was sent: ${message}`);
      }
    },
    onLoginFailure,
  );
}
