/**
 * A private MariaDB server for one test file, with TLS from a throw-away CA.
 *
 * The machine's shared server (127.0.0.1:3306) runs without SSL, so the `mysql` driver's TLS modes
 * cannot succeed against it. startMariadbServer() runs its own `mariadbd` (from the installed
 * mariadb-server package): a fresh datadir (mariadb-install-db) and socket in a temp folder, a free
 * loopback port, `--ssl-cert/--ssl-key/--ssl-ca` from createPki(), and never any option file
 * (`--no-defaults`, so /etc/mysql/my.cnf with the shared server's datadir and socket is not read).
 * mariadbd refuses to run as root: then it runs with `--user=mysql` (it drops to that user itself).
 * The admin is root over the private socket, without a password; stop() kills the server and
 * removes the folder and the CA.
 */
import { execFile } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { spawnChild, type Child } from './children.js';
import { mysqlCanLogin, randomName, strongPassword } from './databases.js';
import { freePort } from './ports.js';
import { createPki, type Pki } from './tls.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export const MARIADBD = process.env.TEST_MARIADBD ?? '/usr/sbin/mariadbd';
export const MARIADB_INSTALL_DB = process.env.TEST_MARIADB_INSTALL_DB ?? '/usr/bin/mariadb-install-db';

/** Why a private MariaDB cannot be started here, or undefined when it can. */
export function mariadbUnavailable(): string | undefined {
  const missing = [MARIADBD, MARIADB_INSTALL_DB, '/usr/bin/openssl'].filter((f) => !existsSync(f));
  if (missing.length > 0) {
    return `a private MariaDB needs ${missing.join(', ')} (Debian packages mariadb-server, openssl); skipped`;
  }
  if (process.getuid?.() === 0 && osUser('mysql') === undefined) {
    return 'running as root, but there is no `mysql` OS user for mariadbd to run as; skipped';
  }
  return undefined;
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

export interface MariadbUser {
  name: string;
  host: string;
  password: string;
  drop(): Promise<void>;
}

export interface MariadbServer {
  host: '127.0.0.1';
  port: number;
  /** The throw-away CA: `caPem` signed the server's certificate; `pki` issues more. */
  pki: Pki;
  caPem: string;
  /** Runs one statement as root (over the private socket). */
  admin<T = unknown>(sql: string, values?: unknown[]): Promise<T>;
  /** A user 'name'@'%' with a random name; `require` e.g. 'SSL' (REQUIRE SSL), `grant` e.g. 'CREATE USER ON *.*'. */
  createUser(options?: { password?: string; grant?: string; require?: string }): Promise<MariadbUser>;
  /** True when `username` / `password` logs in over TCP (TLS without checking the certificate, unless `tls: false`). */
  canLogin(username: string, password: string, options?: { tls?: boolean }): Promise<boolean>;
  /** The server's TLS certificate and key from now on (copied in place, then FLUSH SSL). */
  useCertificate(files: { cert: string; key: string }): Promise<void>;
  /** The default certificate back: 127.0.0.1 and localhost. */
  useDefaultCertificate(): Promise<void>;
  /** The server's error log so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts a private MariaDB with TLS on 127.0.0.1 and a free port. */
export async function startMariadbServer(): Promise<MariadbServer> {
  const unavailable = mariadbUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? osUser('mysql') : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'test-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const errorLog = join(dir, 'error.log');
  const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') };
  const pki = createPki();
  const defaultCertificate = pki.issue('mariadb', 'server');
  const own = (path: string) => {
    if (owner) chownSync(path, owner.uid, owner.gid);
  };
  const place = (from: { cert: string; key: string }) => {
    copyFileSync(from.cert, files.cert);
    copyFileSync(from.key, files.key);
    own(files.cert);
    own(files.key);
  };
  own(dir);
  copyFileSync(pki.caCert, files.ca);
  own(files.ca);
  place(defaultCertificate);
  const user = owner ? ['--user=mysql'] : [];
  // Small and fast: throw-away data.
  const tuning = [
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=16M',
    '--innodb-flush-log-at-trx-commit=0',
    '--skip-innodb-doublewrite',
  ];
  const port = await freePort();
  const readLog = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');
  let child: Child | undefined;
  const cleanUp = async () => {
    await child?.stop(5_000).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  };

  try {
    await run(
      MARIADB_INSTALL_DB,
      [
        '--no-defaults',
        ...user,
        `--datadir=${data}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        ...tuning,
      ],
      { cwd: dir, timeout: 60_000 },
    );
    child = spawnChild(
      MARIADBD,
      [
        '--no-defaults',
        ...user,
        `--datadir=${data}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        `--log-error=${errorLog}`,
        `--tmpdir=${dir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        '--max-connections=50',
        `--ssl-cert=${files.cert}`,
        `--ssl-key=${files.key}`,
        `--ssl-ca=${files.ca}`,
        ...tuning,
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    const exited = child.exited.then((code) => {
      throw new Error(`mariadbd exited (${code}) while starting`);
    });
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      waitFor(() => readLog().includes('ready for connections'), {
        timeoutMs: 60_000,
        message: 'mariadbd ready for connections',
      }),
    ]);
  } catch (error) {
    const log = readLog();
    await cleanUp();
    throw new Error(`could not start a private MariaDB: ${String(error)}\n${log.slice(-2000)}`);
  }

  const admin = async <T = unknown>(sql: string, values?: unknown[]): Promise<T> => {
    const conn = await mysql.createConnection({ socketPath: socket, user: 'root', password: '' });
    try {
      const [rows] = await conn.query(sql, values);
      return rows as T;
    } finally {
      await conn.end();
    }
  };
  const [ssl] = await admin<{ Value: string }[]>("SHOW GLOBAL VARIABLES LIKE 'have_ssl'");
  if (ssl?.Value !== 'YES') {
    const log = readLog();
    await cleanUp();
    throw new Error(`the private MariaDB started without TLS (have_ssl=${ssl?.Value})\n${log.slice(-2000)}`);
  }

  let stopped = false;
  const useCertificate = async (from: { cert: string; key: string }) => {
    place(from);
    await admin('FLUSH SSL');
  };
  return {
    host: '127.0.0.1',
    port,
    pki,
    caPem: readFileSync(pki.caCert, 'utf8'),
    admin,
    async createUser({ password = strongPassword(), grant, require } = {}) {
      const name = randomName('svc');
      await admin(`CREATE USER ?@? IDENTIFIED BY ?${require ? ` REQUIRE ${require}` : ''}`, [
        name,
        '%',
        password,
      ]);
      if (grant) await admin(`GRANT ${grant} TO ?@?`, [name, '%']);
      return {
        name,
        host: '%',
        password,
        drop: async () => {
          if (!stopped) await admin('DROP USER IF EXISTS ?@?', [name, '%']);
        },
      };
    },
    canLogin: (username, password, { tls = true } = {}) =>
      mysqlCanLogin(username, password, { host: '127.0.0.1', port }, tls),
    useCertificate,
    useDefaultCertificate: () => useCertificate(defaultCertificate),
    log: readLog,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Throw-away data: no clean shutdown needed.
      child?.process.kill('SIGKILL');
      await cleanUp();
    },
  };
}
