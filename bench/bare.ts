/**
 * The baseline: a bare BullMQ add-and-process loop on the same Redis. `Queue.addBulk` of N small
 * jobs (in chunks) and one Worker with a no-op processor; the time from the first add until every
 * job completed.
 */
import { randomBytes } from 'node:crypto';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';

const CHUNK = 1000;

export async function bareBullmq(
  redisUrl: string,
  n: number,
  concurrency: number,
  onProgress: (done: number) => void,
): Promise<number> {
  const prefix = `bench-bare-${randomBytes(4).toString('hex')}`;
  const name = 'bare';
  const queueConn = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const workerConn = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: queueConn, prefix });
  let completed = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const worker = new Worker(name, async () => undefined, {
    connection: workerConn as ConnectionOptions,
    prefix,
    concurrency,
    autorun: false,
  });
  worker.on('completed', () => {
    completed++;
    if (completed % 500 === 0) onProgress(completed);
    if (completed === n) resolveAll();
  });
  try {
    await worker.waitUntilReady();
    void worker.run();
    const started = performance.now();
    for (let i = 0; i < n; i += CHUNK) {
      const size = Math.min(CHUNK, n - i);
      await queue.addBulk(
        Array.from({ length: size }, (_, k) => ({
          name: 'job',
          data: { i: i + k },
          opts: { removeOnComplete: true, removeOnFail: true },
        })),
      );
    }
    await all;
    return performance.now() - started;
  } finally {
    await worker.close().catch(() => undefined);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close().catch(() => undefined);
    await queueConn.quit().catch(() => undefined);
    await workerConn.quit().catch(() => undefined);
  }
}
