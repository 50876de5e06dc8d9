import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PolicyView, SyncGroupView, SyncRunView } from '../../shared/contracts/api.js';
import { tick } from '../../coordinator/scheduler/tick.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getSyncRun,
  held,
} from '../support/fixtures.js';

/**
 * Sync groups rotate on their group policy's schedule (`sync_groups.next_change_at`): the tick's
 * group lane starts the group's change (primary first) as the scheduler, inside the policy's
 * maintenance window.
 */
let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('groups-schedule', inject('redisUrl'), { RUN_SCHEDULER: 'false' });
});
afterAll(() => c?.close());

let n = 0;
const uniq = (p: string) => `${p}-${++n}-${Date.now()}`;
const HOUR_S = 3600;
const pad = (h: number) => `${String(((h % 24) + 24) % 24).padStart(2, '0')}:00`;
const ALL_DAYS = [0, 1, 2, 3, 4, 5, 6];

async function policy(extra: Record<string, unknown> = {}): Promise<PolicyView> {
  return expectStatus<PolicyView>(
    c.admin.post('/policies', { name: uniq('rotating'), rotateIntervalSeconds: HOUR_S, ...extra }),
    201,
    'POST /policies',
  );
}

/** A site with an agent and three verified credentials grouped under `policyId`. */
async function groupOfThree(policyId: string) {
  const siteId = (await createSite(c.admin)).id;
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  const t1 = await createTarget(c.admin, siteId);
  const t2 = await createTarget(c.admin, siteId);
  const creds = [
    await createCredential(c.admin, t1, { username: 'auth' }),
    await createCredential(c.admin, t2, { username: 'svc-a' }),
    await createCredential(c.admin, t2, { username: 'svc-b' }),
  ];
  await agent.report((await agent.claim(10, 2000)).map(held));
  const group = await expectStatus<SyncGroupView>(
    c.admin.post('/sync-groups', {
      name: uniq('group'),
      policyId,
      primaryCredentialId: creds[0]!.id,
      memberCredentialIds: creds.slice(1).map((x) => x.id),
    }),
    201,
    'POST /sync-groups',
  );
  return { siteId, agent, creds, group };
}

const getGroup = (id: string) =>
  expectStatus<SyncGroupView>(c.admin.get(`/sync-groups/${id}`), 200, 'GET /sync-groups/{id}');

const makeDue = (groupId: string) =>
  c.ctx.db.query(`UPDATE sync_groups SET next_change_at = now() - interval '1 second' WHERE id = $1`, [
    groupId,
  ]);

const password = async (id: string) =>
  (await expectStatus<{ password: string }>(c.admin.get(`/credentials/${id}/password`), 200)).password;

describe('scheduled rotation of sync groups', () => {
  it('a due group is changed by the tick, primary first, then the members; the next rotation is one interval later', async () => {
    const p = await policy();
    const { agent, creds, group } = await groupOfThree(p.id);
    const scheduled = new Date(group.nextChangeAt!).getTime();
    expect(scheduled).toBeGreaterThan(Date.now() + HOUR_S * 1000 - 60_000);
    // Not due yet: nothing happens.
    expect((await tick(c.ctx)).groups).toBe(0);
    expect(await agent.claim(10)).toEqual([]);

    await makeDue(group.id);
    const result = await tick(c.ctx);
    expect(result.groups).toBe(1);
    const running = await getGroup(group.id);
    expect(running.changeInProgress).toBe(true);
    expect(running.nextChangeAt).toBeNull();
    expect(running.lastRun).toMatchObject({
      kind: 'change',
      trigger: 'group',
      createdBy: 'scheduler',
      counts: { impacted: 3 },
    });
    const runId = running.lastRun!.id;
    // A second tick does not start it again.
    expect((await tick(c.ctx)).groups).toBe(0);

    const first = await agent.claimAll(3, 1000);
    expect(first.map((j) => `${j.kind}:${j.credentialId}`)).toEqual([`change:${creds[0]!.id}`]);
    await agent.report([held(first[0]!)], { outcome: 'ok', works: 'pending' });
    const rest = await agent.claimAll(2, 1000);
    expect(rest.map((j) => j.credentialId).sort()).toEqual(
      creds
        .slice(1)
        .map((x) => x.id)
        .sort(),
    );
    await agent.report(rest.map(held), { outcome: 'ok', works: 'pending' });

    expect(await getSyncRun(c.admin, runId)).toMatchObject({
      outcome: 'success',
      counts: { impacted: 3, success: 3 },
    });
    for (const cred of creds) expect(await password(cred.id)).toBe(first[0]!.pendingPassword);
    const after = await getGroup(group.id);
    expect(after.changeInProgress).toBe(false);
    const next = new Date(after.nextChangeAt!).getTime();
    expect(next).toBeGreaterThan(Date.now() + HOUR_S * 1000 - 60_000);
    expect(next).toBeLessThanOrEqual(Date.now() + HOUR_S * 1000);

    const audit = await expectStatus<{ items: { actorType: string; actorId: string; action: string }[] }>(
      c.admin.get(`/audit?objectType=sync_group&objectId=${group.id}`),
      200,
      'audit',
    );
    expect(audit.items).toContainEqual(
      expect.objectContaining({ actorType: 'system', actorId: 'scheduler', action: 'sync_group.change' }),
    );
  });

  it("outside the group policy's maintenance window the change waits for the next opening", async () => {
    const hour = new Date().getUTCHours();
    const p = await policy({
      maintenanceWindow: { days: ALL_DAYS, start: pad(hour + 2), end: pad(hour + 3), timeZone: 'UTC' },
    });
    const { agent, group } = await groupOfThree(p.id);
    await makeDue(group.id);
    expect((await tick(c.ctx)).groups).toBe(1);
    const held_ = await getGroup(group.id);
    expect(held_.changeInProgress).toBe(false);
    expect(held_.lastRun).toBeNull();
    expect(await agent.claim(10)).toEqual([]);
    // Moved to a time in the first half of the next opening (two hours from this hour).
    const opening = new Date();
    opening.setUTCHours(hour + 2, 0, 0, 0);
    const at = new Date(held_.nextChangeAt!).getTime();
    expect(at).toBeGreaterThanOrEqual(opening.getTime());
    expect(at).toBeLessThan(opening.getTime() + 30 * 60_000);
    // Not due until then.
    expect((await tick(c.ctx)).groups).toBe(0);
  });

  it('inside the window it starts', async () => {
    const hour = new Date().getUTCHours();
    const p = await policy({
      maintenanceWindow: { days: ALL_DAYS, start: pad(hour - 1), end: pad(hour + 2), timeZone: 'UTC' },
    });
    const { agent, creds, group } = await groupOfThree(p.id);
    await makeDue(group.id);
    expect((await tick(c.ctx)).groups).toBe(1);
    expect((await getGroup(group.id)).changeInProgress).toBe(true);
    const [primary] = await agent.claimAll(1, 1000);
    expect(primary).toMatchObject({ kind: 'change', credentialId: creds[0]!.id });
  });

  it('a group that cannot start now is looked at again later; the other groups due start anyway', async () => {
    const p = await policy();
    const blocked = await groupOfThree(p.id);
    const fine = await groupOfThree(p.id);
    // The blocked group's primary has sync turned off: its change cannot start.
    await expectStatus(c.admin.post(`/credentials/${blocked.creds[0]!.id}/disable`), 200, 'disable');
    await makeDue(blocked.group.id);
    await makeDue(fine.group.id);
    const before = Date.now();
    expect((await tick(c.ctx)).groups).toBe(2);

    const b = await getGroup(blocked.group.id);
    expect(b.changeInProgress).toBe(false);
    expect(b.lastRun).toBeNull();
    const retry = new Date(b.nextChangeAt!).getTime();
    expect(retry).toBeGreaterThanOrEqual(before + 4 * 60_000);
    expect(retry).toBeLessThanOrEqual(Date.now() + 5 * 60_000);
    expect(await blocked.agent.claim(10)).toEqual([]);

    const f = await getGroup(fine.group.id);
    expect(f.changeInProgress).toBe(true);
    const run: SyncRunView = await getSyncRun(c.admin, f.lastRun!.id);
    expect(run.createdBy).toBe('scheduler');
  });
});
