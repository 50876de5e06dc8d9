import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logger.js';
import type { RedisClient } from './connect.js';

/**
 * Wakes long-polling claims when a site gets new work: at once inside this process, and through one
 * Redis pub/sub channel for the other coordinator replicas. Claims also re-check on a short timer,
 * so a lost message only costs latency (delayed and stalled jobs become ready without a message).
 */
export class Wake {
  private readonly local = new EventEmitter();
  private readonly channel: string;

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    prefix: string,
    private readonly log: Logger,
  ) {
    this.channel = `${prefix}:wake`;
    this.local.setMaxListeners(0);
  }

  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, siteId: string) => {
      if (channel === this.channel) this.local.emit(siteId);
    });
    await this.subscriber.subscribe(this.channel);
  }

  /** New work for `siteId`: wake claims here and on every replica. */
  notify(siteId: string): void {
    this.local.emit(siteId);
    this.publisher.publish(this.channel, siteId).catch((err: unknown) => {
      this.log.warn({ err, siteId }, 'wake publish failed');
    });
  }

  /** Resolves when work arrives for the site, after `ms`, or when aborted. */
  wait(siteId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.local.off(siteId, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.local.once(siteId, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async close(): Promise<void> {
    this.local.removeAllListeners();
    await this.subscriber.quit().catch(() => undefined);
  }
}
