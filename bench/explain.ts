/**
 * What the operator surfaces cost PostgreSQL at scale: seeds a fresh database with 100,000
 * credentials (10 sites, 1,000 targets), 500,000 audit events, 20,000 sync runs (one with 100,000
 * items) and 50 sync groups, starts an in-process coordinator on it, sends the requests the
 * dashboard and syncctl send, records the SQL each one runs, and times that SQL with
 * EXPLAIN ANALYZE (median of 5). With --compare it then drops the indexes of migration 5 and
 * measures again. Not a timed test: it prints a table (quoted in docs/benchmarks.md).
 *
 *   npm run build && node dist/bench/explain.js [--credentials 100000] [--compare] [--keep]
 *
 * env: REDIS_URL (default redis://127.0.0.1:6379; keys under a fresh prefix, removed at the end),
 *      BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { loadCoordinatorConfig } from '../coordinator/config.js';
import { encodeCursor } from '../coordinator/http/cursor.js';
import { startCoordinator } from '../coordinator/server.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = value('--credentials', 100_000);
const SAMPLES = 5;
const adminUrl = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The search and sort indexes of migrations 5 and 8 (dropped for the --compare column). */
const V5_INDEXES = [
  'credentials_suspended_site',
  'credentials_status_changed',
  'credentials_last_verified',
  'credentials_reason',
  'targets_name',
  'credential_names_trgm',
  'targets_name_trgm',
  'audit_events_object',
  'audit_events_action',
  'sync_runs_site',
  'sync_runs_group',
];

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function seed(db: pg.Client, n: number): Promise<void> {
  const perTarget = 100;
  const targets = Math.max(1, Math.ceil(n / perTarget));
  const sites = 10;
  await db.query(`INSERT INTO sites (id, name) SELECT gen_random_uuid(), 'site-' || lpad(i::text, 2, '0')
                    FROM generate_series(1, ${sites}) i`);
  await db.query(`
    INSERT INTO targets (id, site_id, name, kind, connection)
    SELECT gen_random_uuid(), s.id, 'host-' || lpad(i::text, 5, '0'), 'simulated', '{}'::jsonb
      FROM generate_series(1, ${targets}) i
      JOIN (SELECT id, row_number() OVER (ORDER BY name) - 1 AS k FROM sites) s ON s.k = i % ${sites}`);
  // Statuses as a large installation has them: most in sync, a few of everything else; status
  // times with microseconds (as now() writes them), a tenth never verified.
  await db.query(`
    INSERT INTO credentials (id, target_id, site_id, username, secret, status, status_reason, status_changed_at,
                             last_verified_at, sync_enabled, suspended, consecutive_failures)
    SELECT gen_random_uuid(), t.id, t.site_id, 'user-' || (t.k * ${perTarget} + i), 'sealed-placeholder', st.status,
           CASE WHEN st.status = 'out_of_sync'
                THEN (ARRAY['mismatch','unreachable','locked_or_disabled','workflow_failed','change_failed','stale','error'])[1 + floor(random() * 7)::int] END,
           now() - random() * interval '30 days',
           CASE WHEN random() < 0.1 THEN NULL ELSE now() - random() * interval '1 day' END,
           st.status <> 'not_synced', st.status = 'out_of_sync' AND random() < 0.1, 0
      FROM (SELECT id, site_id, row_number() OVER (ORDER BY name) - 1 AS k FROM targets) t
     CROSS JOIN generate_series(1, ${perTarget}) i
     CROSS JOIN LATERAL (SELECT CASE WHEN r < 0.80 THEN 'in_sync' WHEN r < 0.88 THEN 'out_of_sync'
                                     WHEN r < 0.92 THEN 'not_synced' WHEN r < 0.95 THEN 'pending_sync'
                                     WHEN r < 0.97 THEN 'agent_disabled' WHEN r < 0.98 THEN 'being_synced'
                                     WHEN r < 0.99 THEN 'unsyncable' ELSE 'change_not_configured' END AS status
                           FROM (SELECT random() + 0 * i AS r) x) st
     WHERE t.k * ${perTarget} + i <= ${n}`);
  await db.query(`CREATE TEMP TABLE c_ids AS SELECT id, row_number() OVER () AS rn FROM credentials`);
  await db.query(`CREATE TEMP TABLE s_ids AS SELECT id, row_number() OVER () AS rn FROM sites`);
  await db.query('CREATE UNIQUE INDEX ON c_ids (rn)');
  await db.query('CREATE UNIQUE INDEX ON s_ids (rn)');
  await db.query('ANALYZE c_ids');
  await db.query('ANALYZE s_ids');
  await db.query(`
    INSERT INTO sync_runs (id, kind, trigger, scope, created_by, started_at, finished_at, impacted, success, failed, outcome)
    SELECT gen_random_uuid(), 'verify', 'manual',
           CASE WHEN i % 10 < 6 THEN jsonb_build_object('siteId', (SELECT id FROM s_ids WHERE rn = 1 + i % ${sites})::text)
                ELSE '{}'::jsonb END,
           'bench', st, CASE WHEN i <= 50 THEN NULL ELSE st + interval '1 minute' END, 100, 95, 5,
           CASE WHEN i <= 50 THEN NULL WHEN i % 7 = 0 THEN 'partial' WHEN i % 13 = 0 THEN 'failure' ELSE 'success' END
      FROM generate_series(1, 20000) i, LATERAL (SELECT now() - random() * interval '30 days' + (0 * i) * interval '1 s' AS st) x`);
  await db.query(`
    INSERT INTO sync_runs (id, kind, trigger, scope, created_by, started_at, finished_at, impacted, success, outcome)
    VALUES ('00000000-0000-4000-8000-00000000b16b', 'verify', 'manual', '{}', 'bench', now() - interval '1 hour',
            now(), ${n}, ${n}, 'success')`);
  await db.query(`
    INSERT INTO sync_run_items (run_id, credential_id, result, at)
    SELECT '00000000-0000-4000-8000-00000000b16b', id, 'success', now() FROM c_ids`);
  await db.query(`
    INSERT INTO audit_events (actor_type, actor_id, action, object_type, object_id, details)
    SELECT CASE WHEN i % 20 = 0 THEN 'operator' ELSE 'agent' END, 'actor-' || (i % 50),
           CASE WHEN i % 20 = 0 THEN (ARRAY['credential.verify','credential.create','credential.change','agent.disable'])[1 + i % 4]
                ELSE 'secret.handout' END,
           'credential', CASE WHEN i % 2 = 0 THEN (SELECT id FROM c_ids WHERE rn = 1 + i % ${n})::text END, '{}'::jsonb
      FROM generate_series(1, 500000) i`);
  await db.query(`
    INSERT INTO sync_groups (id, name, primary_credential_id)
    SELECT gen_random_uuid(), 'group-' || g, (SELECT id FROM c_ids WHERE rn = g * 3) FROM generate_series(1, 50) g`);
  await db.query(`
    UPDATE credentials c SET group_id = g.id FROM sync_groups g, c_ids x
     WHERE x.id = c.id AND x.rn BETWEEN substr(g.name, 7)::int * 3 AND substr(g.name, 7)::int * 3 + 2`);
  await db.query('ANALYZE');
}

/** The queries of the shared state snapshot (state-snapshot.ts): taken once per COUNTS_MAX_AGE_MS per process. */
const SNAPSHOT_SQL = [
  /GROUP BY site_id, status/,
  /WHERE suspended GROUP BY site_id/,
  /LEFT JOIN agents a ON a\.site_id = s\.id/,
];

interface Captured {
  sql: string;
  params: unknown[] | undefined;
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function planSummary(node: PlanNode, out: Set<string>): Set<string> {
  const t = node['Node Type'];
  if (node['Index Name'])
    out.add(`${t.replace(' Only', '-only').replace(' Scan', '')} ${node['Index Name']}`);
  else if (t === 'Seq Scan') out.add(`Seq ${node['Relation Name']}`);
  for (const p of node.Plans ?? []) planSummary(p, out);
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const name = `explain_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const prefix = `explain-${randomBytes(4).toString('hex')}`;
  const token = randomBytes(24).toString('base64url');
  const coordinator = await startCoordinator(
    loadCoordinatorConfig({
      DATABASE_URL: url.toString(),
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      HOST: '127.0.0.1',
      COORDINATOR_ADMIN_TOKEN: token,
      COORDINATOR_MASTER_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: 'error',
      RUN_SCHEDULER: 'false',
      // Every request takes its own counts here: we measure the SQL, not the cache.
      COUNTS_MAX_AGE_MS: '0',
    }),
  );
  const direct = new pg.Client({ connectionString: url.toString() });
  await direct.connect();
  try {
    const t0 = Date.now();
    process.stderr.write(`seeding ${N.toLocaleString()} credentials…\n`);
    await seed(direct, N);
    process.stderr.write(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

    // Every query the routes run goes through ctx.db.query: record them.
    const db = coordinator.ctx.db;
    const original = db.query.bind(db);
    let captured: Captured[] | null = null;
    db.query = (async (sql: string, params?: unknown[]) => {
      captured?.push({ sql, params });
      return original(sql, params);
    }) as typeof db.query;

    const one = async (sql: string) => (await direct.query<Record<string, string>>(sql)).rows[0]!;
    const credential = (await one('SELECT id FROM credentials ORDER BY id OFFSET 4242 LIMIT 1')).id!;
    const midKey = async (expr: string, desc: boolean) => {
      const r = await one(
        `SELECT ${expr.startsWith('t.') ? 't.name AS k' : `CASE WHEN isfinite(${expr}) THEN to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') ELSE (${expr})::text END AS k`}, c.id
           FROM credentials c JOIN targets t ON t.id = c.target_id
          ORDER BY ${expr} ${desc ? 'DESC' : ''}, c.id ${desc ? 'DESC' : ''} OFFSET ${Math.floor(N / 2)} LIMIT 1`,
      );
      return encodeCursor([r.k, r.id]);
    };
    const runMid = await one(
      `SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS k, id FROM sync_runs
        ORDER BY started_at DESC, id DESC OFFSET 10000 LIMIT 1`,
    );
    const itemMid = await one(
      `SELECT id FROM sync_run_items ORDER BY id OFFSET ${Math.floor(N / 2)} LIMIT 1`,
    );
    const requests: [string, string][] = [
      ['summary', '/api/v1/summary'],
      ['overview', '/api/v1/overview?bucket=hour'],
      ['metrics (state gauges)', '/metrics'],
      ['credentials, default order', '/api/v1/credentials?limit=50'],
      ['credentials, sort=target', '/api/v1/credentials?sort=target&limit=50'],
      [
        'credentials, sort=target, middle page',
        `/api/v1/credentials?sort=target&limit=50&cursor=${await midKey('t.name', false)}`,
      ],
      ['credentials, sort=-statusChangedAt', '/api/v1/credentials?sort=-statusChangedAt&limit=50'],
      [
        'credentials, sort=-statusChangedAt, middle page',
        `/api/v1/credentials?sort=-statusChangedAt&limit=50&cursor=${await midKey('c.status_changed_at', true)}`,
      ],
      ['credentials, sort=lastVerifiedAt', '/api/v1/credentials?sort=lastVerifiedAt&limit=50'],
      [
        'credentials, sort=lastVerifiedAt, middle page',
        `/api/v1/credentials?sort=lastVerifiedAt&limit=50&cursor=${await midKey("coalesce(c.last_verified_at, '-infinity'::timestamptz)", false)}`,
      ],
      ['credentials, q=user-4242 (few match)', '/api/v1/credentials?q=user-4242&limit=50'],
      ['credentials, q=host-0042 (a target)', '/api/v1/credentials?q=host-0042&limit=50'],
      ['credentials, reason=mismatch', '/api/v1/credentials?reason=mismatch&limit=50'],
      ['credentials, suspended=true', '/api/v1/credentials?suspended=true&limit=50'],
      ['credentials, status=out_of_sync', '/api/v1/credentials?status=out_of_sync&limit=50'],
      ['audit, newest', '/api/v1/audit?limit=100'],
      ['audit, objectId (credential page)', `/api/v1/audit?objectId=${credential}&limit=20`],
      ['audit, action=credential.create', '/api/v1/audit?action=credential.create&limit=100'],
      ['sync-runs, newest', '/api/v1/sync-runs?limit=100'],
      ['sync-runs, middle page', `/api/v1/sync-runs?limit=100&cursor=${encodeCursor([runMid.k, runMid.id])}`],
      ['sync-runs, outcome=partial', '/api/v1/sync-runs?outcome=partial&limit=100'],
      ['run items, first page', '/api/v1/sync-runs/00000000-0000-4000-8000-00000000b16b/items?limit=100'],
      [
        'run items, middle page',
        `/api/v1/sync-runs/00000000-0000-4000-8000-00000000b16b/items?limit=100&cursor=${itemMid.id}`,
      ],
      ['targets, q=host-0042 (picker)', '/api/v1/targets?q=host-0042&limit=20'],
      ['targets, first page', '/api/v1/targets?limit=50'],
      ['sync-groups (50 groups)', '/api/v1/sync-groups'],
      ['credential history', `/api/v1/credentials/${credential}/history?limit=50`],
    ];

    const measure = async () => {
      const results: { label: string; queries: number; ms: number; shared: number; plan: string }[] = [];
      for (const [label, path] of requests) {
        captured = [];
        const res = await request(`${coordinator.url}${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const body = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode} ${body.slice(0, 300)}`);
        const queries = captured;
        captured = null;
        let ms = 0;
        let shared = 0;
        const plan = new Set<string>();
        for (const q of queries) {
          const times: number[] = [];
          for (let i = 0; i < SAMPLES; i++) {
            const r = await direct.query<{ 'QUERY PLAN': [{ 'Execution Time': number; Plan: PlanNode }] }>(
              `EXPLAIN (ANALYZE, FORMAT JSON) ${q.sql}`,
              q.params,
            );
            const out = r.rows[0]!['QUERY PLAN'][0];
            times.push(out['Execution Time']);
            if (i === 0) planSummary(out.Plan, plan);
          }
          ms += median(times);
          if (SNAPSHOT_SQL.some((re) => re.test(q.sql))) shared += median(times);
        }
        results.push({ label, queries: queries.length, ms, shared, plan: [...plan].join(', ') });
      }
      return results;
    };

    const after = await measure();
    let before: typeof after | null = null;
    if (flag('--compare')) {
      for (const index of V5_INDEXES) await direct.query(`DROP INDEX IF EXISTS ${index}`);
      await direct.query('ANALYZE');
      before = await measure();
    }
    const trgm = (await one("SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'")).n;
    console.log(
      `\n${N.toLocaleString()} credentials, 500,000 audit events, 20,000 runs; pg_trgm ${Number(trgm) ? 'on' : 'off'}; ` +
        `DB time per request = sum of its queries' EXPLAIN ANALYZE execution times (median of ${SAMPLES})\n`,
    );
    const rows = after.map((a, i) => ({
      request: a.label,
      queries: a.queries,
      ...(before ? { 'without v5 indexes, ms': before[i]!.ms.toFixed(2) } : {}),
      ms: a.ms.toFixed(2),
      'of which shared snapshot': a.shared ? a.shared.toFixed(2) : '',
      plan: a.plan,
    }));
    console.table(rows);
  } finally {
    await direct.end().catch(() => undefined);
    await coordinator.close();
    if (flag('--keep')) process.stderr.write(`kept database ${name}\n`);
    else await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
