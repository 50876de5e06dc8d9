import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { createSite, expectStatus, FakeAgent } from '../support/fixtures.js';
import { api } from '../support/http.js';

type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

interface Operation {
  method: string;
  path: string;
  role: Role;
}

let c: InProcessCoordinator;
const tokens = {} as Record<Role, string>;
let operations: Operation[];

beforeAll(async () => {
  // This file fails authentication on purpose hundreds of times: the limiter gets its own test below.
  c = await startInProcessCoordinator('security-roles', inject('redisUrl'), {
    AUTH_FAILURES_PER_MINUTE: '100000',
  });
  for (const role of ['viewer', 'operator', 'admin'] as const) {
    const body = await expectStatus<{ token: string }>(
      c.admin.post('/tokens', { name: `${role}-token`, role }),
      201,
    );
    tokens[role] = body.token;
  }
  // Every operator route, from the route table itself: a route added later is covered too.
  const doc = await expectStatus<{ paths: Record<string, Record<string, { 'x-required-role': string }>> }>(
    api(c.url).get('/openapi.json'),
    200,
  );
  operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([, op]) => op['x-required-role'] in RANK)
      .map(([method, op]) => ({ method: method.toUpperCase(), path, role: op['x-required-role'] as Role })),
  );
});
afterAll(() => c?.close());

function call(token: string | undefined, op: Operation) {
  const client = api(c.url, token);
  const path = op.path.replace(/\{[^}]+\}/g, randomUUID());
  if (op.method === 'GET') return client.get(path);
  if (op.method === 'DELETE') return client.delete(path);
  if (op.method === 'PATCH') return client.patch(path, {});
  return client.post(path, {});
}

describe('roles', () => {
  it('covers the whole operator API', () => {
    expect(operations.length).toBeGreaterThan(25);
    expect(operations.map((o) => o.role)).toEqual(expect.arrayContaining(['viewer', 'operator', 'admin']));
  });

  it('each endpoint with each role: allowed at or above its role, 403 below', async () => {
    const wrong: string[] = [];
    for (const op of operations) {
      for (const role of ['viewer', 'operator', 'admin'] as const) {
        const res = await call(tokens[role], op);
        const allowed = RANK[role] >= RANK[op.role];
        if (allowed ? res.status === 401 || res.status === 403 : res.status !== 403) {
          wrong.push(`${op.method} ${op.path} as ${role}: ${res.status}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('no token, a bad token, or an agent token: 401 on every operator endpoint', async () => {
    const site = await createSite(c.admin);
    const agent = await FakeAgent.enroll(c.url, c.admin, site.id);
    const wrong: string[] = [];
    for (const op of operations) {
      for (const token of [undefined, 'not-a-token-at-all', agent.token]) {
        const res = await call(token, op);
        if (res.status !== 401)
          wrong.push(`${op.method} ${op.path} with ${token ? 'a bad token' : 'none'}: ${res.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('an operator token is refused on the agent gateway', async () => {
    const res = await api(c.url, tokens.admin).post('/agent/v1/claim', { max: 1, waitMs: 0 });
    expect(res.status).toBe(401);
  });

  it('a token is shown once: listing never returns it', async () => {
    const list = await expectStatus<{ items: Record<string, unknown>[] }>(c.admin.get('/tokens'), 200);
    expect(JSON.stringify(list)).not.toContain(tokens.viewer);
    expect(list.items.every((t) => !('token' in t))).toBe(true);
  });
});

describe('revocation', () => {
  it('a revoked operator token is refused on its next call', async () => {
    const created = await expectStatus<{ id: string; token: string }>(
      c.admin.post('/tokens', { name: 'short-lived', role: 'operator' }),
      201,
    );
    const client = api(`${c.url}/api/v1`, created.token);
    expect((await client.get('/summary')).status).toBe(200);
    await expectStatus(c.admin.post(`/tokens/${created.id}/revoke`, {}), 200);
    expect((await client.get('/summary')).status).toBe(401);
    const audit = await expectStatus<{ items: { action: string; objectId: string }[] }>(
      c.admin.get(`/audit?action=token.revoke&objectId=${created.id}`),
      200,
    );
    expect(audit.items).toHaveLength(1);
  });

  it('a revoked agent is refused on its next call', async () => {
    const site = await createSite(c.admin);
    const agent = await FakeAgent.enroll(c.url, c.admin, site.id);
    expect((await agent.heartbeatRaw()).status).toBe(200);
    await expectStatus(c.admin.post(`/agents/${agent.agentId}/revoke`, {}), 200);
    expect((await agent.heartbeatRaw()).status).toBe(401);
    expect((await agent.gateway.post('/agent/v1/claim', { max: 1, waitMs: 0 })).status).toBe(401);
  });

  it('an enrollment token works once', async () => {
    const site = await createSite(c.admin);
    const { token } = await expectStatus<{ token: string }>(
      c.admin.post(`/sites/${site.id}/enrollment-tokens`, {}),
      201,
    );
    const body = {
      enrollmentToken: token,
      name: 'a',
      host: 'h',
      version: '1',
      adapters: ['simulated'],
      concurrency: 1,
    };
    expect((await api(c.url).post('/agent/v1/enroll', body)).status).toBe(201);
    const again = await api(c.url).post('/agent/v1/enroll', body);
    expect(again.status).toBe(401);
    expect(again.body).toMatchObject({ error: { code: 'ENROLLMENT_INVALID' } });
  });

  it('enrollment tokens are listed without the token, and a revoked one is refused (audited)', async () => {
    const site = await createSite(c.admin);
    const created = await expectStatus<{ id: string; token: string }>(
      c.admin.post(`/sites/${site.id}/enrollment-tokens`, { uses: 2 }),
      201,
    );
    const list = async () =>
      (
        await expectStatus<{
          items: { id: string; state: string; usesLeft: number; revokedBy: string | null }[];
        }>(c.admin.get(`/sites/${site.id}/enrollment-tokens`), 200)
      ).items;
    const listed = await list();
    expect(listed).toMatchObject([{ id: created.id, state: 'active', usesLeft: 2 }]);
    const raw = JSON.stringify(await c.admin.get(`/sites/${site.id}/enrollment-tokens`));
    expect(raw).not.toContain(created.token);
    expect(raw).not.toContain('hash');

    expect(
      (await api(`${c.url}/api/v1`, tokens.operator).post(`/enrollment-tokens/${created.id}/revoke`)).status,
    ).toBe(403);
    await expectStatus(c.admin.post(`/enrollment-tokens/${created.id}/revoke`, {}), 200);
    expect(await list()).toMatchObject([
      { id: created.id, state: 'revoked', usesLeft: 2, revokedBy: 'bootstrap-admin' },
    ]);
    const enroll = await api(c.url).post('/agent/v1/enroll', {
      enrollmentToken: created.token,
      name: 'a',
      host: 'h',
      version: '1',
      adapters: [],
      concurrency: 1,
    });
    expect(enroll.status).toBe(401);
    expect(enroll.body).toMatchObject({ error: { code: 'ENROLLMENT_INVALID' } });
    const audit = await expectStatus<{ items: { actorId: string }[] }>(
      c.admin.get(`/audit?action=enrollment_token.revoke&objectId=${created.id}`),
      200,
    );
    expect(audit.items).toMatchObject([{ actorId: 'bootstrap-admin' }]);
    expect((await c.admin.post(`/enrollment-tokens/${randomUUID()}/revoke`, {})).status).toBe(404);
  });

  it('an expired enrollment token is refused', async () => {
    const site = await createSite(c.admin);
    const { token } = await expectStatus<{ token: string }>(
      c.admin.post(`/sites/${site.id}/enrollment-tokens`, {}),
      201,
    );
    await c.ctx.db.query(
      `UPDATE enrollment_tokens SET expires_at = now() - interval '1 second' WHERE site_id = $1`,
      [site.id],
    );
    const res = await api(c.url).post('/agent/v1/enroll', {
      enrollmentToken: token,
      name: 'a',
      host: 'h',
      version: '1',
      adapters: [],
      concurrency: 1,
    });
    expect(res.status).toBe(401);
  });
});

describe('hardening', () => {
  it('refuses other content types, oversized bodies, and never shows a stack trace', async () => {
    const res = await fetch(`${c.url}/api/v1/sites`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': 'text/plain' },
      body: 'name=x',
    });
    expect(res.status).toBe(415);
    const big = await fetch(`${c.url}/api/v1/sites`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(big.status).toBe(413);
    const text = await big.text();
    expect(text).not.toMatch(/at .+\.(js|ts):\d+/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // HSTS only over TLS (tests/e2e/mtls.test.ts): over plain HTTP it would mean nothing.
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });
});

describe('public endpoints', () => {
  it('without METRICS_TOKEN, /metrics, /openapi.json, /healthz and /readyz need no token', async () => {
    for (const path of ['/metrics', '/openapi.json', '/healthz', '/readyz']) {
      expect((await api(c.url).get(path)).status, path).toBe(200);
    }
  });

  it('with METRICS_TOKEN, /metrics needs it as a bearer token (and failures are rate limited)', async () => {
    const metricsToken = 'prometheus-scrape-token-0123';
    const guarded = await startInProcessCoordinator('security-metrics', inject('redisUrl'), {
      METRICS_TOKEN: metricsToken,
      AUTH_FAILURES_PER_MINUTE: '3',
    });
    try {
      const scrape = (token?: string) => api(guarded.url, token).get('/metrics');
      expect((await scrape()).status).toBe(401);
      expect((await scrape(ADMIN_TOKEN)).status).toBe(401); // operator tokens are not metrics tokens
      const ok = await scrape(metricsToken);
      expect(ok.status).toBe(200);
      expect(String(ok.body)).toContain('sync_');
      expect((await scrape('wrong-metrics-token-wrong')).status).toBe(401);
      expect((await scrape(metricsToken)).status).toBe(429);
      expect((await api(guarded.url).get('/healthz')).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});

describe('failed authentication is rate limited per source', () => {
  /** GET /api/v1/summary with a token, from a claimed client address (X-Forwarded-For). */
  const summaryAs = async (url: string, token: string, forwardedFor?: string) => {
    const res = await request(`${url}/api/v1/summary`, {
      headers: {
        authorization: `Bearer ${token}`,
        ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
      },
    });
    await res.body.dump();
    return res.statusCode;
  };

  it('answers 429 after too many failures, even to the bootstrap admin token from that source', async () => {
    const limited = await startInProcessCoordinator('security-ratelimit', inject('redisUrl'), {
      AUTH_FAILURES_PER_MINUTE: '5',
    });
    try {
      const site = await createSite(limited.admin);
      const agent = await FakeAgent.enroll(limited.url, limited.admin, site.id);
      const apiToken = (
        await expectStatus<{ token: string }>(
          limited.admin.post('/tokens', { name: 'ops', role: 'operator' }),
          201,
        )
      ).token;
      const bad = api(`${limited.url}/api/v1`, 'wrong-token-wrong-token');
      for (let i = 0; i < 5; i++) expect((await bad.get('/summary')).status).toBe(401);
      expect((await bad.get('/summary')).status).toBe(429);
      // The bootstrap admin token is chosen by a person (maybe weak): limited like any guess.
      expect((await limited.admin.get('/summary')).status).toBe(429);
      // Without TRUST_PROXY a claimed X-Forwarded-For changes nothing: the socket is the source.
      expect(await summaryAs(limited.url, ADMIN_TOKEN, '198.51.100.7')).toBe(429);
      // Tokens nobody can guess still work from a limited source: agents behind one NAT keep going.
      expect(await summaryAs(limited.url, apiToken)).toBe(200);
      expect((await agent.heartbeatRaw()).status).toBe(200);
      // A wrong token of that shape is still just refused (and counted).
      expect(await summaryAs(limited.url, `pwo_${randomUUID()}.${'x'.repeat(43)}`)).toBe(401);
      expect((await api(limited.url).get('/healthz')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('behind a trusted proxy, limits the client of X-Forwarded-For (IPv6 by /64)', async () => {
    const limited = await startInProcessCoordinator('security-ratelimit-proxy', inject('redisUrl'), {
      AUTH_FAILURES_PER_MINUTE: '3',
      TRUST_PROXY: '127.0.0.1',
    });
    try {
      for (const [attacker, neighbour, other] of [
        ['203.0.113.5', '203.0.113.5', '203.0.113.6'],
        ['2001:db8:1:2::1', '2001:db8:1:2:ffff::9', '2001:db8:1:3::1'],
      ] as const) {
        for (let i = 0; i < 3; i++)
          expect(await summaryAs(limited.url, 'wrong-token-wrong', attacker)).toBe(401);
        expect(await summaryAs(limited.url, ADMIN_TOKEN, attacker)).toBe(429);
        expect(await summaryAs(limited.url, ADMIN_TOKEN, neighbour), neighbour).toBe(429);
        expect(await summaryAs(limited.url, ADMIN_TOKEN, other), other).toBe(200);
      }
    } finally {
      await limited.close();
    }
  });
});

describe('audit', () => {
  it('is append-only in the database: UPDATE, DELETE and TRUNCATE of audit_events fail', async () => {
    await createSite(c.admin);
    const { rows } = await c.ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
    expect(rows[0]!.n).toBeGreaterThan(0);
    for (const sql of [
      `UPDATE audit_events SET actor_id = 'someone-else'`,
      'DELETE FROM audit_events',
      'TRUNCATE audit_events',
    ]) {
      await expect(c.ctx.db.query(sql), sql).rejects.toThrow(/append-only/);
    }
    const after = await c.ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
    expect(after.rows[0]!.n).toBe(rows[0]!.n);
  });

  it('filters by actor, action, object type and time', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    const site = await createSite(c.admin);
    const after = new Date(Date.now() + 1000).toISOString();
    const q = (params: Record<string, string>) =>
      expectStatus<{ items: { action: string; objectId: string; actorId: string }[] }>(
        c.admin.get(`/audit?${new URLSearchParams(params).toString()}`),
        200,
      );
    const hit = await q({
      action: 'site.create',
      objectType: 'site',
      since: before,
      until: after,
      actor: 'bootstrap-admin',
    });
    expect(hit.items.map((e) => e.objectId)).toContain(site.id);
    expect((await q({ action: 'site.create', since: after })).items).toEqual([]);
    expect((await q({ objectType: 'credential', objectId: site.id })).items).toEqual([]);
    const bad = await c.admin.get('/audit?since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { issues: [{ field: 'query.since' }] } });
  });
});
