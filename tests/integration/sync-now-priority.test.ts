import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SiteQueues } from '../../coordinator/queues/site-queues.js';
import { Wake } from '../../coordinator/queues/wake.js';
import { OPERATOR_VERIFY_PRIORITY } from '../../shared/contracts/jobs.js';
import { createLogger } from '../../shared/logger.js';
import { uniquePrefix } from '../support/redis.js';

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

  it('takes the operator verification before 500 run verifications, and a change before it', async () => {
    await wake.start();
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
});
