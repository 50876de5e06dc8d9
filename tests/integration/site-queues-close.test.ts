import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { SiteQueues } from '../../coordinator/queues/site-queues.js';
import { Wake } from '../../coordinator/queues/wake.js';
import { createLogger } from '../../shared/logger.js';
import { uniquePrefix } from '../support/redis.js';

describe('site queues: closing', () => {
  it('closes queues created a moment before without leaving a rejected Redis command behind', async () => {
    const url = inject('redisUrl');
    const log = createLogger('test', 'silent');
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (let i = 0; i < 20; i++) {
        const prefix = uniquePrefix('close');
        const publisher = new Redis(url);
        const subscriber = new Redis(url);
        const wake = new Wake(publisher, subscriber, prefix, log);
        await wake.start();
        const queues = new SiteQueues({
          connect: (options) => new Redis(url, options),
          prefix,
          lockMs: 30_000,
          stalledCheckMs: 15_000,
          requestTimeoutMs: 1_000,
          log,
          wake,
        });
        // A new site's queue and worker, still connecting, closed at once (a coordinator stopping
        // right after a site was created): BullMQ's set-up commands must settle, not reject unseen.
        queues.get(`site-${i}`);
        await new Promise((r) => setTimeout(r, i % 5));
        await queues.close();
        await wake.close();
        await publisher.quit();
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
