import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import { tick } from '../../coordinator/scheduler/tick.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  getCredential,
  held,
} from '../support/fixtures.js';

/**
 * `in_sync` older than the verification interval becomes `out_of_sync` / `stale` at the next tick
 * (markStale in scheduler/tick.ts, over the `stale_at` index), end to end through the API, the
 * gateway and the tick. Time passing is simulated by moving the credential's times back.
 */
let c: InProcessCoordinator;
let siteId: string;
let targetId: string;
let agent: FakeAgent;
let hourly: string;
let daily: string;

const HOUR_MS = 3_600_000;

beforeAll(async () => {
  c = await startInProcessCoordinator('stale', inject('redisUrl'), { RUN_SCHEDULER: 'false' });
  siteId = (await createSite(c.admin)).id;
  targetId = await createTarget(c.admin, siteId);
  agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  const policy = (name: string, verifyIntervalSeconds: number) =>
    expectStatus<{ id: string }>(
      c.admin.post('/policies', { name: `${name}-${Date.now()}`, verifyIntervalSeconds }),
      201,
      'POST /policies',
    );
  hourly = (await policy('hourly', 3600)).id;
  daily = (await policy('daily', 86_400)).id;
});
afterAll(() => c?.close());

interface Times {
  stale_at: Date;
  last_verified_at: Date;
  next_verify_at: Date | null;
}

async function times(id: string): Promise<Times> {
  const { rows } = await c.ctx.db.query<Times>(
    'SELECT stale_at, last_verified_at, next_verify_at FROM credentials WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

/** Verifies every queued job of the site through the fake agent. */
async function verifyQueued(): Promise<void> {
  const jobs = await agent.claim(50, 1_000);
  expect(jobs.length).toBeGreaterThan(0);
  expect((await agent.report(jobs.map(held))).rejected).toEqual([]);
}

/** A credential on the hourly policy, verified once: in_sync. */
async function verifiedHourly(): Promise<CredentialView> {
  const created = await expectStatus<{ id: string }>(
    c.admin.post('/credentials', {
      targetId,
      username: `u-${Math.random().toString(36).slice(2)}`,
      password: 'a-password-0123',
      policyId: hourly,
    }),
    201,
    'POST /credentials',
  );
  await verifyQueued();
  const view = await getCredential(c.admin, created.id);
  expect(view.status).toBe('in_sync');
  return view;
}

/** `ms` pass without a verification: its times move back; its next verification is not due yet. */
async function age(id: string, ms: number): Promise<void> {
  await c.ctx.db.query(
    `UPDATE credentials SET last_verified_at = last_verified_at - $2 * interval '1 millisecond',
            stale_at = stale_at - $2 * interval '1 millisecond', next_verify_at = now() + interval '1 hour'
      WHERE id = $1`,
    [id, ms],
  );
}

describe('stale after the verification interval', () => {
  it('a verification sets stale_at one interval later; past it, the tick turns in_sync into out_of_sync / stale', async () => {
    const cred = await verifiedHourly();
    const t = await times(cred.id);
    expect(t.stale_at.getTime() - t.last_verified_at.getTime()).toBe(HOUR_MS);
    // The first daily cycle starts at a random point within the interval.
    expect(t.next_verify_at!.getTime()).toBeGreaterThan(Date.now());
    expect(t.next_verify_at!.getTime()).toBeLessThanOrEqual(t.last_verified_at.getTime() + HOUR_MS + 1);

    const fresh = await verifiedHourly();
    await age(cred.id, HOUR_MS + 60_000);
    await age(fresh.id, HOUR_MS - 60_000);
    const result = await tick(c.ctx);
    expect(result.stale).toBe(1);

    const stale = await getCredential(c.admin, cred.id);
    expect([stale.status, stale.statusReason]).toEqual(['out_of_sync', 'stale']);
    expect((await getCredential(c.admin, fresh.id)).status).toBe('in_sync');
    const history = await expectStatus<{ items: { status: string; reason: string | null }[] }>(
      c.admin.get(`/credentials/${cred.id}/history`),
      200,
      'history',
    );
    expect(history.items[0]).toMatchObject({ status: 'out_of_sync', reason: 'stale' });
    // Nothing left to mark: the next tick does no stale work.
    expect((await tick(c.ctx)).stale).toBe(0);

    // A verification brings it back, one interval from now.
    await expectStatus(c.admin.post(`/credentials/${cred.id}/verify`), 202, 'Sync now');
    await verifyQueued();
    expect((await getCredential(c.admin, cred.id)).status).toBe('in_sync');
    const after = await times(cred.id);
    expect(after.stale_at.getTime()).toBeGreaterThan(Date.now() + HOUR_MS - 60_000);
  });

  it('a new policy with a longer interval moves stale_at with it: the credential does not go stale', async () => {
    const cred = await verifiedHourly();
    await age(cred.id, 2 * HOUR_MS);
    await expectStatus(c.admin.patch(`/credentials/${cred.id}`, { policyId: daily }), 200, 'PATCH');
    const t = await times(cred.id);
    expect(t.stale_at.getTime() - t.last_verified_at.getTime()).toBe(24 * HOUR_MS);
    expect((await tick(c.ctx)).stale).toBe(0);
    expect((await getCredential(c.admin, cred.id)).status).toBe('in_sync');

    // Back to the hourly policy: two hours since the last verification is past its interval. The
    // status says so at once, and a verification is due now (the tick queues it).
    const back = await expectStatus<CredentialView>(
      c.admin.patch(`/credentials/${cred.id}`, { policyId: hourly }),
      200,
      'PATCH',
    );
    expect([back.status, back.statusReason]).toEqual(['out_of_sync', 'stale']);
    expect((await times(cred.id)).next_verify_at!.getTime()).toBeLessThanOrEqual(Date.now());
    expect((await tick(c.ctx)).verify).toBe(1);
    expect((await getCredential(c.admin, cred.id)).status).toBe('pending_sync');
  });
});
