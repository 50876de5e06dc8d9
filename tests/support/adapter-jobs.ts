import type { Adapter, AdapterContext } from '../../agent/adapters/types.js';
import { createAdapterRegistry } from '../../agent/adapters/index.js';
import { JobRunner } from '../../agent/runner.js';
import type { JobOutcome } from '../../shared/contracts/gateway.js';
import { createLogger } from '../../shared/logger.js';

/**
 * A verify job run by the agent's JobRunner with `adapter` alone: what the agent would report to
 * the coordinator for it (reason, detail code, what was observed), without a coordinator.
 */
export function runVerifyJob(
  adapter: Adapter<never>,
  target: { kind: string; host: string; connection: Record<string, unknown> },
  username: string,
  password: string,
): Promise<JobOutcome> {
  const runner = new JobRunner(
    createAdapterRegistry([adapter as unknown as Adapter]),
    createLogger('test', 'silent'),
  );
  return runner.run(
    {
      jobId: 'v-test',
      token: 't',
      kind: 'verify',
      credentialId: '00000000-0000-4000-8000-000000000001',
      attempt: 0,
      target: { id: '00000000-0000-4000-8000-000000000002', ...target },
      username,
      password,
    },
    new AbortController().signal,
  );
}

/**
 * What the agent hands an adapter for one job: `connection` parsed with the kind's schema (defaults
 * applied), a fresh abort signal, a silent logger, and the privileged account when given.
 */
export function adapterContext<C extends object>(
  schema: { parse(input: unknown): C },
  connection: Record<string, unknown>,
  username: string,
  privileged?: { username: string; password: string },
): AdapterContext<C> {
  const parsed = schema.parse(connection);
  return {
    username,
    connection: parsed,
    host: String((parsed as { host?: unknown }).host ?? ''),
    signal: new AbortController().signal,
    log: createLogger('test', 'silent'),
    ...(privileged ? { privileged } : {}),
  };
}
