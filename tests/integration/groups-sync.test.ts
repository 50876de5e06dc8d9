import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PolicyView, SyncGroupView, SyncRunItemView, SyncRunView } from '../../shared/contracts/api.js';
import { tick } from '../../coordinator/scheduler/tick.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  getSyncRun,
  held,
  type CreatedCredential,
  type ErrorBody,
} from '../support/fixtures.js';

let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('groups', inject('redisUrl'));
});
afterAll(() => c?.close());

let n = 0;
const uniq = (p: string) => `${p}-${++n}-${Date.now()}`;
const password = async (id: string) =>
  (await expectStatus<{ password: string }>(c.admin.get(`/credentials/${id}/password`), 200)).password;

/**
 * A site with an agent and four verified credentials on three targets (two accounts on one
 * target), the last target allowing at most 16 characters and no '#'.
 */
async function fourMembers() {
  const siteId = (await createSite(c.admin)).id;
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  const t1 = await createTarget(c.admin, siteId);
  const t2 = await createTarget(c.admin, siteId);
  const t3 = await createTarget(c.admin, siteId, { maxPasswordLength: 16, forbiddenCharacters: '#' });
  const creds: CreatedCredential[] = [
    await createCredential(c.admin, t1, { username: 'auth' }),
    await createCredential(c.admin, t2, { username: 'svc-a' }),
    await createCredential(c.admin, t2, { username: 'svc-b' }),
    await createCredential(c.admin, t3, { username: 'svc-c' }),
  ];
  await agent.report((await agent.claim(10, 2000)).map(held));
  return { siteId, agent, creds };
}

async function createGroup(primary: string, members: string[], policyId?: string) {
  return expectStatus<SyncGroupView>(
    c.admin.post('/sync-groups', {
      name: uniq('group'),
      primaryCredentialId: primary,
      memberCredentialIds: members,
      ...(policyId ? { policyId } : {}),
    }),
    201,
    'POST /sync-groups',
  );
}

const items = async (runId: string) =>
  (await expectStatus<{ items: SyncRunItemView[] }>(c.admin.get(`/sync-runs/${runId}/items`), 200)).items;

describe('sync groups', () => {
  it('refuses a policy that does not suit every member target, and a credential already in a group', async () => {
    const { creds } = await fourMembers();
    const ids = creds.map((x) => x.id);
    const strict = await expectStatus<PolicyView>(
      c.admin.post('/policies', {
        name: uniq('strict'),
        rules: { length: 20, lower: 5, upper: 5, digits: 5, symbols: 2 },
      }),
      201,
    );
    const res = await c.admin.post('/sync-groups', {
      name: uniq('g'),
      policyId: strict.id,
      primaryCredentialId: ids[0],
      memberCredentialIds: ids.slice(1),
    });
    expect(res.status).toBe(400);
    expect((res.body as ErrorBody).error.issues).toEqual([
      { field: 'body.policyId', message: expect.stringMatching(/at most 16/) },
    ]);
    const one = await c.admin.post('/sync-groups', {
      name: uniq('g'),
      primaryCredentialId: ids[0],
      memberCredentialIds: [],
    });
    expect(one.status).toBe(400);

    const group = await createGroup(ids[0]!, ids.slice(1, 3));
    expect(group.members.map((m) => m.credentialId)).toEqual([ids[0], ...ids.slice(1, 3).sort()]);
    expect(group.members[0]!.primary).toBe(true);
    const again = await c.admin.post('/sync-groups', {
      name: uniq('g'),
      primaryCredentialId: ids[3],
      memberCredentialIds: [ids[1]],
    });
    expect(again.status).toBe(409);
    // A member's password is the group's: changed through the group only.
    expect((await c.admin.post(`/credentials/${ids[1]}/change`, {})).status).toBe(409);
  });

  it('changes the primary first, then every member with the same password; one failure does not stop the rest', async () => {
    const { agent, creds } = await fourMembers();
    const ids = creds.map((x) => x.id);
    const group = await createGroup(ids[0]!, ids.slice(1));
    const run = await expectStatus<SyncRunView>(c.admin.post(`/sync-groups/${group.id}/change`, {}), 202);
    expect(run).toMatchObject({
      kind: 'change',
      trigger: 'group',
      scope: { groupId: group.id },
      counts: { impacted: 4 },
    });
    // A second change while this one runs is refused.
    expect((await c.admin.post(`/sync-groups/${group.id}/change`, {})).status).toBe(409);

    // Only the primary's change goes out first.
    const first = await agent.claimAll(4);
    expect(first.map((j) => `${j.kind}:${j.credentialId}`)).toEqual([`change:${ids[0]}`]);
    const groupPassword = first[0]!.pendingPassword!;
    // It suits every member's target: the 16-character maximum and no '#'.
    expect(groupPassword.length).toBeLessThanOrEqual(16);
    expect(groupPassword).not.toContain('#');
    expect((await getCredential(c.admin, ids[1]!)).changePending).toBe(false);
    await agent.report([held(first[0]!)], { outcome: 'ok', works: 'pending' });

    const rest = await agent.claimAll(3);
    expect(rest.map((j) => j.credentialId).sort()).toEqual(ids.slice(1).sort());
    expect(new Set(rest.map((j) => j.pendingPassword))).toEqual(new Set([groupPassword]));
    const refused = rest.find((j) => j.credentialId === ids[2])!;
    await agent.report([refused], {
      outcome: 'failed',
      reason: 'change_failed',
      message: 'password history',
    });
    await agent.report(rest.filter((j) => j !== refused).map(held), { outcome: 'ok', works: 'pending' });

    const done = await getSyncRun(c.admin, run.id);
    expect(done).toMatchObject({
      outcome: 'partial',
      counts: { impacted: 4, success: 3, failed: 1, unsynced: 0 },
    });
    expect(done.finishedAt).not.toBeNull();
    const byId = new Map((await items(run.id)).map((i) => [i.credentialId, i]));
    expect(byId.get(ids[0]!)).toMatchObject({ result: 'success', username: 'auth' });
    expect(byId.get(ids[2]!)).toMatchObject({ result: 'failed', reason: 'change_failed' });
    for (const id of [ids[0]!, ids[1]!, ids[3]!]) expect(await password(id)).toBe(groupPassword);
    expect(await password(ids[2]!)).toBe(creds[2]!.password); // refused: the old one still works
    expect(await getCredential(c.admin, ids[2]!)).toMatchObject({
      status: 'out_of_sync',
      statusReason: 'change_failed',
    });

    const view = await expectStatus<SyncGroupView>(c.admin.get(`/sync-groups/${group.id}`), 200);
    expect(view.changeInProgress).toBe(false);
    expect(view.lastRun).toMatchObject({ id: run.id, outcome: 'partial' });
    expect(view.lastRun!.items).toHaveLength(4);
    const list = await expectStatus<{ items: SyncGroupView[] }>(c.admin.get('/sync-groups'), 200);
    expect(list.items.map((g) => g.id)).toContain(group.id);
  });

  it('if the primary fails nothing else is tried: the run fails, the others count unsynced', async () => {
    const { agent, creds } = await fourMembers();
    const ids = creds.map((x) => x.id);
    const group = await createGroup(ids[0]!, ids.slice(1));
    const run = await expectStatus<SyncRunView>(c.admin.post(`/sync-groups/${group.id}/change`, {}), 202);
    const [primary] = await agent.claimAll(1);
    expect(primary?.credentialId).toBe(ids[0]);
    await agent.report([held(primary!)], { outcome: 'failed', reason: 'change_failed' });
    expect(await agent.claim(10, 500)).toEqual([]);
    expect(await getSyncRun(c.admin, run.id)).toMatchObject({
      outcome: 'failure',
      counts: { impacted: 4, success: 0, failed: 1, unsynced: 3 },
    });
    const got = await items(run.id);
    expect(
      got
        .filter((i) => i.reason === 'primary_failed')
        .map((i) => i.credentialId)
        .sort(),
    ).toEqual(ids.slice(1).sort());
    for (const [i, cred] of creds.entries()) expect(await password(ids[i]!)).toBe(cred.password);
    // The group can change again.
    expect((await c.admin.post(`/sync-groups/${group.id}/change`, {})).status).toBe(202);
  });

  it('an uncertain primary change is reconciled first; the members follow once it is settled', async () => {
    const { agent, creds } = await fourMembers();
    const ids = creds.map((x) => x.id);
    const group = await createGroup(ids[0]!, [ids[1]!]);
    const run = await expectStatus<SyncRunView>(c.admin.post(`/sync-groups/${group.id}/change`, {}), 202);
    const [change] = await agent.claimAll(1);
    await agent.report([held(change!)], { outcome: 'failed', reason: 'change_outcome_unknown' });
    const [reconcile] = await agent.claimAll(1);
    expect(reconcile).toMatchObject({ kind: 'reconcile', credentialId: ids[0] });
    await agent.report([held(reconcile!)], { outcome: 'ok', works: 'pending' });
    const [member] = await agent.claimAll(1);
    expect(member).toMatchObject({
      kind: 'change',
      credentialId: ids[1],
      pendingPassword: change!.pendingPassword,
    });
    await agent.report([held(member!)], { outcome: 'ok', works: 'pending' });
    // The primary's new password is set, but only a reconcile could tell: partial (docs/sync-runs.md).
    expect(await getSyncRun(c.admin, run.id)).toMatchObject({
      outcome: 'partial',
      counts: { success: 1, partial: 1 },
    });
    expect(await password(ids[1]!)).toBe(change!.pendingPassword);
  });

  it('a primary failure that leaves its change uncertain keeps the group open: if the new password is later found set, the members follow', async () => {
    const { agent, creds } = await fourMembers();
    const ids = creds.map((x) => x.id);
    const group = await createGroup(ids[0]!, ids.slice(1));
    const run = await expectStatus<SyncRunView>(c.admin.post(`/sync-groups/${group.id}/change`, {}), 202);
    const [change] = await agent.claimAll(1);
    await agent.report([held(change!)], { outcome: 'failed', reason: 'change_outcome_unknown' });
    // The reconcile fails too without settling anything: the primary keeps the new password as
    // pending (it may be set on the target). Not counted yet (nothing is settled): the group waits.
    const [reconcile] = await agent.claimAll(1);
    expect(reconcile).toMatchObject({ kind: 'reconcile', credentialId: ids[0] });
    await agent.report([held(reconcile!)], {
      outcome: 'failed',
      reason: 'error',
      message: 'session dropped',
    });
    expect((await getCredential(c.admin, ids[0]!)).changePending).toBe(true);
    expect(await agent.claim(10, 300)).toEqual([]);
    const waiting = await getSyncRun(c.admin, run.id);
    expect(waiting.finishedAt).toBeNull();
    expect((await items(run.id)).filter((i) => i.reason === 'primary_failed')).toEqual([]);
    const view = await expectStatus<SyncGroupView>(c.admin.get(`/sync-groups/${group.id}`), 200);
    expect(view.changeInProgress).toBe(true);
    // Meanwhile a new group change is refused: the primary's change is not settled.
    expect((await c.admin.post(`/sync-groups/${group.id}/change`, {})).status).toBe(409);

    // Later the pending password is found working on the primary (a reconcile through the change index).
    await c.ctx.db.query('UPDATE credentials SET next_change_at = now() WHERE id = $1', [ids[0]]);
    await tick(c.ctx);
    const [again] = await agent.claimAll(1);
    expect(again).toMatchObject({ kind: 'reconcile', credentialId: ids[0] });
    await agent.report([held(again!)], { outcome: 'ok', works: 'pending' });
    expect(await password(ids[0]!)).toBe(change!.pendingPassword);

    // The members now get the same password.
    const rest = await agent.claimAll(3);
    expect(rest.map((j) => j.credentialId).sort()).toEqual(ids.slice(1).sort());
    expect(new Set(rest.map((j) => j.pendingPassword))).toEqual(new Set([change!.pendingPassword]));
    await agent.report(rest.map(held), { outcome: 'ok', works: 'pending' });
    for (const id of ids) expect(await password(id)).toBe(change!.pendingPassword);
    const done = await getSyncRun(c.admin, run.id);
    expect(done.finishedAt).not.toBeNull();
    // The primary's change, settled at last by a reconcile, counts partial (its new password is set,
    // but it did not confirm itself); the members' changes are plain successes.
    expect(done.counts).toMatchObject({ impacted: 4, success: 3, partial: 1, failed: 0, unsynced: 0 });
    expect(done.outcome).toBe('partial');
  });

  it('force-deleting the primary mid-change ends the group change: its run finishes, the others unsynced', async () => {
    const { agent, creds } = await fourMembers();
    const ids = creds.map((x) => x.id);
    const group = await createGroup(ids[0]!, ids.slice(1));
    const run = await expectStatus<SyncRunView>(c.admin.post(`/sync-groups/${group.id}/change`, {}), 202);
    const [change] = await agent.claimAll(1);
    expect(change).toMatchObject({ kind: 'change', credentialId: ids[0] });
    expect((await c.admin.delete(`/credentials/${ids[0]}`)).status).toBe(409);
    expect((await c.admin.delete(`/credentials/${ids[0]}?force=true`)).status).toBe(200);
    const done = await getSyncRun(c.admin, run.id);
    expect(done.finishedAt).not.toBeNull();
    expect(done.counts).toMatchObject({ impacted: 4, success: 0, failed: 0, unsynced: 4 });
    const view = await expectStatus<SyncGroupView>(c.admin.get(`/sync-groups/${group.id}`), 200);
    expect(view.changeInProgress).toBe(false);
    // The primary's late report changes nothing; the members were never sent the new password.
    await agent.report([held(change!)], { outcome: 'ok', works: 'pending' });
    expect(await agent.claim(10, 300)).toEqual([]);
    for (const id of ids.slice(1)) expect(await password(id)).toBe(creds[ids.indexOf(id)]!.password);
  });

  it('a given group password is checked against every member target', async () => {
    const { creds } = await fourMembers();
    const ids = creds.map((x) => x.id);
    const group = await createGroup(ids[0]!, ids.slice(1));
    const res = await c.admin.post(`/sync-groups/${group.id}/change`, {
      password: 'This-Is-Far-Too-Long-For-Svc-C',
    });
    expect(res.status).toBe(400);
    expect((res.body as ErrorBody).error.issues?.[0]?.field).toBe('body.password');
  });
});
