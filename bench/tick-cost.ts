/**
 * Scheduler tick cost when nothing is due, with 1,000 and with N credentials: an in-process
 * coordinator (RUN_SCHEDULER=false, so only our calls tick) on a database of its own.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCoordinatorConfig } from '../coordinator/config.js';
import { tick } from '../coordinator/scheduler/tick.js';
import { startCoordinator } from '../coordinator/server.js';
import { PER_TARGET, seedViaSql } from './seed.js';
import { median } from './support.js';

export interface TickCost {
  small: number;
  large: number;
  smallCount: number;
  largeCount: number;
  database: string;
}

const SAMPLES = 30;

export async function measureTickCost(opts: {
  redisUrl: string;
  /** A fresh database URL, or undefined for PGlite in a temporary folder. */
  databaseUrl: string | undefined;
  masterKey: string;
  n: number;
  onProgress: (text: string) => void;
}): Promise<TickCost> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-tick-'));
  const config = loadCoordinatorConfig({
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    DATA_DIR: dataDir,
    REDIS_URL: opts.redisUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    COORDINATOR_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
    COORDINATOR_MASTER_KEY: opts.masterKey,
    QUEUE_PREFIX: `bench-tick-${randomBytes(4).toString('hex')}`,
    RUN_SCHEDULER: 'false',
    LOG_LEVEL: 'warn',
  });
  const coordinator = await startCoordinator(config);
  const { ctx } = coordinator;
  try {
    const siteId = randomUUID();
    await ctx.db.query('INSERT INTO sites (id, name) VALUES ($1, $2)', [siteId, 'tick-bench']);
    const targets: string[] = [];
    const targetCount = Math.max(1, Math.ceil(opts.n / PER_TARGET));
    for (let i = 0; i < targetCount; i++) targets.push(randomUUID());
    await ctx.db.query(
      `INSERT INTO targets (id, site_id, name, kind, connection)
       SELECT u.id, $2, 'sim-' || u.ord, 'simulated', '{"latencyMs":0}'::jsonb
         FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ord)`,
      [targets, siteId],
    );
    const timeTicks = async (label: string): Promise<number> => {
      await ctx.db.query('ANALYZE credentials');
      for (let i = 0; i < 3; i++) await tick(ctx); // warm up (plans, caches)
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        opts.onProgress(`tick cost: ${label}, sample ${i + 1}/${SAMPLES}`);
        const started = performance.now();
        const r = await tick(ctx);
        samples.push(performance.now() - started);
        if (r.verify + r.change + r.groups + r.stale > 0)
          throw new Error(`tick found work due (${JSON.stringify(r)})`);
      }
      return median(samples);
    };
    const smallCount = Math.min(1000, opts.n);
    const seed = (from: number, to: number) =>
      seedViaSql(ctx.db, {
        siteId,
        targets,
        box: ctx.box,
        from,
        to,
        state: 'settled',
        onProgress: (done) => opts.onProgress(`tick cost: inserting credentials ${from + done}/${to}`),
      });
    await seed(0, smallCount);
    const small = await timeTicks(`${smallCount} credentials`);
    await seed(smallCount, opts.n);
    const large = await timeTicks(`${opts.n} credentials`);
    return { small, large, smallCount, largeCount: opts.n, database: ctx.db.kind };
  } finally {
    await coordinator.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
