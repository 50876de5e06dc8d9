/**
 * Failed authentication is rate limited per source address: after `maxFailures` failures within a
 * window, every request from that address that needs a token (or enrolls) gets 429 until the
 * window ends. Per replica and in memory: it slows guessing down, it is not an account lockout.
 */
export class AuthLimiter {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs = 60_000,
    private readonly maxTracked = 100_000,
  ) {}

  /** Milliseconds until the source may try again, or 0. */
  blockedFor(source: string, now = Date.now()): number {
    const f = this.failures.get(source);
    if (!f) return 0;
    if (now - f.since >= this.windowMs) {
      this.failures.delete(source);
      return 0;
    }
    return f.count >= this.maxFailures ? this.windowMs - (now - f.since) : 0;
  }

  fail(source: string, now = Date.now()): void {
    const f = this.failures.get(source);
    if (f && now - f.since < this.windowMs) {
      f.count += 1;
      return;
    }
    if (this.failures.size >= this.maxTracked) this.prune(now);
    this.failures.set(source, { count: 1, since: now });
  }

  private prune(now: number): void {
    for (const [source, f] of this.failures) if (now - f.since >= this.windowMs) this.failures.delete(source);
    // Still full: forget the oldest entries rather than grow without bound.
    for (const source of this.failures.keys()) {
      if (this.failures.size < this.maxTracked) break;
      this.failures.delete(source);
    }
  }
}
