import {
  ClaimedDependencySchema,
  type ClaimedDependency,
  type DependencyResult,
} from '../../shared/contracts/dependencies.js';
import type { Logger } from '../../shared/logger.js';
import { guardMessage } from '../message-guard.js';
import type { Step } from './types.js';

/** The most one check or push of a dependency may take (each network call is bounded too). */
const STEP_LIMIT_MS = 10 * 60_000;

type Parsed = ReturnType<typeof ClaimedDependencySchema.parse>;

/**
 * Runs a job's dependencies (docs/adapters/dependencies.md) and says what each did. Never throws;
 * messages never hold a password (`secrets`: every one the job carries).
 */
export class DependencyRunner {
  private readonly deps: Parsed[];

  constructor(
    claimed: readonly ClaimedDependency[],
    private readonly signal: AbortSignal,
    private readonly log: Logger,
    private readonly secrets: readonly (string | undefined)[],
  ) {
    this.deps = claimed.flatMap((d) => {
      const parsed = ClaimedDependencySchema.safeParse(d);
      return parsed.success ? [parsed.data] : [];
    });
  }

  get size(): number {
    return this.deps.length;
  }

  /** Checks every dependency can be reached and written; the failures, if any, as one message. */
  async checkAll(): Promise<{ results: DependencyResult[]; blocked?: string }> {
    const results: DependencyResult[] = [];
    for (const d of this.deps) results.push(await this.one(d, 'check'));
    const failed = this.deps.filter((_, i) => results[i]!.status !== 'ok');
    if (failed.length === 0) return { results };
    const first = results.find((r) => r.status !== 'ok')!;
    return {
      results,
      blocked: `dependency '${failed[0]!.definition.name}' cannot be reached or written: ${first.message ?? 'failed'}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ''}; the change was not sent`,
    };
  }

  /**
   * Pushes `password` to the dependencies in order (`only`: those asked, in the mode asked); after
   * the first failure of a push the rest do not run.
   */
  async run(password: string, only?: 'requested'): Promise<DependencyResult[]> {
    const results: DependencyResult[] = [];
    let stopped: string | undefined;
    for (const d of this.deps) {
      const mode = only === 'requested' ? d.mode : 'push';
      if (mode === 'push' && stopped !== undefined) {
        results.push({
          id: d.id,
          mode,
          status: 'not_run',
          message: `not run: '${stopped}' failed before it`,
        });
        continue;
      }
      const r = await this.one(d, mode, password);
      if (mode === 'push' && r.status !== 'ok') stopped = d.definition.name;
      results.push(r);
    }
    return results;
  }

  private async one(d: Parsed, mode: 'push' | 'check', password?: string): Promise<DependencyResult> {
    let step: Step;
    if (d.problem !== undefined || !d.login) step = { ok: false, message: d.problem ?? 'no login' };
    else {
      try {
        step = await bounded(this.step(d, mode, password));
      } catch (err) {
        this.log.error({ dependencyId: d.id, errName: (err as Error)?.name }, 'dependency step threw');
        step = { ok: false, message: 'dependency error (a bug in the agent; see its log)' };
      }
    }
    const message = guardMessage(step.message, [...this.secrets, password, d.login?.password]);
    return {
      id: d.id,
      mode,
      status: step.ok ? 'ok' : 'failed',
      ...(message ? { message: message.slice(0, 500) } : {}),
    };
  }

  /**
   * Each kind's module (with its client library: ssh2, pg, mysql2, undici) is loaded on the first
   * dependency of that kind, not at the agent's start (docs/benchmarks.md, "Agent memory").
   */
  private async step(d: Parsed, mode: 'push' | 'check', password: string | undefined): Promise<Step> {
    const def = d.definition;
    const login = d.login!;
    const push = mode === 'push' ? password : undefined;
    switch (def.kind) {
      case 'file': {
        const { checkFile, pushFile } = await import('./ssh.js');
        return push === undefined
          ? checkFile(def, login, this.signal)
          : pushFile(def, login, push, this.signal);
      }
      case 'command': {
        const { checkCommand, pushCommand } = await import('./ssh.js');
        return push === undefined
          ? checkCommand(def, login, this.signal)
          : pushCommand(def, login, push, this.signal);
      }
      case 'service':
        return (await import('./service.js')).runService(def, login, push, this.signal, this.log);
      case 'web':
        return (await import('./web.js')).runWeb(def, login, push, this.signal, this.log);
      case 'credential':
        return { ok: false, message: 'run by the coordinator' };
    }
  }
}

function bounded(step: Promise<Step>): Promise<Step> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<Step>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, message: `no answer within ${STEP_LIMIT_MS} ms` }),
      STEP_LIMIT_MS,
    );
  });
  return Promise.race([step, limit]).finally(() => clearTimeout(timer));
}
