import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView, PolicyView } from '../../shared/contracts/api.js';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
  type ErrorBody,
} from '../support/fixtures.js';

let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('policies', inject('redisUrl'), { SUSPEND_AFTER_FAILURES: '2' });
});
afterAll(() => c?.close());

async function patch(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await request(`${c.url}/api/v1${path}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, body: await res.body.json() };
}

let n = 0;
const createPolicy = (body: Record<string, unknown>) =>
  expectStatus<PolicyView>(
    c.admin.post('/policies', { name: `policy-${++n}-${Date.now()}`, ...body }),
    201,
    'POST /policies',
  );

const fields = (body: unknown) => (body as ErrorBody).error.issues?.map((i) => i.field) ?? [];

describe('policies', () => {
  it('creates, lists and reads policies; refuses bad rules and windows naming the field', async () => {
    const p = await createPolicy({
      rules: { length: 20, symbols: -1, exclude: 'O0l1' },
      verifyIntervalSeconds: 3600,
      rotateIntervalSeconds: 7 * 86_400,
      maintenanceWindow: { days: [6, 0], start: '01:00', end: '05:00', timeZone: 'Europe/Zurich' },
    });
    expect(p).toMatchObject({
      rules: { length: 20, lower: 1, upper: 1, digits: 1, symbols: -1, exclude: 'O0l1' },
      verifyIntervalSeconds: 3600,
      rotateIntervalSeconds: 604_800,
      maintenanceWindow: { days: [6, 0], start: '01:00', end: '05:00', timeZone: 'Europe/Zurich' },
    });
    expect((await c.admin.get(`/policies/${p.id}`)).body).toEqual(p);
    const list = await expectStatus<{ items: PolicyView[] }>(c.admin.get('/policies'), 200);
    expect(list.items.map((x) => x.id)).toContain(p.id);
    const defaults = await createPolicy({});
    expect(defaults).toMatchObject({
      rules: { length: 24 },
      verifyIntervalSeconds: 86_400,
      rotateIntervalSeconds: null,
    });

    const dup = await c.admin.post('/policies', { name: p.name });
    expect(dup.status).toBe(409);
    const impossible = await c.admin.post('/policies', {
      name: 'x',
      rules: { length: 8, lower: 4, upper: 4, digits: 4 },
    });
    expect(impossible.status).toBe(400);
    expect(fields(impossible.body)).toEqual(['body.rules.length']);
    const zone = await c.admin.post('/policies', {
      name: 'y',
      maintenanceWindow: { days: [1], start: '01:00', end: '02:00', timeZone: 'Nowhere/Town' },
    });
    expect(zone.status).toBe(400);
    expect(fields(zone.body)).toEqual(['body.maintenanceWindow.timeZone']);
    expect((await c.admin.get('/policies/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('a policy must suit the target: refused with a 400 naming policyId, at creation and on PATCH', async () => {
    const siteId = (await createSite(c.admin)).id;
    const narrow = await createTarget(c.admin, siteId, {
      maxPasswordLength: 10,
      forbiddenCharacters: '!#$%',
    });
    const strict = await createPolicy({ rules: { length: 16, lower: 3, upper: 3, digits: 3, symbols: 3 } });
    const lenient = await createPolicy({
      rules: { length: 32 },
      verifyIntervalSeconds: 7200,
      rotateIntervalSeconds: 86_400,
    });

    const refused = await c.admin.post('/credentials', {
      targetId: narrow,
      username: 'svc-a',
      password: 'old-password-1',
      policyId: strict.id,
    });
    expect(refused.status).toBe(400);
    expect(fields(refused.body)).toEqual(['body.policyId']);
    expect((refused.body as ErrorBody).error.message).toMatch(/at most 10 characters/);
    expect((await c.admin.get(`/credentials?targetId=${narrow}`)).body).toMatchObject({ items: [] });

    // A longer policy still suits: generation shrinks to the target's maximum.
    const ok = await c.admin.post('/credentials', {
      targetId: narrow,
      username: 'svc-b',
      password: 'old-password-2',
      policyId: lenient.id,
    });
    expect(ok.status).toBe(201);
    const id = (ok.body as { id: string }).id;
    const view = await getCredential(c.admin, id);
    expect(view.policyId).toBe(lenient.id);
    // Rotation: one interval after creation (nothing changed yet).
    expect(Date.parse(view.nextChangeAt!) - Date.now()).toBeGreaterThan(86_000_000);
    const row = await c.ctx.db.query<{ verify_interval_s: number }>(
      'SELECT verify_interval_s FROM credentials WHERE id = $1',
      [id],
    );
    expect(row.rows[0]!.verify_interval_s).toBe(7200);

    const bad = await patch(`/credentials/${id}`, { policyId: strict.id });
    expect(bad.status).toBe(400);
    expect(fields(bad.body)).toEqual(['body.policyId']);
    expect((await getCredential(c.admin, id)).policyId).toBe(lenient.id);
    const cleared = await patch(`/credentials/${id}`, { policyId: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ policyId: null, nextChangeAt: null });

    // A generated password satisfies both the policy and the target.
    await patch(`/credentials/${id}`, { policyId: lenient.id });
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    await agent.report((await agent.claim(10, 2000)).map(held)); // the first verification
    expect((await c.admin.post(`/credentials/${id}/change`, {})).status).toBe(202);
    const [job] = await agent.claim(1, 2000);
    expect(job?.kind).toBe('change');
    expect(job!.pendingPassword).toHaveLength(10);
    expect(job!.pendingPassword).not.toMatch(/[!#$%]/);
    await agent.report([held(job!)], { outcome: 'ok', works: 'pending' });
    const changed = await getCredential(c.admin, id);
    expect(changed.status).toBe('in_sync');
    // After a successful change the next rotation is one rotation interval away.
    expect(
      Math.abs(Date.parse(changed.nextChangeAt!) - (Date.parse(changed.lastChangedAt!) + 86_400_000)),
    ).toBeLessThan(1000);
  });

  it('an operator-given password is checked against the policy and the target (400 naming password)', async () => {
    const siteId = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, siteId, { maxPasswordLength: 20, forbiddenCharacters: '"' });
    const policy = await createPolicy({ rules: { length: 12, digits: 2, symbols: 0 } });
    const cred = await expectStatus<{ id: string }>(
      c.admin.post('/credentials', {
        targetId: target,
        username: 'svc',
        password: 'initial-pw',
        policyId: policy.id,
      }),
      201,
    );
    for (const given of ['Short1', 'has"quote"Abc12', 'NoDigitsAtAllHere', 'Way-Too-Long-Password-12345']) {
      const res = await c.admin.post(`/credentials/${cred.id}/change`, { password: given });
      expect(res.status, given).toBe(400);
      expect(fields(res.body)).toEqual(['body.password']);
      expect(JSON.stringify(res.body)).not.toContain(given);
    }
    expect((await getCredential(c.admin, cred.id)).changePending).toBe(false);
    expect(
      (await c.admin.post(`/credentials/${cred.id}/change`, { password: 'Good-Password-42' })).status,
    ).toBe(202);
    expect((await getCredential(c.admin, cred.id)).changePending).toBe(true);
  });

  it('a workstation target forbids control characters: a given password with a newline is a 400 at once', async () => {
    const siteId = (await createSite(c.admin)).id;
    const target = await expectStatus<{ id: string }>(
      c.admin.post('/targets', {
        siteId,
        name: `ws-${++n}`,
        kind: 'workstation',
        connection: { host: '192.0.2.20', port: 22 },
      }),
      201,
    );
    const cred = await expectStatus<{ id: string }>(
      c.admin.post('/credentials', { targetId: target.id, username: 'root2', password: 'initial-pw' }),
      201,
    );
    for (const given of [
      'line\nbreak-Pw-42',
      'tab\tinside-Pw-42',
      'nul\u0000inside-Pw-42',
      'del\u007f-Pw-42',
    ]) {
      const res = await c.admin.post(`/credentials/${cred.id}/change`, { password: given });
      expect(res.status, JSON.stringify(given)).toBe(400);
      expect(fields(res.body)).toEqual(['body.password']);
      // A NUL is refused in any field of any route before this rule (docs/api.md): named all the same.
      expect((res.body as ErrorBody).error.message).toContain(
        given.includes('\u0000') ? 'NUL character' : 'control characters',
      );
    }
    expect((await getCredential(c.admin, cred.id)).changePending).toBe(false);
    expect(
      (await c.admin.post(`/credentials/${cred.id}/change`, { password: 'Fine-Password-42!' })).status,
    ).toBe(202);
  });

  it('suspends after N consecutive errors (summary counts it) until an operator resumes it', async () => {
    const siteId = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, siteId);
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const cred = await createCredential(c.admin, target);
    const before = (await c.admin.get('/summary')).body as { suspended: number };
    for (let i = 0; i < 2; i++) {
      if (i > 0)
        await c.ctx.db.query('UPDATE credentials SET next_verify_at = now() WHERE id = $1', [cred.id]);
      if (i > 0) await (await import('../../coordinator/scheduler/tick.js')).tick(c.ctx);
      const jobs = await agent.claim(1, 2000);
      expect(jobs).toHaveLength(1);
      await agent.report(jobs.map(held), { outcome: 'failed', reason: 'error', message: 'boom' });
    }
    const suspended = await getCredential(c.admin, cred.id);
    expect(suspended).toMatchObject({
      suspended: true,
      consecutiveFailures: 2,
      nextVerifyAt: null,
      status: 'out_of_sync',
    });
    expect(((await c.admin.get('/summary')).body as { suspended: number }).suspended).toBe(
      before.suspended + 1,
    );

    const resumed = await expectStatus<CredentialView>(c.admin.post(`/credentials/${cred.id}/resume`), 200);
    expect(resumed).toMatchObject({
      suspended: false,
      consecutiveFailures: 0,
      job: { state: 'queued', kind: 'verify' },
    });
    await agent.report((await agent.claim(1, 2000)).map(held));
    expect(await getCredential(c.admin, cred.id)).toMatchObject({ status: 'in_sync', suspended: false });
    const audit = await expectStatus<{ items: { action: string }[] }>(
      c.admin.get(`/audit?objectId=${cred.id}`),
      200,
    );
    expect(audit.items.map((e) => e.action)).toContain('credential.resume');
  });

  it('delete is refused while a change is in flight or a pending password exists, unless force=true (audited)', async () => {
    const siteId = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, siteId);
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const cred = await createCredential(c.admin, target);
    await agent.report((await agent.claim(1, 2000)).map(held));
    await c.admin.post(`/credentials/${cred.id}/change`, {});
    // Queued change with its pending password: refused.
    expect((await c.admin.delete(`/credentials/${cred.id}`)).status).toBe(409);
    const [job] = await agent.claim(1, 2000);
    // In flight (claimed): refused.
    expect((await c.admin.delete(`/credentials/${cred.id}`)).status).toBe(409);
    // Uncertain outcome: both passwords kept, reconcile queued: still refused.
    await agent.report([held(job!)], { outcome: 'failed', reason: 'change_outcome_unknown' });
    expect(await getCredential(c.admin, cred.id)).toMatchObject({ changePending: true });
    expect((await c.admin.delete(`/credentials/${cred.id}`)).status).toBe(409);
    expect((await c.admin.delete(`/credentials/${cred.id}?force=true`)).status).toBe(200);
    expect((await c.admin.get(`/credentials/${cred.id}`)).status).toBe(404);
    const audit = await expectStatus<{ items: { action: string; details: Record<string, unknown> }[] }>(
      c.admin.get(`/audit?objectId=${cred.id}`),
      200,
    );
    expect(audit.items[0]).toMatchObject({
      action: 'credential.force_delete',
      details: { changeInFlight: true },
    });
    // A credential with nothing in flight deletes without force.
    const other = await createCredential(c.admin, target);
    await agent.report((await agent.claim(1, 2000)).map(held));
    expect((await c.admin.delete(`/credentials/${other.id}`)).status).toBe(200);
  });
});
