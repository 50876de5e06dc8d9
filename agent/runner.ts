import {
  JobOutcomeSchema,
  type ClaimedJob,
  type JobOutcome,
  type Observed,
} from '../shared/contracts/gateway.js';
import type { DetailCode } from '../shared/contracts/status.js';
import { lazyChild, type Logger } from '../shared/logger.js';
import { targetSpec } from '../shared/targets/index.js';
import { fieldIssues } from '../shared/validation.js';
import type { AdapterRegistry } from './adapters/index.js';
import type { Adapter, AdapterContext, Attempt } from './adapters/types.js';
import { runChange, runReconcile, runVerify, type Primitives } from './change-protocol.js';
import { guardMessage } from './message-guard.js';
import { DependencyRunner } from './dependencies/run.js';
import type { DependencyResult } from '../shared/contracts/dependencies.js';

/** Shown when an adapter threw: the error itself may quote a password, so it goes to the log only by name. */
export const ADAPTER_BUG_MESSAGE = 'adapter error (a bug in the agent; see its log)';

/**
 * Runs one claimed job: picks the adapter of the target's kind, parses the connection, runs the
 * job kind's protocol over the adapter's primitives, and returns an outcome that fits the
 * contract and carries no password. Never throws.
 */
export class JobRunner {
  constructor(
    private readonly adapters: AdapterRegistry,
    private readonly log: Logger,
  ) {}

  /**
   * `lockFence` is asked just before a change is sent (see lock-fence.ts); without one (a runner
   * used outside an agent) only `signal` stops a change.
   */
  async run(
    job: ClaimedJob,
    signal: AbortSignal,
    lockFence: () => Promise<boolean> = () => Promise.resolve(true),
  ): Promise<JobOutcome> {
    const log = lazyChild(this.log, { jobId: job.jobId, credentialId: job.credentialId });
    let outcome: JobOutcome;
    const observed: Seen = {};
    // A change that went wrong in an unforeseen way may have been sent: never a definite failure.
    const unforeseen = job.kind === 'change' ? 'change_outcome_unknown' : 'error';
    try {
      outcome = await this.protocol(job, signal, lockFence, log, observed);
      if (observed.value) outcome = { ...outcome, observed: observed.value };
      // The protocol passes on the reason and message of the attempt that decided the outcome; its
      // detail code too (the attempt is the one whose message the outcome carries).
      const detail = observed.detail;
      if (outcome.outcome === 'failed' && detail && outcome.message === detail.message) {
        outcome = { ...outcome, detailCode: detail.code };
      }
    } catch (err) {
      // Only a bug of the runner itself gets here (adapter throws are caught per call).
      log.error({ errName: (err as Error)?.name }, 'job runner failed');
      outcome = { outcome: 'failed', reason: unforeseen, message: ADAPTER_BUG_MESSAGE };
    }
    return sanitize(outcome, [job.password, job.pendingPassword, job.privileged?.password], unforeseen);
  }

  private async protocol(
    job: ClaimedJob,
    signal: AbortSignal,
    lockFence: () => Promise<boolean>,
    log: Logger,
    observed: Seen,
  ): Promise<JobOutcome> {
    const adapter = this.adapters.get(job.target.kind);
    if (!adapter) {
      return {
        outcome: 'failed',
        reason: 'error',
        message: `no adapter for target kind '${job.target.kind}'`,
      };
    }
    let schema;
    try {
      schema = targetSpec(job.target.kind).connectionSchema;
    } catch {
      return {
        outcome: 'failed',
        reason: 'error',
        message: `no connection schema for kind '${job.target.kind}'`,
      };
    }
    const parsed = schema.safeParse(job.target.connection);
    if (!parsed.success) {
      const fields = fieldIssues(parsed.error, 'connection').map((i) => `${i.field}: ${i.message}`);
      return {
        outcome: 'failed',
        reason: 'error',
        message: `invalid target connection: ${fields.join('; ')}`,
      };
    }
    const ctx: AdapterContext = {
      username: job.username,
      connection: parsed.data as Record<string, unknown>,
      host: job.target.host,
      signal,
      log,
      ...(job.kind !== 'verify' && job.privileged ? { privileged: job.privileged } : {}),
    };
    const p = primitives(adapter, ctx, observed, lockFence);
    if (!job.dependencies?.length) return this.byKind(job, p, ctx);
    const deps = new DependencyRunner(job.dependencies, signal, log, [
      job.password,
      job.pendingPassword,
      job.privileged?.password,
    ]);
    const checks: DependencyResult[] = [];
    if (deps.size > 0) {
      p.precheck = async () => {
        const checked = await deps.checkAll();
        checks.push(...checked.results);
        return checked.blocked;
      };
    }
    const outcome = await this.byKind(job, p, ctx);
    if (deps.size === 0) return outcome;
    // Once the password the job is about works: the dependencies follow it (docs/adapters/dependencies.md).
    const pushed =
      outcome.outcome !== 'ok'
        ? []
        : job.kind === 'verify'
          ? await deps.run(job.password, 'requested')
          : outcome.works === 'pending' && job.pendingPassword !== undefined
            ? await deps.run(job.pendingPassword)
            : [];
    const dependencies = [...checks, ...pushed];
    return dependencies.length > 0 ? { ...outcome, dependencies } : outcome;
  }

  private byKind(job: ClaimedJob, p: Primitives, ctx: AdapterContext): Promise<JobOutcome> {
    switch (job.kind) {
      case 'verify':
        return runVerify(p, job.password);
      case 'change':
        if (job.pendingPassword === undefined) return Promise.resolve(missingPending(job.kind));
        return runChange(p, job.password, job.pendingPassword, {
          pendingMayBeSet: job.pendingMayBeSet ?? true,
          canReset: ctx.privileged !== undefined,
        });
      case 'reconcile':
        if (job.pendingPassword === undefined) return Promise.resolve(missingPending(job.kind));
        return runReconcile(p, job.password, job.pendingPassword);
    }
  }
}

const missingPending = (kind: string): JobOutcome => ({
  outcome: 'failed',
  reason: 'error',
  message: `${kind} job without a pending password`,
});

/** What the adapter's attempts of one job saw: facts to record, and the last failure's detail code. */
interface Seen {
  value?: Observed;
  detail?: { code: DetailCode; message: string | undefined };
}

/** Binds the adapter to the job; a throw becomes an uncertain `error` attempt (never definite). */
function primitives(
  adapter: Adapter,
  ctx: AdapterContext,
  observed: Seen,
  lockFence: () => Promise<boolean>,
): Primitives {
  const guarded = async (op: string, call: () => Promise<Attempt>): Promise<Attempt> => {
    try {
      const attempt = await call();
      if (attempt.observed) observed.value = attempt.observed;
      if (!attempt.ok && attempt.detailCode) {
        observed.detail = { code: attempt.detailCode, message: attempt.message };
      }
      return attempt;
    } catch (err) {
      ctx.log.error({ op, errName: (err as Error)?.name }, 'adapter threw');
      return { ok: false, reason: 'error', message: ADAPTER_BUG_MESSAGE };
    }
  };
  return {
    verify: (password) => guarded('verify', () => adapter.verify(ctx, password)),
    change: (current, next) => guarded('change', () => adapter.change(ctx, current, next)),
    mayStartChange: async () => !ctx.signal.aborted && (await lockFence()) && !ctx.signal.aborted,
  };
}

/** Strips passwords from the message and makes sure the outcome fits the report contract. */
function sanitize(
  outcome: JobOutcome,
  secrets: readonly (string | undefined)[],
  unforeseen: 'error' | 'change_outcome_unknown',
): JobOutcome {
  const message = guardMessage(outcome.message, secrets);
  const candidate: JobOutcome = { ...outcome };
  if (message === undefined) delete candidate.message;
  else candidate.message = message;
  if (JobOutcomeSchema.safeParse(candidate).success) return candidate;
  return { outcome: 'failed', reason: unforeseen, message: 'adapter returned an invalid result' };
}
