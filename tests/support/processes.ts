import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { spawnChild, type Child } from './children.js';
import { ARTIFACTS_DIR, REPO_ROOT } from './paths.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

/** Variables for a child: a value replaces, `undefined` removes. */
export type Env = Record<string, string | undefined>;

/** A pino line parsed, or null for a line that is not JSON. */
export type LogEntry = { msg?: unknown; level?: unknown; [field: string]: unknown };
export type LogMatcher = RegExp | ((entry: LogEntry | null, line: string) => boolean);

export interface ManagedProcess {
  pid: number;
  /** Every stdout and stderr line so far. */
  logs(): string[];
  /** The first line so far or to come that matches; rejects on timeout or exit. */
  waitForLog(match: LogMatcher, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs` (10 s); resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface CoordinatorProcess extends ManagedProcess {
  url: string;
  port: number;
}

export interface StartOptions {
  /** Names the log file tests/artifacts/logs/<label>-<pid>.log. */
  label?: string;
  timeoutMs?: number;
  /** Runs this script instead of the binary (a test-only entry such as fault-agent.ts, built). */
  script?: string;
  /** The log file (default tests/artifacts/logs/<label>-<pid>.log); the demo and the bench keep theirs. */
  logFile?: string;
  /**
   * Start from this process's whole environment (the demo and the bench). By default the test
   * run's own REDIS_* and DATABASE_* variables are left out.
   */
  inheritEnv?: boolean;
  /** Arguments for node before the script (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Keep only the last this many log lines in memory (a long-running demo). */
  keepLines?: number;
}

const running = new Set<ManagedProcess>();

/** Stops every process these helpers started that still runs: `afterAll(stopAll)` in each file. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/**
 * process.env without the test run's own REDIS_* and DATABASE_* variables (all of it with `inherit`),
 * then `env` on top.
 */
function childEnv(env: Env, inherit = false): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (inherit || (!key.startsWith('REDIS_') && !key.startsWith('DATABASE_'))) merged[key] = value;
  }
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

function entryOf(line: string): LogEntry | null {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line) as LogEntry;
  } catch {
    return null;
  }
}

const matches = (match: LogMatcher, line: string): boolean =>
  match instanceof RegExp ? match.test(line) : match(entryOf(line), line);

/** `dist/<name>/main.js` of this repository (built). */
function binary(name: string): string {
  const path = join(REPO_ROOT, 'dist', name, 'main.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build first`);
  return path;
}

function launch(name: string, env: Env, label: string, options: StartOptions): ManagedProcess {
  const { script, logFile, inheritEnv, nodeArgs = [], keepLines } = options;
  if (script !== undefined && !existsSync(script))
    throw new Error(`${script} is missing: run npm run build first`);
  return launchCommand(process.execPath, [...nodeArgs, script ?? binary(name)], {
    env: childEnv(env, inheritEnv),
    label,
    ...(logFile === undefined ? {} : { logFile }),
    ...(keepLines === undefined ? {} : { keepLines }),
  });
}

export interface LaunchOptions {
  env: NodeJS.ProcessEnv;
  label: string;
  cwd?: string;
  /** Default tests/artifacts/logs/<label>-<pid>.log. */
  logFile?: string;
  /** Keep only the last this many lines in memory (a long-running demo); default all. */
  keepLines?: number;
}

/**
 * Runs any command as a managed process (logs kept and written to a file, by default under
 * tests/artifacts/logs/), with exactly `env` in `cwd` (default: the repository). Used by the tests,
 * the demo and the bench alike.
 */
export function launchCommand(
  command: string,
  args: string[],
  { env, label, cwd = REPO_ROOT, logFile, keepLines = Infinity }: LaunchOptions,
): ManagedProcess {
  const child: Child = spawnChild(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const path = logFile ?? join(ARTIFACTS_DIR, 'logs', `${label}-${child.pid}.log`);
  mkdirSync(dirname(path), { recursive: true });
  const file = createWriteStream(path, { flags: 'a' });
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  for (const stream of [child.process.stdout, child.process.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > keepLines) lines.shift();
      file.write(`${line}\n`);
      for (const watch of watchers) watch(line);
    });
  }
  void child.exited.finally(() => file.end()).catch(() => undefined);

  const tail = () => lines.slice(-30).join('\n');
  const waitForLog = (match: LogMatcher, timeoutMs = 30_000): Promise<string> => {
    const seen = lines.find((line) => matches(match, line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        watchers.delete(watch);
      };
      const watch = (line: string) => {
        if (!matches(match, line)) return;
        done();
        resolve(line);
      };
      const fail = (why: string) => {
        done();
        reject(
          new Error(
            `${label} (pid ${child.pid}) ${why} before logging ${String(match)}; last lines:\n${tail()}`,
          ),
        );
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      watchers.add(watch);
      void child.exited.then(
        (code) => watchers.has(watch) && fail(`exited with code ${code}`),
        (error: unknown) => watchers.has(watch) && fail(`failed to run: ${String(error)}`),
      );
    });
  };

  const managed: ManagedProcess = {
    pid: child.pid,
    logs: () => [...lines],
    waitForLog,
    kill: (signal = 'SIGTERM') => child.process.kill(signal),
    stop: (graceMs = 10_000) => child.stop(graceMs),
    exited: child.exited,
  };
  running.add(managed);
  child.exited.then(
    () => running.delete(managed),
    () => running.delete(managed),
  );
  return managed;
}

const scratchDirs = new Set<string>();

/** A fresh folder under the OS temp dir, for a process whose test named none. */
function scratchDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `test-${name}-`));
  scratchDirs.add(dir);
  return dir;
}

/** Removes `dir` when `proc` exits, if scratchDir() made it. */
function removeScratchOnExit(proc: ManagedProcess, dir: string | undefined): void {
  if (dir === undefined || !scratchDirs.delete(dir)) return;
  const remove = () => rmSync(dir, { recursive: true, force: true });
  proc.exited.then(remove, remove);
}

/** Stops a process that did not get ready, and turns the reason into an error with its last lines. */
async function failStart(proc: ManagedProcess, label: string, error: unknown): Promise<never> {
  await proc.stop();
  const tail = proc.logs().slice(-30).join('\n');
  throw new Error(`${label} (pid ${proc.pid}) did not get ready: ${String(error)}\nlast lines:\n${tail}`);
}

/**
 * Runs `node dist/coordinator/main.js` on a free port (unless env.PORT is given and not 0) and
 * resolves once GET /readyz answers 200 (on env.HOST when it names one). Without DATABASE_URL and
 * DATA_DIR it gets a fresh DATA_DIR.
 */
export async function startCoordinator(
  env: Env = {},
  options: StartOptions = {},
): Promise<CoordinatorProcess> {
  const { label = 'coordinator', timeoutMs = 30_000 } = options;
  const port = env.PORT === undefined || env.PORT === '0' ? await freePort() : Number(env.PORT);
  const dataDir = env.DATABASE_URL === undefined ? (env.DATA_DIR ?? scratchDir('coordinator')) : env.DATA_DIR;
  const proc = launch('coordinator', { ...env, PORT: String(port), DATA_DIR: dataDir }, label, options);
  removeScratchOnExit(proc, dataDir);
  const host = !env.HOST || env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const exited = new AbortController();
  proc.exited.then(
    (code) => exited.abort(new Error(`exited with code ${code}`)),
    (error: unknown) => exited.abort(error),
  );
  try {
    await waitFor(
      async () => {
        const res = await request(`${url}/readyz`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
        await res.body.dump();
        return res.statusCode === 200;
      },
      { timeoutMs, intervalMs: 200, message: `GET ${url}/readyz to answer 200`, signal: exited.signal },
    );
  } catch (error) {
    return failStart(proc, label, error);
  }
  return { ...proc, url, port };
}

/**
 * Runs `node <AGENT_NODE_FLAGS> dist/agent/main.js` and resolves once it logs msg 'agent ready' (or what `ready`
 * matches: a disabled agent never gets ready). Without AGENT_STATE_DIR it gets a fresh one (pass one
 * to restart an agent with the same identity).
 */
export async function startAgent(
  env: Env = {},
  options: StartOptions & { ready?: LogMatcher } = {},
): Promise<ManagedProcess> {
  const { label = 'agent', timeoutMs = 30_000, ready = (entry) => entry?.msg === 'agent ready' } = options;
  const stateDir = env.AGENT_STATE_DIR ?? scratchDir('agent');
  // Started as the shipped launchers start it (agent/node-flags.ts) unless nodeArgs says otherwise.
  const proc = launch('agent', { ...env, AGENT_STATE_DIR: stateDir }, label, {
    nodeArgs: [...AGENT_NODE_FLAGS],
    ...options,
  });
  removeScratchOnExit(proc, stateDir);
  try {
    await proc.waitForLog(ready, timeoutMs);
  } catch (error) {
    return failStart(proc, label, error);
  }
  return proc;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/cli/main.js ...args` to its end (killed after `timeoutMs`); `killWhen` sends it SIGKILL as soon as its stderr so far
 * satisfies the predicate (a crash at a chosen moment); `input` is written to its stdin (a password for
 * `--password-stdin`).
 */
export async function runCli(
  args: string[],
  env: Env = {},
  timeoutMs = 30_000,
  killWhen?: (stderr: string) => boolean,
  input?: string | Buffer,
): Promise<CliResult> {
  const child = spawnChild(process.execPath, [binary('cli'), ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  child.process.stdin?.on('error', () => undefined); // EPIPE when the CLI exits before reading it
  child.process.stdin?.end(input);
  let stdout = '';
  let stderr = '';
  child.process.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.process.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (killWhen?.(stderr)) child.process.kill('SIGKILL');
  });
  const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
  try {
    const code = await child.exited;
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}
