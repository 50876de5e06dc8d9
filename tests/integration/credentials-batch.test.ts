/**
 * POST /api/v1/credentials/batch (coordinator/operations/create-credentials-batch.ts), on both
 * databases: a result per item in request order (created / exists / invalid naming the field), the
 * rules of POST /credentials (target and policy must exist, the policy must suit the target),
 * idempotent on target + username (a retry, or the same batch twice at once, creates each
 * credential once), bad items never stop good ones nor leave rows behind, one audit event without
 * secrets, its own body limit, the roles; and 10,000 items while /healthz stays fast (the
 * passwords are sealed on worker threads).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import type { CreateCredentialsBatchView } from '../../shared/contracts/credentials-batch.js';
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
let shortTarget: string;
let policyId: string;
let operator: ApiClient;
let viewer: ApiClient;
const testDb = () => c.database.kind;

const n = () => randomBytes(4).toString('hex');
const password = () => `Pw-${randomBytes(9).toString('base64url')}-Aa1!`;
const batch = (client: ApiClient, items: unknown[]) => client.post('/credentials/batch', { items });

beforeAll(async () => {
  c = await startInProcessCoordinator('credentials-batch', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  targetId = await createTarget(c.admin, siteId);
  shortTarget = await createTarget(c.admin, siteId, { maxPasswordLength: 4 });
  policyId = (
    await expectStatus<{ id: string }>(
      c.admin.post('/policies', { name: `p-${n()}`, rules: { length: 32 } }),
      201,
    )
  ).id;
  for (const role of ['operator', 'viewer'] as const) {
    const t = await expectStatus<{ token: string }>(
      c.admin.post('/tokens', { name: `${role}-${n()}`, role }),
      201,
    );
    if (role === 'operator') operator = api(`${c.url}/api/v1`, t.token);
    else viewer = api(`${c.url}/api/v1`, t.token);
  }
});
afterAll(() => c?.close());

async function countOnTarget(target: string): Promise<number> {
  const { rows } = await c.ctx.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM credentials WHERE target_id = $1',
    [target],
  );
  return rows[0]!.n;
}

describe('POST /credentials/batch', () => {
  it('answers each item in request order: created, exists, invalid with the field; retried, creates nothing more', async () => {
    const existing = await createCredential(c.admin, targetId);
    const items = [
      { targetId, username: `a-${n()}`, password: password() },
      { targetId, username: '', password: password() },
      { targetId: crypto.randomUUID(), username: `b-${n()}`, password: password() },
      { targetId, username: `c-${n()}`, password: password(), policyId: crypto.randomUUID() },
      { targetId: shortTarget, username: `d-${n()}`, password: password(), policyId },
      { targetId, username: existing.username, password: 'another-password' },
      {
        targetId: targetId.toUpperCase(),
        username: `e-${n()}`,
        password: password(),
        policyId,
        syncEnabled: false,
      },
      { targetId, username: `f-${n()}`, password: password(), extra: 1 },
    ];
    items.push({ ...items[0]!, password: password() });
    const before = await countOnTarget(targetId);
    const first = await expectStatus<CreateCredentialsBatchView>(batch(operator, items), 200);
    expect(first.results.map((r) => [r.index, r.result])).toEqual([
      [0, 'created'],
      [1, 'invalid'],
      [2, 'invalid'],
      [3, 'invalid'],
      [4, 'invalid'],
      [5, 'exists'],
      [6, 'created'],
      [7, 'invalid'],
      [8, 'invalid'],
    ]);
    expect(first.counts).toEqual({ created: 2, exists: 1, invalid: 6 });
    const issues = Object.fromEntries(
      first.results.flatMap((r) => (r.result === 'invalid' ? [[r.index, r.issues.map((i) => i.field)]] : [])),
    );
    expect(issues).toEqual({
      1: ['body.items.1.username'],
      2: ['body.items.2.targetId'],
      3: ['body.items.3.policyId'],
      4: ['body.items.4.policyId'],
      7: ['body.items.7'],
      8: ['body.items.8.username'],
    });
    const invalid = first.results.filter((r) => r.result === 'invalid');
    expect(JSON.stringify(invalid)).toContain('same targetId and username as item 0');
    expect(JSON.stringify(invalid)).toContain('does not suit');
    expect(first.results[5]).toMatchObject({ result: 'exists', id: existing.id });
    expect(await countOnTarget(targetId)).toBe(before + 2);

    // As POST /credentials leaves them: the first verification queued, the password sealed to its row.
    const created = first.results[0]!;
    if (created.result !== 'created') throw new Error('not created');
    expect(created.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const view = await getCredential(c.admin, created.id);
    expect(view).toMatchObject({ status: 'pending_sync', job: { state: 'queued', kind: 'verify' } });
    const revealed = await expectStatus<{ password: string }>(
      c.admin.get(`/credentials/${created.id}/password`),
      200,
    );
    expect(revealed.password).toBe(items[0]!.password);
    const off = first.results[6]!;
    if (off.result !== 'created') throw new Error('not created');
    expect(await getCredential(c.admin, off.id)).toMatchObject<Partial<CredentialView>>({
      status: 'not_synced',
      policyId,
      targetId,
    });
    // The existing credential kept its password.
    const kept = await expectStatus<{ password: string }>(
      c.admin.get(`/credentials/${existing.id}/password`),
      200,
    );
    expect(kept.password).toBe(existing.password);

    // The same batch again: what was created exists, with the same ids; nothing new.
    const again = await expectStatus<CreateCredentialsBatchView>(batch(operator, items), 200);
    expect(again.counts).toEqual({ created: 0, exists: 3, invalid: 6 });
    expect(again.results[0]).toEqual({ index: 0, result: 'exists', id: created.id });
    expect(again.results[6]).toEqual({ index: 6, result: 'exists', id: off.id });
    expect(await countOnTarget(targetId)).toBe(before + 2);
  });

  it('records one audit event per batch with its counts, never a password', async () => {
    const pw = password();
    const res = await expectStatus<CreateCredentialsBatchView>(
      batch(operator, [
        { targetId, username: `audited-${n()}`, password: pw },
        { targetId, username: `audited-${n()}`, password: '' },
      ]),
      200,
    );
    const { rows } = await c.ctx.db.query<{
      action: string;
      object_type: string;
      details: Record<string, unknown>;
    }>('SELECT action, object_type, details FROM audit_events WHERE object_id = $1', [res.batchId]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: 'credential.create_batch',
      object_type: 'credential_batch',
      details: {
        items: 2,
        created: 1,
        exists: 0,
        invalid: 1,
        invalidItems: [{ index: 1, fields: ['body.items.1.password'] }],
      },
    });
    expect(JSON.stringify(rows)).not.toContain(pw);
    const { rows: perItem } = await c.ctx.db.query(
      "SELECT 1 FROM audit_events WHERE action = 'credential.create' AND details->>'reqId' = $1",
      [rows[0]!.details.reqId],
    );
    expect(perItem).toEqual([]);
  });

  it('takes operators and admins, refuses viewers; the list has 1 to 10,000 items', async () => {
    const item = () => ({ targetId, username: `role-${n()}`, password: password() });
    expect((await batch(viewer, [item()])).status).toBe(403);
    expect((await batch(operator, [item()])).status).toBe(200);
    for (const items of [[], Array.from({ length: 10_001 }, item)]) {
      const res = await batch(operator, items);
      expect(res.status).toBe(400);
      expect((res.body as ErrorBody).error.issues?.map((i) => i.field)).toEqual(['body.items']);
    }
  });

  it('the same batch sent twice at once creates each credential once', async () => {
    const target = await createTarget(c.admin, siteId);
    const items = Array.from({ length: 1200 }, (_, i) => ({
      targetId: target,
      username: `twin-${i}`,
      password: password(),
    }));
    const [a, b] = await Promise.all([batch(operator, items), batch(operator, items)]);
    const ra = (a.body as CreateCredentialsBatchView).results;
    const rb = (b.body as CreateCredentialsBatchView).results;
    expect([a.status, b.status]).toEqual([200, 200]);
    for (let i = 0; i < items.length; i++) {
      expect([ra[i]!.result, rb[i]!.result].sort(), `item ${i}`).toEqual(['created', 'exists']);
      expect((ra[i] as { id: string }).id).toBe((rb[i] as { id: string }).id);
    }
    expect(await countOnTarget(target)).toBe(items.length);
  });

  it('creates 10,000 in one request (past BODY_LIMIT_BYTES) while /healthz stays fast', async () => {
    const target = await createTarget(c.admin, siteId);
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      targetId: target,
      username: `bulk-user-${String(i).padStart(5, '0')}@example.org`,
      password: password(),
    }));
    expect(JSON.stringify({ items }).length).toBeGreaterThan(c.ctx.config.BODY_LIMIT_BYTES);
    const probe = api(c.url);
    const latencies: number[] = [];
    let done = false;
    const started = performance.now();
    const pending = batch(operator, items).finally(() => (done = true));
    while (!done) {
      const t0 = performance.now();
      expect((await probe.get('/healthz')).status).toBe(200);
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    const res = await expectStatus<CreateCredentialsBatchView>(pending, 200);
    const ms = performance.now() - started;
    expect(res.counts).toEqual({ created: 10_000, exists: 0, invalid: 0 });
    expect(await countOnTarget(target)).toBe(10_000);
    latencies.sort((x, y) => x - y);
    const p95 = latencies[Math.floor(latencies.length * 0.95)]!;
    console.log(
      `batch of 10,000 (${testDb()}): ${Math.round(ms)} ms; /healthz during it: ${latencies.length} calls, p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
    );
    expect(latencies.length).toBeGreaterThan(5);
    // The embedded database runs its statements on the coordinator's own thread (PGlite is
    // WebAssembly in-process): there, only PostgreSQL's work is off the event loop by nature.
    if (testDb() === 'postgres') expect(p95).toBeLessThan(250);
  });
});
