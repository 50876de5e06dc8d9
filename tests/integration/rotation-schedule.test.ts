import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tick } from '../../coordinator/scheduler/tick.js';
import type { PolicyView } from '../../shared/contracts/api.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
} from '../support/fixtures.js';

let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('rotation', inject('redisUrl'));
});
afterAll(() => c?.close());

const HOUR = 3_600_000;
const hhmm = (d: Date) => d.toISOString().slice(11, 16);
let n = 0;
const createPolicy = (body: Record<string, unknown>) =>
  expectStatus<PolicyView>(c.admin.post('/policies', { name: `rot-${++n}-${Date.now()}`, ...body }), 201);

/** A window on every day that is closed now: it opens in 2 h and lasts 2 h (UTC). */
function closedWindow(now = new Date()) {
  const open = new Date(now.getTime() + 2 * HOUR);
  return {
    days: [0, 1, 2, 3, 4, 5, 6],
    start: hhmm(open),
    end: hhmm(new Date(open.getTime() + 2 * HOUR)),
    timeZone: 'UTC',
  };
}
/** A window on every day that is open now (opened an hour ago, closes in an hour). */
function openWindow(now = new Date()) {
  return {
    days: [0, 1, 2, 3, 4, 5, 6],
    start: hhmm(new Date(now.getTime() - HOUR)),
    end: hhmm(new Date(now.getTime() + HOUR)),
    timeZone: 'UTC',
  };
}

/** A site with an agent and `count` verified credentials under `policyId`. */
async function verified(policyId: string, count: number) {
  const siteId = (await createSite(c.admin)).id;
  const target = await createTarget(c.admin, siteId);
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const body = await expectStatus<{ id: string }>(
      c.admin.post('/credentials', { targetId: target, username: `u${i}`, password: 'initial-pw', policyId }),
      201,
    );
    ids.push(body.id);
  }
  let done = 0;
  while (done < count) {
    const jobs = await agent.claim(count, 2000);
    await agent.report(jobs.map(held));
    done += jobs.length;
  }
  return { siteId, agent, ids };
}

const rotationDue = (ids: string[]) =>
  c.ctx.db.query(
    `UPDATE credentials SET next_change_at = now() - interval '1 minute' WHERE id = ANY($1::uuid[])`,
    [ids],
  );

describe('rotation on schedule', () => {
  it('a due rotation is queued by the tick, and the next one is one interval after the change', async () => {
    const policy = await createPolicy({ rotateIntervalSeconds: 3600 });
    const { agent, ids } = await verified(policy.id, 1);
    const id = ids[0]!;
    expect(Date.parse((await getCredential(c.admin, id)).nextChangeAt!)).toBeGreaterThan(
      Date.now() + 0.9 * HOUR,
    );
    await rotationDue(ids);
    expect((await tick(c.ctx)).change).toBe(1);
    const [job] = await agent.claim(1, 2000);
    expect(job).toMatchObject({ kind: 'change', credentialId: id });
    await agent.report([held(job!)], { outcome: 'ok', works: 'pending' });
    const view = await getCredential(c.admin, id);
    expect(view.lastChangedAt).not.toBeNull();
    expect(Date.parse(view.nextChangeAt!) - Date.parse(view.lastChangedAt!)).toBe(HOUR);
  });

  it('outside the maintenance window a scheduled change waits for the next opening, spread over it', async () => {
    const now = new Date();
    const window = closedWindow(now);
    const policy = await createPolicy({ rotateIntervalSeconds: 86_400, maintenanceWindow: window });
    const { agent, ids } = await verified(policy.id, 20);
    await rotationDue(ids);
    await tick(c.ctx);
    expect(await agent.claim(50, 300)).toEqual([]);
    const { rows } = await c.ctx.db.query<{ next_change_at: Date; job_state: string }>(
      'SELECT next_change_at, job_state FROM credentials WHERE id = ANY($1::uuid[])',
      [ids],
    );
    const opens = Date.parse(
      `${new Date(now.getTime() + 2 * HOUR).toISOString().slice(0, 11)}${window.start}:00Z`,
    );
    for (const r of rows) {
      expect(r.job_state).toBe('idle');
      // In the first half of the next opening (2 h long): no catch-up storm at the opening second.
      expect(r.next_change_at.getTime()).toBeGreaterThanOrEqual(opens);
      expect(r.next_change_at.getTime()).toBeLessThan(opens + HOUR);
    }
    expect(new Set(rows.map((r) => r.next_change_at.getTime())).size).toBeGreaterThan(15);

    // Asked for, a change ignores the window: on demand, and busy (goes out once the job is over).
    expect((await c.admin.post(`/credentials/${ids[0]}/change`, {})).status).toBe(202);
    await c.admin.post(`/credentials/${ids[1]}/verify`);
    expect((await c.admin.post(`/credentials/${ids[1]}/change`, {})).status).toBe(202);
    const claimed = await agent.claim(10, 1000);
    expect(claimed.map((j) => `${j.kind}:${j.credentialId}`).sort()).toEqual(
      [`change:${ids[0]}`, `verify:${ids[1]}`].sort(),
    );
    await agent.report(claimed.filter((j) => j.kind === 'verify').map(held));
    await tick(c.ctx);
    const [busyChange] = await agent.claim(1, 2000);
    expect(busyChange).toMatchObject({ kind: 'change', credentialId: ids[1] });
  });

  it('inside the window a due scheduled change goes out at once', async () => {
    const policy = await createPolicy({ rotateIntervalSeconds: 86_400, maintenanceWindow: openWindow() });
    const { agent, ids } = await verified(policy.id, 3);
    await rotationDue(ids);
    expect((await tick(c.ctx)).change).toBe(3);
    expect((await agent.claim(10, 2000)).map((j) => j.kind)).toEqual(['change', 'change', 'change']);
  });

  it('a target whose change step is not configured shows change_not_configured instead of being sent', async () => {
    const policy = await createPolicy({ rotateIntervalSeconds: 3600 });
    const siteId = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, siteId, { changeConfigured: false });
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const cred = await expectStatus<{ id: string }>(
      c.admin.post('/credentials', {
        targetId: target,
        username: 'svc',
        password: 'initial-pw',
        policyId: policy.id,
      }),
      201,
    );
    await agent.report((await agent.claim(1, 2000)).map(held));
    await rotationDue([cred.id]);
    await tick(c.ctx);
    expect(await agent.claim(5, 300)).toEqual([]);
    expect(await getCredential(c.admin, cred.id)).toMatchObject({
      status: 'change_not_configured',
      nextChangeAt: null,
    });
  });

  it('a credential without a rotation interval is never rotated on its own', async () => {
    const siteId = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, siteId);
    const cred = await createCredential(c.admin, target);
    expect((await getCredential(c.admin, cred.id)).nextChangeAt).toBeNull();
  });
});
