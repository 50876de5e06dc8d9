import { describe, expect, it } from 'vitest';
import {
  CYCLE_MS,
  HELD_PER_CYCLE_MS,
  OPERATOR_HOLD_MS,
  OperatorHolds,
} from '../../coordinator/queues/operator-holds.js';

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

  it('a job whose result never comes holds for OPERATOR_HOLD_MS at most, and says when it ends', () => {
    const holds = new OperatorHolds();
    holds.hold('site', 'cred', 5_000);
    expect(holds.endsIn('site', 5_100)).toBe(HELD_PER_CYCLE_MS - 100);
    // A second job later in the stretch: the cycle's free part comes first, then the job's own end.
    holds.hold('site', 'cred-2', 5_700);
    expect(holds.holding('site', 5_000 + HELD_PER_CYCLE_MS)).toBe(false);
    expect(holds.endsIn('site', 6_000)).toBe(5_700 + OPERATOR_HOLD_MS - 6_000);
    expect(holds.endsIn('site', 6_500)).toBe(5_700 + OPERATOR_HOLD_MS - 6_500);
    expect(holds.holding('site', 5_700 + OPERATOR_HOLD_MS)).toBe(false);
  });

  it('a stream of operator jobs holds a site three quarters of each second', () => {
    const holds = new OperatorHolds();
    let held = 0;
    // A new operator job every 100 ms for 20 s, none ever reported: always one in flight.
    for (let t = 0; t < 20_000; t += 10) {
      if (t % 100 === 0) holds.hold('site', `cred-${t}`, t);
      if (holds.holding('site', t)) held += 10;
    }
    expect(held / 20_000).toBeCloseTo(HELD_PER_CYCLE_MS / CYCLE_MS, 2);
  });

  it('a claim that waits for the end the hold announces gets routine work then, whenever it asks', () => {
    for (const askedAt of [0, 999, 1_000, 1_330, 7_777]) {
      const holds = new OperatorHolds();
      // Operator jobs every 100 ms, none reported, up to the claim's question.
      for (let t = 0; t <= askedAt; t += 100) holds.hold('site', `cred-${t}`, t);
      const wait = holds.endsIn('site', askedAt);
      expect(wait).toBeLessThanOrEqual(HELD_PER_CYCLE_MS);
      expect(holds.holding('site', askedAt + wait)).toBe(false);
    }
  });

  it('a short gap keeps the stretch (and its cycle); a longer one starts a new one', () => {
    const holds = new OperatorHolds();
    holds.hold('site', 'a', 0);
    holds.release('site', ['a'], 700);
    holds.hold('site', 'b', 800); // 100 ms idle: same stretch, now in its free part
    expect(holds.holding('site', 800)).toBe(false);
    holds.release('site', ['b'], 900);
    holds.hold('site', 'c', 1_500); // 600 ms idle: a new stretch, held at once
    expect(holds.holding('site', 1_500)).toBe(true);
  });
});
