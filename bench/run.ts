#!/usr/bin/env node
/**
 * `npm run bench -- --credentials N`: measures the targets of docs/benchmarks.md with
 * real processes: one coordinator and two agents (children), Redis (REDIS_URL or a local
 * redis-server child) and PostgreSQL (DATABASE_URL or a fresh database on the local server, dropped
 * at the end). Prints a table: metric | value | target | ok. Every child is stopped at the end, on
 * error and on Ctrl-C too.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { AGENT_NODE_FLAGS } from '../agent/node-flags.js';
import { masterKeyFromBase64, SecretBox } from '../shared/crypto.js';
import type { CredentialView, SummaryView, SyncRunView } from '../shared/contracts/api.js';
import { stopChildrenYourselfOnSigterm } from '../tests/support/children.js';
import { api, type Api } from '../tests/support/operator-client.js';
import {
  startAgent,
  startCoordinator,
  type CoordinatorProcess,
  type ManagedProcess,
} from '../tests/support/processes.js';
import { ensureRedis, NoRedisError } from '../tests/support/redis.js';
import { sleep } from '../tests/support/wait.js';
import { bareBullmq } from './bare.js';
import { changeRun, statementStats, type Statement } from './rotation.js';
import { createTargets, PER_TARGET, seedViaApi, seedViaSql } from './seed.js';
import {
  cpuSeconds,
  cpuSecondsNamed,
  fmt,
  median,
  parseArgs,
  procStatusKb,
  Progress,
  quantile,
  table,
  type BenchArgs,
} from './support.js';
import { measureOnboarding, onboardingRows } from './onboarding.js';
import { measureTickCost } from './tick-cost.js';
import { syncNowUnderLoad } from './under-load.js';

/** Above this many credentials the full run with Sync now probes is left out (one more whole run). */
const UNDER_LOAD_MAX = 200_000;

const progress = new Progress();
const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const c = cleanups.pop()!;
      progress.show(`stopping: ${c.name}`);
      await c.run().catch((err: unknown) => progress.log(`cleanup of ${c.name} failed: ${String(err)}`));
    }
    progress.done();
  })();
  return cleaning;
}

const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh database on the server of `adminUrl`; dropped by the returned function. */
async function createDatabase(
  adminUrl: string,
  name: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const asAdmin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await asAdmin(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => asAdmin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

interface Row {
  metric: string;
  value: string;
  target: string;
  ok: boolean | undefined;
}

interface RouteStats {
  count: number;
  sum: number;
}

/** sum and count of the coordinator's request duration histogram, per route. */
async function routeStats(url: string): Promise<Map<string, RouteStats>> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const stats = new Map<string, RouteStats>();
  const re = /^sync_http_request_duration_seconds_(sum|count)\{([^}]*)\} ([0-9.e+-]+)$/gm;
  for (const m of text.matchAll(re)) {
    const route = /route="([^"]*)"/.exec(m[2]!)?.[1] ?? '?';
    const method = /method="([^"]*)"/.exec(m[2]!)?.[1] ?? '?';
    const key = `${method} ${route}`;
    const s = stats.get(key) ?? { count: 0, sum: 0 };
    if (m[1] === 'sum') s.sum += Number(m[3]);
    else s.count += Number(m[3]);
    stats.set(key, s);
  }
  return stats;
}

async function waitInitialVerifications(client: Api, n: number, timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const { byStatus } = await client.get<SummaryView>('/api/v1/summary');
    const inSync = byStatus.in_sync ?? 0;
    progress.show(
      `initial verifications: ${inSync}/${n} in_sync (pending ${byStatus.pending_sync ?? 0}, being synced ${byStatus.being_synced ?? 0}, out_of_sync ${byStatus.out_of_sync ?? 0})`,
    );
    if (inSync >= n && (byStatus.pending_sync ?? 0) + (byStatus.being_synced ?? 0) === 0) return;
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `initial verifications did not settle in ${timeoutMs / 1000} s: ${JSON.stringify(byStatus)}`,
      );
    }
    await sleep(250);
  }
}

/** POST a verify run of everything; the time from the POST to its finishedAt. */
async function verifyRun(client: Api, label: string): Promise<{ ms: number; run: SyncRunView }> {
  const t0 = Date.now();
  const created = await client.post<SyncRunView>('/api/v1/sync-runs', { kind: 'verify', scope: {} });
  for (;;) {
    const run = await client.get<SyncRunView>(`/api/v1/sync-runs/${created.id}`);
    if (run.finishedAt) return { ms: Date.parse(run.finishedAt) - t0, run };
    const c = run.counts;
    const done = c.success + c.failed + c.unsynced + c.partial;
    const secs = (Date.now() - t0) / 1000;
    progress.show(`${label}: ${done}/${c.impacted} (${fmt(done / secs)}/s so far)`);
    await sleep(20);
  }
}

/** "Sync now" to visible result: POST verify, then GET every 5 ms until lastResultAt changes. */
async function syncNowLatency(client: Api, id: string, tries: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < tries; i++) {
    progress.show(`sync now latency: try ${i + 1}/${tries}`);
    const before = (await client.get<CredentialView>(`/api/v1/credentials/${id}`)).lastResultAt;
    const t0 = performance.now();
    await client.post(`/api/v1/credentials/${id}/verify`);
    for (;;) {
      const view = await client.get<CredentialView>(`/api/v1/credentials/${id}`);
      if (view.lastResultAt !== before && view.job.state === 'idle') break;
      if (performance.now() - t0 > 30_000) throw new Error('sync now: no result within 30 s');
      await sleep(5);
    }
    samples.push(performance.now() - t0);
    await sleep(50); // idle system between tries
  }
  return samples;
}

async function main(args: BenchArgs): Promise<void> {
  const n = args.credentials;
  const work = mkdtempSync(join(tmpdir(), 'bench-'));
  const logDir = join(work, 'logs');
  let keepLogs = true;
  cleanups.push({
    name: 'scratch folder',
    run: async () => {
      if (!keepLogs) rmSync(work, { recursive: true, force: true });
    },
  });
  progress.log(
    `bench: ${n} credentials, ${args.agents} agents × concurrency ${args.concurrency}, ${args.runs} runs (logs: ${logDir})`,
  );

  // Redis and PostgreSQL.
  progress.show('starting redis');
  const redis = await ensureRedis();
  cleanups.push({ name: 'redis', run: () => redis.stop() });
  let databaseUrl = process.env.DATABASE_URL;
  const suffix = randomBytes(4).toString('hex');
  if (!databaseUrl) {
    progress.show('creating the database');
    const db = await createDatabase(ADMIN_URL, `bench_${suffix}`);
    databaseUrl = db.url;
    cleanups.push({ name: 'database', run: db.drop });
  }
  const masterKey = randomBytes(32).toString('base64');
  const adminToken = randomBytes(24).toString('base64url');

  // The coordinator and the agents, as real processes.
  progress.show('starting the coordinator');
  const coordinator: CoordinatorProcess = await startCoordinator(
    {
      DATABASE_URL: databaseUrl,
      DATA_DIR: join(work, 'coordinator'),
      REDIS_URL: redis.url,
      PORT: '0',
      HOST: '127.0.0.1',
      COORDINATOR_ADMIN_TOKEN: adminToken,
      COORDINATOR_MASTER_KEY: masterKey,
      COORDINATOR_MASTER_KEY_FILE: undefined,
      QUEUE_PREFIX: `bench-${suffix}`,
      LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    },
    {
      label: 'coordinator',
      logFile: join(logDir, 'coordinator.log'),
      inheritEnv: true,
      timeoutMs: 60_000,
      // e.g. BENCH_COORDINATOR_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile it.
      nodeArgs: (process.env.BENCH_COORDINATOR_NODE_ARGS ?? '').split(' ').filter(Boolean),
    },
  );
  cleanups.push({ name: 'coordinator', run: () => coordinator.stop(15_000) });
  const client = api(coordinator.url, adminToken, 64);
  cleanups.push({ name: 'http client', run: () => client.close() });
  const onboard = async () =>
    args.onboard > 0
      ? onboardingRows(
          await measureOnboarding({
            client,
            url: coordinator.url,
            token: adminToken,
            n: args.onboard,
            workDir: work,
            onProgress: (text) => progress.show(text),
          }),
          fmt,
        )
      : [];
  if (args.onboardOnly) {
    const rows = await onboard();
    progress.done();
    console.log(
      table(
        ['metric', 'value', 'target', 'ok'],
        rows.map((r) => [r.metric, r.value, r.target, r.ok ? 'yes' : 'NO']),
      ),
    );
    return;
  }
  const site = await client.post<{ id: string }>('/api/v1/sites', { name: 'bench' });
  const agents: ManagedProcess[] = [];
  for (let i = 0; i < args.agents; i++) {
    progress.show(`starting agent ${i + 1}/${args.agents}`);
    const { token } = await client.post<{ token: string }>(`/api/v1/sites/${site.id}/enrollment-tokens`, {});
    const agent = await startAgent(
      {
        COORDINATOR_URL: coordinator.url,
        ENROLLMENT_TOKEN: token,
        AGENT_STATE_DIR: join(work, `agent-${i + 1}`),
        AGENT_NAME: `bench-agent-${i + 1}`,
        AGENT_CONCURRENCY: String(args.concurrency),
        AGENT_PER_HOST_LIMIT: '1000',
        // info: 'agent ready' tells it is up (the agent logs little at info: no line per job).
        LOG_LEVEL: process.env.LOG_LEVEL || 'info',
      },
      {
        label: `agent-${i + 1}`,
        logFile: join(logDir, `agent-${i + 1}.log`),
        inheritEnv: true,
        // The shipped launchers' options (agent/node-flags.ts); BENCH_AGENT_NODE_ARGS replaces them
        // (e.g. '--max-semi-space-size=8' to try another V8 setting, '' for Node's defaults).
        nodeArgs: (process.env.BENCH_AGENT_NODE_ARGS ?? AGENT_NODE_FLAGS.join(' '))
          .split(' ')
          .filter(Boolean),
        timeoutMs: 60_000,
      },
    );
    agents.push(agent);
    cleanups.push({ name: `agent ${i + 1}`, run: () => agent.stop(15_000) });
  }

  // Targets and credentials.
  const targetCount = Math.max(1, Math.ceil(n / PER_TARGET));
  progress.show(`creating ${targetCount} simulated targets`);
  const targets = await createTargets(client, site.id, targetCount);
  const viaApi = args.seed === 'api' ? n : args.seed === 'sql' ? 0 : Math.min(n, 2000);
  let apiRate = NaN;
  const seedStarted = performance.now();
  if (viaApi > 0) {
    await seedViaApi(client, targets, viaApi, (done) =>
      progress.show(`creating credentials through the API: ${done}/${viaApi}`),
    );
    apiRate = (viaApi / (performance.now() - seedStarted)) * 1000;
  }
  const seedState = args.seedState === 'auto' ? (n > 100_000 ? 'settled' : 'due') : args.seedState;
  if (viaApi < n) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    try {
      await seedViaSql(pool, {
        siteId: site.id,
        targets,
        box: new SecretBox(masterKeyFromBase64(masterKey)),
        from: viaApi,
        to: n,
        state: seedState,
        onProgress: (done) => progress.show(`inserting credentials in SQL: ${viaApi + done}/${n}`),
      });
    } finally {
      await pool.end();
    }
  }
  const seedMs = performance.now() - seedStarted;
  const seedHow =
    viaApi === n
      ? `all ${n} through POST /api/v1/credentials (32 in parallel)`
      : viaApi === 0
        ? `all ${n} inserted in SQL (sealed with SecretBox, ${seedState === 'due' ? 'due now: the scheduler queues them' : 'settled: in_sync, nothing due'})`
        : `${viaApi} through POST /api/v1/credentials (32 in parallel), ${n - viaApi} inserted in SQL (sealed with SecretBox, ${seedState === 'due' ? 'due now' : 'settled: in_sync, nothing due'})`;
  progress.log(`credentials: ${seedHow}, ${fmt(seedMs / 1000, 1)} s`);
  await waitInitialVerifications(client, n, Math.max(120_000, n * 20));
  progress.log(
    `initial verifications settled ${fmt((performance.now() - seedStarted) / 1000, 1)} s after the first create`,
  );

  // End-to-end verification runs.
  const redisPid = redis.pid;
  const cpuNow = async () => ({
    coordinator: await cpuSeconds(coordinator.pid),
    agents: (await Promise.all(agents.map((a) => cpuSeconds(a.pid)))).reduce((a, b) => a + b, 0),
    redis: redisPid ? await cpuSeconds(redisPid) : NaN,
    postgres: await cpuSecondsNamed('postgres'),
  });
  type Cpu = Awaited<ReturnType<typeof cpuNow>>;
  /** Share of one core each process used between two snapshots over `wall` seconds. */
  const cpuSplit = (before: Cpu, after: Cpu, wall: number) =>
    (['coordinator', 'agents', 'postgres', 'redis'] as const)
      .map((k) =>
        k === 'redis' && !redisPid
          ? 'redis n/a (external)'
          : `${k} ${fmt(((after[k] - before[k]) / wall) * 100)} %`,
      )
      .join(', ');
  /** `sum` plus what each process used between `before` and `after`. */
  const addCpu = (sum: Cpu, after: Cpu, before: Cpu): Cpu => ({
    coordinator: sum.coordinator + after.coordinator - before.coordinator,
    agents: sum.agents + after.agents - before.agents,
    redis: sum.redis + after.redis - before.redis,
    postgres: sum.postgres + after.postgres - before.postgres,
  });
  const e2eStats = await statementStats(databaseUrl);
  if (typeof e2eStats !== 'string') await e2eStats.reset();
  const routesBefore = await routeStats(coordinator.url);
  // Each e2e run is followed by a bare BullMQ run on the same Redis, so a pair sees the same machine
  // (a shared, noisy one drifts over a minute); the ratio is the median of the pairs' ratios. CPU,
  // requests and statements are counted over the e2e runs only (the bare loop leaves the coordinator,
  // agents and PostgreSQL idle).
  const e2e: number[] = [];
  const bare: number[] = [];
  const ratios: number[] = [];
  const zeroCpu: Cpu = { coordinator: 0, agents: 0, redis: 0, postgres: 0 };
  let cpuUsed = zeroCpu;
  let runsWall = 0;
  let verified = 0;
  for (let r = 1; r <= args.runs; r++) {
    const before = await cpuNow();
    const started = performance.now();
    const { ms, run } = await verifyRun(client, `e2e run ${r}/${args.runs}`);
    runsWall += (performance.now() - started) / 1000;
    const after = await cpuNow();
    cpuUsed = addCpu(cpuUsed, after, before);
    verified += run.counts.impacted;
    const rate = (run.counts.impacted / ms) * 1000;
    e2e.push(rate);
    progress.log(
      `e2e run ${r}: ${run.counts.impacted} verifications in ${fmt(ms)} ms = ${fmt(rate)}/s (outcome ${run.outcome}, success ${run.counts.success}, failed ${run.counts.failed}, unsynced ${run.counts.unsynced})`,
    );
    const bareMs = await bareBullmq(redis.url, n, args.agents * args.concurrency, (done) =>
      progress.show(`bare BullMQ run ${r}/${args.runs}: ${done}/${n}`),
    );
    bare.push((n / bareMs) * 1000);
    ratios.push(rate / bare.at(-1)!);
    progress.log(`bare BullMQ run ${r}: ${n} jobs in ${fmt(bareMs)} ms = ${fmt((n / bareMs) * 1000)}/s`);
  }
  const routesAfter = await routeStats(coordinator.url);
  const e2eStatements = typeof e2eStats === 'string' ? e2eStats : await e2eStats.top(12);
  if (typeof e2eStats !== 'string') await e2eStats.close();

  // "Sync now" on an idle system.
  const first = await client.get<{ items: CredentialView[] }>('/api/v1/credentials?limit=1');
  const syncNow = await syncNowLatency(client, first.items[0]!.id, args.syncNowTries);

  // "Sync now" while a full verification run keeps the agents busy.
  let underLoad: Awaited<ReturnType<typeof syncNowUnderLoad>> | undefined;
  if (args.underLoad && n <= UNDER_LOAD_MAX) {
    const candidates = await client.get<{ items: CredentialView[] }>('/api/v1/credentials?limit=500');
    underLoad = await syncNowUnderLoad(
      client,
      candidates.items.map((c) => c.id),
      (text) => progress.show(text),
    );
    progress.log(
      `full run with Sync now probes: ${underLoad.run.counts.impacted} in ${fmt(underLoad.runMs)} ms, ${underLoad.samples.length} probes, p50 ${fmt(quantile(underLoad.samples, 0.5))} ms`,
    );
  } else {
    progress.log(
      `Sync now under load: left out (--no-under-load, or above ${fmt(UNDER_LOAD_MAX)} credentials: one more whole run)`,
    );
  }

  // Mass rotation: a change run of every credential.
  let rotation: { ms: number; run: SyncRunView; cpu: string; statements: Statement[] | string } | undefined;
  if (args.rotate) {
    const stats = await statementStats(databaseUrl);
    if (typeof stats !== 'string') await stats.reset();
    const before = await cpuNow();
    const started = performance.now();
    const { ms, run } = await changeRun(client, (text) => progress.show(text));
    const cpu = cpuSplit(before, await cpuNow(), (performance.now() - started) / 1000);
    const statements: Statement[] | string = typeof stats === 'string' ? stats : await stats.top(12);
    if (typeof stats !== 'string') await stats.close();
    rotation = { ms, run, cpu, statements };
    progress.log(
      `mass rotation: ${run.counts.impacted} changes in ${fmt(ms)} ms = ${fmt((run.counts.impacted / ms) * 1000)}/s (outcome ${run.outcome}, success ${run.counts.success}, failed ${run.counts.failed}, unsynced ${run.counts.unsynced}); CPU: ${cpu}`,
    );
  }

  // Peak memory of the children (the kernel's high-water mark).
  const coordinatorHwm = ((await procStatusKb(coordinator.pid, 'VmHWM')) ?? NaN) / 1024;
  const agentHwm = Math.max(
    ...(await Promise.all(agents.map((a) => procStatusKb(a.pid, 'VmHWM')))).map((k) => (k ?? NaN) / 1024),
  );

  // Scheduler tick cost, in-process, on a database of its own.
  let tickDb: string | undefined;
  try {
    const serverUrl = new URL(databaseUrl);
    serverUrl.pathname = '/postgres';
    const db = await createDatabase(serverUrl.toString(), `bench_tick_${suffix}`);
    tickDb = db.url;
    cleanups.push({ name: 'tick database', run: db.drop });
  } catch (err) {
    progress.log(`tick cost: no database of its own on the server (${(err as Error).message}); using PGlite`);
  }
  const tickCost = await measureTickCost({
    redisUrl: redis.url,
    databaseUrl: tickDb,
    masterKey,
    n,
    onProgress: (text) => progress.show(text),
  });
  // Onboarding last: its credentials (queued, on a site without agents) stay out of the runs above.
  const onboarding = await onboard();
  progress.done();

  // Report.
  const e2eMedian = median(e2e);
  const bareMedian = median(bare);
  const ratio = median(ratios);
  const p50 = quantile(syncNow, 0.5);
  const p95 = quantile(syncNow, 0.95);
  const p99 = quantile(syncNow, 0.99);
  const tickOk = tickCost.large <= Math.max(2 * tickCost.small, tickCost.small + 2);
  const rows: Row[] = [
    {
      metric: `e2e verifications/s (median of ${args.runs}, ${n} credentials)`,
      value: fmt(e2eMedian),
      target: '≥ 3,000/s',
      ok: e2eMedian >= 3000,
    },
    {
      metric: `bare BullMQ add+process/s (median of ${args.runs})`,
      value: fmt(bareMedian),
      target: '',
      ok: undefined,
    },
    {
      metric: `ratio e2e / bare BullMQ (median of ${args.runs} pairs, each e2e run then a bare one)`,
      value: fmt(ratio, 3),
      target: '≥ 0.30',
      ok: ratio >= 0.3,
    },
    {
      metric: `sync now → visible, p50 (${syncNow.length} tries)`,
      value: `${fmt(p50, 1)} ms`,
      target: '< 50 ms',
      ok: p50 < 50,
    },
    {
      metric: `sync now → visible, p95 / p99 (${syncNow.length} tries)`,
      value: `${fmt(p95, 1)} / ${fmt(p99, 1)} ms`,
      target: '',
      ok: undefined,
    },
    ...(underLoad
      ? [
          {
            metric: `sync now → visible under a full sync run, p50 / p99 (${underLoad.samples.length} probes, run of ${underLoad.run.counts.impacted} in ${fmt(underLoad.runMs / 1000, 1)} s)`,
            value: `${fmt(quantile(underLoad.samples, 0.5))} / ${fmt(quantile(underLoad.samples, 0.99))} ms`,
            target: 'p50 < 50, p99 < 250 ms',
            ok: quantile(underLoad.samples, 0.5) < 50 && quantile(underLoad.samples, 0.99) < 250,
          },
        ]
      : []),
    ...(rotation
      ? [
          {
            metric: `mass rotation: change run of ${rotation.run.counts.impacted} (success ${rotation.run.counts.success})`,
            value: `${fmt(rotation.ms / 1000, 1)} s = ${fmt((rotation.run.counts.impacted / rotation.ms) * 1000)}/s`,
            target: 'measured',
            ok: undefined,
          },
        ]
      : []),
    {
      metric: `scheduler tick, nothing due: ${tickCost.smallCount} → ${tickCost.largeCount} credentials (${tickCost.database})`,
      value: `${fmt(tickCost.small, 2)} → ${fmt(tickCost.large, 2)} ms`,
      target: 'same cost (≤ 2× or +2 ms)',
      ok: tickOk,
    },
    {
      metric: 'coordinator peak RSS (VmHWM)',
      value: `${fmt(coordinatorHwm, 1)} MB`,
      target: '≤ 300 MB',
      ok: coordinatorHwm <= 300,
    },
    {
      metric: `agent peak RSS (VmHWM, max of ${agents.length}, concurrency ${args.concurrency})`,
      value: `${fmt(agentHwm, 1)} MB`,
      target: '≤ 150 MB',
      ok: agentHwm <= 150,
    },
    {
      metric: 'credential creation through the API',
      value: Number.isNaN(apiRate) ? 'not used' : `${fmt(apiRate)}/s`,
      target: '',
      ok: undefined,
    },
    ...onboarding,
  ];
  const perRoute = [...routesAfter.entries()]
    .map(([route, s]) => {
      const b = routesBefore.get(route) ?? { count: 0, sum: 0 };
      return { route, count: s.count - b.count, sum: s.sum - b.sum };
    })
    .filter((r) => r.count > 0 && !r.route.includes('/metrics'))
    .sort((a, b) => b.sum - a.sum);
  console.log('');
  console.log(`Seeding: ${seedHow}.`);
  console.log('');
  console.log(
    table(
      ['metric', 'value', 'target', 'ok'],
      rows.map((r) => [r.metric, r.value, r.target, r.ok === undefined ? '' : r.ok ? 'yes' : 'NO']),
    ),
  );
  console.log('');
  console.log(
    `CPU during the e2e runs (${fmt(runsWall, 1)} s wall; 100 % = one core): ${cpuSplit(zeroCpu, cpuUsed, runsWall)}`,
  );
  console.log(
    `CPU per verification: ${(['coordinator', 'agents', 'postgres', 'redis'] as const)
      .map((k) =>
        k === 'redis' && !redisPid ? 'redis n/a' : `${k} ${fmt((cpuUsed[k] / verified) * 1e6)} µs`,
      )
      .join(', ')}`,
  );
  console.log('Coordinator requests during the e2e runs:');
  console.log(
    table(
      ['route', 'calls', 'mean ms', 'total s'],
      perRoute.map((r) => [r.route, fmt(r.count), fmt((r.sum / r.count) * 1000, 2), fmt(r.sum, 2)]),
    ),
  );
  printStatements('the e2e runs', e2eStatements);
  if (rotation) {
    console.log('');
    console.log(`Mass rotation, CPU (100 % = one core): ${rotation.cpu}`);
    printStatements('the mass rotation', rotation.statements);
  }
  keepLogs = process.env.BENCH_KEEP_LOGS === '1';
  if (keepLogs) console.log(`Logs kept in ${logDir}`);
}

/** PostgreSQL's top statements over a phase, or why they are not known. */
function printStatements(phase: string, statements: Statement[] | string): void {
  console.log('');
  if (typeof statements === 'string') {
    console.log(`PostgreSQL during ${phase}: pg_stat_statements not available: ${statements}`);
    return;
  }
  console.log(`PostgreSQL during ${phase} (pg_stat_statements, top by total time):`);
  console.log(
    table(
      ['total s', 'calls', 'mean ms', 'rows', 'statement'],
      statements.map((s) => [
        fmt(s.totalMs / 1000, 2),
        fmt(s.calls),
        fmt(s.meanMs, 3),
        fmt(s.rows),
        s.query.slice(0, 140),
      ]),
    ),
  );
}

let interrupted = false;
stopChildrenYourselfOnSigterm();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress.log(`bench: ${signal}: stopping everything`);
    void cleanup().then(() => process.exit(130));
  });
}

let args: BenchArgs;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
main(args)
  .then(async () => {
    await cleanup();
    process.exit(0);
  })
  .catch(async (err: unknown) => {
    progress.done();
    console.error(
      `bench: ${err instanceof Error ? (err instanceof NoRedisError ? err.message : err.stack) : String(err)}`,
    );
    await cleanup();
    process.exit(1);
  });
