/**
 * POST /api/v1/credentials/batch (coordinator/operations/create-credentials-batch.ts), on both
 * databases: a result per item in request order (created / exists / invalid naming the field), the
 * rules of POST /credentials (target and policy must exist, the policy must suit the target),
 * idempotent on target + username (a retry, or the same batch twice at once, creates each
 * credential once), bad items never stop good ones nor leave rows behind, one audit event without
 * secrets, its own body limit, the roles; each credential written once as POST /credentials leaves
 * it (status, due times, job columns, status history, events, its first verification queued); a
 * chunk that fails stops the batch after the chunks before it (committed, their jobs queued) and a
 * retry creates the rest; and 10,000 items while /healthz stays fast (the passwords are sealed on
 * worker threads), every first verification queued.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import type { CreateCredentialsBatchView } from '../../shared/contracts/credentials-batch.js';
import { jobIdFor } from '../../shared/contracts/jobs.js';
import { BATCH_CHUNK } from '../../coordinator/operations/create-credentials-batch.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  getCredential,
  waitForValue,
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

/** Jobs waiting in a site's queue (no agent takes them in this file). */
const queuedJobs = async (site: string) => {
  const counts = await c.ctx.queues.counts(site);
  return (counts.wait ?? 0) + (counts.prioritized ?? 0);
};

/** What creating a credential leaves behind, in the terms two ways of creating one must agree on. */
async function stateOf(id: string): Promise<Record<string, unknown>> {
  const { rows } = await c.ctx.db.query<Record<string, unknown> & { site_id: string }>(
    `SELECT c.site_id, c.status, c.status_reason, c.job_state, c.job_kind, c.job_since IS NOT NULL AS job_since,
            c.job_missing_since, c.next_verify_at, c.next_change_at IS NOT NULL AS change_due,
            c.next_change_at IS NULL
              OR abs(extract(epoch FROM c.next_change_at - c.created_at) - p.rotate_interval_s) < 300
              AS change_due_by_policy,
            c.verify_interval_s, c.pending_secret, c.pending_id, c.change_wanted, c.last_outcome, c.attempt,
            c.sync_enabled, c.policy_id,
            EXISTS (SELECT 1 FROM credential_names n WHERE n.credential_id = c.id AND n.username = c.username)
              AS named,
            (SELECT coalesce(json_agg(json_build_array(h.status, h.reason) ORDER BY h.id), '[]')
               FROM credential_status_history h WHERE h.credential_id = c.id) AS history,
            (SELECT coalesce(json_agg(json_build_array(e.type, e.site_id = c.site_id, e.data->>'username' = c.username)
                                      ORDER BY e.id), '[]')
               FROM events e WHERE e.subject_type = 'credential' AND e.subject_id = c.id::text) AS events
       FROM credentials c LEFT JOIN policies p ON p.id = c.policy_id WHERE c.id = $1`,
    [id],
  );
  const { site_id: site, ...state } = rows[0]!;
  const job = jobIdFor('verify', id);
  // Both answer once the job is added (or REDIS_REQUEST_TIMEOUT_MS passed): wait for a late one.
  const queued =
    state.job_state === 'queued'
      ? await waitForValue(async () => (await c.ctx.queues.existing(site, [job])).has(job), {
          message: `the job of ${id}`,
        })
      : (await c.ctx.queues.existing(site, [job])).has(job);
  return { ...state, queued };
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

  it('leaves each credential as POST /credentials does: status, due times, job, history, events, queued job', async () => {
    const rotating = (
      await expectStatus<{ id: string }>(
        c.admin.post('/policies', {
          name: `rotating-${n()}`,
          verifyIntervalSeconds: 3600,
          rotateIntervalSeconds: 7 * 86_400,
        }),
        201,
      )
    ).id;
    const disabledSite = (await createSite(c.admin)).id;
    const disabledTarget = await createTarget(c.admin, disabledSite);
    await expectStatus(c.admin.post(`/sites/${disabledSite}/disable`, {}), 200);
    const cases: Record<string, Record<string, unknown>> = {
      verified: { targetId: await createTarget(c.admin, siteId) },
      'sync off': { targetId: await createTarget(c.admin, siteId), syncEnabled: false },
      'rotating policy': { targetId: await createTarget(c.admin, siteId), policyId: rotating },
      unsyncable: { targetId: await createTarget(c.admin, siteId, { canVerify: false, canChange: false }) },
      'change only': { targetId: await createTarget(c.admin, siteId, { canVerify: false }) },
      'site disabled': { targetId: disabledTarget },
    };
    const seen = new Set<unknown>();
    for (const [name, kase] of Object.entries(cases)) {
      const single = await expectStatus<CredentialView>(
        c.admin.post('/credentials', { ...kase, username: `single-${n()}`, password: password() }),
        201,
      );
      const bulk = await expectStatus<CreateCredentialsBatchView>(
        batch(operator, [{ ...kase, username: `bulk-${n()}`, password: password() }]),
        200,
      );
      const created = bulk.results[0]!;
      if (created.result !== 'created') throw new Error(`${name}: ${JSON.stringify(created)}`);
      expect(created.status, name).toBe(single.status);
      const state = await stateOf(created.id);
      expect(state, name).toEqual(await stateOf(single.id));
      seen.add(state.status);
    }
    expect([...seen].sort()).toEqual([
      'agent_disabled',
      'not_synced',
      'out_of_sync',
      'pending_sync',
      'unsyncable',
    ]);
  });

  it('a chunk that fails stops the batch there: the chunks before it stay, their jobs queued; a retry creates the rest', async () => {
    const site = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, site);
    const existing = await createCredential(c.admin, target, { username: `straddle-${BATCH_CHUNK + 2}` });
    const items: Record<string, unknown>[] = Array.from({ length: 2 * BATCH_CHUNK + 300 }, (_, i) => ({
      targetId: target,
      username: `straddle-${i}`,
      password: password(),
    }));
    // Items refused before the chunking (a bad password, a repeat) and one refused in the second
    // chunk (no such target); chunks are cut from the accepted items: the first is 0…C-2 and C+1,
    // the second C+2…2C+1 (with the existing credential), the third the last 298.
    const C = BATCH_CHUNK;
    items[C - 1] = { ...items[C - 1], password: '' };
    items[C] = { ...items[3], password: password() };
    items[2 * C - 1] = { ...items[2 * C - 1], targetId: crypto.randomUUID() };
    const invalid = new Set([C - 1, C, 2 * C - 1]);
    const failing = `straddle-${2 * C + 100}`;
    // The third chunk's transaction fails on one of its rows.
    await c.ctx.db.query(`CREATE FUNCTION straddle_fail() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused by the test'; END; $$`);
    await c.ctx.db.query(`CREATE TRIGGER straddle_fail BEFORE INSERT ON credentials FOR EACH ROW
      WHEN (NEW.username = '${failing}') EXECUTE FUNCTION straddle_fail()`);
    try {
      expect((await batch(operator, items)).status).toBe(500);
    } finally {
      await c.ctx.db.query('DROP TRIGGER straddle_fail ON credentials');
      await c.ctx.db.query('DROP FUNCTION straddle_fail()');
    }
    // Every row of the first two chunks, none of the third's; their first verifications queued.
    const createdFirst = 2 * C - 2;
    expect(await countOnTarget(target)).toBe(createdFirst + 1);
    await waitForValue(async () => (await queuedJobs(site)) === createdFirst + 1 || null, {
      message: 'the committed chunks queued',
    });
    const { rows: audit } = await c.ctx.db.query<{ details: Record<string, unknown> }>(
      "SELECT details FROM audit_events WHERE action = 'credential.create_batch' ORDER BY id DESC LIMIT 1",
    );
    expect(audit[0]!.details).toMatchObject({ failed: true, created: createdFirst, exists: 1, invalid: 3 });

    const again = await expectStatus<CreateCredentialsBatchView>(batch(operator, items), 200);
    expect(again.counts).toEqual({ created: 298, exists: createdFirst + 1, invalid: 3 });
    expect(again.results.map((r) => r.index)).toEqual(items.map((_, i) => i));
    const { rows } = await c.ctx.db.query<{ id: string; username: string }>(
      'SELECT id, username FROM credentials WHERE target_id = $1',
      [target],
    );
    const ids = new Map(rows.map((r) => [r.username, r.id]));
    for (const [i, r] of again.results.entries()) {
      if (invalid.has(i)) expect(r.result, `item ${i}`).toBe('invalid');
      else expect((r as { id: string }).id, `item ${i}`).toBe(ids.get(`straddle-${i}`));
      expect(r.result, `item ${i}`).toBe(invalid.has(i) ? 'invalid' : i >= 2 * C + 2 ? 'created' : 'exists');
    }
    expect(again.results[C + 2]).toEqual({ index: C + 2, result: 'exists', id: existing.id });
    await waitForValue(async () => (await queuedJobs(site)) === createdFirst + 1 + 298 || null, {
      message: 'every first verification queued',
    });
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
    const jobsBefore = await queuedJobs(siteId);
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
    await waitForValue(async () => (await queuedJobs(siteId)) === jobsBefore + 10_000 || null, {
      message: 'every first verification queued',
    });
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
