import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedTestContainer } from 'testcontainers';
import { spawnChild, type Child } from './children.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface PrivateRedis extends RedisServer {
  /** Stops and starts it again on the same port. Unless `persistent`, every key is gone. */
  restart(): Promise<void>;
  /** Stops the server (SIGTERM) and keeps its port for up(): Redis is unreachable until then. */
  down(): Promise<void>;
  /** Starts it again after down(), on the same port (empty, unless started `persistent`). */
  up(): Promise<void>;
  /**
   * Freezes the server (SIGSTOP): connections stay open and commands get no answer, as from a
   * Redis that hangs. resume() (SIGCONT) lets it go on where it stopped. Local binary only.
   */
  pause(): void;
  resume(): void;
  flushall(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Keep the keys across down()/up() and restart(): an append-only file in its own folder. */
  persistent?: boolean;
}

interface Server {
  host: string;
  port: number;
  /** The local redis-server child's pid (undefined for a container). */
  pid(): number | undefined;
  stop(): Promise<void>;
  restart(): Promise<void>;
  down(): Promise<void>;
  up(): Promise<void>;
  pause(): void;
  resume(): void;
}

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const EPHEMERAL = ['--save', '', '--appendonly', 'no'];
const PERSISTENT = ['--save', '', '--appendonly', 'yes'];
const NO_REDIS = `no Redis for tests: set REDIS_URL, start a Docker engine or install ${REDIS_BIN}`;

const hasLocalBinary = (): boolean => spawnSync(REDIS_BIN, ['--version'], { stdio: 'ignore' }).status === 0;

/** One RESP command over a fresh connection; resolves with the first reply line (`+PONG`, `-ERR …`). */
function command(host: string, port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let received = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('redis command timed out')));
    socket.once('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    socket.on('data', (chunk) => {
      received += chunk.toString();
      const end = received.indexOf('\r\n');
      if (end < 0) return;
      socket.end();
      resolve(received.slice(0, end));
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('connection closed before a reply')));
  });
}

const waitReady = (host: string, port: number, exited?: Promise<unknown>): Promise<unknown> => {
  let gone = false;
  const markGone = () => (gone = true);
  exited?.then(markGone, markGone);
  return waitFor(
    async () => {
      if (gone) throw new Error('redis-server exited');
      return (await command(host, port, ['PING'])) === '+PONG';
    },
    { timeoutMs: 15_000, intervalMs: 50, message: `redis on ${host}:${port} to answer PING` },
  );
};

let runtimeAnswers: Promise<boolean> | undefined;

/** Whether a Docker engine answers testcontainers, decided once per process within 5 s. */
function dockerAvailable(): Promise<boolean> {
  runtimeAnswers ??= (async () => {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('timeout')), 5_000).unref(),
    );
    try {
      await Promise.race([getContainerRuntimeClient(), timeout]);
      return true;
    } catch {
      return false;
    }
  })();
  return runtimeAnswers;
}

/** `redis:7` in a container. A fixed host port keeps the address across restarts. */
async function startContainer(args: string[], hostPort?: number): Promise<Server> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container: StartedTestContainer = await new GenericContainer('redis:7')
    .withCommand(['redis-server', ...args])
    .withExposedPorts(hostPort === undefined ? 6379 : { container: 6379, host: hostPort })
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  const host = container.getHost();
  const port = container.getMappedPort(6379);
  return {
    host,
    port,
    pid: () => undefined,
    stop: async () => {
      await container.stop();
    },
    restart: async () => {
      await container.restart();
      await waitReady(host, port);
    },
    down: async () => {
      await container.stop({ remove: false });
    },
    up: async () => {
      await container.restart();
      await waitReady(host, port);
    },
    pause: () => {
      throw new Error('pause() needs a local redis-server (a container cannot be frozen from here)');
    },
    resume: () => undefined,
  };
}

/** A `redis-server` child on a loopback port, with its own working folder and nothing saved. */
async function startLocal(persistence: string[] = EPHEMERAL): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'test-redis-'));
  let port = await freePort();
  let child: Child | undefined;
  const launch = async (): Promise<void> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      ...persistence,
      '--dir',
      dir,
      '--daemonize',
      'no',
    ];
    const started = spawnChild(REDIS_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (chunk: Buffer) => output.push(chunk.toString());
    started.process.stdout?.on('data', keep);
    started.process.stderr?.on('data', keep);
    try {
      await waitReady('127.0.0.1', port, started.exited);
    } catch (error) {
      await started.stop(1_000);
      throw new Error(`${REDIS_BIN} did not start on port ${port}: ${String(error)}\n${output.join('')}`);
    }
    started.process.stdout?.off('data', keep);
    started.process.stderr?.off('data', keep);
    started.process.stdout?.resume();
    started.process.stderr?.resume();
    child = started;
  };
  // A frozen server (pause()) must be let go first: it would not act on SIGTERM.
  const halt = async (): Promise<void> => {
    child?.process.kill('SIGCONT');
    await child?.stop(5_000);
  };
  // Another process may take the port between freePort() and the bind: try a few ports.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt === 3) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
      port = await freePort();
    }
  }
  return {
    host: '127.0.0.1',
    port,
    pid: () => child?.pid,
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await halt();
      await launch();
    },
    down: halt,
    up: launch,
    pause: () => child?.process.kill('SIGSTOP'),
    resume: () => child?.process.kill('SIGCONT'),
  };
}

const asRedisServer = (server: Server): RedisServer => ({
  url: `redis://${server.host}:${server.port}`,
  port: server.port,
  stop: server.stop,
});

/**
 * The Redis of a whole test run: `REDIS_URL` when set (never stopped by us); else `redis:7` with
 * `--appendonly yes` in a container when a Docker engine answers; else a local `redis-server`.
 */
export async function startRedis(): Promise<RedisServer> {
  const given = process.env.REDIS_URL;
  if (given !== undefined && given !== '') {
    return { url: given, port: Number(new URL(given).port || 6379), stop: async () => undefined };
  }
  if (await dockerAvailable()) return asRedisServer(await startContainer(['--appendonly', 'yes']));
  if (hasLocalBinary()) return asRedisServer(await startLocal());
  throw new Error(NO_REDIS);
}

export interface OwnRedis extends RedisServer {
  /** The redis-server child's pid, when this started one (the bench measures its CPU). */
  pid: number | undefined;
}

/** Raised by ensureRedis: what to install or set, for a person running the demo or the bench. */
export class NoRedisError extends Error {
  constructor() {
    super(
      [
        'No Redis available: REDIS_URL is not set and no `redis-server` binary was found on PATH.',
        'Either install one:   sudo apt-get install redis-server   (or: brew install redis)',
        'or point to a server: REDIS_URL=redis://127.0.0.1:6379 npm run demo',
      ].join('\n'),
    );
  }
}

/**
 * The Redis of the demo and the bench: REDIS_URL when set (never stopped by us); else a local
 * `redis-server` child that saves nothing; else NoRedisError (no Docker: the demo runs without it).
 */
export async function ensureRedis(): Promise<OwnRedis> {
  const given = process.env.REDIS_URL;
  if (given)
    return {
      url: given,
      port: Number(new URL(given).port || 6379),
      pid: undefined,
      stop: async () => undefined,
    };
  if (!hasLocalBinary()) throw new NoRedisError();
  const server = await startLocal();
  return { ...asRedisServer(server), pid: server.pid() };
}

/**
 * A Redis of the caller's own, for tests that restart or wipe it: a local `redis-server` child,
 * or a container when there is no such binary but a Docker engine. Never the shared server.
 */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const persistence = options.persistent ? PERSISTENT : EPHEMERAL;
  let server: Server;
  if (hasLocalBinary()) server = await startLocal(persistence);
  else if (await dockerAvailable()) server = await startContainer(persistence, await freePort());
  else throw new Error(NO_REDIS);
  return {
    ...asRedisServer(server),
    restart: server.restart,
    down: server.down,
    up: server.up,
    pause: server.pause,
    resume: server.resume,
    flushall: async () => {
      const reply = await command(server.host, server.port, ['FLUSHALL']);
      if (reply !== '+OK') throw new Error(`FLUSHALL answered ${reply}`);
    },
  };
}

/**
 * A key prefix (for the coordinator's QUEUE_PREFIX, or a test's own keys) that no other test
 * file of the run shares: tests isolate from each other inside the run's one Redis by prefix.
 */
export function uniquePrefix(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 30);
  return `t-${slug}-${randomBytes(4).toString('hex')}`;
}
