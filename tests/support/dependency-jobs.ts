import { randomBytes, randomUUID } from 'node:crypto';
import { createAdapterRegistry } from '../../agent/adapters/index.js';
import type { Adapter } from '../../agent/adapters/types.js';
import { JobRunner } from '../../agent/runner.js';
import type { ClaimedDependency, DependencyDefinition } from '../../shared/contracts/dependencies.js';
import type { ClaimedJob, JobOutcome } from '../../shared/contracts/gateway.js';
import { createLogger } from '../../shared/logger.js';

/*
 * Dependencies run by the agent's JobRunner without a coordinator (docs/adapters/dependencies.md):
 * a change job against a target held in memory, carrying claimed dependencies as a claim would.
 */

/** A target whose password lives in memory: what the change set, and every change it was sent. */
export class MemoryTarget {
  sent = 0;
  constructor(public password: string) {}
  adapter(): Adapter {
    return {
      kind: 'simulated',
      verify: (_ctx, password) =>
        Promise.resolve(password === this.password ? { ok: true } : { ok: false, reason: 'mismatch' }),
      change: (_ctx, _current, next) => {
        this.sent++;
        this.password = next;
        return Promise.resolve({ ok: true });
      },
    };
  }
}

export const newPassword = (): string => `Nw-${randomBytes(9).toString('base64url')}`;

/** A dependency as a claim hands it out (to push), with its login. */
export const claimed = (
  definition: DependencyDefinition,
  login: ClaimedDependency['login'],
): ClaimedDependency => ({ id: randomUUID(), mode: 'push', definition, login });

/** A change of `target` to `pending` run by the agent's JobRunner with `dependencies`. */
export function changeJob(
  target: MemoryTarget,
  pending: string,
  dependencies: ClaimedDependency[],
  pendingMayBeSet = false,
): Promise<JobOutcome> {
  const runner = new JobRunner(createAdapterRegistry([target.adapter()]), createLogger('test', 'silent'));
  const job: ClaimedJob = {
    jobId: 'c-test',
    token: 't',
    kind: 'change',
    credentialId: randomUUID(),
    attempt: 0,
    target: { id: randomUUID(), kind: 'simulated', host: 'memory', connection: {} },
    username: 'svc',
    password: target.password,
    pendingPassword: pending,
    pendingMayBeSet,
    dependencies,
  };
  return runner.run(job, new AbortController().signal);
}

/** The pushes of a change's outcome (its checks left out): status and message of each. */
export const pushesOf = (outcome: JobOutcome): [string, string | undefined][] =>
  (outcome.outcome === 'ok' ? (outcome.dependencies ?? []) : [])
    .filter((r) => r.mode === 'push')
    .map((r) => [r.status, r.message]);
