import pLimit, { type LimitFunction } from 'p-limit';

/**
 * One p-limit per target host: at most `perHost` sessions to one host at a time (SSH servers and
 * login pages throttle). A host's limiter is dropped when its last task ends, so the map stays as
 * small as the set of hosts being worked on.
 */
export class HostLimits {
  private readonly limits = new Map<string, { limit: LimitFunction; users: number }>();

  constructor(private readonly perHost: number) {}

  async run<T>(host: string, task: () => Promise<T>): Promise<T> {
    let entry = this.limits.get(host);
    if (!entry) {
      entry = { limit: pLimit(this.perHost), users: 0 };
      this.limits.set(host, entry);
    }
    entry.users++;
    try {
      return await entry.limit(task);
    } finally {
      if (--entry.users === 0) this.limits.delete(host);
    }
  }

  get hostCount(): number {
    return this.limits.size;
  }
}
