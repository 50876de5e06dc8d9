import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SiteQueues } from '../../coordinator/queues/site-queues.js';
import { Wake } from '../../coordinator/queues/wake.js';
import { OPERATOR_VERIFY_PRIORITY } from '../../shared/contracts/jobs.js';
import { createLogger } from '../../shared/logger.js';
import { uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

/**
 * An operator's Sync now is queued with OPERATOR_VERIFY_PRIORITY (coordinator/queues/dispatch.ts,
 * `urgent`): on a site queue full of a sync run's verifications, the next claim takes it first,
 * behind changes only. Real Redis, the product's SiteQueues.
 */
describe('Sync now jumps the queue of a sync run', () => {
  const url = inject('redisUrl');
  const log = createLogger('test', 'silent');
  const prefix = uniquePrefix('prio');
  const publisher = new Redis(url);
  const subscriber = new Redis(url);
  const wake = new Wake(publisher, subscriber, prefix, log);
  const queues = new SiteQueues({
    connect: (options) => new Redis(url, options),
    prefix,
    lockMs: 30_000,
    stalledCheckMs: 15_000,
    requestTimeoutMs: 5_000,
    log,
    wake,
  });
  afterAll(async () => {
    await queues.close();
    await wake.close();
    await publisher.quit();
  });

  beforeAll(() => wake.start());

  it('takes the operator verification before 500 run verifications, and a change before it', async () => {
    const site = 'site-prio';
    // Request-path connections fail fast: wait until the site's queue and worker are connected.
    const { queue, worker } = queues.get(site);
    await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
    const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
    await queues.enqueue(
      site,
      Array.from({ length: 500 }, (_, i) => ({ kind: 'verify' as const, credentialId: id(i) })),
      'added',
    );
    await queues.enqueue(
      site,
      [{ kind: 'verify', credentialId: id(900), priority: OPERATOR_VERIFY_PRIORITY }],
      'added',
    );
    await queues.enqueue(site, [{ kind: 'change', credentialId: id(901), changeId: id(902) }], 'added');
    const [first] = await queues.take(site, 'token-1', 1);
    const [second] = await queues.take(site, 'token-1', 1);
    const [third] = await queues.take(site, 'token-1', 1);
    expect(first?.data.credentialId).toBe(id(901));
    expect(second?.data.credentialId).toBe(id(900));
    expect(third?.data.credentialId).toBe(id(0));
    // What the claim marks `urgent` (coordinator/gateway/claim.ts): the priority travels with the job.
    expect(second?.opts.priority).toBe(OPERATOR_VERIFY_PRIORITY);
    expect(third?.opts.priority).not.toBe(OPERATOR_VERIFY_PRIORITY);
  });

  it("shares an operator's hold between replicas: held on every one, released by the one that applies the result", async () => {
    const otherPublisher = new Redis(url);
    const other = new Wake(otherPublisher, new Redis(url), prefix, log);
    try {
      await other.start();
      // A hold lasts 1 s at most (operator-holds.ts): on a loaded machine the hold's message may take
      // long enough for it to be nearly over here, and a release arriving after its end wakes nothing
      // (the claims' own timers do). Such a try is taken again with a hold of its own.
      let tried = 0;
      for (; tried < 5; tried++) {
        const site = `site-holds-${tried}`;
        wake.hold(site, 'cred-1');
        expect(wake.holding(site)).toBe(true);
        await waitFor(() => other.holding(site), {
          intervalMs: 10,
          message: 'the hold on the other replica',
        });
        // Time left for the release to arrive while the hold still stands here.
        if (wake.holdEndsIn(site) < 600) continue;
        // The other replica applies the result: the hold ends on both, and claims waiting here wake.
        const waiting = wake.wait(site, 5_000);
        const started = Date.now();
        other.release(site, ['cred-1']);
        expect(other.holding(site)).toBe(false);
        await waiting;
        expect(Date.now() - started).toBeLessThan(1_000);
        expect(wake.holding(site)).toBe(false);
        break;
      }
      expect(tried, 'every try had its hold end before the release was sent').toBeLessThan(5);
    } finally {
      await other.close();
      await otherPublisher.quit();
    }
  });
});
