/**
 * GET /overview's buckets: Active counts the jobs agents hold right now (BullMQ's active count of
 * each site queue), from the moment of the claim; and the counts of /summary, /overview and /metrics
 * come from one snapshot per process, shared for COUNTS_MAX_AGE_MS.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
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

interface Overview {
  buckets: { active: number; queued: number; delayed: number; jobsFrom: string; notConfigured: number };
  sites: { siteId: string; jobs: { active: number; queued: number } | null }[];
  asOf: string;
}

let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('overview', inject('redisUrl'));
});
afterAll(() => c?.close());

describe('Active bucket', () => {
  it('counts a claimed verification at once, though PostgreSQL records it only after half a second', async () => {
    const siteId = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, siteId, {}, 'active-target');
    const creds = [await createCredential(c.admin, target), await createCredential(c.admin, target)];
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const site = (o: Overview) => o.sites.find((s) => s.siteId === siteId)!;

    const before = await expectStatus<Overview>(c.admin.get('/overview'), 200);
    expect(site(before).jobs).toEqual({ active: 0, queued: 2, delayed: 0 });
    expect(before.buckets).toMatchObject({ active: 0, queued: 2, jobsFrom: 'queues' });

    const jobs = await agent.claim(1);
    expect(jobs).toHaveLength(1);
    const running = await expectStatus<Overview>(c.admin.get('/overview'), 200);
    expect(running.buckets).toMatchObject({ active: 1, queued: 1 });
    expect(site(running).jobs).toEqual({ active: 1, queued: 1, delayed: 0 });
    // What the bucket counted before: job_state 'active' is not written yet for this verification.
    expect((await getCredential(c.admin, jobs[0]!.credentialId)).job.state).toBe('queued');

    await agent.report(jobs.map(held));
    const after = await expectStatus<Overview>(c.admin.get('/overview'), 200);
    expect(after.buckets.active).toBe(0);
    expect(creds.map((x) => x.id)).toContain(jobs[0]!.credentialId);
  });
});

describe('shared counts', () => {
  it('one snapshot serves /summary, /overview and /metrics for COUNTS_MAX_AGE_MS, then a fresh one', async () => {
    const siteId = (await createSite(c.admin)).id;
    const target = await createTarget(c.admin, siteId);
    await createCredential(c.admin, target, { syncEnabled: false });
    const db = c.ctx.db;
    const original = db.query.bind(db);
    let groupBys = 0;
    db.query = ((sql: string, params?: unknown[]) => {
      if (sql.includes('GROUP BY site_id, status')) groupBys++;
      return original(sql, params);
    }) as typeof db.query;
    try {
      // This coordinator started with 0 (fresh counts, for the other tests): this call takes one.
      const s1 = await expectStatus<{ byStatus: Record<string, number>; asOf: string }>(
        c.admin.get('/summary'),
        200,
      );
      expect(groupBys).toBe(1);
      // The limit is read per call.
      c.ctx.config.COUNTS_MAX_AGE_MS = 60_000;
      const [o1] = await Promise.all([
        expectStatus<Overview>(c.admin.get('/overview'), 200),
        request(`${c.url}/metrics`).then((r) => r.body.text()),
        expectStatus(c.admin.get('/summary'), 200),
      ]);
      expect(groupBys).toBe(1);
      expect(o1.asOf).toBe(s1.asOf);
      expect(o1.buckets.notConfigured).toBe(s1.byStatus.not_synced);

      // A change within the window is not seen yet: the counts are as of `asOf`.
      await createCredential(c.admin, target, { syncEnabled: false });
      const s2 = await expectStatus<{ byStatus: Record<string, number>; asOf: string }>(
        c.admin.get('/summary'),
        200,
      );
      expect(s2.asOf).toBe(s1.asOf);
      expect(s2.byStatus.not_synced).toBe(s1.byStatus.not_synced);
      expect(groupBys).toBe(1);

      c.ctx.config.COUNTS_MAX_AGE_MS = 0;
      const s3 = await expectStatus<{ byStatus: Record<string, number>; asOf: string }>(
        c.admin.get('/summary'),
        200,
      );
      expect(s3.byStatus.not_synced).toBe(s1.byStatus.not_synced! + 1);
      expect(groupBys).toBe(2);
    } finally {
      db.query = original;
      c.ctx.config.COUNTS_MAX_AGE_MS = 0;
    }
  });
});
