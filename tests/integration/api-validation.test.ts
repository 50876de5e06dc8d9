import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  FakeAgent,
  type ErrorBody,
} from '../support/fixtures.js';
import type { ApiResponse } from '../support/http.js';

let c: InProcessCoordinator;
let siteId: string;
let otherSiteId: string;
let targetId: string;
let credentialId: string;
let agent: FakeAgent;

beforeAll(async () => {
  c = await startInProcessCoordinator('api-validation', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  otherSiteId = (await createSite(c.admin)).id;
  targetId = await createTarget(c.admin, siteId);
  credentialId = (await createCredential(c.admin, targetId)).id;
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
});
afterAll(() => c?.close());

const TABLES = [
  'sites',
  'enrollment_tokens',
  'agents',
  'targets',
  'credentials',
  'sync_runs',
  'audit_events',
];

/** Row counts of every table an API call could write to. */
async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) {
    const { rows } = await c.ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    out[table] = rows[0]!.n;
  }
  return out;
}

function expectIssue(res: ApiResponse<unknown>, field: string | RegExp): void {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  const body = res.body as ErrorBody;
  expect(body.error.code).toBe('VALIDATION_FAILED');
  const fields = (body.error.issues ?? []).map((i) => i.field);
  if (typeof field === 'string') expect(fields).toContain(field);
  else
    expect(
      fields.some((f) => field.test(f)),
      `fields: ${fields.join(', ')}`,
    ).toBe(true);
  for (const issue of body.error.issues ?? []) expect(issue.message.length).toBeGreaterThan(0);
}

async function raw(method: 'GET' | 'POST', path: string, body: string | undefined, contentType?: string) {
  const res = await request(`${c.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(contentType ? { 'content-type': contentType } : {}),
    },
    body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), text };
}

describe('malformed API input', () => {
  it('gets 400 naming the field, and creates nothing', async () => {
    const before = await counts();
    const admin = c.admin;

    expectIssue(await admin.post('/sites', { name: '' }), 'body.name');
    expectIssue(await admin.post('/sites', { name: 'ok', requireApproval: 'yes' }), 'body.requireApproval');
    expectIssue(await admin.post(`/sites/${siteId}/enrollment-tokens`, { ttlSeconds: 5 }), 'body.ttlSeconds');

    expectIssue(
      await admin.post('/targets', { siteId, name: 'ftp-box', kind: 'ftp', connection: {} }),
      'body.kind',
    );
    expectIssue(
      await admin.post('/targets', { siteId: 'site-a', name: 'x', kind: 'simulated' }),
      'body.siteId',
    );
    expectIssue(
      await admin.post('/targets', { siteId, name: 'flaky', kind: 'simulated', connection: { failRate: 2 } }),
      'body.connection.failRate',
    );
    expectIssue(
      await admin.post('/targets', {
        siteId,
        name: 'slow',
        kind: 'simulated',
        connection: { latencyMs: 'slow' },
      }),
      'body.connection.latencyMs',
    );

    expectIssue(
      await admin.post('/credentials', { targetId: 'not-a-uuid', username: 'u', password: 'p' }),
      'body.targetId',
    );
    expectIssue(await admin.post('/credentials', { targetId, username: 'u' }), 'body.password');
    // Checks beyond the schema (a target that does not exist) name the field the same way.
    expectIssue(
      await admin.post('/credentials', {
        targetId: '00000000-0000-4000-8000-000000000000',
        username: 'u',
        password: 'p',
      }),
      'body.targetId',
    );
    expectIssue(await admin.post('/credentials', { targetId, username: '', password: 'p' }), 'body.username');
    // A well-formed id of a target that does not exist.
    expectIssue(
      await admin.post('/credentials', {
        targetId: '00000000-0000-4000-8000-000000000000',
        username: 'u',
        password: 'p',
      }),
      /(^|\.)targetId$/,
    );

    expectIssue(await admin.post('/sync-runs', { kind: 'rotate' }), 'body.kind');
    expectIssue(
      await admin.post('/sync-runs', { kind: 'verify', scope: { siteId: 'x' } }),
      'body.scope.siteId',
    );
    // A target of another site than the scope's site: no run that would do nothing.
    expectIssue(
      await admin.post('/sync-runs', { kind: 'verify', scope: { siteId: otherSiteId, targetId } }),
      'body.scope.targetId',
    );

    expectIssue(await admin.get('/credentials?limit=0'), 'query.limit');
    expectIssue(await admin.get('/credentials?limit=lots'), 'query.limit');
    for (const odd of ['0x10', '%205', '1e2', '5.0'])
      expectIssue(await admin.get(`/credentials?limit=${odd}`), 'query.limit');
    expectIssue(await admin.get('/credentials?status=fine'), 'query.status');
    expectIssue(await admin.get('/credentials?cursor=bm90LWEtY3Vyc29y'), 'query.cursor');
    expectIssue(await admin.get('/credentials/not-a-uuid'), 'params.id');
    expectIssue(await admin.post('/credentials/not-a-uuid/verify'), 'params.id');

    // The gateway validates the same way.
    expectIssue(await agent.gateway.post(GATEWAY_PATHS.claim, { max: 0 }), 'body.max');
    expectIssue(await agent.gateway.post(GATEWAY_PATHS.claim, { max: 1, waitMs: 60_000 }), 'body.waitMs');
    // A batch as a whole (its items are judged one by one: gateway-batch-refusals.test.ts).
    expectIssue(await agent.gateway.post(GATEWAY_PATHS.report, { results: [] }), 'body.results');
    expectIssue(await agent.gateway.post(GATEWAY_PATHS.extend, { jobs: 'all' }), 'body.jobs');
    expectIssue(
      await agent.gateway.post(GATEWAY_PATHS.enroll, {
        enrollmentToken: 'short',
        name: 'n',
        host: 'h',
        version: '1',
        adapters: [],
        concurrency: 1,
      }),
      'body.enrollmentToken',
    );

    expect(await counts()).toEqual(before);
    const credential = await admin.get<{ status: string; job: { state: string } }>(
      `/credentials/${credentialId}`,
    );
    expect(credential.body).toMatchObject({ status: 'pending_sync', job: { state: 'queued' } });
  });

  it('a cursor not written by the API is a 400 naming query.cursor, never a 500', async () => {
    const b64 = (v: unknown) =>
      Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    const uuid = '00000000-0000-4000-8000-000000000000';
    const admin = c.admin;
    for (const sort of ['statusChangedAt', '-statusChangedAt', 'lastVerifiedAt', '-lastVerifiedAt']) {
      for (const key of ['notadate', '2024-02-30T00:00:00.000000', '99999-01-01T00:00:00.000000', 42]) {
        expectIssue(await admin.get(`/credentials?sort=${sort}&cursor=${b64([key, uuid])}`), 'query.cursor');
      }
    }
    expectIssue(
      await admin.get(`/credentials?sort=username&cursor=${b64(['alice', 'not-a-uuid'])}`),
      'query.cursor',
    );
    expectIssue(await admin.get(`/credentials?sort=username&cursor=${b64('{"a":')}`), 'query.cursor');
    expectIssue(await admin.get(`/credentials?sort=-id&cursor=${b64(uuid)}`), 'query.cursor');
    // A cursor names the sort it was written for, and its key is one that sort can have.
    expectIssue(
      await admin.get(`/credentials?sort=status&cursor=${b64(['status', 'bogus', uuid])}`),
      'query.cursor',
    );
    const username = b64(['username', 'alice', uuid]);
    expectIssue(await admin.get(`/credentials?sort=problems&cursor=${username}`), 'query.cursor');
    expect((await admin.get(`/credentials?sort=username&cursor=${username}`)).status).toBe(200);
    expectIssue(await admin.get(`/sync-runs?cursor=${b64('99999-01-01')}`), 'query.cursor');
    expectIssue(await admin.get(`/sync-runs?cursor=${b64('2024-01-01T00:00:00Z')}`), 'query.cursor');
    expectIssue(
      await admin.get(`/sync-runs?cursor=${b64(['99999-01-01T00:00:00.000000', uuid])}`),
      'query.cursor',
    );
    expectIssue(await admin.get('/sync-runs?outcome=meh'), 'query.outcome');
    expectIssue(await admin.get('/sync-runs?since=yesterday'), 'query.since');
    // Times zod's format takes and PostgreSQL refuses (500s from SQL, and exports cut off after `[`).
    for (const time of ['0000-01-01T00:00:00Z', '2026-01-01T00:00:00+23:59', '2026-01-01T00:00:00-16:00']) {
      const t = encodeURIComponent(time);
      expectIssue(await admin.get(`/sync-runs?since=${t}`), 'query.since');
      expectIssue(await admin.get(`/audit?since=${t}`), 'query.since');
      expectIssue(await admin.get(`/audit?until=${t}`), 'query.until');
      expectIssue(await admin.get(`/audit/export?since=${t}`), 'query.since');
      expectIssue(await admin.get(`/sync-runs/export?since=${t}`), 'query.since');
      expectIssue(await admin.get(`/sites/${siteId}/compliance-report?until=${t}`), 'query.until');
    }
    // The limits themselves are taken.
    for (const time of ['0001-01-01T00:00:00Z', '2026-01-01T00:00:00+15:59', '2026-01-01T00:00:00-15:59'])
      expect((await admin.get(`/audit?since=${encodeURIComponent(time)}&limit=1`)).status).toBe(200);
    expectIssue(await admin.get('/audit?cursor=abc'), 'query.cursor');
    expectIssue(await admin.get('/audit?cursor=1e3'), 'query.cursor');
    expectIssue(await admin.get(`/credentials/${credentialId}/history?cursor=-1`), 'query.cursor');
    expectIssue(await admin.get(`/sync-runs/${uuid}/items?cursor=x`), 'query.cursor');
    expectIssue(await admin.get(`/sync-runs/${uuid}/items?limit=501`), 'query.limit');
    expectIssue(await admin.get(`/targets?cursor=${b64(['a', 'b'])}`), 'query.cursor');
    // Text PostgreSQL refuses (a NUL, a lone surrogate) and year 0000 were 500s from SQL.
    for (const text of ['a\u0000b', 'a\ud800b']) {
      for (const sort of ['username', '-username', 'target', 'status'])
        expectIssue(await admin.get(`/credentials?sort=${sort}&cursor=${b64([text, uuid])}`), 'query.cursor');
      expectIssue(await admin.get(`/targets?cursor=${b64([text, uuid])}`), 'query.cursor');
    }
    expectIssue(
      await admin.get(`/sync-runs?cursor=${b64(['0000-01-01T00:00:00.000000', uuid])}`),
      'query.cursor',
    );
    expectIssue(
      await admin.get(
        `/credentials?sort=statusChangedAt&cursor=${b64(['0000-01-01T00:00:00.000000', uuid])}`,
      ),
      'query.cursor',
    );
    expectIssue(await admin.get('/targets?limit=0'), 'query.limit');
    expectIssue(await admin.get('/overview?bucket=week'), 'query.bucket');
  });

  it('refuses a body that is not JSON: 415 for another content type, 400 for broken JSON', async () => {
    const before = await counts();
    const text = await raw('POST', '/api/v1/sites', 'name=plain', 'text/plain');
    expect(text.status).toBe(415);
    expect(text.contentType).toContain('application/json');
    expect(JSON.parse(text.text)).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const form = await raw('POST', '/api/v1/sites', 'name=form', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);

    const broken = await raw('POST', '/api/v1/sites', '{"name": ', 'application/json');
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.text)).toMatchObject({
      error: { code: 'VALIDATION_FAILED', issues: [{ field: 'body' }] },
    });
    expect(await counts()).toEqual(before);
  });

  it('answers an unknown route with a JSON 404', async () => {
    for (const path of ['/api/v1/nope', '/api/v2/sites', '/agent/v1/steal', '/no-such-page']) {
      const res = await raw('GET', path, undefined);
      expect(res.status, path).toBe(404);
      expect(res.contentType).toContain('application/json');
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    }
    const res = await raw('POST', '/api/v1/sites/x/explode', '{}', 'application/json');
    expect(res.status).toBe(404);
  });
});
