import type { Job } from 'bullmq';
import type { ReportItem, ReportResponse } from '../../shared/contracts/gateway.js';
import { JobDataSchema, parseJobId, parseTrialJobId, type JobData } from '../../shared/contracts/jobs.js';
import { SyncError, type FieldIssue } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import type { RefusedItem } from '../http/batch.js';
import { isRedisUnavailable } from '../queues/redis.js';
import type { AgentRow } from '../store/agents.js';
import { recordAudit } from '../store/audit.js';
import { holdsToken } from './agent-auth.js';
import { applyTrialResults, type TrialResult } from '../trials/results.js';
import { applyAccepted, type Accepted } from './apply-results.js';
import { sentJobId } from './locks.js';

/**
 * Takes a batch of results. A result counts only for a job this agent holds right now: the job must
 * be in the agent's own site queue, locked with a token the agent got from its claim; BullMQ's
 * moveToCompleted checks the lock atomically, so of two agents racing for one job only one result
 * is taken. The credential a result applies to is the one of the job, never one the agent names.
 */
export async function report(
  ctx: Ctx,
  agent: AgentRow,
  items: ReportItem[],
  invalid: RefusedItem[] = [],
): Promise<ReportResponse> {
  const rejected: Rejected[] = invalid.map((r) => ({
    jobId: sentJobId(r),
    code: 'VALIDATION_FAILED',
    issues: r.issues,
  }));
  const accepted: Accepted[] = [];
  const trials: TrialResult[] = [];
  const unreachable: string[] = [];
  let foreign = new Set<string>();
  try {
    await Promise.all(
      items.map(async (item) => {
        const held = await completeHeld(ctx, agent, item);
        if (held === UNREACHABLE) unreachable.push(item.jobId);
        else if (typeof held === 'string') rejected.push({ jobId: item.jobId, code: held });
        else if ('trialId' in held) trials.push(held);
        else accepted.push(held);
      }),
    );
    // A credential of another site (a job that should never have been in this queue) is refused too.
    if (accepted.length > 0) foreign = await applyAccepted(ctx, agent, accepted);
    // Login trials' results: stored on the trials only (trials/results.ts).
    if (trials.length > 0) for (const id of await applyTrialResults(ctx, agent, trials)) foreign.add(id);
    for (const jobId of foreign) rejected.push({ jobId, code: 'JOB_NOT_HELD' });
  } finally {
    // Every refusal is audited, whatever else the batch holds, and even when applying the rest failed.
    await auditRejected(ctx, agent, rejected);
  }
  if (unreachable.length > 0) {
    // Not taken, and still the agent's: it keeps them (its outbox) and sends them again. Results of
    // the same batch taken before Redis went away are applied; sent again, they are refused as not
    // held (already done).
    throw new SyncError(
      'UNAVAILABLE',
      `the job queues (Redis) are unavailable: ${unreachable.length} of ${items.length} result(s) not taken; send them again`,
    );
  }
  return {
    accepted: [...accepted, ...trials].map((a) => a.item.jobId).filter((id) => !foreign.has(id)),
    rejected: rejected.map(({ jobId, code }) => ({ jobId, code })),
  };
}

type Rejected = ReportResponse['rejected'][number] & { issues?: FieldIssue[] };

async function auditRejected(ctx: Ctx, agent: AgentRow, rejected: Rejected[]): Promise<void> {
  if (rejected.length === 0) return;
  for (const r of rejected) ctx.metrics.reportsRejected.inc({ site: agent.site_id, code: r.code });
  ctx.log.warn({ agentId: agent.id, siteId: agent.site_id, rejected }, 'agent results refused');
  await recordAudit(ctx.db, [
    {
      actorType: 'agent',
      actorId: agent.id,
      action: 'report.refused',
      objectType: 'job',
      details: { siteId: agent.site_id, rejected },
    },
  ]);
}

/** A result that could not be taken because Redis could not be asked (not a refusal). */
const UNREACHABLE = Symbol('unreachable');

async function completeHeld(
  ctx: Ctx,
  agent: AgentRow,
  item: ReportItem,
): Promise<Accepted | TrialResult | string | typeof UNREACHABLE> {
  const trialId = parseTrialJobId(item.jobId);
  if (trialId !== null) return completeTrial(ctx, agent, item, trialId);
  const id = parseJobId(item.jobId);
  if (!id || !holdsToken(agent, item.token)) return 'JOB_NOT_HELD';
  let job: Job<JobData> | undefined;
  try {
    // A verify job's id says all its data holds: no read from Redis. Changes carry a change id: read it.
    job =
      id.kind === 'verify'
        ? ctx.queues.verifyJob(agent.site_id, item.jobId, id.credentialId)
        : await ctx.queues.fetch(agent.site_id, item.jobId);
  } catch (err) {
    return isRedisUnavailable(err) ? UNREACHABLE : 'JOB_NOT_HELD';
  }
  const data = JobDataSchema.safeParse(job?.data);
  if (!job || !data.success || data.data.credentialId !== id.credentialId) return 'JOB_NOT_HELD';
  const summary =
    item.result.outcome === 'ok' ? { outcome: 'ok' } : { outcome: 'failed', reason: item.result.reason };
  const accepted: Accepted = { item, kind: id.kind, data: data.data };
  try {
    await ctx.queues.call('taking a result', async (cutShort) => {
      await job.moveToCompleted(summary, item.token, false);
      // Redis hung and took it after the report had answered 503: applied all the same (sent
      // again, the agent hears "not held"), never lost.
      if (cutShort.aborted) applyLate(ctx, agent, accepted);
    });
  } catch (err) {
    if (isRedisUnavailable(err)) return UNREACHABLE;
    return 'JOB_NOT_HELD'; // lock lost (expired, taken by another agent) or the job finished already
  }
  return accepted;
}

/** A login trial's result (a `t-<trialId>` job), taken as completeHeld takes a credential's. */
async function completeTrial(
  ctx: Ctx,
  agent: AgentRow,
  item: ReportItem,
  trialId: string,
): Promise<TrialResult | string | typeof UNREACHABLE> {
  if (!holdsToken(agent, item.token)) return 'JOB_NOT_HELD';
  let job: Job<JobData> | undefined;
  try {
    job = await ctx.queues.fetch(agent.site_id, item.jobId);
  } catch (err) {
    return isRedisUnavailable(err) ? UNREACHABLE : 'JOB_NOT_HELD';
  }
  const data = JobDataSchema.safeParse(job?.data);
  if (!job || !data.success) return 'JOB_NOT_HELD';
  const taken: TrialResult = { item, trialId, credentialId: data.data.credentialId };
  const summary =
    item.result.outcome === 'ok' ? { outcome: 'ok' } : { outcome: 'failed', reason: item.result.reason };
  try {
    await ctx.queues.call('taking a result', async (cutShort) => {
      await job.moveToCompleted(summary, item.token, false);
      if (cutShort.aborted) {
        applyTrialResults(ctx, agent, [taken]).catch((err: unknown) =>
          ctx.log.error(
            { agentId: agent.id, jobId: item.jobId, err: String(err) },
            'a login trial result taken late was lost',
          ),
        );
      }
    });
  } catch (err) {
    if (isRedisUnavailable(err)) return UNREACHABLE;
    return 'JOB_NOT_HELD';
  }
  return taken;
}

function applyLate(ctx: Ctx, agent: AgentRow, accepted: Accepted): void {
  ctx.log.info(
    { agentId: agent.id, jobId: accepted.item.jobId },
    'result taken late (Redis was slow): applied',
  );
  applyAccepted(ctx, agent, [accepted]).catch((err: unknown) =>
    ctx.log.error(
      {
        agentId: agent.id,
        jobId: accepted.item.jobId,
        err: err instanceof Error ? err.message : String(err),
      },
      'a result taken late could not be applied; the reconciler queues its job again',
    ),
  );
}
