/**
 * The coordinator on Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME): a private Redis and a
 * sentinel watching it; the coordinator asks the sentinel for the master and queues work there.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { spawnChild, type Child } from '../support/children.js';
import { createCredential, createSite, createTarget } from '../support/fixtures.js';
import { freePort } from '../support/ports.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

const NAME = 'pws-master';
let master: PrivateRedis;
let sentinel: Child;
let sentinelPort: number;
let dir: string;
let c: InProcessCoordinator;

beforeAll(async () => {
  master = await startPrivateRedis();
  dir = mkdtempSync(join(tmpdir(), 'test-redis-sentinel-'));
  sentinelPort = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${NAME} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${NAME} 5000`,
    ].join('\n') + '\n',
  );
  sentinel = spawnChild(process.env.REDIS_SERVER_BIN ?? 'redis-server', [conf, '--sentinel'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const probe = new Redis({
    port: sentinelPort,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  probe.on('error', () => undefined);
  await waitFor(
    async () => {
      if (probe.status === 'wait' || probe.status === 'end') await probe.connect().catch(() => undefined);
      const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', NAME)) as string[] | null;
      return addr?.[1] === String(master.port);
    },
    { timeoutMs: 15_000, message: 'the sentinel to name the master' },
  );
  probe.disconnect();
  c = await startInProcessCoordinator('redis-sentinel', master.url, {
    REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
    REDIS_SENTINEL_NAME: NAME,
  });
}, 60_000);

afterAll(async () => {
  await c?.close();
  await sentinel?.stop(5_000);
  await master?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('finds the master through the sentinel and queues work on it', async () => {
  expect(c.ctx.config.redis.mode).toBe('sentinel');
  expect(c.ctx.queues.connection.options).toMatchObject({ name: NAME, sentinels: [{ port: sentinelPort }] });
  const siteId = (await createSite(c.admin)).id;
  const credential = await createCredential(c.admin, await createTarget(c.admin, siteId));
  // Its first verification waits in the site's queue, on the master the sentinel named.
  await waitFor(async () => (await c.ctx.queues.counts(siteId)).prioritized === 1, {
    message: 'the first verification in the site queue',
  });
  const direct = new Redis(master.url);
  try {
    const keys = await direct.keys(`${c.prefix}:{site-${siteId}}:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(await direct.exists(`${c.prefix}:{site-${siteId}}:site-${siteId}:v-${credential.id}`)).toBe(1);
  } finally {
    direct.disconnect();
  }
});
