/**
 * The shared Samba AD DC's processes and files (see samba-dc.ts): provisioning, starting and
 * stopping `samba`, the run folder's state and use lock. Its winbindd uses the machine's default
 * socket (/run/samba/winbindd: smbd on a DC finds it only there), so other Samba servers the tests
 * run (samba-standalone.ts) are started with _NO_WINBINDD. No vitest import: global-setup.ts stops
 * the DC with stopSharedSambaDc() when the run ends.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execWithInput } from './exec-input.js';
import { createPki } from './tls.js';
import { waitFor } from './wait.js';

export const DC_REALM = 'PWS.TEST';
export const DC_DOMAIN = 'PWS';
export const DC_DNS_DOMAIN = 'pws.test';
export const DC_BASE_DN = 'DC=pws,DC=test';
export const DC_HOST = '127.0.0.1';
export const DC_PORTS = [135, 389, 445, 636];

export interface State {
  status: 'starting' | 'running';
  pid?: number;
  conf: string;
  caPem: string;
  caFile: string;
  admin: { username: string; password: string };
  oldPasswordPeriodMinutes: number;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: DC_HOST, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function exec(
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<{ code: number; out: string }> {
  return execWithInput(file, args, options);
}

export async function must(
  file: string,
  args: string[],
  options: Parameters<typeof exec>[2] = {},
): Promise<string> {
  const r = await exec(file, args, options);
  if (r.code !== 0) throw new Error(`${file} ${args.slice(0, 4).join(' ')} failed (${r.code}): ${r.out}`);
  return r.out;
}

export const readState = (dir: string): State | undefined =>
  existsSync(join(dir, 'state.json'))
    ? (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as State)
    : undefined;
export const writeState = (dir: string, state: State) =>
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state), { mode: 0o600 });

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Takes the use lock (a file naming the holder's pid; a dead holder's lock is taken over). */
export async function acquireLock(dir: string): Promise<void> {
  const file = join(dir, 'use.lock');
  await waitFor(
    () => {
      try {
        closeSync(openSync(file, 'wx'));
        writeFileSync(file, String(process.pid));
        return true;
      } catch {
        const holder = Number(readFileSync(file, 'utf8') || '0');
        if (holder !== 0 && !alive(holder)) rmSync(file, { force: true });
        return false;
      }
    },
    { timeoutMs: 15 * 60_000, intervalMs: 250, message: 'the shared Samba DC to be free' },
  );
}

/** Processes started for the DC: the samba group, and smbd / winbindd naming its config. */
function dcProcesses(conf: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(conf)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Stops the DC a state describes: SIGTERM to samba (it stops its children), SIGKILL to what is left. */
export async function stopDc(state: State): Promise<void> {
  if (state.pid !== undefined && alive(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    await waitFor(() => !alive(state.pid!), {
      timeoutMs: 15_000,
      intervalMs: 100,
      message: 'samba to exit',
    }).catch(() => undefined);
    try {
      process.kill(-state.pid, 'SIGKILL');
    } catch {
      // the group is gone
    }
  }
  for (const pid of dcProcesses(state.conf)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await waitFor(
    async () => {
      for (const port of DC_PORTS) if (await portOpen(port)) return false;
      return true;
    },
    { timeoutMs: 15_000, intervalMs: 200, message: 'the DC ports to close' },
  );
}

/** Called by global-setup.ts when the run ends. */
export async function stopSharedSambaDc(dir: string): Promise<void> {
  const state = readState(dir);
  if (state)
    await stopDc(state).catch((err: unknown) => console.error(`stopping the Samba DC: ${String(err)}`));
  rmSync(dir, { recursive: true, force: true });
}

function smbConf(dir: string, provisioned: string, minutes: number): string {
  const tls = join(dir, 'tls');
  const extra = [
    '\tserver services = s3fs, rpc, ldap, winbindd',
    // IPv4 loopback only: a standalone Samba of the tests (samba-standalone.ts) takes ::1.
    '\tinterfaces = 127.0.0.1',
    '\tsmb ports = 445',
    '\tdisable netbios = yes',
    `\tpid directory = ${join(dir, 'run')}`,
    `\tlog file = ${join(dir, 'log.%m')}`,
    '\tprefork children = 2',
    `\told password allowed period = ${minutes}`,
    '\ttls enabled = yes',
    `\ttls keyfile = ${join(tls, 'key.pem')}`,
    `\ttls certfile = ${join(tls, 'cert.pem')}`,
    `\ttls cafile = ${join(tls, 'ca.pem')}`,
  ];
  return provisioned
    .split('\n')
    .filter((l) => !/^\s*(server services|old password allowed period|log file|interfaces)\s*=/.test(l))
    .map((l) => (l.trim() === '[global]' ? [l, ...extra].join('\n') : l))
    .join('\n');
}

export async function start(dir: string, state: State, minutes: number): Promise<State> {
  writeFileSync(state.conf, smbConf(dir, readFileSync(join(dir, 'smb.conf.provisioned'), 'utf8'), minutes));
  mkdirSync(join(dir, 'run'), { recursive: true });
  writeState(dir, { ...state, status: 'starting', oldPasswordPeriodMinutes: minutes });
  const log = openSync(join(dir, 'samba.log'), 'a');
  const child = spawn('/usr/sbin/samba', ['-s', state.conf, '-i', '--debug-stdout', '-d', '1'], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  closeSync(log);
  const running: State = { ...state, status: 'running', pid: child.pid!, oldPasswordPeriodMinutes: minutes };
  writeState(dir, running);
  const started = Date.now();
  await waitFor(
    async () => {
      if (!alive(child.pid!))
        throw new Error(`samba exited: ${readFileSync(join(dir, 'samba.log'), 'utf8').slice(-2000)}`);
      if (!(await portOpen(445))) return false;
      const r = await exec(
        '/usr/bin/ldapsearch',
        ['-H', `ldaps://${DC_HOST}`, '-x', '-b', '', '-s', 'base', 'dn'],
        {
          env: { LDAPTLS_CACERT: state.caFile },
          timeoutMs: 5_000,
        },
      );
      return r.code === 0;
    },
    { timeoutMs: 90_000, intervalMs: 250, message: 'the Samba DC to answer LDAPS and SMB' },
  );
  console.log(`samba-dc: started in ${Date.now() - started} ms (old password allowed period ${minutes} min)`);
  return running;
}

export async function provision(dir: string, minutes: number): Promise<State> {
  const started = Date.now();
  const target = join(dir, 'prov');
  const empty = join(dir, 'empty.conf');
  writeFileSync(empty, '');
  const administrator = `Adm-${randomBytes(12).toString('base64url')}1!`;
  await must(
    '/usr/bin/samba-tool',
    [
      'domain',
      'provision',
      '-s',
      empty,
      `--targetdir=${target}`,
      `--realm=${DC_REALM}`,
      `--domain=${DC_DOMAIN}`,
      '--server-role=dc',
      // Not the machine's host name, which may be longer than a NetBIOS name allows.
      '--host-name=pwsdc',
      '--dns-backend=NONE',
      `--adminpass=${administrator}`,
      '--option=interfaces=lo',
      '--option=bind interfaces only=yes',
    ],
    { timeoutMs: 240_000 },
  );
  console.log(`samba-dc: provisioned in ${Date.now() - started} ms`);
  const conf = join(target, 'etc', 'smb.conf');
  writeFileSync(join(dir, 'smb.conf.provisioned'), readFileSync(conf, 'utf8'));
  const pki = createPki();
  mkdirSync(join(dir, 'tls'), { recursive: true });
  const files = pki.issue('dc', 'server');
  writeFileSync(join(dir, 'tls', 'cert.pem'), pki.pem(files.cert));
  writeFileSync(join(dir, 'tls', 'key.pem'), pki.pem(files.key), { mode: 0o600 });
  writeFileSync(join(dir, 'tls', 'ca.pem'), pki.pem(pki.caCert));
  rmSync(pki.dir, { recursive: true, force: true });
  const caFile = join(dir, 'tls', 'ca.pem');
  // No minimum age and no lockout for the domain; PSOs make single accounts stricter.
  await must('/usr/bin/samba-tool', [
    'domain',
    'passwordsettings',
    'set',
    '-s',
    conf,
    '--min-pwd-age=0',
    '--account-lockout-threshold=0',
  ]);
  const state: State = {
    status: 'starting',
    conf,
    caPem: readFileSync(caFile, 'utf8'),
    caFile,
    admin: { username: `Administrator@${DC_DNS_DOMAIN}`, password: administrator },
    oldPasswordPeriodMinutes: minutes,
  };
  return start(dir, state, minutes);
}
