/**
 * A test-only agent process (never shipped: it lives under tests/, the production binary has no
 * fault hooks). It is the real Agent with the real adapters, except that the `service` adapter's
 * change step is wrapped: with FAULT_POINT set, the process SIGKILLs itself at that point of a
 * change, once FAULT_BATCH changes have reached it (or FAULT_WAIT_MS after the first did):
 *
 * - `before-change`: the lock is confirmed (lock fence passed), the change statement not sent;
 * - `after-change`: the change statement succeeded on the target (ALTER ROLE committed), the
 *   result not yet reported.
 *
 * Just before the kill it writes one JSON line to stderr, synchronously: `{"msg":"fault injected",
 * "point", "accounts": [the target accounts held at the point], "count"}`, so a test can tell
 * exactly what the kill interrupted. Without FAULT_POINT it is a plain agent. Started by
 * startAgent(env, { script: FAULT_AGENT_SCRIPT }) (processes.ts); never imported.
 */
import { writeSync } from 'node:fs';
import { z } from 'zod';
import { BUILT_IN_ADAPTERS, type Adapter } from '../../agent/adapters/index.js';
import { Agent } from '../../agent/agent.js';
import { loadAgentConfig } from '../../agent/config.js';
import { loadEnv } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { FAULT_POINTS, type FaultLine, type FaultPoint } from './fault-points.js';

const FaultEnvSchema = z.object({
  FAULT_POINT: z.enum(FAULT_POINTS).optional(),
  FAULT_BATCH: z.coerce.number().int().min(1).default(1),
  FAULT_WAIT_MS: z.coerce.number().int().min(0).default(3_000),
});

/** Holds the changes that reach the point; kills the process once the batch is complete. */
function killSwitch(point: FaultPoint, batch: number, waitMs: number): (account: string) => Promise<never> {
  const accounts: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    const line: FaultLine = { msg: 'fault injected', point, accounts, count: accounts.length };
    writeSync(2, `${JSON.stringify(line)}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
  return (account) => {
    accounts.push(account);
    if (accounts.length >= batch) fire();
    else timer ??= setTimeout(fire, waitMs);
    return new Promise<never>(() => undefined); // never answers: the process dies at the point
  };
}

function withFault(
  adapter: Adapter,
  point: FaultPoint,
  arrive: (account: string) => Promise<never>,
): Adapter {
  return {
    ...adapter,
    change: async (ctx, current, next) => {
      if (point === 'before-change') return arrive(ctx.username);
      const attempt = await adapter.change(ctx, current, next);
      return attempt.ok ? arrive(ctx.username) : attempt;
    },
  };
}

const fault = loadEnv(FaultEnvSchema, process.env);
const config = loadAgentConfig();
const log = createLogger('fault-agent', config.logLevel);
const point = fault.FAULT_POINT;
const arrive = point ? killSwitch(point, fault.FAULT_BATCH, fault.FAULT_WAIT_MS) : undefined;
const adapters = BUILT_IN_ADAPTERS.map((a) =>
  point && arrive && a.kind === 'service' ? withFault(a, point, arrive) : a,
);
const agent = new Agent({ config, log, adapters, onFatal: () => process.exit(1) });
const stop = (): void => {
  agent.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
if (point) log.info({ point, batch: fault.FAULT_BATCH }, 'fault agent armed');
await agent.start();
