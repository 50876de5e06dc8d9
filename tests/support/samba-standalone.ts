/**
 * A standalone Samba server (`server role = standalone`) for one test file: what a Windows
 * workstation's local accounts look like over SMB. smbd on a free port of the IPv6 loopback ([::1])
 * with its own config, passdb (tdbsam), state and sockets in a temp folder, and samba-dcerpcd for its
 * RPC services (LSA, SAMR). samba-dcerpcd also listens on [::1]:135: the run's Samba AD DC keeps to
 * 127.0.0.1 so both can run at once. Accounts are local users (useradd, no home, no shell) added
 * with `smbpasswd -a`, their passwords on smbpasswd's stdin. `root` is the privileged account (its
 * SAMR requests may set any password). Needs root.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnChild, type Child } from './children.js';
import { execWithInput } from './exec-input.js';
import { smbLogon } from './smb-logon.js';
import { waitFor } from './wait.js';

const SMBD = '/usr/sbin/smbd';
const DCERPCD = '/usr/libexec/samba/samba-dcerpcd';
const USER_PREFIX = 'pwsl';

/** Why a standalone Samba cannot run here, or undefined. */
export function sambaStandaloneUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'a standalone Samba needs root (local users, smbd); skipped';
  const missing = [SMBD, DCERPCD, '/usr/bin/smbpasswd', '/usr/bin/pdbedit', '/usr/bin/smbclient'].filter(
    (f) => !existsSync(f),
  );
  if (missing.length > 0)
    return `a standalone Samba needs ${missing.join(', ')} (Debian packages samba, smbclient); skipped`;
  // It listens on the IPv6 loopback (see above).
  const v6 = existsSync('/proc/net/if_inet6') ? readFileSync('/proc/net/if_inet6', 'utf8') : '';
  if (!v6.includes('00000000000000000000000000000001')) {
    return 'a standalone Samba needs the IPv6 loopback (::1), which is off here; skipped';
  }
  return undefined;
}

function exec(file: string, args: string[], input = ''): Promise<{ code: number; out: string }> {
  return execWithInput(file, args, { input, timeoutMs: 30_000 });
}
async function must(file: string, args: string[], input = ''): Promise<string> {
  const r = await exec(file, args, input);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.code}): ${r.out}`);
  return r.out;
}

/** A TCP port free on [::1] right now. */
function freePort6(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '::1', () => {
      const address = server.address();
      server.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface LocalUser {
  username: string;
  password: string;
}

export interface SambaStandalone {
  host: '::1';
  port: number;
  /** The server's NetBIOS name: its account domain. */
  netbiosName: string;
  /** The machine SID (the account domain's SID), from `net getlocalsid`. */
  machineSid: string;
  admin: LocalUser;
  createUser(options?: { password?: string }): Promise<LocalUser>;
  /** An account policy (pdbedit -P), e.g. 'min password length'. */
  setPolicy(name: string, value: number): Promise<void>;
  /** Account flags: `-d` disables, `-e` enables (smbpasswd). */
  smbpasswd(flag: '-d' | '-e', username: string): Promise<void>;
  /** True when smbclient opens a signed session as `username`; false on a logon failure. */
  canSmb(username: string, password: string): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startSambaStandalone(): Promise<SambaStandalone> {
  const unavailable = sambaStandaloneUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  const dir = mkdtempSync(join(tmpdir(), 'test-samba-'));
  for (const d of ['private', 'lock', 'state', 'cache', 'run', 'ncalrpc']) mkdirSync(join(dir, d));
  const port = await freePort6();
  const netbiosName = `PWS${randomBytes(3).toString('hex').toUpperCase()}`;
  const conf = join(dir, 'smb.conf');
  writeFileSync(
    conf,
    [
      '[global]',
      '  server role = standalone',
      '  workgroup = PWSLOCAL',
      `  netbios name = ${netbiosName}`,
      `  smb ports = ${port}`,
      '  interfaces = ::1',
      '  bind interfaces only = yes',
      '  disable netbios = yes',
      '  server min protocol = SMB2_02',
      `  private dir = ${join(dir, 'private')}`,
      `  lock directory = ${join(dir, 'lock')}`,
      `  state directory = ${join(dir, 'state')}`,
      `  cache directory = ${join(dir, 'cache')}`,
      `  pid directory = ${join(dir, 'run')}`,
      `  ncalrpc dir = ${join(dir, 'ncalrpc')}`,
      `  log file = ${join(dir, 'log.%m')}`,
      `  passdb backend = tdbsam:${join(dir, 'private', 'passdb.tdb')}`,
      // Like a Windows host with the guest account on: an unknown account gets a guest session.
      '  map to guest = bad user',
      '  unix password sync = no',
      // samba-dcerpcd is started here, not by smbd on demand (which would read the system's config).
      '  rpc start on demand helpers = no',
      '  load printers = no',
      '  printing = bsd',
      '  printcap name = /dev/null',
      '',
    ].join('\n'),
  );
  const users = new Set<string>();
  const children: Child[] = [];
  let log = '';
  const halt = async () => {
    for (const child of children.splice(0)) {
      await child.stop(5_000);
      // Their workers (rpcd_*, smbd children) are in their group.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
  };
  const stop = async () => {
    await halt();
    for (const u of users) await exec('userdel', ['-f', u]);
    rmSync(dir, { recursive: true, force: true });
  };
  const canSmb = (username: string, password: string) =>
    smbLogon({ host: '::1', port, domain: netbiosName }, username, password);
  const addSmbUser = async (username: string, password: string) => {
    await must('/usr/bin/smbpasswd', ['-c', conf, '-a', '-s', username], `${password}\n${password}\n`);
  };

  const launch = () => {
    for (const [program, args] of [
      [SMBD, ['-F', '--no-process-group', '-s', conf, '--debug-stdout', '-d', '1']],
      [DCERPCD, ['--no-process-group', '-s', conf, '--libexec-rpcds', '-F', '--debug-stdout', '-d', '1']],
    ] as const) {
      // Each in a session and process group of its own (so --no-process-group: they must not make
      // another one): on SIGTERM they signal their whole group, which must not be the test runner's.
      // _NO_WINBINDD: never ask a winbindd (a DC's, running here) to map this server's SIDs.
      const child = spawnChild(program, [...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        env: { ...process.env, _NO_WINBINDD: '1' },
      });
      for (const s of [child.process.stdout, child.process.stderr])
        s?.setEncoding('utf8').on('data', (d: string) => (log += d));
      children.push(child);
    }
  };
  const admin = { username: 'root', password: `Root-${randomBytes(9).toString('base64url')}1!` };
  const ready = () =>
    waitFor(
      async () => {
        for (const child of children)
          if (child.process.exitCode !== null) throw new Error(`a Samba process exited: ${log.slice(-2000)}`);
        return (
          existsSync(join(dir, 'ncalrpc', 'np', 'lsarpc')) && (await canSmb(admin.username, admin.password))
        );
      },
      { timeoutMs: 30_000, intervalMs: 200, message: `standalone Samba on [::1]:${port}` },
    );

  try {
    for (let attempt = 1; ; attempt++) {
      launch();
      await addSmbUser(admin.username, admin.password);
      try {
        await ready();
        break;
      } catch (error) {
        if (attempt === 2) throw new Error(`${String(error)}\n${log.slice(-3000)}`);
        // Seen once in CI on a loaded machine: samba-dcerpcd's workers exited at start ("No worker
        // with PID") and the server never answered. Both daemons once more, from the start.
        await halt();
        log = '';
      }
    }
    const machineSid = (await must('/usr/bin/net', ['getlocalsid', '-s', conf])).match(
      /S-1-5-21(?:-\d+){3}/,
    )?.[0];
    if (machineSid === undefined) throw new Error('net getlocalsid named no SID');
    return {
      host: '::1',
      port,
      netbiosName,
      machineSid,
      admin,
      async createUser(options = {}) {
        const username = `${USER_PREFIX}${randomBytes(4).toString('hex')}`;
        const password = options.password ?? `Pw-${randomBytes(9).toString('base64url')}-3c!`;
        await must('useradd', ['-M', '-s', '/usr/sbin/nologin', username]);
        users.add(username);
        await addSmbUser(username, password);
        return { username, password };
      },
      async setPolicy(name, value) {
        await must('/usr/bin/pdbedit', ['-s', conf, '-P', name, '-C', String(value)]);
      },
      async smbpasswd(flag, username) {
        await must('/usr/bin/smbpasswd', ['-c', conf, flag, username]);
      },
      canSmb,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
