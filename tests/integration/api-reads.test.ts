/**
 * What the demo and the dashboard do, on the database of the vitest project (PostgreSQL, and the
 * embedded PGlite in the `pglite` project, see vitest.config.ts): a site with an agent and verified
 * credentials, a policy, a sync group, a Resync of the site run to its end, then every GET of the
 * route table with real ids (the filters the dashboard sends included) answers 200 with the objects
 * asked for. A GET route added later without a case here fails the first test.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tick } from '../../coordinator/scheduler/tick.js';
import { insertTrial } from '../../coordinator/trials/store.js';
import type { SyncRunView } from '../../shared/contracts/api.js';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  held,
  type CreatedCredential,
} from '../support/fixtures.js';
import { api } from '../support/http.js';

type Body = Record<string, unknown> & { items?: Record<string, unknown>[] };

let c: InProcessCoordinator;
let siteId: string;
const siteName = `site-${randomBytes(3).toString('hex')}`;
let targetId: string;
const groupName = `group-${randomBytes(3).toString('hex')}`;
const policyName = `policy-${randomBytes(3).toString('hex')}`;
let agent: FakeAgent;
const creds: CreatedCredential[] = [];
let policyId: string;
let groupId: string;
let tokenId: string;
let channelId: string;
let trialId: string;
let enrollmentTokenId: string;
let run: SyncRunView;
let getRoutes: string[];

/** Claims what is queued for the agent and reports it ok, until nothing is left. */
async function workQueue(): Promise<number> {
  let done = 0;
  for (;;) {
    const jobs = await agent.claim(50);
    if (jobs.length === 0) return done;
    expect((await agent.report(jobs.map(held))).accepted).toHaveLength(jobs.length);
    done += jobs.length;
  }
}

beforeAll(async () => {
  c = await startInProcessCoordinator('api-reads', inject('redisUrl'));
  siteId = (await createSite(c.admin, siteName)).id;
  targetId = await createTarget(c.admin, siteId, {}, 'fileserver');
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  for (let i = 0; i < 4; i++) creds.push(await createCredential(c.admin, targetId));
  expect(await workQueue()).toBe(4); // first verifications: in sync
  policyId = (await expectStatus<{ id: string }>(c.admin.post('/policies', { name: policyName }), 201)).id;
  groupId = (
    await expectStatus<{ id: string }>(
      c.admin.post('/sync-groups', {
        name: groupName,
        primaryCredentialId: creds[2]!.id,
        memberCredentialIds: [creds[3]!.id],
      }),
      201,
    )
  ).id;
  tokenId = (
    await expectStatus<{ id: string }>(c.admin.post('/tokens', { name: 'viewer', role: 'viewer' }), 201)
  ).id;
  enrollmentTokenId = (
    await expectStatus<{ id: string }>(c.admin.post(`/sites/${siteId}/enrollment-tokens`, {}), 201)
  ).id;
  channelId = (
    await expectStatus<{ id: string }>(
      c.admin.post('/notification-channels', {
        kind: 'webhook',
        name: 'reads-hook',
        webhook: { url: 'http://127.0.0.1:9/hook' },
      }),
      201,
    )
  ).id;
  // A login trial as POST /targets/{id}/login-trials stores one (those are for web targets: the
  // route itself is tested in login-trials.test.ts).
  trialId = (
    await insertTrial(c.ctx.db, {
      id: randomUUID(),
      target_id: targetId,
      credential_id: creds[0]!.id,
      site_id: siteId,
      workflow: { steps: [] },
      created_by: 'api-reads',
    })
  ).id;
  const doc = await expectStatus<{ paths: Record<string, Record<string, { 'x-required-role'?: string }>> }>(
    api(c.url).get('/openapi.json'),
    200,
  );
  getRoutes = Object.entries(doc.paths).flatMap(([path, methods]) => (methods.get ? [path] : []));
});
afterAll(() => c?.close());

describe('the demo and the dashboard', () => {
  it('Resync of a site: the run starts, every credential of the site is verified, the run ends', async () => {
    run = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'verify', scope: { siteId } }),
      201,
      'POST /sync-runs (Resync)',
    );
    // The start's answer names its scope as the runs list does.
    expect(run).toMatchObject({ scopeName: `site ${siteName}`, createdByName: expect.any(String) });
    await tick(c.ctx);
    expect(await workQueue()).toBe(4);
    const ended = await expectStatus<SyncRunView>(c.admin.get(`/sync-runs/${run.id}`), 200);
    expect(ended.finishedAt).not.toBeNull();
    expect(ended.counts).toMatchObject({ impacted: 4, success: 4, failed: 0 });
    expect(ended.outcome).toBe('success');
    // A run over one target and over a sync group, as syncctl starts them.
    for (const scope of [{ targetId }, { groupId }]) {
      const started = await expectStatus<SyncRunView>(
        c.admin.post('/sync-runs', { kind: 'verify', scope }),
        201,
        JSON.stringify(scope),
      );
      expect(started.scopeName).toBe(scope.groupId ? `group ${groupName}` : 'target fileserver');
    }
    // A verification run queues its credentials as it marks them: verified, they read in_sync again.
    await workQueue();
  });

  /** Each GET route: the paths to read (relative to /api/v1 for the API) (real ids, the dashboard's filters) and what each answer must hold. */
  const CASES: Record<string, () => [string, (body: Body) => void][]> = {
    '/api/v1/sites': () => [['/sites', (b) => expect(ids(b)).toContain(siteId)]],
    '/api/v1/sites/{id}': () => [[`/sites/${siteId}`, (b) => expect(b.id).toBe(siteId)]],
    '/api/v1/sites/{id}/enrollment-tokens': () => [
      [
        `/sites/${siteId}/enrollment-tokens`,
        (b) => {
          expect(ids(b)).toContain(enrollmentTokenId);
          // Who created it, by name (the bootstrap admin's name is its id).
          for (const t of b.items ?? []) expect(t.createdByName).toEqual(expect.any(String));
        },
      ],
    ],
    '/api/v1/agents': () => [
      ['/agents', (b) => expect(ids(b)).toContain(agent.agentId)],
      [`/agents?siteId=${siteId}`, (b) => expect(ids(b)).toEqual([agent.agentId])],
    ],
    '/api/v1/targets': () => [
      [`/targets?siteId=${siteId}&limit=50`, (b) => expect(ids(b)).toEqual([targetId])],
      [`/targets?siteId=${siteId}&q=files&limit=50`, (b) => expect(ids(b)).toEqual([targetId])],
    ],
    '/api/v1/targets/{id}': () => [[`/targets/${targetId}`, (b) => expect(b.id).toBe(targetId)]],
    '/api/v1/targets/{id}/login-trials/{trialId}': () => [
      [
        `/targets/${targetId}/login-trials/${trialId}`,
        (b) => expect(b).toMatchObject({ id: trialId, state: 'queued' }),
      ],
    ],
    '/api/v1/credentials': () => [
      ['/credentials', (b) => expect(ids(b)).toHaveLength(4)],
      [
        `/credentials?status=in_sync&siteId=${siteId}&targetId=${targetId}&sort=-lastVerifiedAt&limit=2`,
        (b) => expect(ids(b)).toHaveLength(2),
      ],
      [`/credentials?q=${creds[1]!.username}`, (b) => expect(ids(b)).toEqual([creds[1]!.id])],
      [`/credentials?groupId=${groupId}`, (b) => expect(ids(b)).toHaveLength(2)],
    ],
    '/api/v1/credentials/{id}': () => [
      [
        `/credentials/${creds[0]!.id}`,
        (b) => expect(b).toMatchObject({ id: creds[0]!.id, status: 'in_sync' }),
      ],
    ],
    '/api/v1/credentials/{id}/dependencies': () => [
      [`/credentials/${creds[0]!.id}/dependencies`, (b) => expect(b.items).toEqual([])],
    ],
    '/api/v1/credentials/{id}/history': () => [
      [`/credentials/${creds[0]!.id}/history?limit=50`, (b) => expect(b.items!.length).toBeGreaterThan(0)],
    ],
    '/api/v1/credentials/{id}/password': () => [
      [`/credentials/${creds[0]!.id}/password`, (b) => expect(b.password).toBe(creds[0]!.password)],
    ],
    '/api/v1/credentials/{id}/password-history': () => [
      [`/credentials/${creds[0]!.id}/password-history`, (b) => expect(b.items).toEqual([])],
    ],
    '/api/v1/sync-runs': () => [
      ['/sync-runs', (b) => expect(ids(b)).toContain(run.id)],
      [
        `/sync-runs?outcome=success&siteId=${siteId}&since=${encodeURIComponent(run.startedAt)}&limit=100`,
        (b) => expect(ids(b)).toContain(run.id),
      ],
    ],
    '/api/v1/sync-runs/{id}': () => [[`/sync-runs/${run.id}`, (b) => expect(b.id).toBe(run.id)]],
    '/api/v1/sync-runs/{id}/items': () => [
      [`/sync-runs/${run.id}/items?limit=100`, (b) => expect(b.items).toHaveLength(4)],
    ],
    '/api/v1/credentials/export': () => [
      [
        `/credentials/export?siteId=${siteId}&status=in_sync&sort=-lastVerifiedAt`,
        (b) => expect((b as unknown as unknown[]).length).toBeGreaterThanOrEqual(2),
      ],
      [
        `/credentials/export?format=csv&groupId=${groupId}`,
        (b) => expect(String(b).split('\r\n')).toHaveLength(4),
      ],
    ],
    '/api/v1/sync-runs/export': () => [
      [`/sync-runs/export?siteId=${siteId}&format=csv`, (b) => expect(String(b)).toContain(run.id)],
    ],
    '/api/v1/sync-runs/{id}/items/export': () => [
      [`/sync-runs/${run.id}/items/export`, (b) => expect(b as unknown as unknown[]).toHaveLength(4)],
    ],
    '/api/v1/audit/export': () => [
      [
        `/audit/export?objectId=${creds[0]!.id}&format=csv`,
        (b) => expect(String(b)).toContain('credential.create'),
      ],
    ],
    '/api/v1/sites/{id}/compliance-report': () => [
      [`/sites/${siteId}/compliance-report`, (b) => expect(b.items).toHaveLength(4)],
      [`/sites/${siteId}/compliance-report?format=csv`, (b) => expect(String(b)).toContain('reveal_count')],
    ],
    '/api/v1/summary': () => [
      [
        '/summary',
        (b) => {
          expect((b.byStatus as Record<string, number>).in_sync).toBeGreaterThanOrEqual(2);
          expect((b.sites as { siteId: string }[]).map((s) => s.siteId)).toContain(siteId);
        },
      ],
    ],
    '/api/v1/overview': () =>
      ['/overview', '/overview?bucket=hour', '/overview?bucket=day'].map((path) => [
        path,
        (b) => {
          const sites = b.sites as { siteId: string; latestRun: SyncRunView | null }[];
          // The embedded latest run is named as the runs list names it.
          expect(sites.find((s) => s.siteId === siteId)?.latestRun?.scopeName).toBe(`site ${siteName}`);
        },
      ]),
    '/api/v1/audit': () => [
      [
        `/audit?objectId=${creds[0]!.id}&limit=20`,
        (b) => expect(b.items!.map((e) => e.action)).toContain('credential.create'),
      ],
      ['/audit?action=sync_run.create&limit=100', (b) => expect(b.items!.length).toBeGreaterThan(0)],
    ],
    '/api/v1/policies': () => [['/policies', (b) => expect(ids(b)).toContain(policyId)]],
    '/api/v1/policies/{id}': () => [[`/policies/${policyId}`, (b) => expect(b.id).toBe(policyId)]],
    '/api/v1/sync-groups': () => [['/sync-groups', (b) => expect(ids(b)).toEqual([groupId])]],
    '/api/v1/sync-groups/{id}': () => [[`/sync-groups/${groupId}`, (b) => expect(b.id).toBe(groupId)]],
    '/api/v1/sync-groups/{id}/runs': () => [
      [
        `/sync-groups/${groupId}/runs?limit=5`,
        (b) => {
          expect(ids(b).length).toBeGreaterThan(0);
          expect(b.items!.map((r) => r.scopeName)).toContain(`group ${groupName}`);
        },
      ],
    ],
    '/api/v1/tokens': () => [
      [
        '/tokens',
        (b) => {
          expect(ids(b)).toContain(tokenId);
          for (const t of b.items ?? []) expect(t.createdByName).toEqual(expect.any(String));
        },
      ],
    ],
    '/api/v1/whoami': () => [['/whoami', (b) => expect(b).toMatchObject({ role: 'admin' })]],
    '/api/v1/notification-channels': () => [
      ['/notification-channels', (b) => expect(ids(b)).toContain(channelId)],
    ],
    '/api/v1/notification-channels/{id}': () => [
      [`/notification-channels/${channelId}`, (b) => expect(b.id).toBe(channelId)],
    ],
    '/api/v1/notification-channels/{id}/deliveries': () => [
      [
        `/notification-channels/${channelId}/deliveries?state=failed&limit=10`,
        (b) => expect(b.items).toEqual([]),
      ],
    ],
    '/healthz': () => [['/healthz', () => undefined]],
    '/readyz': () => [['/readyz', () => undefined]],
    '/metrics': () => [['/metrics', (b) => expect(String(b)).toContain('sync_jobs_completed_total')]],
    '/openapi.json': () => [
      ['/openapi.json', (b) => expect(Object.keys(b.paths as object)).toContain('/api/v1/sites')],
    ],
  };
  const ids = (b: Body) => (b.items ?? []).map((x) => x.id);

  it('has a case for every GET of the route table', () => {
    expect(Object.keys(CASES).sort()).toEqual([...getRoutes].sort());
  });

  it('every GET with real ids answers 200 with the objects asked for', async () => {
    const root = api(c.url, ADMIN_TOKEN);
    const wrong: string[] = [];
    for (const route of Object.keys(CASES)) {
      for (const [path, check] of CASES[route]!()) {
        // API paths are written relative to /api/v1 (as the dashboard's client sends them).
        const res = await root.get<Body>(route.startsWith('/api/v1/') ? `/api/v1${path}` : path);
        try {
          expect(res.status).toBe(200);
          check(res.body);
        } catch (err) {
          wrong.push(`${path}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)} (${String(err)})`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the actions on a credential answer with the names its list shows', async () => {
    const expected = { siteName, targetName: 'fileserver', groupName };
    const member = creds[3]!.id;
    const patched = await expectStatus<Body>(c.admin.patch(`/credentials/${member}`, { policyId }), 200);
    expect(patched).toMatchObject({ ...expected, policyId, policyName });
    for (const action of ['disable', 'enable'])
      expect(
        await expectStatus<Body>(c.admin.post(`/credentials/${member}/${action}`, {}), 200),
      ).toMatchObject({
        ...expected,
        policyName,
      });
    const listed = await expectStatus<Body>(c.admin.get(`/credentials?groupId=${groupId}`), 200);
    expect(listed.items!.find((x) => x.id === member)).toMatchObject({ ...expected, policyName });
  });

  it("a group's change run is named in its answer and as the group's last run", async () => {
    const started = await expectStatus<SyncRunView>(c.admin.post(`/sync-groups/${groupId}/change`, {}), 202);
    expect(started.scopeName).toBe(`group ${groupName}`);
    const group = await expectStatus<{ lastRun: SyncRunView | null }>(
      c.admin.get(`/sync-groups/${groupId}`),
      200,
    );
    expect(group.lastRun).toMatchObject({ id: started.id, scopeName: `group ${groupName}` });
  });
});
