/**
 * Throw-away database servers and accounts for the `service` adapter's tests.
 *
 * PostgreSQL: the machine's server trusts every TCP login from 127.0.0.1 (pg_hba `trust`), so a
 * wrong password would still log in there. Password checks need a server that asks for them:
 * startPostgresCluster() runs a private cluster (initdb + pg_ctl from the installed server's
 * binaries) on a free loopback port with scram-sha-256 for everyone, optionally with
 * `passwordcheck` preloaded. Run as root, the cluster runs as the `postgres` OS user.
 *
 * MariaDB / MySQL: the machine's server at TEST_MYSQL_ADMIN_URL (default
 * mysql://root@127.0.0.1:3306, root without password) checks passwords; users get random names.
 * It runs without SSL: TLS is tested on a private MariaDB (mariadb.ts, startMariadbServer).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { pino } from 'pino';
import { serviceAdapter } from '../../agent/adapters/service/index.js';
import type { AdapterContext, Attempt } from '../../agent/adapters/types.js';
import {
  ServiceConnectionSchema,
  serviceSpec,
  type ServiceConnection,
} from '../../shared/targets/service.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

export const randomName = (prefix: string): string => `${prefix}_${randomBytes(5).toString('hex')}`;

/** A password with letters, digits and punctuation (passes passwordcheck / simple_password_check). */
export const strongPassword = (): string => `Pw-${randomBytes(12).toString('base64url')}-9x!`;

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a private cluster
// ---------------------------------------------------------------------------------------------

export interface PostgresRole {
  name: string;
  password: string;
  drop(): Promise<void>;
}

export interface PostgresCluster {
  host: string;
  port: number;
  /** The cluster's superuser (`postgres`), with a password. */
  superuser: { username: string; password: string };
  /** PEM of the CA that signed the server's certificate, when started with `tls`. */
  caPem?: string;
  /** Runs one statement as the superuser. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]>;
  /** A role with a random name; `options` is SQL after WITH (LOGIN PASSWORD … is added unless NOLOGIN). */
  createRole(options?: { password?: string; with?: string; prefix?: string }): Promise<PostgresRole>;
  /** True when `username` / `password` logs in (and SELECT 1 runs). */
  canLogin(username: string, password: string): Promise<boolean>;
  stop(): Promise<void>;
}

/** The newest installed server's bin folder (TEST_PG_BINDIR overrides), or undefined. */
export function postgresBinDir(): string | undefined {
  if (process.env.TEST_PG_BINDIR) return process.env.TEST_PG_BINDIR;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** uid and gid of an OS user, from /etc/passwd. */
function osUser(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (line === undefined) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A throw-away CA and a server certificate it signed for 127.0.0.1 and localhost (openssl), in `dir`.
 * Returns the CA's PEM.
 */
async function makeCertificates(
  dir: string,
  owner: { uid: number; gid: number } | undefined,
): Promise<string> {
  const ssl = (args: string[]) => run('openssl', args, { cwd: dir, timeout: 60_000 });
  await ssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca'].concat([
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ]),
  );
  await ssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  ]);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await ssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-days',
      '2',
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    ]),
  );
  chmodSync(join(dir, 'server.key'), 0o600);
  if (owner) for (const f of ['server.key', 'server.crt']) chownSync(join(dir, f), owner.uid, owner.gid);
  return readFileSync(join(dir, 'ca.crt'), 'utf8');
}

/**
 * Starts a private PostgreSQL cluster on 127.0.0.1 and a free port, scram-sha-256 everywhere.
 * `preload` names shared_preload_libraries (e.g. ['passwordcheck']); `tls` turns ssl on with a
 * certificate for 127.0.0.1 / localhost signed by a throw-away CA (`caPem`).
 */
export async function startPostgresCluster(
  options: { preload?: string[]; tls?: boolean } = {},
): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('no PostgreSQL server binaries (initdb) under /usr/lib/postgresql');
  // initdb refuses to run as root: the cluster runs as the `postgres` OS user then.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? osUser('postgres') : undefined;
  if (asRoot && owner === undefined) throw new Error('running as root, but there is no `postgres` OS user');
  const dir = mkdtempSync(join(tmpdir(), 'test-pg-cluster-'));
  const data = join(dir, 'data');
  const password = `su-${randomBytes(12).toString('hex')}`;
  writeFileSync(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(join(dir, 'pwfile'), owner.uid, owner.gid);
  }
  const as = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const port = await freePort();
  const exec = (file: string, args: string[]) =>
    run(join(bin, file), args, { ...as, cwd: dir, env: { ...process.env, LC_ALL: 'C' }, timeout: 60_000 });

  let caPem: string | undefined;
  try {
    if (options.tls) caPem = await makeCertificates(dir, owner);
    await exec('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=scram-sha-256',
      `--pwfile=${join(dir, 'pwfile')}`,
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    const settings = [
      `-p ${port}`,
      `-c listen_addresses=127.0.0.1`,
      `-c unix_socket_directories=${dir}`,
      '-c fsync=off',
      '-c max_connections=50',
      ...(options.preload?.length ? [`-c shared_preload_libraries=${options.preload.join(',')}`] : []),
      ...(options.tls
        ? [
            '-c ssl=on',
            `-c ssl_cert_file=${join(dir, 'server.crt')}`,
            `-c ssl_key_file=${join(dir, 'server.key')}`,
          ]
        : []),
    ];
    await exec('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      settings.join(' '),
      'start',
    ]);
  } catch (error) {
    const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start a private PostgreSQL cluster: ${String(error)}\n${log.slice(-2000)}`);
  }

  const host = '127.0.0.1';
  const superuser = { username: 'postgres', password };
  const connect = async (user: string, pw: string) => {
    const client = new pg.Client({ host, port, user, password: pw, database: 'postgres', ssl: false });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  const query = async <R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]> => {
    const client = await connect(superuser.username, superuser.password);
    try {
      return (await client.query<R>(sql, values)).rows;
    } finally {
      await client.end();
    }
  };
  let stopped = false;
  return {
    host,
    port,
    superuser,
    ...(caPem === undefined ? {} : { caPem }),
    query,
    async createRole({ password: pw = strongPassword(), with: extra = 'LOGIN', prefix = 'svc' } = {}) {
      const name = randomName(prefix);
      const ident = pg.escapeIdentifier(name);
      await query(`CREATE ROLE ${ident} WITH ${extra} PASSWORD ${pg.escapeLiteral(pw)}`);
      return {
        name,
        password: pw,
        drop: async () => {
          if (!stopped) await query(`DROP ROLE IF EXISTS ${ident}`);
        },
      };
    },
    async canLogin(username, pw) {
      try {
        const client = await connect(username, pw);
        try {
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end();
        }
      } catch {
        return false;
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// MariaDB / MySQL: users on the machine's server
// ---------------------------------------------------------------------------------------------

export interface MysqlServer {
  host: string;
  port: number;
}

export function mysqlServer(): MysqlServer & { user: string; password: string } {
  const url = new URL(process.env.TEST_MYSQL_ADMIN_URL ?? 'mysql://root@127.0.0.1:3306');
  return {
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
  };
}

/** Runs statements as the server's admin (root). */
export async function mysqlAdmin<T = unknown>(sql: string, values?: unknown[]): Promise<T> {
  const { host, port, user, password } = mysqlServer();
  const conn = await mysql.createConnection({ host, port, user, password, multipleStatements: false });
  try {
    const [rows] = await conn.query(sql, values);
    return rows as T;
  } finally {
    await conn.end();
  }
}

export interface MysqlUser {
  name: string;
  host: string;
  password: string;
  drop(): Promise<void>;
}

/** A user 'name'@'%' with a random name and `password`; `grant` e.g. 'CREATE USER ON *.*'. */
export async function createMysqlUser(
  options: { password?: string; grant?: string; prefix?: string } = {},
): Promise<MysqlUser> {
  const { password = strongPassword(), grant, prefix = 'svc' } = options;
  const name = randomName(prefix);
  await mysqlAdmin('CREATE USER ?@? IDENTIFIED BY ?', [name, '%', password]);
  if (grant) await mysqlAdmin(`GRANT ${grant} TO ?@?`, [name, '%']);
  return { name, host: '%', password, drop: () => mysqlAdmin('DROP USER IF EXISTS ?@?', [name, '%']) };
}

/**
 * True when `username` / `password` logs in (and SELECT 1 runs): on the machine's server, or on
 * `server` (a private one), over TLS when `tls` (the certificate not checked: that is not the point).
 */
export async function mysqlCanLogin(
  username: string,
  password: string,
  { host, port }: MysqlServer = mysqlServer(),
  tls = false,
): Promise<boolean> {
  try {
    const conn = await mysql.createConnection({
      host,
      port,
      user: username,
      password,
      connectTimeout: 5_000,
      ...(tls ? { ssl: { rejectUnauthorized: false } } : {}),
    });
    try {
      await conn.query('SELECT 1');
      return true;
    } finally {
      await conn.end();
    }
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Calling the `service` adapter directly
// ---------------------------------------------------------------------------------------------

type Account = { username: string; password: string };

/**
 * The `service` adapter called directly, noting every password it was given in `secrets` and every
 * failure message it returned in `messages`, so a test can prove no message carries a password.
 */
export function recordingServiceAdapter(secrets: Set<string>, messages: string[]) {
  const seen = (attempt: Attempt): Attempt => {
    if (!attempt.ok && attempt.message) messages.push(attempt.message);
    return attempt;
  };
  const options = (privileged?: Account) => (privileged ? { privileged } : {});
  return {
    verify(conn: Record<string, unknown>, username: string, password: string, privileged?: Account) {
      secrets.add(password);
      return serviceAdapter.verify(serviceContext(conn, username, options(privileged)), password).then(seen);
    },
    change(
      conn: Record<string, unknown>,
      username: string,
      current: string,
      next: string,
      privileged?: Account,
    ) {
      secrets.add(next);
      return serviceAdapter
        .change(serviceContext(conn, username, options(privileged)), current, next)
        .then(seen);
    },
  };
}

/** An adapter context for `connection` (parsed by the kind's schema, defaults applied). */
export function serviceContext(
  connection: Record<string, unknown>,
  username: string,
  options: { privileged?: { username: string; password: string }; signal?: AbortSignal } = {},
): AdapterContext<ServiceConnection> {
  const parsed = ServiceConnectionSchema.parse(connection);
  return {
    username,
    connection: parsed,
    host: serviceSpec.host(parsed),
    signal: options.signal ?? new AbortController().signal,
    log: pino({ level: 'silent' }),
    ...(options.privileged ? { privileged: options.privileged } : {}),
  };
}
