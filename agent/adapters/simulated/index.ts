import { randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { SimulatedConnection } from '../../../shared/targets/simulated.js';
import type { Adapter, AdapterContext, Attempt } from '../types.js';

const SCALE = 1_000_000;

/**
 * The `simulated` adapter, for demos and benchmarks: no network and no state. It accepts any
 * password (there is no stored password to compare with), so it cannot tell current from pending;
 * each primitive only waits `latencyMs` and fails with `failReason` with probability `failRate`.
 */
export const simulatedAdapter: Adapter<SimulatedConnection> = {
  kind: 'simulated',
  verify: (ctx) => simulate(ctx),
  change: (ctx) => simulate(ctx),
};

async function simulate(ctx: AdapterContext<SimulatedConnection>): Promise<Attempt> {
  const { latencyMs, failRate, failReason } = ctx.connection;
  if (latencyMs > 0) {
    try {
      await delay(latencyMs, undefined, { signal: ctx.signal });
    } catch {
      return { ok: false, reason: 'unreachable', message: 'simulated operation aborted' };
    }
  }
  if (failRate > 0 && randomInt(SCALE) < Math.round(failRate * SCALE)) {
    return { ok: false, reason: failReason, message: `simulated ${failReason}`, definite: true };
  }
  return { ok: true };
}
