/**
 * "Every write and every reveal is an audit event" (issue 5), driven by the route table: every
 * operator route that is not a GET, called with valid input by a token of the role it needs, leaves
 * an audit event naming that token as the actor, an action and the object it acted on; the reveal
 * (GET /credentials/{id}/password) leaves `credential.reveal`. A route added later without a case
 * here fails the first test, so it cannot slip by unaudited.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  type CreatedCredential,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { loginSiteConnection } from '../support/login-site.js';

type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

interface Route {
  method: string;
  path: string;
  role: Role;
}

/** One call of a route: where, with what body, and the object its audit event must name. */
interface Call {
  path: string;
  body?: unknown;
  /** The object id, or how to read it from the response body. */
  object: string | ((response: Record<string, unknown>) => string);
}

let c: InProcessCoordinator;
const clients = {} as Record<Role, { id: string; client: ApiClient }>;
let routes: Route[];
let siteId: string;
let targetId: string;
let agent: FakeAgent;
let cred: CreatedCredential;
let doomed: CreatedCredential;
let chained: CreatedCredential;
const members: CreatedCredential[] = [];
const made: Record<string, string> = {};

const unique = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;
const idOf = (r: Record<string, unknown>) => String(r.id);

beforeAll(async () => {
  c = await startInProcessCoordinator('audit-coverage', inject('redisUrl'));
  for (const role of ['viewer', 'operator', 'admin'] as const) {
    const t = await expectStatus<{ id: string; token: string }>(
      c.admin.post('/tokens', { name: `${role}-token`, role }),
      201,
    );
    clients[role] = { id: t.id, client: api(`${c.url}/api/v1`, t.token) };
  }
  const doc = await expectStatus<{ paths: Record<string, Record<string, { 'x-required-role': string }>> }>(
    api(c.url).get('/openapi.json'),
    200,
  );
  routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([method, op]) => method !== 'get' && op['x-required-role'] in RANK)
      .map(([method, op]) => ({ method: method.toUpperCase(), path, role: op['x-required-role'] as Role })),
  );
  siteId = (await createSite(c.admin)).id;
  targetId = await createTarget(c.admin, siteId);
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  cred = await createCredential(c.admin, targetId);
  doomed = await createCredential(c.admin, targetId, { syncEnabled: false });
  chained = await createCredential(c.admin, targetId);
  for (let i = 0; i < 2; i++) members.push(await createCredential(c.admin, targetId));
});
afterAll(() => c?.close());

/** Valid input for every non-GET operator route, in an order that lets later ones use earlier results. */
const CASES: [string, () => Call | Promise<Call>][] = [
  ['POST /api/v1/sites', () => ({ path: '/sites', body: { name: unique('site') }, object: idOf })],
  ['POST /api/v1/sites/{id}/disable', () => ({ path: `/sites/${siteId}/disable`, object: siteId })],
  ['POST /api/v1/sites/{id}/enable', () => ({ path: `/sites/${siteId}/enable`, object: siteId })],
  [
    'PATCH /api/v1/sites/{id}',
    () => ({ path: `/sites/${siteId}`, body: { name: unique('renamed') }, object: siteId }),
  ],
  [
    'DELETE /api/v1/sites/{id}',
    async () => {
      const site = await createSite(c.admin);
      return { path: `/sites/${site.id}`, object: site.id };
    },
  ],
  [
    'POST /api/v1/sites/{id}/enrollment-tokens',
    () => ({ path: `/sites/${siteId}/enrollment-tokens`, body: {}, object: siteId }),
  ],
  [
    'POST /api/v1/enrollment-tokens/{id}/revoke',
    async () => {
      const t = await expectStatus<{ id: string }>(
        c.admin.post(`/sites/${siteId}/enrollment-tokens`, {}),
        201,
      );
      return { path: `/enrollment-tokens/${t.id}/revoke`, object: t.id };
    },
  ],
  [
    'POST /api/v1/agents/{id}/disable',
    () => ({ path: `/agents/${agent.agentId}/disable`, object: agent.agentId }),
  ],
  [
    'POST /api/v1/agents/{id}/enable',
    () => ({ path: `/agents/${agent.agentId}/enable`, object: agent.agentId }),
  ],
  [
    'POST /api/v1/agents/{id}/approve',
    () => ({ path: `/agents/${agent.agentId}/approve`, object: agent.agentId }),
  ],
  [
    'PATCH /api/v1/agents/{id}',
    () => ({ path: `/agents/${agent.agentId}`, body: { name: unique('agent') }, object: agent.agentId }),
  ],
  [
    'POST /api/v1/agents/{id}/deny',
    async () => {
      const site = await expectStatus<{ id: string }>(
        c.admin.post('/sites', { name: unique('approving'), requireApproval: true }),
        201,
      );
      const waiting = await FakeAgent.enroll(c.url, c.admin, site.id);
      return { path: `/agents/${waiting.agentId}/deny`, object: waiting.agentId };
    },
  ],
  [
    'POST /api/v1/targets',
    () => ({
      path: '/targets',
      body: { siteId, name: unique('target'), kind: 'simulated', connection: {} },
      object: idOf,
    }),
  ],
  [
    'PATCH /api/v1/targets/{id}',
    () => ({ path: `/targets/${targetId}`, body: { connection: { latencyMs: 1 } }, object: targetId }),
  ],
  [
    'POST /api/v1/targets/{id}/login-trials',
    async () => {
      const connection = loginSiteConnection('http://127.0.0.1:9');
      const { id: web } = await expectStatus<{ id: string }>(
        c.admin.post('/targets', { siteId, name: unique('web'), kind: 'web', connection }),
        201,
      );
      const login = await createCredential(c.admin, web);
      return {
        path: `/targets/${web}/login-trials`,
        body: { workflow: connection.login, credentialId: login.id },
        object: web,
      };
    },
  ],
  [
    'DELETE /api/v1/targets/{id}',
    async () => {
      const doomedTarget = await createTarget(c.admin, siteId);
      return { path: `/targets/${doomedTarget}`, object: doomedTarget };
    },
  ],
  [
    'POST /api/v1/policies',
    () => ({ path: '/policies', body: { name: unique('policy') }, object: (r) => (made.policy = idOf(r)) }),
  ],
  [
    'PATCH /api/v1/policies/{id}',
    () => ({ path: `/policies/${made.policy}`, body: { verifyIntervalSeconds: 7200 }, object: made.policy! }),
  ],
  [
    'DELETE /api/v1/policies/{id}',
    async () => {
      const p = await expectStatus<{ id: string }>(c.admin.post('/policies', { name: unique('p') }), 201);
      return { path: `/policies/${p.id}`, object: p.id };
    },
  ],
  [
    'POST /api/v1/credentials',
    () => ({
      path: '/credentials',
      body: { targetId, username: unique('user'), password: `pw-${randomBytes(8).toString('hex')}` },
      object: idOf,
    }),
  ],
  [
    'POST /api/v1/credentials/batch',
    () => ({
      path: '/credentials/batch',
      body: {
        items: [{ targetId, username: unique('user'), password: `pw-${randomBytes(8).toString('hex')}` }],
      },
      object: (r) => String(r.batchId),
    }),
  ],
  [
    'POST /api/v1/credentials/bulk',
    () => ({
      path: '/credentials/bulk',
      body: { action: 'enable', ids: [cred.id] },
      object: (r) => String(r.bulkId),
    }),
  ],
  [
    'POST /api/v1/credentials/{id}/verify',
    () => ({ path: `/credentials/${cred.id}/verify`, object: cred.id }),
  ],
  [
    'POST /api/v1/credentials/{id}/change',
    () => ({ path: `/credentials/${cred.id}/change`, body: {}, object: cred.id }),
  ],
  [
    'POST /api/v1/credentials/{id}/disable',
    () => ({ path: `/credentials/${cred.id}/disable`, object: cred.id }),
  ],
  [
    'POST /api/v1/credentials/{id}/enable',
    () => ({ path: `/credentials/${cred.id}/enable`, object: cred.id }),
  ],
  [
    'PATCH /api/v1/credentials/{id}',
    () => ({ path: `/credentials/${cred.id}`, body: { policyId: made.policy }, object: cred.id }),
  ],
  [
    'POST /api/v1/credentials/{id}/resume',
    () => ({ path: `/credentials/${cred.id}/resume`, object: cred.id }),
  ],
  [
    'POST /api/v1/credentials/{id}/dependencies',
    () => ({
      path: `/credentials/${cred.id}/dependencies`,
      body: { dependencies: [{ kind: 'credential', name: 'chain', credentialId: chained.id }] },
      object: cred.id,
    }),
  ],
  [
    'POST /api/v1/credentials/{id}/dependencies/check',
    () => ({ path: `/credentials/${cred.id}/dependencies/check`, object: cred.id }),
  ],
  [
    'POST /api/v1/credentials/{id}/dependencies/retry',
    () => ({ path: `/credentials/${cred.id}/dependencies/retry`, body: {}, object: cred.id }),
  ],
  [
    'POST /api/v1/credentials/{id}/stored-password',
    () => ({
      path: `/credentials/${chained.id}/stored-password`,
      body: { password: `pw-${randomBytes(8).toString('hex')}` },
      object: chained.id,
    }),
  ],
  ['DELETE /api/v1/credentials/{id}', () => ({ path: `/credentials/${doomed.id}`, object: doomed.id })],
  [
    'POST /api/v1/sync-runs',
    () => ({ path: '/sync-runs', body: { kind: 'verify', scope: { targetId } }, object: idOf }),
  ],
  [
    'POST /api/v1/sync-runs/{id}/cancel',
    async () => {
      const run = await expectStatus<{ id: string }>(
        c.admin.post('/sync-runs', { kind: 'verify', scope: { targetId } }),
        201,
      );
      return { path: `/sync-runs/${run.id}/cancel`, object: run.id };
    },
  ],
  [
    'POST /api/v1/sync-groups',
    () => ({
      path: '/sync-groups',
      body: {
        name: unique('group'),
        primaryCredentialId: members[0]!.id,
        memberCredentialIds: [members[1]!.id],
      },
      object: (r) => (made.group = idOf(r)),
    }),
  ],
  [
    'PATCH /api/v1/sync-groups/{id}',
    () => ({ path: `/sync-groups/${made.group}`, body: { name: unique('group') }, object: made.group! }),
  ],
  [
    'POST /api/v1/sync-groups/{id}/disable',
    () => ({ path: `/sync-groups/${made.group}/disable`, object: made.group! }),
  ],
  [
    'POST /api/v1/sync-groups/{id}/enable',
    () => ({ path: `/sync-groups/${made.group}/enable`, object: made.group! }),
  ],
  [
    'DELETE /api/v1/sync-groups/{id}',
    async () => {
      const [a, b] = [await createCredential(c.admin, targetId), await createCredential(c.admin, targetId)];
      const g = await expectStatus<{ id: string }>(
        c.admin.post('/sync-groups', {
          name: unique('g'),
          primaryCredentialId: a.id,
          memberCredentialIds: [b.id],
        }),
        201,
      );
      return { path: `/sync-groups/${g.id}`, object: g.id };
    },
  ],
  [
    'POST /api/v1/sync-groups/{id}/change',
    () => ({ path: `/sync-groups/${made.group}/change`, body: {}, object: made.group! }),
  ],
  [
    'POST /api/v1/tokens',
    () => ({ path: '/tokens', body: { name: unique('token'), role: 'viewer' }, object: idOf }),
  ],
  [
    'POST /api/v1/tokens/{id}/revoke',
    async () => {
      const t = await expectStatus<{ id: string }>(
        c.admin.post('/tokens', { name: unique('t'), role: 'viewer' }),
        201,
      );
      return { path: `/tokens/${t.id}/revoke`, object: t.id };
    },
  ],
  [
    'POST /api/v1/notification-channels',
    () => ({
      path: '/notification-channels',
      body: { kind: 'webhook', name: unique('hook'), webhook: { url: 'http://127.0.0.1:9/hook' } },
      object: (r) => (made.channel = idOf(r)),
    }),
  ],
  [
    'PATCH /api/v1/notification-channels/{id}',
    () => ({
      path: `/notification-channels/${made.channel}`,
      body: { rotateSecret: true },
      object: made.channel!,
    }),
  ],
  [
    'POST /api/v1/notification-channels/{id}/test',
    () => ({ path: `/notification-channels/${made.channel}/test`, object: made.channel! }),
  ],
  [
    'DELETE /api/v1/notification-channels/{id}',
    () => ({ path: `/notification-channels/${made.channel}`, object: made.channel! }),
  ],
  [
    'POST /api/v1/agents/{id}/revoke',
    () => ({ path: `/agents/${agent.agentId}/revoke`, object: agent.agentId }),
  ],
];

async function send(client: ApiClient, method: string, call: Call) {
  if (method === 'DELETE') return client.delete(call.path);
  if (method === 'PATCH') return client.patch(call.path, call.body ?? {});
  return client.post(call.path, call.body);
}

async function eventsAfter(mark: number) {
  const { rows } = await c.ctx.db.query<{
    actor_type: string;
    actor_id: string;
    action: string;
    object_type: string;
    object_id: string | null;
  }>(
    'SELECT actor_type, actor_id, action, object_type, object_id FROM audit_events WHERE id > $1 ORDER BY id',
    [mark],
  );
  return rows;
}

async function lastAuditId(): Promise<number> {
  const { rows } = await c.ctx.db.query<{ id: string | null }>('SELECT max(id) AS id FROM audit_events');
  return Number(rows[0]!.id ?? 0);
}

describe('every write is audited', () => {
  it('has a case for every non-GET operator route of the route table', () => {
    expect(routes.length).toBeGreaterThan(20);
    expect(CASES.map(([key]) => key).sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('each route, called with valid input by a token of its role, leaves an event naming actor, action and object', async () => {
    const missing: string[] = [];
    for (const [key, prepare] of CASES) {
      const route = routes.find((r) => `${r.method} ${r.path}` === key)!;
      const actor = clients[route.role];
      const call = await prepare();
      const mark = await lastAuditId();
      const res = await send(actor.client, route.method, call);
      expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(200);
      expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
      const object =
        typeof call.object === 'string' ? call.object : call.object(res.body as Record<string, unknown>);
      const events = await eventsAfter(mark);
      const named = events.find(
        (e) =>
          e.actor_type === 'operator' && e.actor_id === actor.id && e.object_id === object && e.action !== '',
      );
      if (!named) missing.push(`${key} (${route.role}): ${JSON.stringify(events)}`);
    }
    expect(missing).toEqual([]);
  });

  it('a reveal leaves credential.reveal, findable by actor and object', async () => {
    const admin = clients.admin;
    const revealed = await expectStatus<{ password: string }>(
      admin.client.get(`/credentials/${members[0]!.id}/password`),
      200,
    );
    expect(revealed.password).toBe(members[0]!.password);
    const audit = await expectStatus<{
      items: { actorType: string; actorId: string; action: string; objectType: string }[];
    }>(c.admin.get(`/audit?action=credential.reveal&objectId=${members[0]!.id}&actor=${admin.id}`), 200);
    expect(audit.items).toEqual([
      expect.objectContaining({
        actorType: 'operator',
        actorId: admin.id,
        action: 'credential.reveal',
        objectType: 'credential',
      }),
    ]);
    // A reveal that fails (no such credential) shows nothing and records nothing.
    const mark = await lastAuditId();
    expect((await admin.client.get(`/credentials/${crypto.randomUUID()}/password`)).status).toBe(404);
    expect(await eventsAfter(mark)).toEqual([]);
  });
});
