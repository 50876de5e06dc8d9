import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { jobIdFor } from '../../shared/contracts/jobs.js';
import { tick } from '../../coordinator/scheduler/tick.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createCredentials,
  createSite,
  createTarget,
  FakeAgent,
  held,
  type CreatedCredential,
} from '../support/fixtures.js';

const BATCH = 5;
const HOUR_MS = 3_600_000;

let c: InProcessCoordinator;

beforeAll(async () => {
  // No scheduler loop: the tests call tick() themselves.
  c = await startInProcessCoordinator('scheduler', inject('redisUrl'), {
    RUN_SCHEDULER: 'false',
    SCHEDULER_BATCH: String(BATCH),
    // One batch at a time, so the batch tests can count them; lanes are covered below.
    SCHEDULER_LANES: '1',
  });
});
afterAll(() => c?.close());

interface Scheduled {
  id: string;
  status: string;
  job_state: string;
  next_verify_at: Date | null;
  last_verified_at: Date | null;
}

async function rows(ids: string[]): Promise<Map<string, Scheduled>> {
  const { rows } = await c.ctx.db.query<Scheduled>(
    'SELECT id, status, job_state, next_verify_at, last_verified_at FROM credentials WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** A site whose `count` credentials are verified once (in_sync, idle, next verification in the future). */
async function verifiedSite(count: number) {
  const siteId = (await createSite(c.admin)).id;
  const targetId = await createTarget(c.admin, siteId);
  const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
  const creds = await createCredentials(c.admin, targetId, count, 20);
  await claimAndReport(agent, count);
  return { siteId, targetId, agent, creds };
}

/** Claims exactly `count` jobs (several claims if need be) and reports them all ok. */
async function claimAndReport(agent: FakeAgent, count: number): Promise<string[]> {
  const claimed: string[] = [];
  while (claimed.length < count) {
    const jobs = await agent.claim(Math.min(500, count - claimed.length), 2_000);
    if (jobs.length === 0) break;
    for (let i = 0; i < jobs.length; i += 100) {
      const report = await agent.report(jobs.slice(i, i + 100).map(held));
      expect(report.rejected).toEqual([]);
    }
    claimed.push(...jobs.map((j) => j.credentialId));
  }
  expect(claimed).toHaveLength(count);
  expect(await agent.claim(10)).toEqual([]);
  return claimed;
}

async function setNextVerify(ids: string[], offsetMs: number[]): Promise<void> {
  await c.ctx.db.query(
    `UPDATE credentials c SET next_verify_at = now() + (u.ms * interval '1 millisecond')
       FROM unnest($1::uuid[], $2::int[]) AS u(id, ms) WHERE c.id = u.id`,
    [ids, offsetMs],
  );
}

const queued = async (siteId: string, creds: CreatedCredential[]) =>
  c.ctx.queues.existing(
    siteId,
    creds.map((x) => jobIdFor('verify', x.id)),
  );

describe('scheduler tick', () => {
  it('queues the credentials that are due, and only those', async () => {
    const { siteId, targetId, agent, creds } = await verifiedSite(8);
    const due = creds.slice(0, 5);
    const future = creds.slice(5);
    await setNextVerify(
      due.map((x) => x.id),
      [-60_000, -1_000, -10, -HOUR_MS, -2 * HOUR_MS],
    );
    await setNextVerify(
      future.map((x) => x.id),
      [2 * 60_000, HOUR_MS, 20 * HOUR_MS],
    );
    // A credential with sync disabled leaves the index without being queued.
    const disabled = await createCredential(c.admin, targetId, { syncEnabled: false });
    expect(disabled.status).toBe('not_synced');
    await setNextVerify([disabled.id], [-60_000]);
    const before = await rows(creds.map((x) => x.id));

    const result = await tick(c.ctx);
    expect(result).toEqual({ verify: 6, change: 0, groups: 0, stale: 0, more: false });

    const after = await rows([...creds.map((x) => x.id), disabled.id]);
    for (const cred of due) {
      expect(after.get(cred.id)).toMatchObject({
        status: 'pending_sync',
        job_state: 'queued',
        next_verify_at: null,
      });
    }
    for (const cred of future) {
      expect(after.get(cred.id)).toMatchObject({ status: 'in_sync', job_state: 'idle' });
      expect(after.get(cred.id)!.next_verify_at).toEqual(before.get(cred.id)!.next_verify_at);
    }
    expect(after.get(disabled.id)).toMatchObject({
      status: 'not_synced',
      job_state: 'idle',
      next_verify_at: null,
    });
    expect([...(await queued(siteId, creds))].sort()).toEqual(
      due.map((x) => jobIdFor('verify', x.id)).sort(),
    );

    // Nothing more is due: a second tick queues nothing.
    expect(await tick(c.ctx)).toEqual({ verify: 0, change: 0, groups: 0, stale: 0, more: false });
    // The agent gets exactly the due ones.
    const done = await claimAndReport(agent, due.length);
    expect(done.sort()).toEqual(due.map((x) => x.id).sort());
  });

  it('takes due work in batches of SCHEDULER_BATCH, oldest first', async () => {
    const count = 2 * BATCH + 2;
    const { siteId, agent, creds } = await verifiedSite(count);
    // Due at distinct past times: creds[0] the oldest.
    await setNextVerify(
      creds.map((x) => x.id),
      creds.map((_, i) => -60_000 + i * 1_000),
    );
    // With no time budget left after the first batch, a tick takes exactly one batch.
    expect(await tick(c.ctx, 0)).toMatchObject({ verify: BATCH });
    expect([...(await queued(siteId, creds))].sort()).toEqual(
      creds
        .slice(0, BATCH)
        .map((x) => jobIdFor('verify', x.id))
        .sort(),
    );
    expect(await tick(c.ctx, 0)).toMatchObject({ verify: BATCH });
    expect(await tick(c.ctx, 0)).toMatchObject({ verify: 2 });
    expect(await tick(c.ctx, 0)).toMatchObject({ verify: 0 });
    expect((await queued(siteId, creds)).size).toBe(count);
    await claimAndReport(agent, count);

    // With its budget, one tick goes on batch after batch until nothing is due.
    await setNextVerify(
      creds.map((x) => x.id),
      creds.map(() => -1_000),
    );
    expect(await tick(c.ctx)).toMatchObject({ verify: count });
    expect((await queued(siteId, creds)).size).toBe(count);
    await claimAndReport(agent, count);
  });

  it('several lanes take disjoint batches at once, and say when work is left', async () => {
    const count = 3 * BATCH + 1;
    const { siteId, agent, creds } = await verifiedSite(count);
    await setNextVerify(
      creds.map((x) => x.id),
      creds.map((_, i) => -60_000 + i * 1_000),
    );
    c.ctx.config.SCHEDULER_LANES = 3;
    try {
      // Three lanes, one batch each before the (zero) budget is checked: 3 batches, none twice.
      expect(await tick(c.ctx, 0)).toMatchObject({ verify: 3 * BATCH, more: true });
      expect((await queued(siteId, creds)).size).toBe(3 * BATCH);
      expect(await tick(c.ctx)).toMatchObject({ verify: 1, more: false });
      expect((await queued(siteId, creds)).size).toBe(count);
    } finally {
      c.ctx.config.SCHEDULER_LANES = 1;
    }
    await claimAndReport(agent, count);
  });

  it("spreads new credentials' daily verification over the next 24 h", async () => {
    const count = 200;
    const { creds } = await verifiedSite(count);
    const stored = [...(await rows(creds.map((x) => x.id))).values()];
    expect(stored).toHaveLength(count);
    const buckets = new Array<number>(12).fill(0);
    for (const r of stored) {
      expect(r.status).toBe('in_sync');
      const offset = r.next_verify_at!.getTime() - r.last_verified_at!.getTime();
      expect(offset).toBeGreaterThan(0);
      expect(offset).toBeLessThanOrEqual(24 * HOUR_MS);
      buckets[Math.min(11, Math.floor(offset / (2 * HOUR_MS)))]! += 1;
    }
    // Uniform over 12 two-hour buckets: ~17 each. A spike (everything at one time) fails both.
    expect(buckets.filter((n) => n > 0).length, `buckets: ${buckets.join(',')}`).toBeGreaterThanOrEqual(8);
    expect(Math.max(...buckets), `buckets: ${buckets.join(',')}`).toBeLessThan(count / 4);
  });
});
