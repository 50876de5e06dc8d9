/**
 * POST /api/v1/credentials/bulk (coordinator/operations/bulk-credentials.ts): a bulk action by ids or
 * by a filter, a result per credential (a refusal never stops the others), one audit event beside
 * each credential's own, a filter matching too many refused with its count, the roles; and the
 * list's `total` and `problems` order (what needs a person first, keyset-paged).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import type { BulkCredentialsView } from '../../shared/contracts/credentials-bulk.js';
import { PROBLEMS_FIRST } from '../../shared/contracts/status.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  getCredential,
  type ErrorBody,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';

let c: InProcessCoordinator;
let siteId: string;
let targetId: string;
let viewer: ApiClient;
let operator: ApiClient;

beforeAll(async () => {
  c = await startInProcessCoordinator('credentials-bulk', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  targetId = await createTarget(c.admin, siteId);
  for (const role of ['viewer', 'operator'] as const) {
    const t = await expectStatus<{ token: string }>(
      c.admin.post('/tokens', { name: `${role}-bulk`, role }),
      201,
    );
    if (role === 'viewer') viewer = api(`${c.url}/api/v1`, t.token);
    else operator = api(`${c.url}/api/v1`, t.token);
  }
});
afterAll(() => c?.close());

describe('POST /credentials/bulk', () => {
  it('acts on each credential by ids, answering each on its own, and audits the action', async () => {
    const a = await createCredential(c.admin, targetId);
    const b = await createCredential(c.admin, targetId, { syncEnabled: false });
    const missing = '0190f0f0-0000-7000-8000-000000000000';
    const res = await expectStatus<BulkCredentialsView>(
      operator.post('/credentials/bulk', { action: 'verify', ids: [a.id, b.id, missing] }),
      200,
    );
    expect(res.counts).toEqual({ ok: 1, failed: 2 });
    expect(res.results.map((r) => [r.id, r.result])).toEqual([
      [a.id, 'ok'],
      [b.id, 'failed'],
      [missing, 'failed'],
    ]);
    const refused = res.results[1] as { code: string; message: string };
    expect(refused.code).toBe('CONFLICT');
    expect(refused.message).toMatch(/sync is disabled/);
    expect((res.results[2] as { code: string }).code).toBe('NOT_FOUND');
    const { rows } = await c.ctx.db.query<{ action: string; details: Record<string, unknown> }>(
      `SELECT action, details FROM audit_events WHERE object_id = $1`,
      [res.bulkId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.action).toBe('credential.bulk');
    expect(rows[0]!.details).toMatchObject({ action: 'verify', items: 3, ok: 1, failed: 2 });
    expect(rows[0]!.details.failedIds).toEqual([b.id, missing]);
  });

  it('acts on what a filter matches: disable, enable, delete', async () => {
    const site = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, site);
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await createCredential(c.admin, target));
    const off = await expectStatus<BulkCredentialsView>(
      operator.post('/credentials/bulk', { action: 'disable', filter: { siteId: site } }),
      200,
    );
    expect(off.counts).toEqual({ ok: 3, failed: 0 });
    expect(off.results.map((r) => r.id).sort()).toEqual(made.map((m) => m.id).sort());
    for (const m of made) expect((await getCredential(c.admin, m.id)).syncEnabled).toBe(false);
    const on = await expectStatus<BulkCredentialsView>(
      operator.post('/credentials/bulk', { action: 'enable', ids: [made[0]!.id] }),
      200,
    );
    expect(on.counts.ok).toBe(1);
    expect((await getCredential(c.admin, made[0]!.id)).syncEnabled).toBe(true);
    const gone = await expectStatus<BulkCredentialsView>(
      operator.post('/credentials/bulk', { action: 'delete', filter: { targetId: target } }),
      200,
    );
    expect(gone.counts).toEqual({ ok: 3, failed: 0 });
    const left = await expectStatus<{ items: unknown[] }>(c.admin.get(`/credentials?siteId=${site}`), 200);
    expect(left.items).toHaveLength(0);
  });

  it('refuses bad requests, naming the field; a viewer is refused', async () => {
    const bad = async (body: unknown, field: string) => {
      const res = await expectStatus<ErrorBody>(operator.post('/credentials/bulk', body), 400);
      expect(JSON.stringify(res.error.issues)).toContain(field);
    };
    await bad({ action: 'verify' }, 'body.ids');
    await bad({ action: 'verify', ids: [targetId], filter: { siteId } }, 'body.ids');
    await bad({ action: 'verify', filter: {} }, 'body.filter');
    await bad({ action: 'verify', ids: [targetId], force: true }, 'body.force');
    await bad({ action: 'rotate', ids: [targetId] }, 'body.action');
    await expectStatus(viewer.post('/credentials/bulk', { action: 'verify', filter: { siteId } }), 403);
  });
});

describe('GET /credentials: total and problems first', () => {
  it('counts what the filters match, and pages problems first', async () => {
    const site = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, site);
    for (let i = 0; i < 2; i++) await createCredential(c.admin, target);
    for (let i = 0; i < 2; i++) await createCredential(c.admin, target, { syncEnabled: false });
    const page = await expectStatus<{ items: CredentialView[]; total?: number }>(
      c.admin.get(`/credentials?siteId=${site}&limit=1&total=true`),
      200,
    );
    expect(page.total).toBe(4);
    const plain = await expectStatus<{ total?: number }>(c.admin.get(`/credentials?siteId=${site}`), 200);
    expect(plain.total).toBeUndefined();

    const all = await expectStatus<{ items: CredentialView[] }>(
      c.admin.get(`/credentials?siteId=${site}&sort=problems`),
      200,
    );
    const rank = (s: CredentialView['status']) => PROBLEMS_FIRST.indexOf(s);
    const ranks = all.items.map((x) => rank(x.status));
    expect(ranks).toEqual([...ranks].sort((x, y) => x - y));
    expect(new Set(all.items.map((x) => x.status)).size).toBeGreaterThan(1);
    // Page by page (limit 1) gives the same order.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const p: { items: CredentialView[]; nextCursor: string | null } = await expectStatus(
        c.admin.get(`/credentials?siteId=${site}&sort=problems&limit=1${cursor ? `&cursor=${cursor}` : ''}`),
        200,
      );
      paged.push(...p.items.map((x) => x.id));
      cursor = p.nextCursor;
    } while (cursor);
    expect(paged).toEqual(all.items.map((x) => x.id));
  });
});
