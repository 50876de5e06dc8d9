import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'ssh2';
import { spawnChild, type Child } from './children.js';
import { execWithInput } from './exec-input.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export const SSHD_PATH = '/usr/sbin/sshd';

/** Every throw-away account starts with this, so the server's AllowUsers admits only test accounts. */
const USER_PREFIX = 'pst';

/**
 * Why the SSH tests cannot run here, or undefined when they can: they create local users and run
 * their own sshd, which needs root.
 */
export function sshdUnavailable(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'workstation tests need root (they run sshd and create local users); skipped';
  }
  return undefined;
}

/** A fingerprint as OpenSSH prints it: SHA256:<base64 of the key blob, unpadded>. */
export const fingerprintOf = (keyBlob: Buffer): string =>
  `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;

async function sh(file: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) return (await run(file, args)).stdout;
  const r = await execWithInput(file, args, { input });
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${r.stderr || `exit ${r.code}`}`);
  return r.stdout;
}

export interface TestUser {
  username: string;
  password: string;
}

export interface Sshd {
  host: string;
  port: number;
  /** The current host key's fingerprint (SHA256:…). */
  fingerprint(): string;
  /** A local account that may log in with a password; removed by stop(). */
  createUser(options?: { password?: string; sudo?: boolean }): Promise<TestUser>;
  /** Sets an account's password as root (an out-of-band change). */
  setPassword(username: string, password: string): Promise<void>;
  /** Runs a command as root on the machine (e.g. chage, usermod for locked-account cases). */
  root(file: string, args: string[]): Promise<string>;
  /** Restarts sshd on the same port; with newHostKey, with a freshly generated host key. */
  restart(options?: { newHostKey?: boolean }): Promise<void>;
  /** Stops sshd, removes the users, sudoers drop-ins and the temp dir. */
  stop(): Promise<void>;
  /** The server's log so far (sshd -e). */
  logs(): string;
}

const randomPassword = (): string => `Pw-${randomBytes(12).toString('base64url')}`;

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts Debian's OpenSSH sshd in the foreground on a free loopback port with its own config and
 * ed25519 host key (in a temp dir), PAM on and password logins only (`config` lines come first and
 * so override these, e.g. a second factor). Needs root: see sshdUnavailable().
 */
export async function startSshd(options: { config?: string[] } = {}): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'test-sshd-'));
  const port = await freePort();
  const keyPath = join(dir, 'ssh_host_ed25519_key');
  const configPath = join(dir, 'sshd_config');
  const users = new Set<string>();
  const sudoers = new Set<string>();
  let log = '';
  let child: Child | undefined;

  const newKey = async () => {
    rmSync(keyPath, { force: true });
    rmSync(`${keyPath}.pub`, { force: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test-sshd', '-f', keyPath]);
  };
  const fingerprint = (): string => {
    const pub = readFileSync(`${keyPath}.pub`, 'utf8').trim().split(/\s+/)[1] ?? '';
    return fingerprintOf(Buffer.from(pub, 'base64'));
  };

  // Privilege separation needs this directory (normally made by the service unit).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  await newKey();
  writeFileSync(
    configPath,
    [
      // sshd takes the first value of a keyword: the caller's lines win over the defaults below.
      ...(options.config ?? []),
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${keyPath}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication no',
      'PermitRootLogin no',
      `AllowUsers ${USER_PREFIX}*`,
      'MaxAuthTries 20',
      'MaxStartups 100:30:200',
      'LoginGraceTime 30',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await run(SSHD_PATH, ['-t', '-f', configPath]);

  const start = async () => {
    const c = spawnChild(SSHD_PATH, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [c.process.stdout, c.process.stderr]) {
      stream?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
    }
    child = c;
    let exited = false;
    void c.exited.then(() => (exited = true));
    await waitFor(
      () => {
        if (exited) throw new Error(`sshd exited: ${log.slice(-2000)}`);
        return portOpen(port);
      },
      { timeoutMs: 10_000, intervalMs: 50, message: `sshd listening on 127.0.0.1:${port}` },
    );
  };
  const stopServer = async () => {
    if (child) await child.stop(5_000);
    child = undefined;
  };

  await start();

  const setPassword = async (username: string, password: string) => {
    await sh('chpasswd', [], `${username}:${password}\n`);
  };

  return {
    host: '127.0.0.1',
    port,
    fingerprint,
    logs: () => log,
    root: (file, args) => sh(file, args),
    setPassword,
    async createUser(options = {}) {
      const username = `${USER_PREFIX}${randomBytes(4).toString('hex')}`;
      const password = options.password ?? randomPassword();
      await sh('useradd', ['-m', '-s', '/bin/bash', username]);
      users.add(username);
      await setPassword(username, password);
      if (options.sudo) {
        const file = `/etc/sudoers.d/${username}`;
        writeFileSync(file, `${username} ALL=(root) /usr/sbin/chpasswd\n`, { mode: 0o440 });
        sudoers.add(file);
        await sh('visudo', ['-c', '-f', file]);
      }
      return { username, password };
    },
    async restart(options = {}) {
      await stopServer();
      if (options.newHostKey) await newKey();
      await start();
    },
    async stop() {
      await stopServer();
      for (const file of sudoers) rmSync(file, { force: true });
      sudoers.clear();
      for (const username of users) {
        // A session that is still closing may hold the account for a moment.
        await waitFor(
          async () => {
            await sh('userdel', ['-r', '-f', username]).catch(async (error: unknown) => {
              const passwd = await sh('getent', ['passwd', username]).catch(() => '');
              if (passwd !== '') throw error;
            });
            return true;
          },
          { timeoutMs: 10_000, intervalMs: 200, message: `userdel ${username}` },
        );
      }
      users.clear();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh, independent password login (ssh2, any host key): the tests' own check that a password
 * works, apart from the adapter under test. Resolves true on login, false when refused.
 */
export function canLogin(host: string, port: number, username: string, password: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on('ready', () => {
      client.end();
      resolve(true);
    });
    client.on('error', (err: Error & { level?: string }) => {
      if (err.level === 'client-authentication') resolve(false);
      else reject(err);
    });
    client.connect({ host, port, username, password, readyTimeout: 10_000, tryKeyboard: false });
  });
}
