/**
 * /openapi.json lists the statuses a route answers with: each 409 CONFLICT provoked here (a name
 * taken, an object in a state that refuses the act) and the 400 of a query sent to a route that
 * takes none are answered, and listed for that route's method.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { createCredential, createSite, createTarget, expectStatus } from '../support/fixtures.js';
import { api, type ApiResponse } from '../support/http.js';

type Doc = { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };

let c: InProcessCoordinator;
let doc: Doc;
const unique = () => `x-${randomBytes(4).toString('hex')}`;

/** The OpenAPI path of a request path: ids become `{id}`. */
const template = (path: string) =>
  `/api/v1${path.split('?')[0]!.replace(/\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '/{id}')}`;

function expectListed(method: string, path: string, res: ApiResponse<unknown>, status: number): void {
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(status);
  const responses = doc.paths[template(path)]?.[method.toLowerCase()]?.responses;
  expect(Object.keys(responses ?? {}), `${method} ${template(path)}`).toContain(String(status));
}

beforeAll(async () => {
  c = await startInProcessCoordinator('openapi-statuses', inject('redisUrl'));
  doc = await expectStatus<Doc>(api(c.url).get('/openapi.json'), 200);
});
afterAll(() => c?.close());

describe('the OpenAPI document lists what the routes answer', () => {
  it('every 409 provoked here is listed for its route', async () => {
    const site = await createSite(c.admin);
    const siteName = (await expectStatus<{ name: string }>(c.admin.get(`/sites/${site.id}`), 200)).name;
    const targetId = await createTarget(c.admin, site.id);
    const targetName = (await expectStatus<{ name: string }>(c.admin.get(`/targets/${targetId}`), 200)).name;
    const other = await createTarget(c.admin, site.id);
    const cred = await createCredential(c.admin, targetId);
    const second = await createCredential(c.admin, other);
    const conflict = async (method: 'post' | 'patch' | 'delete', path: string, body?: unknown) =>
      expectListed(method, path, await c.admin[method](path, body), 409);

    await conflict('post', '/sites', { name: siteName });
    const spare = await createSite(c.admin);
    await conflict('patch', `/sites/${spare.id}`, { name: siteName });
    await conflict('delete', `/sites/${site.id}`);
    await conflict('post', '/targets', {
      siteId: site.id,
      name: targetName,
      kind: 'simulated',
      connection: {},
    });
    await conflict('patch', `/targets/${other}`, { name: targetName });
    await conflict('delete', `/targets/${targetId}`);
    await conflict('post', '/credentials', {
      targetId,
      username: cred.username,
      password: 'Pw-1-long-enough',
    });

    const policy = unique();
    const p = await expectStatus<{ id: string }>(c.admin.post('/policies', { name: policy }), 201);
    await conflict('post', '/policies', { name: policy });
    const p2 = await expectStatus<{ id: string }>(c.admin.post('/policies', { name: unique() }), 201);
    await conflict('patch', `/policies/${p2.id}`, { name: policy });
    await expectStatus(c.admin.patch(`/credentials/${cred.id}`, { policyId: p.id }), 200);
    await conflict('delete', `/policies/${p.id}`);

    const channel = unique();
    const webhook = { url: 'http://127.0.0.1:9/hook' };
    await expectStatus(
      c.admin.post('/notification-channels', { kind: 'webhook', name: channel, webhook }),
      201,
    );
    await conflict('post', '/notification-channels', { kind: 'webhook', name: channel, webhook });
    const ch2 = await expectStatus<{ id: string }>(
      c.admin.post('/notification-channels', { kind: 'webhook', name: unique(), webhook }),
      201,
    );
    await conflict('patch', `/notification-channels/${ch2.id}`, { name: channel });

    const group = unique();
    const g = await expectStatus<{ id: string }>(
      c.admin.post('/sync-groups', {
        name: group,
        primaryCredentialId: cred.id,
        memberCredentialIds: [second.id],
      }),
      201,
    );
    await conflict('post', '/sync-groups', {
      name: unique(),
      primaryCredentialId: cred.id,
      memberCredentialIds: [second.id],
    });
    await conflict('post', `/credentials/${second.id}/change`, {});
    await expectStatus(c.admin.post(`/sync-groups/${g.id}/disable`, {}), 200);
    await conflict('post', `/sync-groups/${g.id}/change`, {});

    const third = await createCredential(c.admin, other);
    await expectStatus(c.admin.post(`/credentials/${third.id}/disable`, {}), 200);
    await conflict('post', `/credentials/${third.id}/verify`, {});
    await conflict('post', `/credentials/${third.id}/dependencies/check`, {});
    await conflict('post', `/credentials/${third.id}/dependencies/retry`, {});
    await conflict('post', `/targets/${targetId}/login-trials`, { credentialId: cred.id, workflow: {} });

    const lone = await createTarget(c.admin, site.id);
    await createCredential(c.admin, lone);
    const run = await expectStatus<{ id: string }>(
      c.admin.post('/sync-runs', { kind: 'verify', scope: { targetId: lone } }),
      201,
    );
    await expectStatus(c.admin.post(`/sync-runs/${run.id}/cancel`, {}), 200);
    await conflict('post', `/sync-runs/${run.id}/cancel`, {});
  });

  it('a nullable enum lists null among its values (OpenAPI 3.0 checks enum first: statusReason: null was refused)', () => {
    const missing: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}.${i}`));
      if (node === null || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      if (o.nullable === true && Array.isArray(o.enum) && !o.enum.includes(null)) missing.push(at);
      for (const [k, v] of Object.entries(o)) walk(v, `${at}.${k}`);
    };
    walk(doc, '$');
    expect(missing).toEqual([]);
    // The case that was found: a credential's statusReason.
    expect(JSON.stringify(doc)).toMatch(/"statusReason":\{[^}]*"enum":\[[^\]]*null/);
  });

  it('a query sent to a route that takes none is a 400, listed for that route', async () => {
    const root = api(c.url, ADMIN_TOKEN);
    for (const path of ['/sync-groups?x=1', '/policies?x=1', '/tokens?x=1', '/whoami?x=1', '/summary?x=1']) {
      expectListed('get', path, await root.get(`/api/v1${path}`), 400);
    }
    // The system routes ignore a query (probes add cache-busters) and list no 400 for it.
    expect((await root.get('/healthz?x=1')).status).toBe(200);
    expect(Object.keys(doc.paths['/healthz']!.get!.responses)).not.toContain('400');
  });
});
