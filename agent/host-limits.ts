/** A host being worked on: its sessions now, and the tasks waiting for one, first come first served. */
interface Host {
  active: number;
  waiting?: (() => void)[];
}

/**
 * At most `perHost` sessions to one target host at a time (SSH servers and login pages throttle).
 * A host's entry is dropped when its last task ends, so the map stays as small as the set of hosts
 * being worked on. A task that finds a free session allocates nothing but its host's entry: with
 * thousands of hosts each worked on once in a run, the limiter stays off the agent's hot path (a
 * p-limit a host cost the agent an eighth of what it allocated; docs/benchmarks.md).
 */
export class HostLimits {
  private readonly hosts = new Map<string, Host>();

  constructor(private readonly perHost: number) {}

  async run<T>(host: string, task: () => Promise<T>): Promise<T> {
    let entry = this.hosts.get(host);
    if (!entry) this.hosts.set(host, (entry = { active: 0 }));
    if (entry.active < this.perHost) entry.active++;
    // The session is handed over by the task that ends (`active` stays as it is).
    else await new Promise<void>((resolve) => (entry.waiting ??= []).push(resolve));
    try {
      return await task();
    } finally {
      const next = entry.waiting?.shift();
      if (next) next();
      else if (--entry.active === 0) this.hosts.delete(host);
    }
  }

  get hostCount(): number {
    return this.hosts.size;
  }
}
