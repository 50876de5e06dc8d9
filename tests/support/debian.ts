/**
 * The Debian package of the agent on this machine: building it (packaging/deb/build.sh), dpkg,
 * and starting the service the way systemd would when there is no systemd (the unit's ExecStart as
 * its User, with its EnvironmentFile and WorkingDirectory).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseEnvFile } from '../../agent/env-file.js';
import { spawnChild } from './children.js';
import { REPO_ROOT } from './paths.js';
import { launchCommand, type ManagedProcess } from './processes.js';
import { sleep } from './wait.js';

export const PACKAGE = 'sync-agent';
export const UNIT_FILE = '/usr/lib/systemd/system/sync-agent.service';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (no shell), with a plain PATH unless `env` says otherwise. */
export async function run(
  command: string,
  args: string[],
  {
    env,
    timeoutMs = 120_000,
    cwd = REPO_ROOT,
  }: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, {
      cwd,
      env: env ?? { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return {
      code: typeof e.code === 'number' ? e.code : null,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? e.message,
    };
  }
}

/** Why the package tests cannot run here, or undefined when they can. */
export function packageTestsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0)
    return `they install a package and create an account: run as root (uid ${process.getuid?.()})`;
  for (const tool of ['dpkg', 'dpkg-deb', 'setpriv', 'adduser']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

export const isInstalled = async (): Promise<boolean> =>
  (await run('dpkg-query', ['-W', '-f=${db:Status-Status}', PACKAGE])).stdout.trim() === 'installed';

/** Builds the package of `version` into `outDir` from the built tree (npm test builds first). */
export async function buildPackage(version: string, outDir: string): Promise<string> {
  const res = await run(
    'bash',
    ['packaging/deb/build.sh', '--no-build', '--version', version, '--out', outDir, '--compress', 'gzip'],
    { env: { ...process.env }, timeoutMs: 300_000 },
  );
  if (res.code !== 0) throw new Error(`build.sh ${version} failed (${res.code}):\n${res.stderr}`);
  return res.stdout.split('\n')[0]!.trim();
}

/** dpkg, failing the test with its output when it fails. */
export async function dpkg(...args: string[]): Promise<RunResult> {
  const res = await run('dpkg', args, { timeoutMs: 300_000 });
  if (res.code !== 0)
    throw new Error(`dpkg ${args.join(' ')} failed (${res.code}):\n${res.stdout}\n${res.stderr}`);
  return res;
}

/** Removes what the tests leave: the package (purged) and the account it created. Never throws. */
export async function removePackageAndAccount(): Promise<void> {
  await run('dpkg', ['--purge', PACKAGE]);
  await run('deluser', ['--system', PACKAGE]);
  await run('delgroup', ['--system', PACKAGE]);
}

/** The [Service] settings of the installed unit that starting it needs. */
export interface ServiceUnit {
  user: string;
  group: string;
  environmentFile: string;
  workingDirectory: string;
  execStart: string[];
  timeoutStopMs: number;
  /** Every key=value of [Service], repeated keys in order. */
  all: [string, string][];
}

export function readUnit(file = UNIT_FILE): ServiceUnit {
  const all: [string, string][] = [];
  let section = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) section = header[1]!;
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv && section === 'Service') all.push([kv[1]!, kv[2]!.trim()]);
  }
  const one = (key: string): string => {
    const found = all.filter(([k]) => k === key);
    if (found.length === 0) throw new Error(`${file}: no ${key}=`);
    return found[found.length - 1]![1];
  };
  return {
    user: one('User'),
    group: one('Group'),
    environmentFile: one('EnvironmentFile'),
    workingDirectory: one('WorkingDirectory'),
    execStart: one('ExecStart').split(/\s+/),
    timeoutStopMs: Number(one('TimeoutStopSec').replace(/s$/, '')) * 1000,
    all,
  };
}

/**
 * The environment systemd gives the service: its own few variables for User=, and the
 * EnvironmentFile's (this repository's parser reads it: the file is plain NAME=value lines and
 * comments, which systemd reads the same way), with `overrides` on top (undefined removes).
 */
export function serviceEnv(
  unit: ServiceUnit,
  overrides: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin',
    LANG: 'C.UTF-8',
    USER: unit.user,
    LOGNAME: unit.user,
    HOME: unit.workingDirectory,
    SHELL: '/usr/sbin/nologin',
    ...parseEnvFile(readFileSync(unit.environmentFile, 'utf8'), unit.environmentFile),
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** setpriv: the command as the unit's User and Group, no new privileges (NoNewPrivileges=yes). */
const asServiceUser = (unit: ServiceUnit): string[] => [
  `--reuid=${unit.user}`,
  `--regid=${unit.group}`,
  '--init-groups',
  '--no-new-privs',
  '--',
  ...unit.execStart,
];

/** Starts the service's ExecStart as systemd would (no systemd here); resolves once 'agent ready'. */
export async function startService(
  unit: ServiceUnit,
  env: NodeJS.ProcessEnv,
  label: string,
): Promise<ManagedProcess> {
  const proc = launchCommand('setpriv', asServiceUser(unit), { env, label, cwd: unit.workingDirectory });
  try {
    await proc.waitForLog((entry) => entry?.msg === 'agent ready', 30_000);
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return proc;
}

/** Runs the service's ExecStart once to its exit (a start that must fail), killed after 20 s. */
export async function runServiceOnce(unit: ServiceUnit, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const child = spawnChild('setpriv', asServiceUser(unit), {
    cwd: unit.workingDirectory,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.process.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.process.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 20_000);
  try {
    return { code: await child.exited, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One package test at a time on this machine (the package and its account are machine-wide):
 * a lock folder holding the owner's pid; a dead owner's lock is taken over.
 */
export async function lockMachine(timeoutMs = 10 * 60_000): Promise<() => void> {
  const dir = '/tmp/sync-agent-package-test.lock';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(`${dir}/pid`, String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch {
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(`${dir}/pid`, 'utf8'));
      } catch {
        // being written, or gone
      }
      let alive = false;
      try {
        alive = Number.isInteger(owner) && process.kill(owner, 0);
      } catch {
        alive = false;
      }
      if (!alive && Number.isInteger(owner)) rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > deadline)
        throw new Error(`${dir}: another package test (pid ${owner}) holds the machine`);
      else await sleep(1_000);
    }
  }
}
