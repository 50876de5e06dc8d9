import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnManaged, type ManagedChild } from './children.js';
import { freePort, sleep } from './net.js';

export interface RedisHandle {
  url: string;
  /** Set when we started a local redis-server child (stopped by `stop`). */
  child?: ManagedChild;
  stop(): Promise<void>;
}

export const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

export const NO_REDIS_HELP = [
  'No Redis available: REDIS_URL is not set and no `redis-server` binary was found on PATH.',
  'Either install one:   sudo apt-get install redis-server   (or: brew install redis)',
  'or point to a server: REDIS_URL=redis://127.0.0.1:6379 npm run demo',
].join('\n');

export class NoRedisError extends Error {
  constructor() {
    super(NO_REDIS_HELP);
  }
}

/** One RESP command over a fresh connection; resolves with the first reply line. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (received.includes('\r\n')) done(received.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

const hasBinary = (): boolean => spawnSync(REDIS_BIN, ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * REDIS_URL when set (never stopped by us); else a local `redis-server` child on a free loopback
 * port that saves nothing (`--save '' --appendonly no`); else NoRedisError with how to get one.
 */
export async function ensureRedis(logFile?: string): Promise<RedisHandle> {
  const given = process.env.REDIS_URL;
  if (given) return { url: given, stop: async () => undefined };
  if (!hasBinary()) throw new NoRedisError();
  const dir = mkdtempSync(join(tmpdir(), 'pws-redis-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawnManaged(
      'redis-server',
      REDIS_BIN,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { env: process.env, cwd: dir, ...(logFile ? { logFile } : {}) },
    );
    let gone = false;
    void child.exited.then(() => (gone = true));
    const deadline = Date.now() + 10_000;
    while (!gone && Date.now() < deadline && !(await ping(port))) await sleep(50);
    if (!gone && (await ping(port))) {
      return {
        url: `redis://127.0.0.1:${port}`,
        child,
        stop: async () => {
          await child.stop(5_000);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await child.stop(1_000);
    if (attempt === 3) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${REDIS_BIN} did not start:\n${child.lines().slice(-10).join('\n')}`);
    }
  }
}
