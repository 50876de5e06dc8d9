/**
 * A private 3-master Redis Cluster on loopback: three `redis-server --cluster-enabled yes` children,
 * each on free ports (its client port and its cluster bus port) in its own temporary folder, joined
 * with `redis-cli --cluster create`, and ready once every node says `cluster_state:ok` with all
 * 16384 slots assigned and knows the other two.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnChild, type Child } from './children.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';

export interface RedisCluster {
  /** `127.0.0.1:port,…`: the coordinator's REDIS_CLUSTER_NODES. */
  nodes: string;
  ports: number[];
  stop(): Promise<void>;
}

/**
 * Why a private Redis Cluster cannot run here (the Debian package to install), or undefined when
 * it can. redis-cli is its own package (redis-tools) on Debian.
 */
export function redisClusterUnavailable(): string | undefined {
  const missing = [
    [REDIS_SERVER, 'redis-server'],
    [REDIS_CLI, 'redis-tools'],
  ].filter(([bin]) => spawnSync(bin!, ['--version'], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return undefined;
  return `a private Redis Cluster needs ${missing.map(([bin, pkg]) => `${bin} (Debian package ${pkg})`).join(' and ')}`;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], {
    timeout: 10_000,
  });
  return stdout;
}

async function startNode(dir: string): Promise<{ port: number; child: Child; output: string[] }> {
  const port = await freePort();
  const bus = await freePort();
  // prettier-ignore
  const args = [
    '--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1',
    '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no',
  ];
  const child = spawnChild(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.process.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
  child.process.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
  return { port, child, output };
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const unavailable = redisClusterUnavailable();
  if (unavailable) throw new Error(unavailable);
  const dirs: string[] = [];
  const children: Child[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => c.stop(5_000)));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const nodes: { port: number; child: Child; output: string[] }[] = [];
    for (let i = 0; i < 3; i++) {
      const dir = mkdtempSync(join(tmpdir(), `test-redis-cluster-${i}-`));
      dirs.push(dir);
      const node = await startNode(dir);
      children.push(node.child);
      nodes.push(node);
    }
    for (const node of nodes) {
      const gone = node.child.exited.then(() => {
        throw new Error(`redis-server exited: ${node.output.join('')}`);
      });
      gone.catch(() => undefined);
      await waitFor(async () => (await cli(node.port, 'PING').catch(() => '')).trim() === 'PONG', {
        timeoutMs: 15_000,
        intervalMs: 50,
        message: `redis-server (cluster node) on port ${node.port} to answer PING`,
      });
    }
    const ports = nodes.map((n) => n.port);
    await run(
      REDIS_CLI,
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    for (const port of ports) {
      await waitFor(
        async () => {
          const info = await cli(port, 'CLUSTER', 'INFO').catch(() => '');
          return (
            /cluster_state:ok/.test(info) &&
            /cluster_slots_ok:16384/.test(info) &&
            /cluster_known_nodes:3/.test(info)
          );
        },
        {
          timeoutMs: 30_000,
          intervalMs: 100,
          message: `cluster node on port ${port} to say cluster_state:ok`,
        },
      );
    }
    return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
