/**
 * The backbone on a real 3-master Redis Cluster (tests/support/redis-cluster.ts): two real
 * `sync-coordinator` replicas sharing one PostgreSQL database and the cluster
 * (REDIS_CLUSTER_NODES), behind a TCP load balancer (tests/support/tcp-balancer.ts), and two real
 * agents that reach them only through it. A verification run of every credential ends with each
 * one in_sync, although one replica is killed (-9) in the middle of it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncRunView } from '../../shared/contracts/api.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  createCredentials,
  createEnrollmentToken,
  createSite,
  createTarget,
  expectStatus,
  getSyncRun,
  listCredentials,
  waitForValue,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startAgent, startCoordinator, stopAll, type CoordinatorProcess } from '../support/processes.js';
import { redisClusterUnavailable, startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { uniquePrefix } from '../support/redis.js';
import { startTcpBalancer, type TcpBalancer } from '../support/tcp-balancer.js';

const run = promisify(execFile);
const CREDENTIALS = 200;

// CI must run this test: there a missing redis-server or redis-cli fails it (startRedisCluster
// throws the reason) rather than skipping it. Elsewhere it is skipped, the reason in its title.
const unavailable = process.env.CI ? undefined : redisClusterUnavailable();

let cluster: RedisCluster | undefined;
let database: TestDatabase | undefined;
let balancer: TcpBalancer | undefined;
const replicas: CoordinatorProcess[] = [];
let admin: ApiClient;
let siteId: string;
let targetId: string;
const prefix = uniquePrefix('e2e-redis-cluster');

describe.skipIf(unavailable !== undefined)(
  unavailable ? `backbone on a Redis Cluster (skipped: ${unavailable})` : 'backbone on a Redis Cluster',
  () => {
    beforeAll(async () => {
      cluster = await startRedisCluster();
      database = await createTestDatabase('e2e-redis-cluster');
      const env = {
        DATABASE_URL: database.url,
        REDIS_CLUSTER_NODES: cluster.nodes,
        QUEUE_PREFIX: prefix,
        COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
        COORDINATOR_MASTER_KEY: newMasterKey(),
        // Short locks: the jobs a claim on the killed replica took but never handed out come back
        // within seconds.
        JOB_LOCK_MS: '5000',
        STALLED_CHECK_MS: '1000',
        HEARTBEAT_EVERY_MS: '1000',
        LOG_LEVEL: 'info',
      };
      // One after the other: the first applies the migrations.
      for (const name of ['a', 'b']) {
        replicas.push(await startCoordinator(env, { label: `e2e-redis-cluster-coordinator-${name}` }));
      }
      balancer = await startTcpBalancer(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
      admin = api(`${balancer.url}/api/v1`, ADMIN_TOKEN);
      siteId = (await createSite(admin, 'cluster-site')).id;
      for (const name of ['agent-a', 'agent-b']) {
        await startAgent(
          {
            COORDINATOR_URL: balancer.url,
            ENROLLMENT_TOKEN: await createEnrollmentToken(admin, siteId),
            AGENT_NAME: name,
            AGENT_CONCURRENCY: '8',
            AGENT_PER_HOST_LIMIT: '8',
            LOG_LEVEL: 'info',
          },
          { label: `e2e-redis-cluster-${name}` },
        );
      }
      targetId = await createTarget(
        admin,
        siteId,
        { latencyMs: 200, host: 'cluster-host' },
        'cluster-target',
      );
    }, 120_000);

    afterAll(async () => {
      await stopAll();
      await balancer?.close();
      await cluster?.stop();
      await database?.drop();
    });

    it('verifies new credentials through both replicas, every queue in one hash slot', async () => {
      const created = await createCredentials(admin, targetId, CREDENTIALS, 20);
      expect(created).toHaveLength(CREDENTIALS);
      await waitForValue(
        async () => {
          const all = await listCredentials(admin, { targetId });
          return all.length === CREDENTIALS && all.every((c) => c.status === 'in_sync');
        },
        { timeoutMs: 60_000, intervalMs: 500, message: 'every new credential to be in_sync' },
      );
      // The balancer spread the API and the agents over both replicas.
      for (const r of replicas)
        expect(balancer!.connections.get(`127.0.0.1:${r.port}`) ?? 0).toBeGreaterThan(0);

      // Each queue's keys (the site's, the scheduler's) live on one node: one hash tag, one slot.
      const nodesOf = new Map<string, Set<number>>();
      for (const port of cluster!.ports) {
        const { stdout } = await run('redis-cli', ['-p', String(port), '--scan', '--pattern', `${prefix}:*`]);
        for (const key of stdout.split('\n').filter(Boolean)) {
          const tag = /\{([^}]+)\}/.exec(key)?.[1] ?? `untagged ${key}`;
          nodesOf.set(tag, (nodesOf.get(tag) ?? new Set()).add(port));
        }
      }
      expect([...nodesOf.keys()].sort()).toEqual(['coordinator', `site-${siteId}`]);
      for (const [tag, nodes] of nodesOf) expect(nodes.size, `nodes holding {${tag}}`).toBe(1);
    }, 90_000);

    it('a sync run ends with every credential in_sync although a replica is killed -9 in the middle', async () => {
      const started = await expectStatus<SyncRunView>(
        admin.post('/sync-runs', { kind: 'verify', scope: { targetId } }),
        201,
        'POST /sync-runs',
      );
      expect(started.counts.impacted).toBe(CREDENTIALS);
      // In the middle: some results in, most still to come (about 80 a second at 16 slots × 200 ms).
      await waitForValue(
        async () => {
          const r = await getSyncRun(admin, started.id);
          return r.counts.success >= 20 && r.finishedAt === null;
        },
        { timeoutMs: 30_000, intervalMs: 50, message: 'the run to be under way' },
      );
      const [victim, survivor] = replicas as [CoordinatorProcess, CoordinatorProcess];
      victim.kill('SIGKILL');
      expect(await victim.exited).toBeNull();
      const before = (await getSyncRun(api(`${survivor.url}/api/v1`, ADMIN_TOKEN), started.id)).counts;
      expect(before.success).toBeLessThan(CREDENTIALS);

      // Polled through the balancer: a request on a connection of the killed replica fails once.
      const finished = await waitForValue(
        async () => {
          const r = await getSyncRun(admin, started.id);
          return r.finishedAt !== null ? r : false;
        },
        { timeoutMs: 90_000, intervalMs: 250, message: 'the sync run to finish' },
      );
      expect(finished.counts).toEqual({
        impacted: CREDENTIALS,
        success: CREDENTIALS,
        unsynced: 0,
        partial: 0,
        failed: 0,
      });
      expect(finished.outcome).toBe('success');
      const all = await listCredentials(api(`${survivor.url}/api/v1`, ADMIN_TOKEN), { targetId });
      expect(all).toHaveLength(CREDENTIALS);
      for (const c of all)
        expect({ id: c.id, status: c.status, job: c.job.state }).toEqual({
          id: c.id,
          status: 'in_sync',
          job: 'idle',
        });
    }, 150_000);
  },
);
