import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createSite,
  createTarget,
  FakeAgent,
  getCredential,
  held,
  waitForValue,
} from '../support/fixtures.js';
import { waitFor } from '../support/wait.js';

let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('stalled-claim', inject('redisUrl'), {
    JOB_LOCK_MS: '5000',
    STALLED_CHECK_MS: '1000',
  });
});
afterAll(() => c?.close());

describe('a claim whose agent vanished', () => {
  it('returns to the queue once its lock expires, and another agent does it', async () => {
    const siteId = (await createSite(c.admin)).id;
    const targetId = await createTarget(c.admin, siteId);
    const cred = await createCredential(c.admin, targetId);
    const gone = await FakeAgent.enroll(c.url, c.admin, siteId, 'vanishing');
    const other = await FakeAgent.enroll(c.url, c.admin, siteId, 'survivor');

    const [lost] = await gone.claim(10);
    expect(lost?.credentialId).toBe(cred.id);
    const claimedAt = Date.now();
    await waitForValue(async () => (await getCredential(c.admin, cred.id)).status === 'being_synced');
    // `gone` never extends and never reports. While its lock holds, nobody else gets the job.
    expect(await other.claim(10)).toEqual([]);

    const retaken = await waitFor(
      async () => {
        const jobs = await other.claim(10, 2_000);
        if (jobs.length > 1) throw new Error(`expected one job back, got ${jobs.length}`);
        return jobs[0];
      },
      { timeoutMs: 25_000, intervalMs: 0, message: 'the stalled job to come back to the queue' },
    );
    // Not before the lock (5 s) ran out.
    expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(4_500);
    expect(retaken).toMatchObject({ jobId: lost!.jobId, credentialId: cred.id, password: cred.password });
    expect(retaken!.token).not.toBe(lost!.token);

    const handouts = await c.ctx.db.query<{ actor_id: string }>(
      `SELECT actor_id FROM audit_events WHERE action = 'secret.handout' ORDER BY id`,
    );
    expect(handouts.rows.map((r) => r.actor_id)).toEqual([gone.agentId, other.agentId]);

    // The vanished agent coming back late holds nothing any more.
    expect(await gone.extend([held(lost!)])).toEqual({ extended: [], lost: [lost!.jobId] });
    const late = await gone.report([held(lost!)], { outcome: 'failed', reason: 'mismatch' });
    expect(late.rejected).toEqual([{ jobId: lost!.jobId, code: 'JOB_NOT_HELD' }]);

    expect(await other.report([held(retaken!)])).toEqual({ accepted: [retaken!.jobId], rejected: [] });
    const view = await getCredential(c.admin, cred.id);
    expect(view.status).toBe('in_sync');
    expect(view.job.state).toBe('idle');
  });
});
