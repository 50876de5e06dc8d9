import type { Job } from 'bullmq';
import type { ClaimedJob, ReportItem, ReportResponse } from '../../shared/contracts/gateway.js';
import { unsupportedReason } from '../../shared/agent-versions.js';
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
import { claimAfterReport, giveBack, reportMayTake } from './claim.js';
import { releaseUndelivered, sentJobId } from './locks.js';

/** A report's answer; `jobs` only when the report asked for its next jobs. */
export type ReportAnswer = Omit<ReportResponse, 'jobs'> & { jobs?: ClaimedJob[] };

/**
 * The next jobs a report's results may take in their own script calls (moveToCompleted's
 * fetchNext): at most `left` in all, and those that came.
 */
interface Wanted {
  left: number;
  next: Job<JobData>[];
}

/**
 * Takes a batch of results. A result counts only for a job this agent holds right now: the job must
 * be in the agent's own site queue, locked with a token the agent got from its claim; BullMQ's
 * moveToCompleted checks the lock atomically, so of two agents racing for one job only one result
 * is taken. The credential a result applies to is the one of the job, never one the agent names.
 *
 * With `claimMax` (the request's `claim.max`), the answer also carries up to that many of the
 * agent's next jobs: each result's completion takes the next waiting job in the same Lua call
 * (locked with that result's token, which is the agent's), topped up with jobs taken at once (never
 * waiting), and all handed out as a claim hands them out (claim.ts: stale ones finished, every
 * secret audited) while the results are applied. A report that fails (Redis unavailable, applying
 * the results failed) hands out nothing: the jobs taken for it go straight back to the queue.
 */
export async function report(
  ctx: Ctx,
  agent: AgentRow,
  items: ReportItem[],
  invalid: RefusedItem[] = [],
  claimMax = 0,
): Promise<ReportAnswer> {
  // While an operator's job of the site is in flight, only work ahead of routine verifications.
  const allowed = claimMax > 0 ? await reportMayTake(ctx, agent, claimable(ctx, agent, claimMax)) : 0;
  const wanted: Wanted = { left: allowed, next: [] };
  const rejected: Rejected[] = invalid.map((r) => ({
    jobId: sentJobId(r),
    code: 'VALIDATION_FAILED',
    issues: r.issues,
  }));
  const accepted: Accepted[] = [];
  const trials: TrialResult[] = [];
  const unreachable: string[] = [];
  let foreign = new Set<string>();
  let answered = false;
  let handing: Promise<ClaimedJob[]> | undefined;
  try {
    await Promise.all(
      items.map(async (item) => {
        const held = await completeHeld(ctx, agent, item, wanted);
        if (held === UNREACHABLE) unreachable.push(item.jobId);
        else if (typeof held === 'string') rejected.push({ jobId: item.jobId, code: held });
        else if ('trialId' in held) trials.push(held);
        else accepted.push(held);
      }),
    );
    // The next jobs are handed out while the results are applied: their credentials are others.
    if (allowed > 0 && unreachable.length === 0) handing = nextJobs(ctx, agent, wanted.next, allowed);
    // A credential of another site (a job that should never have been in this queue) is refused too.
    if (accepted.length > 0) foreign = await applyAccepted(ctx, agent, accepted);
    // Login trials' results: stored on the trials only (trials/results.ts).
    if (trials.length > 0) for (const id of await applyTrialResults(ctx, agent, trials)) foreign.add(id);
    for (const jobId of foreign) rejected.push({ jobId, code: 'JOB_NOT_HELD' });
    answered = unreachable.length === 0;
  } finally {
    // Taken for an answer that will not be given: back to the queue now, not when their locks expire
    // (handed out already: no agent saw them, so a change's hand-out is taken back).
    if (!answered && handing) await takeBack(ctx, agent, await handing);
    else if (!answered) await giveBack(ctx, agent, wanted.next);
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
    ...(claimMax > 0 ? { jobs: (await handing) ?? [] } : {}),
  };
}

async function takeBack(ctx: Ctx, agent: AgentRow, jobs: ClaimedJob[]): Promise<void> {
  await releaseUndelivered(ctx, agent, jobs).catch((err: unknown) =>
    ctx.log.warn(
      { agentId: agent.id, jobs: jobs.length, err: err instanceof Error ? err.message : String(err) },
      'jobs of a failed report not handed back; they return when their locks expire',
    ),
  );
}

/** How many jobs a report may ask for: none for an agent whose version claims are refused to. */
function claimable(ctx: Ctx, agent: AgentRow, max: number): number {
  const reason = unsupportedReason(agent.version, ctx.config.agentVersions);
  if (reason === undefined) return max;
  ctx.log.info(
    { agentId: agent.id, siteId: agent.site_id, version: agent.version },
    `no jobs with the report: ${reason}`,
  );
  return 0;
}

/**
 * Hands out the jobs taken with the results, topped up to `max`. The results are applied already:
 * a hand-out that fails costs the agent no result, so it is logged, its jobs go back to the queue
 * (claimAfterReport), and the report answers without jobs.
 */
async function nextJobs(ctx: Ctx, agent: AgentRow, next: Job<JobData>[], max: number): Promise<ClaimedJob[]> {
  if (max === 0) return [];
  try {
    return await claimAfterReport(ctx, agent, next, max);
  } catch (err) {
    ctx.log.error(
      { agentId: agent.id, siteId: agent.site_id, err: err instanceof Error ? err.message : String(err) },
      'handing out jobs with a report failed; they went back to the queue',
    );
    return [];
  }
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
  wanted: Wanted,
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
  // Reserved before the call: results completed at the same time never take more than asked for.
  const fetchNext = wanted.left > 0;
  if (fetchNext) wanted.left--;
  let next: Job<JobData> | undefined;
  try {
    await ctx.queues.call('taking a result', async (cutShort) => {
      const raw = await job.moveToCompleted(summary, item.token, fetchNext);
      next = fetchNext ? ctx.queues.nextFrom(agent.site_id, raw, item.token) : undefined;
      if (cutShort.aborted) {
        // Redis hung and took it after the report had answered 503: applied all the same (sent
        // again, the agent hears "not held"), never lost; the job it took goes back to the queue.
        applyLate(ctx, agent, accepted);
        if (next) await next.moveToWait(item.token).catch(() => undefined);
      }
    });
  } catch (err) {
    if (isRedisUnavailable(err)) return UNREACHABLE;
    return 'JOB_NOT_HELD'; // lock lost (expired, taken by another agent) or the job finished already
  } finally {
    if (fetchNext && !next) wanted.left++; // none came: the top-up takes its place
  }
  if (next) wanted.next.push(next);
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
