#!/usr/bin/env node
/**
 * `npm run demo`: the whole system on one machine with embedded defaults. Starts Redis (REDIS_URL,
 * or a local redis-server child), the coordinator (PGlite in DATA_DIR, default ./.data/demo), two
 * agents (site "demo", and site "branch-office" whose agent is then disabled), creates simulated
 * credentials that end in every status, prints how to talk to it, and runs until Ctrl-C.
 * Everything is idempotent: a rerun reuses the data folder, its tokens, sites, agents and credentials.
 *
 * Options: --exit (or DEMO_EXIT=1) prints the table once everything settled and exits (0 when every
 * credential reached its expected status). Environment: DATA_DIR, PORT (8080), HOST (127.0.0.1),
 * REDIS_URL, COORDINATOR_ADMIN_TOKEN, COORDINATOR_MASTER_KEY, LOG_LEVEL (info), DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CredentialView } from '../shared/contracts/api.js';
import {
  api,
  listCredentials,
  type AgentView,
  type Api,
  type SiteView,
  type TargetView,
} from '../tests/support/operator-client.js';
import { stopChildrenYourselfOnSigterm } from '../tests/support/children.js';
import { isListening } from '../tests/support/ports.js';
import {
  startAgent,
  startCoordinator,
  type CoordinatorProcess,
  type ManagedProcess,
} from '../tests/support/processes.js';
import { ensureRedis, NoRedisError, type OwnRedis } from '../tests/support/redis.js';
import { sleep } from '../tests/support/wait.js';

interface DemoCredential {
  site: string;
  target: string;
  connection: Record<string, unknown>;
  username: string;
  syncEnabled?: boolean;
  /** Ask for a change after creating it (to show change_not_configured). */
  requestChange?: boolean;
  /** Press "Sync now" whenever it is idle (keeps the slow one busy). */
  keepBusy?: boolean;
  expect: { status: string; reason?: string };
  why: string;
}

const DEMO_SITE = 'demo';
const BRANCH_SITE = 'branch-office';
const NEW_SITE = 'new-branch';

/** The simulated credentials; `expect` is the status each one settles in. */
const CREDENTIALS: DemoCredential[] = [
  {
    site: DEMO_SITE,
    target: 'web-portal',
    connection: { latencyMs: 30 },
    username: 'admin',
    expect: { status: 'in_sync' },
    why: 'the stored password works',
  },
  {
    site: DEMO_SITE,
    target: 'web-portal',
    connection: { latencyMs: 30 },
    username: 'backup-operator',
    expect: { status: 'in_sync' },
    why: 'the stored password works',
  },
  {
    site: DEMO_SITE,
    target: 'fileserver-01',
    connection: { failRate: 1, failReason: 'mismatch' },
    username: 'Administrator',
    expect: { status: 'out_of_sync', reason: 'mismatch' },
    why: 'the target rejects the password (not retried: it would lock the account)',
  },
  {
    site: DEMO_SITE,
    target: 'db-replica',
    connection: { failRate: 1, failReason: 'unreachable' },
    username: 'svc_backup',
    expect: { status: 'out_of_sync', reason: 'unreachable' },
    why: 'the target does not answer (retried with backoff)',
  },
  {
    site: DEMO_SITE,
    target: 'intranet-sso',
    connection: { canVerify: false, canChange: false },
    username: 'helpdesk',
    expect: { status: 'unsyncable' },
    why: 'its adapter can neither verify nor change',
  },
  {
    site: DEMO_SITE,
    target: 'legacy-crm',
    connection: { changeConfigured: false },
    username: 'crm_admin',
    requestChange: true,
    expect: { status: 'change_not_configured' },
    why: 'a change was asked for, but the change step is not mapped',
  },
  {
    site: DEMO_SITE,
    target: 'lab-host',
    connection: {},
    username: 'tester',
    syncEnabled: false,
    expect: { status: 'not_synced' },
    why: 'sync is disabled for it',
  },
  {
    site: DEMO_SITE,
    target: 'slow-appliance',
    connection: { latencyMs: 60_000 },
    username: 'root',
    keepBusy: true,
    expect: { status: 'being_synced' },
    why: 'an agent is running its (60 s) verification right now',
  },
  {
    site: BRANCH_SITE,
    target: 'branch-dc',
    connection: {},
    username: 'Administrator',
    expect: { status: 'agent_disabled' },
    why: "its site's only agent is disabled",
  },
  {
    site: NEW_SITE,
    target: 'kiosk-07',
    connection: {},
    username: 'kioskadmin',
    expect: { status: 'pending_sync' },
    why: 'queued; its site has no agent installed yet',
  },
];

const SETTLE_TIMEOUT_MS = 60_000;

const exitMode =
  process.argv.includes('--exit') || ['1', 'true', 'yes'].includes(process.env.DEMO_EXIT ?? '');
const dataDir = resolve(process.env.DATA_DIR || '.data/demo');
const logDir = join(dataDir, 'logs');
const logLevel = process.env.LOG_LEVEL || 'info';

const say = (text = '') => process.stdout.write(`${text}\n`);

interface Secrets {
  adminToken: string;
  masterKey: string;
}

/** Admin token and master key: from the environment, else kept in the data folder (mode 0600). */
function loadSecrets(): Secrets {
  const file = join(dataDir, 'demo-secrets.json');
  let stored: Partial<Secrets> = {};
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>;
  const secrets: Secrets = {
    adminToken:
      process.env.COORDINATOR_ADMIN_TOKEN ||
      stored.adminToken ||
      `demo-${randomBytes(24).toString('base64url')}`,
    masterKey: process.env.COORDINATOR_MASTER_KEY || stored.masterKey || randomBytes(32).toString('base64'),
  };
  if (!stored.adminToken || !stored.masterKey) {
    writeFileSync(file, `${JSON.stringify({ ...stored, ...secrets }, null, 2)}\n`, { mode: 0o600 });
  }
  return secrets;
}

const children: { name: string; stop: () => Promise<unknown> }[] = [];
let stopping: Promise<void> | undefined;

/** Stops every child in reverse order of start: agents, coordinator, Redis. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const c of [...children].reverse()) {
      await c.stop().catch((err: unknown) => console.error(`demo: stopping ${c.name}: ${String(err)}`));
    }
  })();
  return stopping;
}

async function ensureSite(client: Api, name: string): Promise<SiteView> {
  const { items } = await client.get<{ items: SiteView[] }>('/api/v1/sites');
  return items.find((s) => s.name === name) ?? (await client.post<SiteView>('/api/v1/sites', { name }));
}

async function ensureTarget(
  client: Api,
  siteId: string,
  name: string,
  connection: Record<string, unknown>,
): Promise<TargetView> {
  const { items } = await client.get<{ items: TargetView[] }>(`/api/v1/targets?siteId=${siteId}`);
  const found = items.find((t) => t.name === name);
  if (found) return found;
  const { id } = await client.post<{ id: string }>('/api/v1/targets', {
    siteId,
    name,
    kind: 'simulated',
    connection: { host: name, ...connection },
  });
  return { id, siteId, name, kind: 'simulated', connection };
}

function readAgentId(stateDir: string): string | undefined {
  const file = join(stateDir, 'identity.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { agentId?: string }).agentId;
}

/** Starts the site's agent; enrolls it first when its state folder has no identity yet. */
async function startSiteAgent(
  client: Api,
  coordinator: CoordinatorProcess,
  site: SiteView,
  disabled: boolean,
): Promise<{ child: ManagedProcess; agentId: string }> {
  const stateDir = join(dataDir, 'agents', site.name);
  const known = readAgentId(stateDir);
  const token = known
    ? undefined
    : (
        await client.post<{ token: string }>(`/api/v1/sites/${site.id}/enrollment-tokens`, {
          ttlSeconds: 600,
        })
      ).token;
  if (known && disabled) {
    const { items } = await client.get<{ items: AgentView[] }>(`/api/v1/agents?siteId=${site.id}`);
    if (items.find((a) => a.id === known)?.enabled) await client.post(`/api/v1/agents/${known}/disable`);
  }
  const child = await startAgent(
    {
      COORDINATOR_URL: coordinator.url,
      ENROLLMENT_TOKEN: token,
      AGENT_STATE_DIR: stateDir,
      AGENT_NAME: `${site.name}-agent`,
      AGENT_CONCURRENCY: '10',
      AGENT_SHUTDOWN_GRACE_MS: '2000',
      LOG_LEVEL: logLevel,
    },
    {
      label: `agent-${site.name}`,
      logFile: join(logDir, `agent-${site.name}.log`),
      keepLines: 2000,
      inheritEnv: true,
      timeoutMs: 60_000,
      // A disabled agent never gets ready: it heartbeats and waits ("claiming paused").
      ready: (e) =>
        e?.msg === 'agent ready' ||
        (known !== undefined && disabled && /claiming paused/.test(String(e?.msg))),
    },
  );
  children.push({ name: `agent ${site.name}`, stop: () => child.stop(10_000) });
  const agentId = readAgentId(stateDir);
  if (!agentId) throw new Error(`agent of ${site.name} wrote no identity in ${stateDir}`);
  if (disabled && !known) await client.post(`/api/v1/agents/${agentId}/disable`);
  return { child, agentId };
}

const keyOf = (site: string, target: string, username: string) => `${site}/${target}/${username}`;

async function ensureCredentials(client: Api, sites: Map<string, SiteView>): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const c of CREDENTIALS) {
    const site = sites.get(c.site)!;
    const target = await ensureTarget(client, site.id, c.target, c.connection);
    const existing = await listCredentials(client, `targetId=${target.id}`);
    let id = existing.find((e) => e.username === c.username)?.id;
    if (!id) {
      id = (
        await client.post<{ id: string }>('/api/v1/credentials', {
          targetId: target.id,
          username: c.username,
          password: randomBytes(12).toString('base64url'),
          syncEnabled: c.syncEnabled ?? true,
        })
      ).id;
      if (c.requestChange) await client.post(`/api/v1/credentials/${id}/change`, {});
    }
    ids.set(keyOf(c.site, c.target, c.username), id);
  }
  return ids;
}

/** "Sync now" on the slow credential whenever it is idle, so it shows being_synced. */
async function keepBusy(client: Api, ids: Map<string, string>): Promise<void> {
  for (const c of CREDENTIALS.filter((x) => x.keepBusy)) {
    const id = ids.get(keyOf(c.site, c.target, c.username))!;
    const view = await client.get<CredentialView>(`/api/v1/credentials/${id}`);
    if (view.job.state === 'idle') await client.post(`/api/v1/credentials/${id}/verify`);
  }
}

function matches(c: DemoCredential, view: CredentialView | undefined): boolean {
  return (
    view !== undefined &&
    view.status === c.expect.status &&
    (c.expect.reason === undefined || view.statusReason === c.expect.reason)
  );
}

async function waitSettled(
  client: Api,
  ids: Map<string, string>,
): Promise<{ settled: boolean; views: CredentialView[] }> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const views = await listCredentials(client);
    const byId = new Map(views.map((v) => [v.id, v]));
    const settled = CREDENTIALS.every((c) =>
      matches(c, byId.get(ids.get(keyOf(c.site, c.target, c.username))!)),
    );
    if (settled || Date.now() > deadline) return { settled, views };
    await sleep(250);
  }
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

function credentialTable(views: CredentialView[], sites: Map<string, SiteView>): string {
  const siteName = new Map([...sites.values()].map((s) => [s.id, s.name]));
  const expected = new Map(CREDENTIALS.map((c) => [keyOf(c.site, c.target, c.username), c]));
  const rows = views
    .map((v) => {
      const site = siteName.get(v.siteId) ?? v.siteId;
      const demo = expected.get(keyOf(site, v.targetName, v.username));
      return [
        site,
        v.targetName,
        v.username,
        v.status,
        v.statusReason ?? '',
        v.lastResultAt ? v.lastResultAt.replace('T', ' ').slice(0, 19) : '',
        demo ? demo.why : '',
        v.id,
      ];
    })
    .sort((a, b) => a[0]!.localeCompare(b[0]!) || a[1]!.localeCompare(b[1]!) || a[2]!.localeCompare(b[2]!));
  return table(['site', 'target', 'username', 'status', 'reason', 'last result (UTC)', 'why', 'id'], rows);
}

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secrets = loadSecrets();
  const port = Number(process.env.PORT || 8080);
  const host = process.env.HOST || '127.0.0.1';
  if (port !== 0 && (await isListening(host === '0.0.0.0' ? '127.0.0.1' : host, port))) {
    throw new Error(
      `port ${port} is already in use: stop what listens there, or run with PORT=<another port>`,
    );
  }

  say(`Starting the demo (data folder ${dataDir}, logs in ${logDir})`);
  let redis: OwnRedis;
  try {
    redis = await ensureRedis();
  } catch (err) {
    if (err instanceof NoRedisError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  children.push({ name: 'redis', stop: () => redis.stop() });
  say(redis.pid ? `  redis-server started at ${redis.url}` : `  using Redis at ${redis.url}`);

  const coordinator = await startCoordinator(
    {
      DATA_DIR: dataDir,
      REDIS_URL: redis.url,
      PORT: String(port),
      HOST: host,
      COORDINATOR_ADMIN_TOKEN: secrets.adminToken,
      COORDINATOR_MASTER_KEY: secrets.masterKey,
      COORDINATOR_MASTER_KEY_FILE: undefined,
      QUEUE_PREFIX: process.env.QUEUE_PREFIX || 'demo',
      // A rerun starts a fresh redis-server: the reconciler re-creates the queued jobs from
      // PostgreSQL. Every 5 s (default 30 s) so a rerun settles quickly.
      RECONCILE_EVERY_MS: process.env.RECONCILE_EVERY_MS || '5000',
      LOG_LEVEL: logLevel,
    },
    {
      label: 'coordinator',
      logFile: join(logDir, 'coordinator.log'),
      keepLines: 2000,
      inheritEnv: true,
      timeoutMs: 60_000,
    },
  );
  children.push({ name: 'coordinator', stop: () => coordinator.stop(15_000) });
  say(`  coordinator listening at ${coordinator.url} (pid ${coordinator.pid})`);

  const client = api(coordinator.url, secrets.adminToken, 8);
  const sites = new Map<string, SiteView>();
  for (const name of [DEMO_SITE, BRANCH_SITE, NEW_SITE]) sites.set(name, await ensureSite(client, name));

  const demoAgent = await startSiteAgent(client, coordinator, sites.get(DEMO_SITE)!, false);
  say(`  agent of site "${DEMO_SITE}" ready (pid ${demoAgent.child.pid})`);
  const branchAgent = await startSiteAgent(client, coordinator, sites.get(BRANCH_SITE)!, true);
  say(`  agent of site "${BRANCH_SITE}" running and disabled through the API (pid ${branchAgent.child.pid})`);
  say(`  site "${NEW_SITE}" has no agent yet`);

  const ids = await ensureCredentials(client, sites);
  await keepBusy(client, ids);
  say(`  ${ids.size} simulated credentials in place; waiting for them to settle…`);
  const { settled, views } = await waitSettled(client, ids);

  const base = coordinator.url;
  const someId = ids.get(keyOf(DEMO_SITE, 'web-portal', 'admin'))!;
  say();
  say(`Coordinator:  ${base}   (API under ${base}/api/v1, described at ${base}/openapi.json)`);
  say(`Dashboard:    ${base}/   (sign in with the admin token)`);
  say(`Admin token:  ${secrets.adminToken}`);
  say(`Data folder:  ${dataDir}   (admin token and master key kept in demo-secrets.json)`);
  say();
  say(credentialTable(views, sites));
  say();
  if (!settled) {
    const byId = new Map(views.map((v) => [v.id, v]));
    const late = CREDENTIALS.filter(
      (c) => !matches(c, byId.get(ids.get(keyOf(c.site, c.target, c.username))!)),
    );
    say(
      `Not settled after ${SETTLE_TIMEOUT_MS / 1000} s: ${late
        .map((c) => `${keyOf(c.site, c.target, c.username)} (expected ${c.expect.status})`)
        .join(', ')}`,
    );
    say();
  }
  say('Try:');
  say(`  export TOKEN='${secrets.adminToken}'`);
  say(`  curl -s -H "Authorization: Bearer $TOKEN" ${base}/api/v1/summary`);
  say(`  curl -s -H "Authorization: Bearer $TOKEN" '${base}/api/v1/credentials?status=out_of_sync'`);
  say(`  curl -s -H "Authorization: Bearer $TOKEN" ${base}/api/v1/agents`);
  say(`  curl -s -X POST -H "Authorization: Bearer $TOKEN" ${base}/api/v1/credentials/${someId}/verify`);
  say(`  curl -s -H "Authorization: Bearer $TOKEN" ${base}/api/v1/credentials/${someId}`);
  say(`  curl -s -H "Authorization: Bearer $TOKEN" ${base}/api/v1/credentials/${someId}/password`);
  say(
    `  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"kind":"verify"}' ${base}/api/v1/sync-runs`,
  );
  say(`  curl -s -H "Authorization: Bearer $TOKEN" '${base}/api/v1/audit?limit=5'`);
  say();

  if (exitMode) {
    await client.close();
    await stopAll();
    process.exit(settled ? 0 : 1);
  }
  say('Running. Press Ctrl-C to stop.');
  for (;;) {
    await sleep(5_000);
    if (stopping) return;
    await keepBusy(client, ids).catch(() => undefined);
  }
}

let interrupted = 0;
stopChildrenYourselfOnSigterm();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted++;
    if (interrupted > 1) {
      console.error('demo: stopping at once');
      process.exit(130);
    }
    say('\nStopping the agents, the coordinator and Redis…');
    void stopAll().then(() => {
      say('Stopped.');
      process.exit(0);
    });
  });
}

main().catch(async (err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  if (existsSync(logDir)) console.error(`demo: logs are in ${logDir}`);
  await stopAll();
  process.exit(1);
});
