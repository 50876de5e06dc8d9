import { isIPv4, isIPv6 } from 'node:net';
import { AGENT_TOKEN, ENROLLMENT_TOKEN, OPERATOR_TOKEN } from './bearer.js';

/**
 * Failed authentication is rate limited per source (sourceKey): after `maxFailures` failures within
 * a window, every request from that source that needs a token (or enrolls) gets 429 until the
 * window ends, except one presenting an unguessable token (isUnguessableToken). Per replica and in
 * memory: it slows guessing down, it is not an account lockout.
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

/**
 * The key a source address is limited under: an IPv4 address as is (also when IPv4-mapped), an
 * IPv6 address by its /64 (one host usually holds a whole /64, so keying by address would give it
 * 2^64 fresh budgets).
 */
export function sourceKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIPv4(ip) || !isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.split('%')[0]!.split('::') as [string?, string?];
  const left = head === '' ? [] : head.split(':');
  const right = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Tokens of 120 random bits or more, in the formats the coordinator issues (agent `pwa_`, operator
 * `pwo_`, enrollment `pwe_`): nobody guesses one, so a correct one is let through even from a source
 * that is being limited (agents behind one NAT are not locked out by one bad client among them).
 * The bootstrap admin token is chosen by a person and may be weak: it is never let through.
 */
const UNGUESSABLE = [AGENT_TOKEN, OPERATOR_TOKEN, ENROLLMENT_TOKEN];

export const isUnguessableToken = (token: string | undefined): boolean =>
  token !== undefined && UNGUESSABLE.some((format) => format.test(token));
