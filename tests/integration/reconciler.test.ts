import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileQueues } from '../../coordinator/scheduler/reconciler.js';
import { IN_FLIGHT_PAGE_SQL } from '../../coordinator/credentials/in-flight.js';
import { jobIdFor } from '../../shared/contracts/jobs.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredentials,
  createSite,
  createTarget,
  FakeAgent,
  getCredential,
  held,
  waitForValue,
} from '../support/fixtures.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis.js';

let redis: PrivateRedis;
let c: InProcessCoordinator;

beforeAll(async () => {
  // This file wipes its Redis: a private one, never the run's shared server.
  redis = await startPrivateRedis();
  c = await startInProcessCoordinator('reconciler', redis.url);
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

describe('reconciler', () => {
  it('re-adds every job PostgreSQL says is pending after Redis is flushed, and the work gets done', async () => {
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    const agent = await FakeAgent.enroll(c.url, c.admin, siteId);
    const creds = await createCredentials(c.admin, targetId, 5);
    const jobIds = creds.map((x) => jobIdFor('verify', x.id));
    // One of them is being worked on when Redis goes.
    const [active] = await agent.claim(1);
    expect(active).toBeDefined();
    await waitForValue(
      async () => (await getCredential(c.admin, active!.credentialId)).status === 'being_synced',
    );
    expect((await c.ctx.queues.existing(siteId, jobIds)).size).toBe(5);

    await redis.flushall();
    expect((await c.ctx.queues.existing(siteId, jobIds)).size).toBe(0);
    // PostgreSQL still says queued / being synced.
    const statuses = await Promise.all(creds.map(async (x) => (await getCredential(c.admin, x.id)).status));
    expect(statuses.sort()).toEqual([
      'being_synced',
      'pending_sync',
      'pending_sync',
      'pending_sync',
      'pending_sync',
    ]);

    // Work queued in the last 10 s may still be on its way into Redis: left alone.
    expect(await reconcileQueues(c.ctx)).toBe(0);
    expect((await c.ctx.queues.existing(siteId, jobIds)).size).toBe(0);

    await c.ctx.db.query(
      `UPDATE credentials SET job_since = job_since - interval '1 minute' WHERE site_id = $1`,
      [siteId],
    );
    // Found missing: noted, not re-added yet (an agent that held a job may still be at work for up
    // to half a lock; it is re-added once it has been missing for a whole lock, JOB_LOCK_MS).
    expect(await reconcileQueues(c.ctx)).toBe(0);
    const noted = await c.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM credentials WHERE site_id = $1 AND job_missing_since IS NOT NULL`,
      [siteId],
    );
    expect(noted.rows[0]!.n).toBe(5);
    await c.ctx.db.query(
      `UPDATE credentials SET job_missing_since = job_missing_since - interval '29 seconds' WHERE site_id = $1`,
      [siteId],
    );
    expect(await reconcileQueues(c.ctx)).toBe(0); // missing for 29 s < JOB_LOCK_MS (30 s)
    await c.ctx.db.query(
      `UPDATE credentials SET job_missing_since = job_missing_since - interval '2 seconds' WHERE site_id = $1`,
      [siteId],
    );
    expect(await reconcileQueues(c.ctx)).toBe(5);
    expect([...(await c.ctx.queues.existing(siteId, jobIds))].sort()).toEqual([...jobIds].sort());
    // Running it again adds nothing: every job is there.
    expect(await reconcileQueues(c.ctx)).toBe(0);
    // A mark from a pass that found a job missing that is there again is cleared, so a later loss
    // waits its whole time again.
    await c.ctx.db.query(
      `UPDATE credentials SET job_missing_since = now() - interval '1 hour', job_since = job_since - interval '1 minute' WHERE site_id = $1`,
      [siteId],
    );
    expect(await reconcileQueues(c.ctx)).toBe(0);
    const marks = await c.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM credentials WHERE site_id = $1 AND job_missing_since IS NOT NULL`,
      [siteId],
    );
    expect(marks.rows[0]!.n).toBe(0);
    expect((await getCredential(c.admin, active!.credentialId)).status).toBe('pending_sync');

    // The lock of the job claimed before the wipe is gone with it.
    const stale = await agent.report([held(active!)]);
    expect(stale.rejected).toEqual([{ jobId: active!.jobId, code: 'JOB_NOT_HELD' }]);

    const jobs = await agent.claim(50);
    expect(jobs.map((j) => j.jobId).sort()).toEqual([...jobIds].sort());
    const report = await agent.report(jobs.map(held));
    expect(report.accepted).toHaveLength(5);
    for (const cred of creds) {
      const view = await getCredential(c.admin, cred.id);
      expect(view.status).toBe('in_sync');
      expect(view.job.state).toBe('idle');
    }
    expect(await reconcileQueues(c.ctx)).toBe(0);
  });
  it('pages through the credentials in flight in index order: a page never reads and sorts all of them', async () => {
    // With sorting priced out, a plan that sorts means no index gives the page's order.
    const plan = await c.ctx.db.tx(async (q) => {
      await q.query('SET LOCAL enable_seqscan = off');
      await q.query('SET LOCAL enable_sort = off');
      const { rows } = await q.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${IN_FLIGHT_PAGE_SQL}`, [
        new Date().toISOString(),
        '00000000-0000-0000-0000-000000000000',
        1000,
      ]);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('credentials_in_flight_id');
    expect(plan).not.toContain('Sort');
  });
});
