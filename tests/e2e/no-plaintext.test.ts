/**
 * "No plaintext anywhere but memory" (issue 5): recognisable passwords go through the real
 * processes at trace log level: verifications; changes (generated and given); a change through a
 * privileged admin account on a real PostgreSQL server; a sync group change; a change that fails and
 * keeps its pending password; results held in the agent's outbox while the coordinator is gone.
 * Afterwards every GET route of the API (as viewer and as admin, but the audited reveal), a
 * PostgreSQL dump, every Redis key and value of the run, every log line of the coordinator and the
 * agent, and the agent's state folder are scanned: no password appears, given or generated. So are
 * the alert events, every webhook body and every mail the changes and failures caused
 * (docs/alerts.md). Nor does a token or a secret: the admin's and a viewer's API tokens, the agent's
 * enrollment token, the webhook channel's signing secret (it signs, it is never sent).
 *
 * Nothing waited for here races the run: the slow change that the coordinator's death interrupts
 * takes seconds per step, and is watched for closely; every wait is bounded generously for a
 * loaded machine (the whole suite runs beside this test in CI).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startSmtpServer, startWebhookReceiver } from '../support/alert-receivers.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import { createPki } from '../support/tls.js';
import {
  createCredential,
  type CreatedCredential,
  createEnrollmentToken,
  createSite,
  createTarget,
  expectStatus,
  getCredential,
  waitForValue,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  startAgent,
  startCoordinator,
  stopAll,
  type CoordinatorProcess,
  type ManagedProcess,
} from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { startPostgresCluster, type PostgresCluster, type PostgresRole } from '../support/databases.js';

const SMTP_PASSWORD = `Canary-Smtp-${Date.now()}`;
let database: TestDatabase;
let cluster: PostgresCluster;
const pgRoles: PostgresRole[] = [];
let coordinator: CoordinatorProcess;
let agent: ManagedProcess;
let admin: ApiClient;
let stateDir: string;
const prefix = uniquePrefix('e2e-plaintext');
const pki = createPki();
const smtpCert = pki.issue('smtp', 'server');
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
/** The webhook channel's signing secret, shown once when it was created. */
let hookSecret: string;

beforeAll(async () => {
  database = await createTestDatabase('e2e-plaintext');
  cluster = await startPostgresCluster();
  stateDir = mkdtempSync(join(tmpdir(), 'agent-state-'));
  receiver = await startWebhookReceiver();
  smtp = await startSmtpServer({ cert: pki.pem(smtpCert.cert), key: pki.pem(smtpCert.key) });
  coordinator = await startCoordinator(
    {
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: prefix,
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: newMasterKey(),
      LOG_LEVEL: 'trace',
      ALERT_GROUP_WINDOW_MS: '0',
      ALERT_EVERY_MS: '250',
      ALERT_SMTP_CA_FILE: pki.caCert,
    },
    { label: 'e2e-plaintext-coordinator' },
  );
  admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
  // Every alert to a webhook and by mail (with an SMTP password, sealed like the others).
  hookSecret = (
    await expectStatus<{ secret: string }>(
      admin.post('/notification-channels', { kind: 'webhook', name: 'all', webhook: { url: receiver.url } }),
      201,
    )
  ).secret;
  expect(hookSecret).toMatch(/^whsec_/);
  await expectStatus(
    admin.post('/notification-channels', {
      kind: 'email',
      name: 'all-mail',
      email: {
        host: '127.0.0.1',
        port: smtp.port,
        from: 'sync@example.com',
        to: ['oncall@example.com'],
        username: 'sync',
        password: SMTP_PASSWORD,
      },
    }),
    201,
  );
}, 120_000);

afterAll(async () => {
  await stopAll();
  await receiver?.close();
  await smtp?.close();
  for (const role of pgRoles) await role.drop().catch(() => undefined);
  await cluster?.stop();
  await database?.drop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

async function redisDump(url: string): Promise<string> {
  const redis = new Redis(url);
  const parts: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        parts.push(key);
        if (type === 'string') parts.push((await redis.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return parts.join('\n');
}

type View = Awaited<ReturnType<typeof getCredential>>;

const until = (id: string, check: (v: View) => boolean, message: string) =>
  waitForValue(
    async () => {
      const v = await getCredential(admin, id);
      return check(v) ? v : false;
    },
    { timeoutMs: 45_000, intervalMs: 200, message },
  );

/** Every GET route of the route table (the reveal aside), with each `{id}` filled from its list. */
async function dumpGetRoutes(client: ApiClient, root: ApiClient): Promise<string> {
  const doc = await expectStatus<{ paths: Record<string, Record<string, unknown>> }>(
    api(coordinator.url).get('/openapi.json'),
    200,
  );
  const ids = new Map<string, string[]>();
  const idsOf = async (resource: string): Promise<string[]> => {
    if (!ids.has(resource)) {
      const list = await root.get<{ items?: { id: string }[] }>(`/${resource}`);
      ids.set(
        resource,
        (list.body.items ?? []).map((i) => i.id),
      );
    }
    return ids.get(resource)!;
  };
  const parts: string[] = [];
  let calls = 0;
  for (const [path, methods] of Object.entries(doc.paths)) {
    // The audited reveals are the one place passwords are meant to appear.
    const reveals = ['/api/v1/credentials/{id}/password', '/api/v1/credentials/{id}/password-history'];
    if (!('get' in methods) || reveals.includes(path)) continue;
    const paths: string[] = [];
    if (!path.includes('{id}')) paths.push(path);
    else for (const id of await idsOf(path.split('/')[3]!)) paths.push(path.replace('{id}', id));
    for (const p of paths) {
      const res = p.startsWith('/api/v1/')
        ? await client.get(p.slice('/api/v1'.length))
        : await api(coordinator.url).get(p);
      calls += 1;
      parts.push(
        `GET ${p} ${res.status}\n${typeof res.body === 'string' ? res.body : JSON.stringify(res.body)}`,
      );
    }
  }
  expect(calls).toBeGreaterThan(30);
  return parts.join('\n');
}

it('no password in API responses, PostgreSQL, Redis, logs at trace level, the agent state folder, alert events, webhooks or mails', async () => {
  const site = await createSite(admin);
  const enrollmentToken = await createEnrollmentToken(admin, site.id);
  agent = await startAgent(
    {
      COORDINATOR_URL: coordinator.url,
      ENROLLMENT_TOKEN: enrollmentToken,
      AGENT_STATE_DIR: stateDir,
      AGENT_SHUTDOWN_GRACE_MS: '1000',
      LOG_LEVEL: 'trace',
    },
    { label: 'e2e-plaintext-agent' },
  );
  const stamp = Date.now();
  const target = await createTarget(admin, site.id);
  const failing = await createTarget(admin, site.id, { failRate: 1, failReason: 'unreachable' });
  const given = Array.from({ length: 4 }, (_, i) => `Canary-Plaintext-${i}-${stamp}`);
  const creds: CreatedCredential[] = [];
  for (const [i, password] of given.entries()) {
    creds.push(await createCredential(admin, i === 3 ? failing : target, { password }));
  }
  // Sync group members, a credential whose change will fail (keeping its pending password).
  const members = [0, 1].map((i) => `Canary-Group-${i}-${stamp}`);
  const group: CreatedCredential[] = [];
  for (const password of members) group.push(await createCredential(admin, target, { password }));
  const flakyTarget = await createTarget(admin, site.id, { host: 'flaky' });
  const flaky = await createCredential(admin, flakyTarget, { password: `Canary-Flaky-${stamp}` });
  // A PostgreSQL service account changed through an admin account (privileged), on a real server.
  const pgAdmin = await cluster.createRole({
    with: 'LOGIN CREATEROLE',
    password: `Canary-PgAdmin-${stamp}-9x!`,
  });
  const pgApp = await cluster.createRole({ password: `Canary-PgApp-${stamp}-9x!` });
  pgRoles.push(pgApp, pgAdmin);
  const service = (connection: Record<string, unknown>) =>
    expectStatus<{ id: string }>(
      admin.post('/targets', {
        siteId: site.id,
        name: `pg-${Math.random().toString(36).slice(2, 8)}`,
        kind: 'service',
        connection: {
          driver: 'postgres',
          host: cluster.host,
          port: cluster.port,
          connectTimeoutMs: 5_000,
          ...connection,
        },
      }),
      201,
    );
  const pgAdminCred = await createCredential(admin, (await service({})).id, {
    username: pgAdmin.name,
    password: pgAdmin.password,
  });
  const pgAppCred = await createCredential(
    admin,
    (await service({ changeVia: 'privileged', privilegedCredentialId: pgAdminCred.id })).id,
    { username: pgApp.name, password: pgApp.password },
  );

  const settled = (v: View) => v.status === 'in_sync' && v.job.state === 'idle' && !v.changePending;
  for (const c of [creds[0]!, creds[1]!, ...group, flaky, pgAdminCred, pgAppCred]) {
    await until(c.id, settled, `${c.username} in sync`);
  }
  // Changes: a generated password, an operator-given one, and one through the privileged account.
  const operatorGiven = `Canary-Given-Change-${stamp}`;
  await expectStatus(admin.post(`/credentials/${creds[0]!.id}/change`, {}), 202);
  await expectStatus(admin.post(`/credentials/${creds[1]!.id}/change`, { password: operatorGiven }), 202);
  await expectStatus(admin.post(`/credentials/${pgAppCred.id}/change`, {}), 202);
  // A sync group change: one new password for both members.
  const created = await expectStatus<{ id: string }>(
    admin.post('/sync-groups', {
      name: `group-${stamp}`,
      primaryCredentialId: group[0]!.id,
      memberCredentialIds: [group[1]!.id],
    }),
    201,
  );
  await expectStatus(admin.post(`/sync-groups/${created.id}/change`, {}), 202);
  for (const c of [creds[0]!, creds[1]!, pgAppCred, ...group]) {
    await until(c.id, (v) => settled(v) && v.lastChangedAt !== null, `${c.username} changed`);
  }
  await until(creds[3]!.id, (v) => v.status === 'out_of_sync', 'the failing credential out of sync');
  // A change that fails (the target became unreachable) and keeps its pending password for a retry.
  await expectStatus(
    admin.patch(`/targets/${flakyTarget}`, { connection: { failRate: 1, failReason: 'unreachable' } }),
    200,
  );
  const pendingGiven = `Canary-Pending-${stamp}`;
  await expectStatus(admin.post(`/credentials/${flaky.id}/change`, { password: pendingGiven }), 202);
  await until(
    flaky.id,
    (v) => v.changePending && v.lastMessage === 'simulated unreachable' && v.job.state !== 'active',
    'the failed change to wait for its retry, pending password kept',
  );

  // The passwords now in force (generated ones included), read through the audited reveal.
  const current: string[] = [];
  for (const c of [...creds, ...group, flaky, pgAdminCred, pgAppCred]) {
    current.push(
      (await expectStatus<{ password: string }>(admin.get(`/credentials/${c.id}/password`), 200)).password,
    );
  }
  expect(current[1]).toBe(operatorGiven);
  expect(await cluster.canLogin(pgApp.name, current.at(-1)!)).toBe(true); // the privileged change was real
  expect(current[4]).toBe(current[5]); // the group shares one password

  // Every GET route, as a viewer and as an admin.
  const viewer = await expectStatus<{ token: string }>(
    admin.post('/tokens', { name: 'viewer', role: 'viewer' }),
    201,
  );
  const responses = [
    await dumpGetRoutes(api(`${coordinator.url}/api/v1`, viewer.token), admin),
    await dumpGetRoutes(admin, admin),
  ].join('\n');
  expect(responses).toContain(pgAppCred.id);

  // The alerts of the changes above went out, by webhook and by mail.
  await waitForValue(
    () =>
      receiver.received.some((r) => r.body.includes('credential.change_succeeded')) &&
      smtp.mails.some((m) => m.text.includes('credential.change_succeeded')),
    { timeoutMs: 60_000, message: 'change alerts by webhook and mail' },
  );

  // Results held in the outbox: a slow change is running when the coordinator goes away.
  // Each step of its change takes 4 s (three steps): the coordinator is gone long before it ends.
  const slowTarget = await createTarget(admin, site.id, { latencyMs: 4_000, host: 'slow' });
  const slow = await createCredential(admin, slowTarget, { password: `Canary-Slow-${stamp}` });
  await until(slow.id, settled, 'the slow credential in sync');
  const slowPending = `Canary-Slow-Pending-${stamp}`;
  await expectStatus(admin.post(`/credentials/${slow.id}/change`, { password: slowPending }), 202);
  await waitForValue(async () => (await getCredential(admin, slow.id)).job.state === 'active', {
    timeoutMs: 45_000,
    intervalMs: 50,
    message: 'the slow change to be claimed',
  });
  const coordinatorLogs = coordinator.logs();
  coordinator.kill('SIGKILL');
  await coordinator.exited;
  await agent.waitForLog(/kept in the outbox/, 60_000);
  // Flush the agent's outbox and logs: a graceful stop.
  await agent.stop();
  const outbox = filesUnder(stateDir).find((f) => f.endsWith('outbox.jsonl'));
  expect(outbox && readFileSync(outbox, 'utf8')).toContain(slow.id);

  const secrets = [
    ...new Set([
      ...given,
      ...members,
      ...current,
      pendingGiven,
      slowPending,
      `Canary-Slow-${stamp}`,
      pgAdmin.password,
      pgApp.password,
      SMTP_PASSWORD,
    ]),
  ];
  expect(secrets.length).toBeGreaterThanOrEqual(14);
  // Tokens and secrets: never in a log, a response, the database, Redis, an event, a webhook or a mail.
  const tokens = [ADMIN_TOKEN, viewer.token, enrollmentToken, hookSecret];
  const places: Record<string, string> = {
    'API responses': responses,
    'PostgreSQL dump': execFileSync('pg_dump', ['--data-only', database.url], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    }),
    Redis: await redisDump(inject('redisUrl')),
    'coordinator log': [...coordinatorLogs, ...coordinator.logs()].join('\n'),
    'agent log': agent.logs().join('\n'),
    'alert events': JSON.stringify(
      execFileSync('psql', [database.url, '-At', '-c', 'SELECT type, data FROM events'], {
        encoding: 'utf8',
      }),
    ),
    'webhook bodies': receiver.received.map((r) => `${JSON.stringify(r.headers)}\n${r.body}`).join('\n'),
    mails: smtp.mails.map((m) => `${m.subject}\n${m.text}`).join('\n'),
    'agent state folder': filesUnder(stateDir)
      .map((f) => `${f}\n${readFileSync(f, 'utf8')}`)
      .join('\n'),
  };
  expect(places['PostgreSQL dump']).toContain(creds[0]!.id); // the dump is real, with our rows in it
  expect(places['PostgreSQL dump']).toContain('secret.handout');
  expect(places.Redis!.length).toBeGreaterThan(0);
  expect(places['alert events']).toContain('credential.change_succeeded');
  expect(places['webhook bodies']).toContain('credential.change_succeeded');
  expect(places['agent log']).toContain('"level":20'); // debug lines were written
  expect(places['coordinator log']).toContain('"level":20');
  const leaks = Object.entries(places).flatMap(([place, text]) => [
    ...secrets
      .filter((s) => text.includes(s))
      .map((s) => `${place} contains a password (${s.slice(0, 12)}…)`),
    ...tokens
      .filter((t) => text.includes(t))
      .map((t) => `${place} contains a token or secret (${t.slice(0, 6)}…)`),
  ]);
  expect(leaks).toEqual([]);
}, 360_000);
