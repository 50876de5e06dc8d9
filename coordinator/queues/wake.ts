import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logger.js';
import type { RedisClient } from './connect.js';
import { OperatorHolds } from './operator-holds.js';

/**
 * Wakes long-polling claims when a site gets new work: at once inside this process, and through one
 * Redis pub/sub channel for the other coordinator replicas. Claims also re-check on a short timer,
 * so a lost message only costs latency (delayed and stalled jobs become ready without a message).
 *
 * Shares operator holds (operator-holds.ts) the same way, on a second channel: every replica holds a
 * site's routine work while an operator's job is in flight, whichever replica queued it and whichever
 * applies its result. A lost message costs at most the hold's bound.
 */
export class Wake {
  private readonly local = new EventEmitter();
  private readonly channel: string;
  private readonly holdsChannel: string;
  /** Tells this process's hold messages from the other replicas'. */
  private readonly sender = randomUUID();
  private readonly holds = new OperatorHolds();

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    prefix: string,
    private readonly log: Logger,
  ) {
    this.channel = `${prefix}:wake`;
    this.holdsChannel = `${prefix}:operator-holds`;
    this.local.setMaxListeners(0);
  }

  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.local.emit(message);
      else if (channel === this.holdsChannel) this.heard(message);
    });
    await this.subscriber.subscribe(this.channel, this.holdsChannel);
  }

  /** New work for `siteId`: wake claims here and on every replica. */
  notify(siteId: string): void {
    this.local.emit(siteId);
    this.publisher.publish(this.channel, siteId).catch((err: unknown) => {
      this.log.warn({ err, siteId }, 'wake publish failed');
    });
  }

  /** An operator's job (Sync now) for this credential is being queued: the site's routine work waits for it. */
  hold(siteId: string, credentialId: string): void {
    this.holds.hold(siteId, credentialId);
    this.share(`h ${this.sender} ${siteId} ${credentialId}`);
  }

  /** Results of these credentials were applied: holds among them end, and claims they held wake. */
  release(siteId: string, credentialIds: Iterable<string>): void {
    const ended = this.holds.release(siteId, credentialIds);
    if (ended.length === 0) return;
    this.local.emit(siteId);
    this.share(`r ${this.sender} ${siteId} ${ended.join(',')}`);
  }

  /** Whether the site's routine work waits for an operator's job now. */
  holding(siteId: string): boolean {
    return this.holds.holding(siteId);
  }

  /** In how many ms the site's hold ends by its bounds (0: not held); a result may end it sooner. */
  holdEndsIn(siteId: string): number {
    return this.holds.endsIn(siteId);
  }

  private share(message: string): void {
    this.publisher.publish(this.holdsChannel, message).catch((err: unknown) => {
      this.log.warn({ err }, 'operator hold publish failed');
    });
  }

  /** Another replica's hold or release (anything else on the channel is ignored). */
  private heard(message: string): void {
    const [op, sender, siteId, ids, extra] = message.split(' ');
    if (sender === this.sender || !siteId || !ids || extra !== undefined) return;
    if (op === 'h') this.holds.hold(siteId, ids);
    else if (op === 'r' && this.holds.release(siteId, ids.split(',')).length > 0) this.local.emit(siteId);
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
