import { describe, expect, it } from 'vitest';
import { OPERATOR_HOLD_MS, OperatorHolds } from '../../coordinator/queues/operator-holds.js';

/** Operator work first (coordinator/queues/operator-holds.ts): what holds a site's routine work, and its bounds. */
describe('operator holds', () => {
  it('hold from the queueing of an operator job until its result, per site', () => {
    const holds = new OperatorHolds();
    expect(holds.holding('site-a', 0)).toBe(false);
    holds.hold('site-a', 'cred-1', 0);
    holds.hold('site-a', 'cred-2', 0);
    expect(holds.holding('site-a', 10)).toBe(true);
    expect(holds.holding('site-b', 10)).toBe(false);
    // A result of another credential ends nothing; the site holds until both operator jobs reported.
    expect(holds.release('site-a', ['cred-9', 'cred-1'], 20)).toEqual(['cred-1']);
    expect(holds.holding('site-a', 30)).toBe(true);
    expect(holds.release('site-a', ['cred-2'], 40)).toEqual(['cred-2']);
    expect(holds.holding('site-a', 50)).toBe(false);
    expect(holds.release('site-a', ['cred-2'], 60)).toEqual([]);
  });

  it('a job whose result never comes holds for OPERATOR_HOLD_MS at most', () => {
    const holds = new OperatorHolds();
    holds.hold('site', 'cred', 5_000);
    expect(holds.holding('site', 5_000 + OPERATOR_HOLD_MS - 1)).toBe(true);
    expect(holds.holding('site', 5_000 + OPERATOR_HOLD_MS)).toBe(false);
  });

  it('a stream of operator jobs holds a site at most three quarters of each second', () => {
    const holds = new OperatorHolds();
    let held = 0;
    // A new operator job every 10 ms for 5 s, each reported 30 ms later: always one in flight.
    for (let t = 0; t < 5_000; t += 10) {
      holds.hold('site', `cred-${t}`, t);
      if (t >= 30) holds.release('site', [`cred-${t - 30}`], t);
      if (holds.holding('site', t)) held += 10;
    }
    expect(held).toBeGreaterThan(0.6 * 5_000);
    expect(held).toBeLessThanOrEqual(0.76 * 5_000);
  });
});
