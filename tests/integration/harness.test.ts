import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../support/postgres.js';
import { freePort } from '../support/ports.js';
import { startPrivateRedis, uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

const clients: Redis[] = [];
const connect = (url: string): Redis => {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  clients.push(client);
  return client;
};
afterAll(() => {
  for (const client of clients) client.disconnect();
});

describe('test harness', () => {
  it("provides the run's Redis, shared by prefix", async () => {
    const redis = connect(inject('redisUrl'));
    expect(await redis.ping()).toBe('PONG');
    const prefix = uniquePrefix('harness');
    expect(prefix).toMatch(/^t-harness-[0-9a-f]{8}$/);
    expect(uniquePrefix('harness')).not.toBe(prefix);
    await redis.set(`${prefix}:k`, 'v', 'EX', 60);
    expect(await redis.get(`${prefix}:k`)).toBe('v');
  });

  it('restarts a private Redis on the same port, with its keys gone', async () => {
    const server = await startPrivateRedis();
    try {
      expect(server.url).not.toBe(inject('redisUrl'));
      const redis = connect(server.url);
      await redis.set('survives', 'no');
      await server.restart();
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(await waitFor(() => redis.ping(), { message: 'PING after restart' })).toBe('PONG');
      expect(await redis.get('survives')).toBeNull();
      await redis.set('flushed', 'yes');
      await server.flushall();
      expect(await redis.dbsize()).toBe(0);
      redis.disconnect();
    } finally {
      await server.stop();
    }
  });

  it('creates a database of its own and drops it', async () => {
    const db = await createTestDatabase('Harness Test!');
    expect(db.name).toMatch(/^t_harness_test_[0-9a-f]{10}$/);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ name: string }>('SELECT current_database() AS name');
    expect(rows[0]?.name).toBe(db.name);
    // Dropping ends open sessions (WITH FORCE): the client above is still connected.
    client.on('error', () => undefined);
    await db.drop();
    await client.end().catch(() => undefined);
    const admin = new pg.Client({
      connectionString: process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    });
    await admin.connect();
    const left = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    await admin.end();
    expect(left.rowCount).toBe(0);
    await db.drop();
  });

  it('hands out distinct free ports', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    expect(new Set(ports).size).toBe(3);
  });

  it('waitFor returns the first truthy value and names the last one on timeout', async () => {
    let calls = 0;
    expect(await waitFor(() => ++calls >= 3 && calls, { intervalMs: 1 })).toBe(3);
    await expect(waitFor(() => 0, { timeoutMs: 30, message: 'never' })).rejects.toThrow(
      /waiting for never; last value: 0/,
    );
  });
});
