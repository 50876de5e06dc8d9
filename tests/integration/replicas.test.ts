import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadCoordinatorConfig } from '../../coordinator/config.js';
import { runExclusive, TICK_LOCK } from '../../coordinator/scheduler/runner.js';
import { startCoordinator, type Coordinator } from '../../coordinator/server.js';
import { connectPg } from '../../coordinator/store/db.js';
import { migrate } from '../../coordinator/store/migrations.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import { createCredential, createSite, createTarget, FakeAgent, held } from '../support/fixtures.js';
import { api } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { uniquePrefix } from '../support/redis.js';
import { sleep, waitFor } from '../support/wait.js';

/**
 * Two coordinator replicas on one database and one Redis: started at the same moment on a fresh
 * database (both migrate), and their schedulers, which run one tick at a time across replicas.
 */
let database: TestDatabase;
const replicas: Coordinator[] = [];

beforeAll(async () => {
  database = await createTestDatabase('replicas');
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: inject('redisUrl'),
    QUEUE_PREFIX: uniquePrefix('replicas'),
    PORT: '0',
    HOST: '127.0.0.1',
    COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
    COORDINATOR_MASTER_KEY: newMasterKey(),
    LOG_LEVEL: 'error',
    RUN_SCHEDULER: 'true',
    SCHEDULER_TICK_MS: '200',
  };
  // Both at once on the empty database: each runs the migrations at start.
  replicas.push(
    ...(await Promise.all([
      startCoordinator(loadCoordinatorConfig(env)),
      startCoordinator(loadCoordinatorConfig(env)),
    ])),
  );
});
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.close()));
  await database?.drop();
});

describe('two replicas starting at once on a fresh database', () => {
  it('both start, and every migration is applied exactly once', async () => {
    expect(replicas).toHaveLength(2);
    const { rows } = await replicas[0]!.ctx.db.query<{ version: number; n: number }>(
      'SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version',
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    for (const r of replicas) {
      expect((await api(r.url).get('/readyz')).status).toBe(200);
    }
  });

  it('plain migrate() from several pools at once on another fresh database: no error, one row per version', async () => {
    const fresh = await createTestDatabase('replicas-migrate');
    const pools = Array.from({ length: 4 }, () => connectPg(fresh.url, 2));
    try {
      const applied = await Promise.all(pools.map((db) => migrate(db)));
      // One of them applied everything; the others found it done.
      const all = applied.filter((a) => a.length > 0);
      expect(all).toHaveLength(1);
      expect(applied.filter((a) => a.length === 0)).toHaveLength(3);
      const { rows } = await pools[0]!.query<{ n: number; distinct: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT version)::int AS distinct FROM schema_migrations',
      );
      expect(rows[0]!.n).toBe(rows[0]!.distinct);
      expect(rows[0]!.n).toBe(all[0]!.length);
    } finally {
      await Promise.all(pools.map((db) => db.close()));
      await fresh.drop();
    }
  });
});

describe('one tick at a time across replicas', () => {
  it("runExclusive: of two replicas asking at once, one runs and the other skips; after it, the other's turn", async () => {
    const key = 99_000_001; // not the scheduler's own: its ticks run meanwhile
    const intervals: [number, number][] = [];
    const slow = async () => {
      const start = Date.now();
      await sleep(300);
      intervals.push([start, Date.now()]);
      return 'ran';
    };
    const both = await Promise.all(replicas.map((r) => runExclusive(r.ctx, key, slow)));
    expect(both.filter((d) => d.ran)).toHaveLength(1);
    expect(both.filter((d) => !d.ran)).toHaveLength(1);
    expect(intervals).toHaveLength(1);
    // Released after the work: each replica in turn gets it.
    for (const r of replicas)
      expect(await runExclusive(r.ctx, key, slow)).toEqual({ ran: true, value: 'ran' });
    // A failing piece of work releases the lock too.
    await expect(
      runExclusive(replicas[0]!.ctx, key, () => Promise.reject(new Error('boom'))),
    ).rejects.toThrow('boom');
    expect((await runExclusive(replicas[1]!.ctx, key, slow)).ran).toBe(true);
  });

  it("the schedulers' ticks wait while the tick lock is held elsewhere, and resume once it is free", async () => {
    const [a] = replicas;
    const admin = api(`${a!.url}/api/v1`, ADMIN_TOKEN);
    const siteId = (await createSite(admin)).id;
    const targetId = await createTarget(admin, siteId);
    const agent = await FakeAgent.enroll(a!.url, admin, siteId);
    const cred = await createCredential(admin, targetId);
    const jobs = await agent.claim(10, 2_000);
    expect(jobs.map((j) => j.credentialId)).toEqual([cred.id]);
    expect((await agent.report(jobs.map(held))).accepted).toHaveLength(1);
    const jobState = async () =>
      (
        await a!.ctx.db.query<{ job_state: string }>('SELECT job_state FROM credentials WHERE id = $1', [
          cred.id,
        ])
      ).rows[0]!.job_state;
    expect(await jobState()).toBe('idle');

    // Another session holds the tick lock (a replica in the middle of a long tick).
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      // Between two of the replicas' own ticks (each holds the lock while it runs).
      await waitFor(
        async () =>
          (await holder.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [TICK_LOCK])).rows[0]!
            .ok,
        { intervalMs: 20, message: 'the tick lock' },
      );
      await a!.ctx.db.query('UPDATE credentials SET next_verify_at = now() WHERE id = $1', [cred.id]);
      await sleep(1_500); // ~7 tick periods on each replica
      expect(await jobState()).toBe('idle');
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1)', [TICK_LOCK]);
      await holder.end();
    }
    await waitFor(async () => (await jobState()) === 'queued', {
      timeoutMs: 5_000,
      message: 'a tick to queue the due credential once the lock is free',
    });
  });
});
