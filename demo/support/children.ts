/**
 * Child processes for the demo and the benchmark: spawned with their output teed to a log file,
 * stopped with SIGTERM (SIGKILL after a grace period), and killed when this process exits, whatever
 * happened. No test-only dependency here: this folder is compiled into dist/ by `npm run build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file with a package.json (works from dist/). */
function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return dir;
}

export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** `node dist/<name>/main.js` of this repository. */
export function binaryPath(name: 'coordinator' | 'agent'): string {
  const path = join(REPO_ROOT, 'dist', name, 'main.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build first`);
  return path;
}

export interface ManagedChild {
  name: string;
  pid: number;
  process: ChildProcess;
  logFile: string | undefined;
  /** Every output line so far (the last 2000). */
  lines(): string[];
  /** Resolves with the first line (so far or to come) that matches; rejects on timeout or exit. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** Resolves with the exit code (null after a signal). */
  exited: Promise<number | null>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<number | null>;
}

const alive = new Set<ChildProcess>();
let hooked = false;

function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const child of alive) child.kill('SIGKILL');
  });
}

export interface SpawnManagedOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Tee stdout and stderr to this file (created with its folder). */
  logFile?: string;
}

export function spawnManaged(
  name: string,
  command: string,
  args: string[],
  options: SpawnManagedOptions,
): ManagedChild {
  installExitHook();
  const child = spawn(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    // spawn reports ENOENT asynchronously; make the error visible to the caller right away.
    child.on('error', () => undefined);
    throw new Error(`could not start ${command}`);
  }
  alive.add(child);
  let file: ReturnType<typeof createWriteStream> | undefined;
  if (options.logFile) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    file = createWriteStream(options.logFile, { flags: 'a' });
  }
  const kept: string[] = [];
  const watchers = new Set<(line: string) => void>();
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      kept.push(line);
      if (kept.length > 2000) kept.shift();
      file?.write(`${line}\n`);
      for (const w of watchers) w(line);
    });
  }
  const exited = new Promise<number | null>((resolve) => {
    const finish = (code: number | null) => {
      alive.delete(child);
      file?.end();
      resolve(code);
    };
    child.once('error', () => finish(-1));
    child.once('exit', (code) => finish(code));
  });
  const waitForLine = (match: (line: string) => boolean, timeoutMs: number): Promise<string> => {
    const seen = kept.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = () => {
        settled = true;
        clearTimeout(timer);
        watchers.delete(watch);
      };
      const watch = (line: string) => {
        if (settled || !match(line)) return;
        done();
        resolve(line);
      };
      const fail = (why: string) => {
        if (settled) return;
        done();
        reject(new Error(`${name} (pid ${child.pid}) ${why}; last lines:\n${kept.slice(-20).join('\n')}`));
      };
      const timer = setTimeout(() => fail(`gave no expected output within ${timeoutMs} ms`), timeoutMs);
      watchers.add(watch);
      void exited.then((code) => fail(`exited with code ${code}`));
    });
  };
  const stop = async (graceMs = 10_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    name,
    pid: child.pid,
    process: child,
    logFile: options.logFile,
    lines: () => [...kept],
    waitForLine,
    exited,
    stop,
  };
}

/** A pino JSON line's `msg`, or undefined. */
export function logMsg(line: string): { msg?: unknown; [k: string]: unknown } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as { msg?: unknown };
  } catch {
    return undefined;
  }
}

/** Reads a /proc/<pid>/status field in kB (VmRSS, VmHWM); undefined when not available. */
export async function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  try {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
