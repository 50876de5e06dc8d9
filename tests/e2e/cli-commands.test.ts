/**
 * Every dashboard task from the real `syncctl` binary against a real coordinator and agent:
 * overview buckets, credential actions (enable / disable, resume, history, verify, change, delete
 * --force, password-history, dependencies with a chained credential and a stored password, bulk
 * actions by filter and by ids), list and bulk filters by name (--site, --target, --group), list
 * filters (--suspended, --job-state), paging (--cursor, --all) of runs, run items and audit, sites resync / enable / disable, agents enable / disable,
 * enrollment tokens with --uses, tables for reads, the config file, and a clear error for a
 * non-JSON answer.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView, SyncRunView } from '../../shared/contracts/api.js';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
import { VERSION } from '../../shared/version.js';
import { startStack, type Stack } from '../browser/stack.js';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  getCredential,
} from '../support/fixtures.js';
import { api } from '../support/http.js';
import { runCli } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

let stack: Stack;
let db: pg.Client;
let targetId: string;
let slowTarget: string;
const creds: { id: string; username: string }[] = [];

const cli = (...args: string[]) =>
  runCli(['--url', stack.coordinator.url, '--token', ADMIN_TOKEN, ...args], {}, 60_000);
/** Runs syncctl, insists on exit 0, and parses its --json output. */
async function json<T>(...args: string[]): Promise<T> {
  const r = await cli('--json', ...args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}
async function ok(...args: string[]): Promise<string> {
  const r = await cli(...args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}
const inSync = (id: string) =>
  waitFor(async () => (await getCredential(stack.admin, id)).status === 'in_sync', {
    timeoutMs: 20_000,
    message: `${id} to be in sync`,
  });

beforeAll(async () => {
  stack = await startStack('cli-commands');
  db = new pg.Client({ connectionString: stack.database.url });
  await db.connect();
  targetId = await createTarget(stack.admin, stack.siteId, {}, 'cmd-fileserver');
  slowTarget = await createTarget(stack.admin, stack.siteId, { latencyMs: 6000 }, 'cmd-slow');
  for (const username of ['ann', 'bob', 'cid'])
    creds.push(await createCredential(stack.admin, targetId, { username }));
  for (const c of creds) await inSync(c.id);
}, 120_000);

afterAll(async () => {
  await db?.end();
  await stack?.close();
});

describe('overview and summary', () => {
  it('overview shows the four buckets and each site', async () => {
    const o = await json<{
      buckets: Record<string, number>;
      sites: { siteId: string; agents: { online: number } }[];
    }>('overview');
    expect(Object.keys(o.buckets)).toEqual(
      expect.arrayContaining(['active', 'withIssues', 'suspended', 'notConfigured', 'queued']),
    );
    expect(o.sites.find((s) => s.siteId === stack.siteId)?.agents.online).toBe(1);
    const text = await ok('overview');
    for (const label of [
      'Active',
      'With Issues',
      'Suspended by Error',
      'Not Configured',
      'cli-commands-site',
    ])
      expect(text).toContain(label);
    expect(await ok('summary')).toContain('suspended by error: ');
  });
});

describe('credentials', () => {
  it('disable and enable sync', async () => {
    const c = creds[0]!;
    expect(await ok('credentials', 'disable', c.id)).toContain('sync disabled (Not Synced)');
    expect((await getCredential(stack.admin, c.id)).syncEnabled).toBe(false);
    expect(await ok('credentials', 'enable', c.id)).toContain('sync enabled');
    expect((await getCredential(stack.admin, c.id)).syncEnabled).toBe(true);
    await inSync(c.id);
  });

  it('dependencies: a chained credential follows a change and a stored password (real agent)', async () => {
    const owner = await createCredential(stack.admin, targetId, { username: 'dep-owner' });
    const follower = await createCredential(stack.admin, targetId, { username: 'dep-follower' });
    await inSync(owner.id);
    await inSync(follower.id);
    const file = join(mkdtempSync(join(tmpdir(), 'deps-')), 'deps.json');
    writeFileSync(
      file,
      JSON.stringify({ dependencies: [{ kind: 'credential', name: 'follower', credentialId: follower.id }] }),
    );
    expect(await ok('credentials', 'set-dependencies', owner.id, '--file', file)).toContain('follower');
    const password = async (id: string) =>
      (await expectStatus<{ password: string }>(stack.admin.get(`/credentials/${id}/password`), 200))
        .password;
    const followed = async (expected?: string) =>
      waitFor(
        async () => {
          const [a, b] = [await password(owner.id), await password(follower.id)];
          return a === b && (expected === undefined || a === expected) && a !== owner.password;
        },
        { timeoutMs: 30_000, message: 'the follower to have the owner password' },
      );
    await ok('credentials', 'change', owner.id);
    await followed();
    const listed = await json<{ items: { status: string; kind: string }[] }>(
      'credentials',
      'dependencies',
      owner.id,
    );
    expect(listed.items).toEqual([expect.objectContaining({ kind: 'credential', status: 'ok' })]);
    expect(await ok('credentials', 'check-dependencies', owner.id)).toContain(
      'a check of 1 dependencies asked',
    );
    // Changed by hand on the target: stored without a change, verified, pushed to the chain.
    const byHand = `By-hand-${Date.now()}-Aa1!`;
    expect(
      await ok('credentials', 'set-stored-password', owner.id, '--password', byHand, '--push-dependencies'),
    ).toContain('stored password set');
    await followed(byHand);
    expect((await cli('credentials', 'retry-dependencies', owner.id)).code).toBe(2); // none failed: 409
  });

  it('list --suspended finds a suspended credential; resume brings it back', async () => {
    const c = creds[1]!;
    await db.query('UPDATE credentials SET suspended = true, consecutive_failures = 10 WHERE id = $1', [
      c.id,
    ]);
    const suspended = await json<{ items: CredentialView[] }>('credentials', 'list', '--suspended');
    expect(suspended.items.map((x) => x.id)).toEqual([c.id]);
    expect(await ok('credentials', 'list', '--suspended')).toContain('bob');
    // The overview's Suspended by Error bucket counts it (its counts may be up to 2 s old).
    await waitFor(
      async () => (await json<{ buckets: { suspended: number } }>('overview')).buckets.suspended === 1,
      {
        timeoutMs: 10_000,
        message: 'the Suspended by Error bucket to count it',
      },
    );
    expect(await ok('credentials', 'resume', c.id)).toContain('resumed');
    const after = await getCredential(stack.admin, c.id);
    expect(after).toMatchObject({ suspended: false, consecutiveFailures: 0 });
    expect((await json<{ items: CredentialView[] }>('credentials', 'list', '--suspended')).items).toEqual([]);
  });

  it('list --job-state active shows a verification running on a slow target', async () => {
    const slow = await createCredential(stack.admin, slowTarget, { username: 'slowpoke' });
    // Both listings are read within one poll: under load the verification may end between two calls.
    await waitFor(
      async () => {
        const r = await json<{ items: CredentialView[] }>('credentials', 'list', '--job-state', 'active');
        if (!r.items.some((x) => x.id === slow.id)) return false;
        const text = await ok('credentials', 'list', '--job-state', 'active');
        return text.includes('slowpoke') && text.includes('verify active');
      },
      { timeoutMs: 15_000, message: 'the slow verification to show as running, in JSON and as text' },
    );
    await inSync(slow.id);
  });

  it('verify (Sync now), history, change, and delete --force', async () => {
    const c = creds[2]!;
    expect(await ok('credentials', 'verify', c.id)).toContain('verify requested');
    await inSync(c.id);
    const history = await json<{ items: { status: string }[]; nextCursor: string | null }>(
      'credentials',
      'history',
      c.id,
    );
    expect(history.items.map((h) => h.status)).toContain('in_sync');
    expect(await ok('credentials', 'history', c.id)).toContain('In Sync');

    const before = (
      await expectStatus<{ password: string }>(stack.admin.get(`/credentials/${c.id}/password`), 200)
    ).password;
    expect(await ok('credentials', 'change', c.id)).toContain('change requested');
    await waitFor(async () => (await getCredential(stack.admin, c.id)).lastChangedAt !== null, {
      timeoutMs: 20_000,
      message: 'the change',
    });
    const after = (
      await expectStatus<{ password: string }>(stack.admin.get(`/credentials/${c.id}/password`), 200)
    ).password;
    expect(after).not.toBe(before);
    // The password the change replaced, from the audited history reveal.
    const kept = await json<{ items: { kind: string; password: string }[] }>(
      'credentials',
      'password-history',
      c.id,
    );
    expect(kept.items).toEqual([expect.objectContaining({ kind: 'retired', password: before })]);
    expect(await ok('credentials', 'password-history', c.id)).toContain('retired');

    // A change in flight: a plain delete is refused (exit 2, the API's reason), --force deletes.
    const slow = await createCredential(stack.admin, slowTarget, { username: 'inflight' });
    await inSync(slow.id);
    await ok('credentials', 'change', slow.id);
    await waitFor(async () => (await getCredential(stack.admin, slow.id)).changePending, {
      timeoutMs: 10_000,
      message: 'the change to be in flight',
    });
    const refused = await cli('credentials', 'delete', slow.id);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('change is in flight');
    expect(await ok('credentials', 'delete', slow.id, '--force')).toContain('force deleted');
    expect((await stack.admin.get(`/credentials/${slow.id}`)).status).toBe(404);
  });
});

describe('runs and audit, paged', () => {
  it('sites resync --wait; runs list --cursor and --all; runs get; runs items', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await cli('--json', 'sites', 'resync', stack.siteId, '--wait');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'success', scope: { siteId: stack.siteId } });
    }
    const first = await ok('runs', 'list', '--limit', '1');
    const cursor = /more: --cursor (\S+)/.exec(first)?.[1];
    expect(cursor).toBeTruthy();
    const second = await json<{ items: SyncRunView[] }>('runs', 'list', '--limit', '1', '--cursor', cursor!);
    expect(second.items).toHaveLength(1);
    expect(first).not.toContain(second.items[0]!.id);
    const all = await json<{ items: SyncRunView[]; nextCursor: null }>(
      'runs',
      'list',
      '--all',
      '--limit',
      '1',
    );
    const api = await expectStatus<{ items: SyncRunView[] }>(stack.admin.get('/sync-runs?limit=500'), 200);
    expect(all.items.map((r) => r.id)).toEqual(api.items.map((r) => r.id));
    expect(all.nextCursor).toBeNull();
    const bySite = await json<{ items: SyncRunView[] }>(
      'runs',
      'list',
      '--site',
      stack.siteId,
      '--outcome',
      'success',
    );
    expect(bySite.items.length).toBeGreaterThanOrEqual(3);

    const run = all.items.find((r) => r.scope.siteId === stack.siteId)!;
    const got = await ok('runs', 'get', run.id);
    expect(got).toMatch(/impacted\s+\d+/);
    expect(got).toMatch(/outcome\s+success/);
    const itemsPage = await ok('runs', 'items', run.id, '--limit', '1');
    expect(itemsPage).toContain('more: --cursor');
    expect(itemsPage).toMatch(/success/);
    const items = await json<{ items: { credentialId: string }[] }>(
      'runs',
      'items',
      run.id,
      '--all',
      '--limit',
      '2',
    );
    expect(items.items).toHaveLength(run.counts.impacted);
  });

  it('audit --cursor, --all and filters', async () => {
    const first = await ok('audit', '--limit', '2');
    const cursor = /more: --cursor (\d+)/.exec(first)?.[1];
    expect(cursor).toBeTruthy();
    const next = await json<{ items: { id: number }[] }>('audit', '--limit', '2', '--cursor', cursor!);
    expect(next.items.every((e) => e.id < Number(cursor))).toBe(true);
    const disables = await json<{ items: { action: string; objectId: string }[] }>(
      'audit',
      '--all',
      '--limit',
      '1',
      '--action',
      'credential.disable',
    );
    expect(disables.items.map((e) => e.objectId)).toEqual([creds[0]!.id]);
    const ofObject = await json<{ items: { objectId: string }[] }>(
      'audit',
      '--object',
      creds[1]!.id,
      '--object-type',
      'credential',
    );
    expect(ofObject.items.length).toBeGreaterThan(0);
    expect(ofObject.items.every((e) => e.objectId === creds[1]!.id)).toBe(true);
  });
});

describe('sites, agents, targets', () => {
  it('sites token --uses N enrolls N agents, then no more', async () => {
    const { id: siteId } = await createSite(stack.admin, 'cli-token-site');
    const out = await ok('sites', 'token', siteId, '--uses', '2', '--ttl', '600');
    expect(out).toContain('enrolls up to 2 agents');
    const token = out.split('\n')[0]!;
    const enroll = (name: string) =>
      api(stack.coordinator.url).post(GATEWAY_PATHS.enroll, {
        enrollmentToken: token,
        name,
        host: 'h',
        version: '1',
        adapters: ['simulated'],
        concurrency: 1,
      });
    expect((await enroll('one')).status).toBe(201);
    expect((await enroll('two')).status).toBe(201);
    expect((await enroll('three')).status).toBe(401);
  });

  it('agents disable / enable and sites disable / enable', async () => {
    expect(await ok('agents', 'disable', stack.agentId)).toContain('disabled');
    const agents = await json<{ items: { id: string; enabled: boolean }[] }>(
      'agents',
      'list',
      '--site',
      stack.siteId,
    );
    expect(agents.items.find((a) => a.id === stack.agentId)?.enabled).toBe(false);
    // The table: the real agent is the product's own version, up to date, and the supported range.
    const table = await ok('agents', 'list', '--site', stack.siteId);
    expect(table).toMatch(/^id +name +host +version +versionStatus /m);
    expect(table).toMatch(
      new RegExp(`^${stack.agentId} .* ${VERSION.replaceAll('.', '\\.')} +up_to_date `, 'm'),
    );
    expect(table).toMatch(/^supported agent versions: \S+ to \S+ \(latest \S+\)$/m);
    await waitFor(async () => (await getCredential(stack.admin, creds[0]!.id)).status === 'agent_disabled', {
      timeoutMs: 10_000,
      message: 'agent_disabled',
    });
    expect(await ok('agents', 'enable', stack.agentId)).toContain('enabled');
    await inSync(creds[0]!.id);
    const { id: siteId } = await createSite(stack.admin, 'cli-toggle-site');
    await ok('sites', 'disable', siteId);
    expect(
      (await json<{ items: { id: string; enabled: boolean }[] }>('sites', 'list')).items.find(
        (s) => s.id === siteId,
      )?.enabled,
    ).toBe(false);
    await ok('sites', 'enable', siteId);
    expect(
      (await json<{ items: { id: string; enabled: boolean }[] }>('sites', 'list')).items.find(
        (s) => s.id === siteId,
      )?.enabled,
    ).toBe(true);
  });

  it('creates show tables; targets list searches and pages', async () => {
    const site = await ok('sites', 'create', 'cli-table-site');
    expect(site).toMatch(/^id\s+name\s+enabled/);
    const siteId = /\n[-\s]+\n(\S+)/.exec(site)?.[1];
    expect(siteId).toMatch(/^[0-9a-f-]{36}$/);
    const target = await ok(
      'targets',
      'create',
      '--site',
      siteId!,
      '--name',
      'cmd-table-target',
      '--kind',
      'simulated',
    );
    expect(target).toMatch(/^id\s+name\s+kind/);
    expect(target).toContain('cmd-table-target');
    const found = await json<{ items: { name: string }[] }>('targets', 'list', '--search', 'CMD-TABLE');
    expect(found.items.map((t) => t.name)).toEqual(['cmd-table-target']);
    const paged = await ok('targets', 'list', '--limit', '1');
    expect(paged).toContain('more: --cursor');
    const all = await json<{ items: { id: string }[] }>('targets', 'list', '--all', '--limit', '1');
    const everyTarget = await expectStatus<{ items: { id: string }[] }>(stack.admin.get('/targets'), 200);
    expect(all.items.map((t) => t.id)).toEqual(everyTarget.items.map((t) => t.id));
    expect(all.items.length).toBeGreaterThanOrEqual(3);
    const bad = await cli(
      'targets',
      'create',
      '--site',
      siteId!,
      '--name',
      'x',
      '--kind',
      'simulated',
      '--connection',
      '{',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--connection: not valid JSON');
  });

  it('creates and lists directory and windows targets, the kind with its flavour; a bad DN is refused naming it', async () => {
    const { id: siteId } = await createSite(stack.admin, 'cli-kinds-site');
    const create = (name: string, kind: string, connection: Record<string, unknown>) =>
      cli(
        'targets',
        'create',
        '--site',
        siteId,
        '--name',
        name,
        '--kind',
        kind,
        '--connection',
        JSON.stringify(connection),
      );
    expect(
      (await create('cli-dc01', 'directory', { flavour: 'active_directory', host: 'dc01.corp.example' }))
        .code,
    ).toBe(0);
    expect((await create('cli-ws01', 'windows', { host: 'ws01.corp.example' })).code).toBe(0);
    const listed = await ok('targets', 'list', '--site', siteId);
    expect(listed).toMatch(/cli-dc01\s+directory\/active_directory/);
    expect(listed).toMatch(/cli-ws01\s+windows\s/);
    const bad = await create('cli-bad', 'directory', {
      flavour: 'ldap',
      host: 'ldap1',
      userDnTemplate: 'uid={username},,dc=x',
    });
    // 2: the API refused the request (HTTP 400).
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('body.connection.userDnTemplate');
  });
});

describe('administration', () => {
  it('tokens create / list / revoke; sites rename, tokens, revoke-token, delete; a policy, a target, a group deleted', async () => {
    const created = await json<{ id: string; token: string; role: string }>(
      'tokens',
      'create',
      'cli-op',
      '--role',
      'operator',
    );
    expect(created.role).toBe('operator');
    expect((await json<{ items: { id: string }[] }>('tokens', 'list')).items.map((t) => t.id)).toContain(
      created.id,
    );
    expect(await ok('tokens', 'revoke', created.id)).toContain(`token ${created.id}: revoked`);
    // The revoked token no longer opens the API.
    expect((await api(`${stack.coordinator.url}/api/v1`, created.token).get('/sites')).status).toBe(401);

    const site = await json<{ id: string }>('sites', 'create', 'cli-admin-site');
    expect(await ok('sites', 'rename', site.id, 'cli-admin-renamed')).toContain('renamed cli-admin-renamed');
    expect((await expectStatus<{ name: string }>(stack.admin.get(`/sites/${site.id}`), 200)).name).toBe(
      'cli-admin-renamed',
    );
    await ok('sites', 'token', site.id);
    const tokens = await json<{ items: { id: string; state: string }[] }>('sites', 'tokens', site.id);
    expect(tokens.items).toHaveLength(1);
    await ok('sites', 'revoke-token', tokens.items[0]!.id);
    expect((await json<{ items: { state: string }[] }>('sites', 'tokens', site.id)).items[0]!.state).toBe(
      'revoked',
    );

    const target = await json<{ id: string }>(
      'targets',
      'create',
      '--site',
      site.id,
      '--name',
      'cli-admin-target',
      '--kind',
      'simulated',
      '--connection',
      '{}',
    );
    await expectStatus(
      stack.admin.post('/credentials', {
        targetId: target.id,
        username: 'cli-admin-u',
        password: 'Pw-cli-admin-1',
      }),
      201,
    );
    // Refused while it has credentials (exit 2, the coordinator's 409); --force deletes them with it.
    expect((await cli('targets', 'delete', target.id)).code).toBe(2);
    expect(await ok('targets', 'delete', target.id, '--force')).toContain('deleted');
    expect(await ok('sites', 'delete', site.id)).toContain(`site ${site.id}: deleted`);
    expect((await stack.admin.get(`/sites/${site.id}`)).status).toBe(404);

    const policy = await expectStatus<{ id: string }>(
      stack.admin.post('/policies', { name: 'cli-admin-policy' }),
      201,
    );
    await ok('policies', 'update', policy.id, '--name', 'cli-admin-policy-2', '--verify-interval', '7200');
    expect(
      await expectStatus<{ name: string; verifyIntervalSeconds: number }>(
        stack.admin.get(`/policies/${policy.id}`),
        200,
      ),
    ).toMatchObject({ name: 'cli-admin-policy-2', verifyIntervalSeconds: 7200 });
    const nothing = await cli('policies', 'update', policy.id);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('nothing to change');
    await ok('policies', 'delete', policy.id);
    expect((await stack.admin.get(`/policies/${policy.id}`)).status).toBe(404);
  });
});

describe('configuration and errors', () => {
  it('reads the URL and token from the config file (SYNCCTL_CONFIG)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncctl-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ url: stack.coordinator.url, token: ADMIN_TOKEN }));
    const r = await runCli(['--json', 'summary'], {
      SYNCCTL_CONFIG: file,
      SYNCCTL_URL: undefined,
      SYNCCTL_TOKEN: undefined,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('byStatus');
  });

  it('a config file that is not JSON is named, never quoted (it holds the token); not read when the environment gives all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncctl-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, '{"url": "http://127.0.0.1:1", "token": pwo_NOT_QUOTED}');
    const bad = await runCli(['summary'], {
      SYNCCTL_CONFIG: file,
      SYNCCTL_URL: undefined,
      SYNCCTL_TOKEN: undefined,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`syncctl: config file ${file}: not valid JSON\n`);
    const good = await runCli(['--json', 'summary'], {
      SYNCCTL_CONFIG: file,
      SYNCCTL_URL: stack.coordinator.url,
      SYNCCTL_TOKEN: ADMIN_TOKEN,
    });
    expect(good.code, good.stderr).toBe(0);
  });

  it('an id never reaches another path: ../sites/<id> is refused as an id, the site stays', async () => {
    const deleted = await cli('credentials', 'delete', `../sites/${stack.siteId}`, '--force');
    expect(deleted.code).toBe(2);
    expect(deleted.stderr).toContain('params.id');
    expect((await stack.admin.get(`/sites/${stack.siteId}`)).status).toBe(200);
    const query = await cli('credentials', 'get', `${creds[0]!.id}?x=1`);
    expect(query.code).toBe(2);
    const dots = await cli('credentials', 'get', '..');
    expect(dots.code).toBe(1);
    expect(dots.stderr).toContain("ID: '..' is not an id");
  });

  it('usage errors: extra words, another command’s flag, a number typo, an empty or non-UTF-8 password', async () => {
    const before = await json<{ items: unknown[] }>('sites', 'list');
    const extra = await cli('sites', 'create', 'Audit', 'Branch');
    expect(extra.code).toBe(1);
    expect(extra.stderr).toContain("unexpected 'Branch'");
    expect((await json<{ items: unknown[] }>('sites', 'list')).items).toHaveLength(before.items.length);
    const foreign = await cli('sync', '--kind', 'change', '--target', targetId);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain("--kind is not an option of 'sync'");
    const typo = await cli('sites', 'token', stack.siteId, '--uses', 'abc');
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain("--uses: expected a whole number, got 'abc'");
    // Every number flag, --limit and --batch-size too, is digits only, checked before anything is sent.
    for (const [args, flag] of [
      [['sites', 'token', stack.siteId, '--uses', '-1'], '--uses'],
      [['credentials', 'list', '--limit', '1e2'], '--limit'],
      [['runs', 'list', '--limit', '-1'], '--limit'],
      [['credentials', 'password-history', creds[0]!.id, '--limit', '0x10'], '--limit'],
      [['import', 'nothing.csv', '--batch-size', '0x2'], '--batch-size'],
    ] as const) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(`${flag}:`);
    }
    // The documented form --sort -KEY (a value starting with a dash) sorts descending.
    const sorted = await json<{ items: { username: string }[] }>(
      'credentials',
      'list',
      '--sort',
      '-username',
    );
    const names = sorted.items.map((i) => i.username);
    expect(names).toEqual([...names].sort().reverse());
    // Both password flags at once are refused; an empty password names its flag.
    const both = await cli('credentials', 'change', creds[0]!.id, '--password', 'x', '--password-stdin');
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('--password and --password-stdin');
    const id = creds[2]!.id;
    const before2 = await expectStatus<{ password: string }>(
      stack.admin.get(`/credentials/${id}/password`),
      200,
    );
    const stdin = (input: string | Buffer) =>
      runCli(
        [
          '--url',
          stack.coordinator.url,
          '--token',
          ADMIN_TOKEN,
          'credentials',
          'change',
          id,
          '--password-stdin',
        ],
        {},
        30_000,
        undefined,
        input,
      );
    const empty = await stdin('');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('--password-stdin: the password is empty');
    const latin1 = await stdin(Buffer.from('p\xe4ss-Word-123\n', 'latin1'));
    expect(latin1.code).toBe(1);
    expect(latin1.stderr).toContain('--password-stdin: not UTF-8 text');
    const after = await expectStatus<{ password: string }>(
      stack.admin.get(`/credentials/${id}/password`),
      200,
    );
    expect(after.password).toBe(before2.password);
  });

  it('a coordinator that accepts and never answers: a clear error within SYNCCTL_TIMEOUT_MS, not 5 minutes', async () => {
    const server: Server = createServer(() => undefined); // never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const started = Date.now();
      const r = await runCli(['--url', `http://127.0.0.1:${port}`, '--token', ADMIN_TOKEN, 'summary'], {
        SYNCCTL_TIMEOUT_MS: '1000',
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`syncctl: 127.0.0.1:${port} did not answer within 1 s (SYNCCTL_TIMEOUT_MS)\n`);
      expect(Date.now() - started).toBeLessThan(15_000);
      const bad = await runCli(['summary'], { SYNCCTL_TIMEOUT_MS: 'soon' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('SYNCCTL_TIMEOUT_MS');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("an HTML error page (a proxy's 502) is a clear error, not a JSON crash", async () => {
    const server: Server = createServer((_req, res) => {
      res
        .writeHead(502, { 'content-type': 'text/html' })
        .end('<html><body><h1>502 Bad Gateway</h1></body></html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const r = await runCli(['--url', `http://127.0.0.1:${port}`, '--token', ADMIN_TOKEN, 'summary']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('HTTP 502');
      expect(r.stderr).toContain('502 Bad Gateway');
      expect(r.stderr).not.toContain('SyntaxError');
    } finally {
      server.close();
    }
  });
});

// Last: its events (credential.disable, …) would show in the audit filters above.
describe('credentials bulk', () => {
  it('disables by filter, deletes by ids (one unknown: exit 3), a line per credential and a summary', async () => {
    const { id: siteId } = await createSite(stack.admin, 'cli-bulk-site');
    const bulkTarget = await createTarget(stack.admin, siteId, {}, 'cmd-bulk');
    const made = [];
    for (const username of ['bulk-a', 'bulk-b'])
      made.push(await createCredential(stack.admin, bulkTarget, { username }));
    const ids = made.map((c) => c.id);

    const disabled = await cli('credentials', 'bulk', 'disable', '--target', bulkTarget);
    expect(disabled.code, disabled.stderr).toBe(0);
    for (const id of ids) expect(disabled.stdout).toMatch(new RegExp(`^${id} +ok +- +\\S+$`, 'm'));
    expect(disabled.stdout).toMatch(/^disable: 2 ok, 0 failed \(audit: credential_bulk [0-9a-f-]{36}\)$/m);
    for (const id of ids) expect((await getCredential(stack.admin, id)).syncEnabled).toBe(false);

    // Ids on stdin, the API's answer with --json.
    const enabled = await runCli(
      [
        '--url',
        stack.coordinator.url,
        '--token',
        ADMIN_TOKEN,
        '--json',
        'credentials',
        'bulk',
        'enable',
        '--ids-stdin',
      ],
      {},
      60_000,
      undefined,
      `${ids.join('\n')}\n`,
    );
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(JSON.parse(enabled.stdout)).toMatchObject({
      action: 'enable',
      counts: { ok: 2, failed: 0 },
      results: ids.map((id) => ({ id, result: 'ok' })),
    });

    const unknown = '00000000-0000-4000-8000-000000000000';
    const deleted = await cli(
      'credentials',
      'bulk',
      'delete',
      '--ids',
      [...ids, unknown].join(','),
      '--force',
    );
    expect(deleted.code, deleted.stderr).toBe(3);
    for (const id of ids) expect(deleted.stdout).toMatch(new RegExp(`^${id} +ok +- +deleted$`, 'm'));
    expect(deleted.stdout).toMatch(new RegExp(`^${unknown} +failed +NOT_FOUND +\\S`, 'm'));
    expect(deleted.stdout).toMatch(/^delete: 2 ok, 1 failed /m);
    for (const id of ids) expect((await stack.admin.get(`/credentials/${id}`)).status).toBe(404);

    // Ids and a filter at once: a usage error.
    const both = await cli('credentials', 'bulk', 'enable', '--ids', unknown, '--target', bulkTarget);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('not both');
  });

  it('list and bulk take --site, --target and --group by name; an unknown or ambiguous name is an error', async () => {
    const { id: siteId } = await createSite(stack.admin, 'cli-names-site');
    const named = await createTarget(stack.admin, siteId, {}, 'cmd-names');
    await createTarget(stack.admin, stack.siteId, {}, 'cmd-names'); // the same name on another site
    const [a, b] = [
      await createCredential(stack.admin, named, { username: 'names-a' }),
      await createCredential(stack.admin, named, { username: 'names-b' }),
    ];
    await expectStatus(
      stack.admin.post('/sync-groups', {
        name: 'cli-names-group',
        primaryCredentialId: a.id,
        memberCredentialIds: [b.id],
      }),
      201,
    );
    const listed = (...filters: string[]) =>
      json<{ items: CredentialView[] }>('credentials', 'list', ...filters).then((r) =>
        r.items.map((c) => c.id).sort(),
      );
    const both = [a.id, b.id].sort();
    expect(await listed('--site', 'cli-names-site')).toEqual(both);
    expect(await listed('--site', 'cli-names-site', '--target', 'cmd-names')).toEqual(both);
    expect(await listed('--group', 'cli-names-group')).toEqual(both);
    expect(await listed('--target', named)).toEqual(both); // an id as before

    const ambiguous = await cli('credentials', 'list', '--target', 'cmd-names');
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain("--target: 2 targets are named 'cmd-names'");
    expect(ambiguous.stderr).toContain('--site');
    for (const [flag, kind] of [
      ['--site', 'site'],
      ['--group', 'sync group'],
    ]) {
      const unknown = await cli('credentials', 'bulk', 'disable', flag!, 'no-such-name');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain(`${flag}: no ${kind} named 'no-such-name'`);
    }

    const disabled = await cli(
      'credentials',
      'bulk',
      'disable',
      '--site',
      'cli-names-site',
      '--target',
      'cmd-names',
    );
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toMatch(/^disable: 2 ok, 0 failed /m);
    for (const c of [a, b]) expect((await getCredential(stack.admin, c.id)).syncEnabled).toBe(false);
  });
});
