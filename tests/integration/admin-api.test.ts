/**
 * Administration routes (issue 15): editing and deleting sites, targets, agents, policies and sync
 * groups, with the refusals that keep an operator from losing work by accident (a 409 saying why,
 * and a documented force), on both databases.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PolicyView, SyncGroupView, SyncRunView } from '../../shared/contracts/api.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  type ErrorBody,
} from '../support/fixtures.js';

let c: InProcessCoordinator;
let n = 0;
const unique = (label: string) => `${label}-${++n}-${Date.now()}`;
const message = (body: unknown) => (body as ErrorBody).error.message;
const fields = (body: unknown) => (body as ErrorBody).error.issues?.map((i) => i.field) ?? [];

beforeAll(async () => {
  c = await startInProcessCoordinator('admin-api', inject('redisUrl'));
});
afterAll(() => c?.close());

describe('sites and targets', () => {
  it('a site is renamed, disabled and enabled with PATCH; a name in use is a 409', async () => {
    const site = await createSite(c.admin);
    const other = await createSite(c.admin);
    const name = unique('renamed');
    const renamed = await expectStatus<{ name: string; enabled: boolean; requireApproval: boolean }>(
      c.admin.patch(`/sites/${site.id}`, { name, enabled: false, requireApproval: true }),
      200,
    );
    expect(renamed).toMatchObject({ name, enabled: false, requireApproval: true });
    expect((await c.admin.patch(`/sites/${other.id}`, { name })).status).toBe(409);
    expect((await c.admin.patch(`/sites/${site.id}`, { enabled: true })).body).toMatchObject({
      enabled: true,
    });
  });

  it('a site with credentials or agents is not deleted without force; forced, everything goes', async () => {
    const site = await createSite(c.admin);
    const target = await createTarget(c.admin, site.id);
    const cred = await createCredential(c.admin, target);
    const agent = await FakeAgent.enroll(c.url, c.admin, site.id);

    const refused = await c.admin.delete(`/sites/${site.id}`);
    expect(refused.status).toBe(409);
    expect(message(refused.body)).toMatch(/1 credential\(s\) and 1 agent\(s\).*force=true/);
    expect((await c.admin.get(`/credentials/${cred.id}`)).status).toBe(200);

    const forced = await expectStatus(c.admin.delete(`/sites/${site.id}?force=true`), 200);
    expect(forced).toEqual({ id: site.id, deleted: true, credentials: 1 });
    expect((await c.admin.get(`/sites/${site.id}`)).status).toBe(404);
    expect((await c.admin.get(`/targets/${target}`)).status).toBe(404);
    expect((await c.admin.get(`/credentials/${cred.id}`)).status).toBe(404);
    expect((await agent.claimRaw(1)).status).toBe(401);
    const audit = await expectStatus<{ items: { action: string }[] }>(
      c.admin.get(`/audit?objectId=${site.id}`),
      200,
    );
    expect(audit.items.map((e) => e.action)).toContain('site.force_delete');

    const empty = await createSite(c.admin);
    expect(await expectStatus(c.admin.delete(`/sites/${empty.id}`), 200)).toMatchObject({ deleted: true });
    expect((await c.admin.delete(`/sites/${empty.id}`)).status).toBe(404);
  });

  it('a target with credentials is not deleted without force; forced, its runs still finish', async () => {
    const site = await createSite(c.admin);
    const target = await createTarget(c.admin, site.id);
    const cred = await createCredential(c.admin, target);
    const run = await expectStatus<SyncRunView>(
      c.admin.post('/sync-runs', { kind: 'verify', scope: { targetId: target } }),
      201,
    );
    const refused = await c.admin.delete(`/targets/${target}`);
    expect(refused.status).toBe(409);
    expect(message(refused.body)).toMatch(/target '.*' still has 1 credential\(s\)/);
    expect(await expectStatus(c.admin.delete(`/targets/${target}?force=true`), 200)).toMatchObject({
      credentials: 1,
    });
    expect((await c.admin.get(`/credentials/${cred.id}`)).status).toBe(404);
    const ended = await expectStatus<SyncRunView>(c.admin.get(`/sync-runs/${run.id}`), 200);
    expect(ended.finishedAt).not.toBeNull();
    expect(ended.counts.unsynced).toBe(1);
  });
});

describe('agents', () => {
  it('a waiting agent is denied (revoked, 401 from then on); an approved one cannot be denied; rename', async () => {
    const site = await expectStatus<{ id: string }>(
      c.admin.post('/sites', { name: unique('approving'), requireApproval: true }),
      201,
    );
    const waiting = await FakeAgent.enroll(c.url, c.admin, site.id);
    const renamed = await expectStatus<{ name: string }>(
      c.admin.patch(`/agents/${waiting.agentId}`, { name: 'edge-1' }),
      200,
    );
    expect(renamed.name).toBe('edge-1');
    await expectStatus(c.admin.post(`/agents/${waiting.agentId}/deny`), 200);
    expect((await waiting.claimRaw(1)).status).toBe(401);
    expect((await c.admin.post(`/agents/${waiting.agentId}/deny`)).status).toBe(404);

    const open = await FakeAgent.enroll(c.url, c.admin, (await createSite(c.admin)).id);
    const refused = await c.admin.post(`/agents/${open.agentId}/deny`);
    expect(refused.status).toBe(409);
    expect(message(refused.body)).toMatch(/approved already/);
  });
});

describe('policies', () => {
  it('a policy is edited, refused when it no longer suits a credential, and not deleted while in use', async () => {
    const site = await createSite(c.admin);
    const narrow = await createTarget(c.admin, site.id, { maxPasswordLength: 8 });
    const policy = await expectStatus<PolicyView>(
      c.admin.post('/policies', { name: unique('policy'), rules: { length: 12 } }),
      201,
    );
    const cred = await createCredential(c.admin, narrow);
    await expectStatus(c.admin.patch(`/credentials/${cred.id}`, { policyId: policy.id }), 200);

    const edited = await expectStatus<PolicyView>(
      c.admin.patch(`/policies/${policy.id}`, { verifyIntervalSeconds: 3600, rotateIntervalSeconds: 86_400 }),
      200,
    );
    expect(edited).toMatchObject({ verifyIntervalSeconds: 3600, rotateIntervalSeconds: 86_400 });
    const { rows } = await c.ctx.db.query<{ verify_interval_s: number; next_change_at: Date | null }>(
      'SELECT verify_interval_s, next_change_at FROM credentials WHERE id = $1',
      [cred.id],
    );
    expect(rows[0]!.verify_interval_s).toBe(3600);
    expect(rows[0]!.next_change_at).not.toBeNull();

    const unsuitable = await c.admin.patch(`/policies/${policy.id}`, {
      rules: { length: 12, lower: 3, upper: 3, digits: 3, symbols: 3 },
    });
    expect(unsuitable.status).toBe(400);
    expect(fields(unsuitable.body)).toEqual(['body.rules']);

    const inUse = await c.admin.delete(`/policies/${policy.id}`);
    expect(inUse.status).toBe(409);
    expect(message(inUse.body)).toMatch(/in use by 1 credential/);
    await expectStatus(c.admin.patch(`/credentials/${cred.id}`, { policyId: null }), 200);
    await expectStatus(c.admin.delete(`/policies/${policy.id}`), 200);
    expect((await c.admin.get(`/policies/${policy.id}`)).status).toBe(404);
  });
});

describe('sync groups', () => {
  it('a policy longer than a member takes is refused, naming the member', async () => {
    const site = await createSite(c.admin);
    const wide = await createTarget(c.admin, site.id);
    const narrow = await createTarget(c.admin, site.id, { maxPasswordLength: 14 }, 'narrow-box');
    const a = await createCredential(c.admin, wide);
    const b = await createCredential(c.admin, narrow, { username: 'svc-short' });
    const long = await expectStatus<PolicyView>(
      c.admin.post('/policies', { name: unique('long'), rules: { length: 24 } }),
      201,
    );
    const refused = await c.admin.post('/sync-groups', {
      name: unique('g'),
      policyId: long.id,
      primaryCredentialId: a.id,
      memberCredentialIds: [b.id],
    });
    expect(refused.status).toBe(400);
    expect(fields(refused.body)).toEqual(['body.policyId']);
    expect(message(refused.body)).toMatch(/svc-short on narrow-box \(14\)/);
  });

  it('edit members and policy, disable (a change now is a 409), enable, history, delete', async () => {
    const site = await createSite(c.admin);
    const target = await createTarget(c.admin, site.id);
    const [a, b, d] = [
      await createCredential(c.admin, target),
      await createCredential(c.admin, target),
      await createCredential(c.admin, target),
    ];
    const policy = await expectStatus<PolicyView>(
      c.admin.post('/policies', { name: unique('rotating'), rotateIntervalSeconds: 86_400 }),
      201,
    );
    const group = await expectStatus<SyncGroupView>(
      c.admin.post('/sync-groups', {
        name: unique('g'),
        primaryCredentialId: a.id,
        memberCredentialIds: [b.id],
      }),
      201,
    );
    expect(group.enabled).toBe(true);

    const edited = await expectStatus<SyncGroupView>(
      c.admin.patch(`/sync-groups/${group.id}`, { policyId: policy.id, memberCredentialIds: [d.id] }),
      200,
    );
    expect(edited.members.map((m) => m.credentialId).sort()).toEqual([a.id, d.id].sort());
    expect(edited.policyId).toBe(policy.id);
    expect(edited.nextChangeAt).not.toBeNull();
    const left = await expectStatus<{ groupId: string | null }>(c.admin.get(`/credentials/${b.id}`), 200);
    expect(left.groupId).toBeNull();

    const disabled = await expectStatus<SyncGroupView>(c.admin.post(`/sync-groups/${group.id}/disable`), 200);
    expect(disabled).toMatchObject({ enabled: false, nextChangeAt: null });
    const change = await c.admin.post(`/sync-groups/${group.id}/change`, {});
    expect(change.status).toBe(409);
    expect(message(change.body)).toMatch(/is disabled/);
    const enabled = await expectStatus<SyncGroupView>(c.admin.post(`/sync-groups/${group.id}/enable`), 200);
    expect(enabled.enabled).toBe(true);
    expect(enabled.nextChangeAt).not.toBeNull();

    const run = await expectStatus<SyncRunView>(c.admin.post(`/sync-groups/${group.id}/change`, {}), 202);
    const busy = await c.admin.patch(`/sync-groups/${group.id}`, { name: unique('busy') });
    expect(busy.status).toBe(409);
    expect(message(busy.body)).toMatch(/change in progress/);
    expect((await c.admin.delete(`/sync-groups/${group.id}`)).status).toBe(409);
    const history = await expectStatus<{ items: SyncRunView[] }>(
      c.admin.get(`/sync-groups/${group.id}/runs`),
      200,
    );
    expect(history.items.map((r) => r.id)).toEqual([run.id]);

    // Without a change out, a group is deleted: its members stay, on their own again.
    const [e, f] = [await createCredential(c.admin, target), await createCredential(c.admin, target)];
    const idle = await expectStatus<SyncGroupView>(
      c.admin.post('/sync-groups', {
        name: unique('g'),
        primaryCredentialId: e.id,
        memberCredentialIds: [f.id],
      }),
      201,
    );
    expect(await expectStatus(c.admin.delete(`/sync-groups/${idle.id}`), 200)).toEqual({
      id: idle.id,
      deleted: true,
    });
    expect((await c.admin.get(`/sync-groups/${idle.id}`)).status).toBe(404);
    const freed = await expectStatus<{ groupId: string | null }>(c.admin.get(`/credentials/${e.id}`), 200);
    expect(freed.groupId).toBeNull();
  });
});

describe('Sync now', () => {
  it('on a credential with sync off says why instead of a 202 that does nothing', async () => {
    const site = await createSite(c.admin);
    const cred = await createCredential(c.admin, await createTarget(c.admin, site.id), {
      syncEnabled: false,
    });
    const res = await c.admin.post(`/credentials/${cred.id}/verify`);
    expect(res.status).toBe(409);
    expect(message(res.body)).toMatch(/sync is disabled/);
  });
});
