import { Job } from 'bullmq';
import type { ExtendResponse, ReleaseResponse } from '../../shared/contracts/gateway.js';
import { isCoordinatorJobId, parseJobId } from '../../shared/contracts/jobs.js';
import { SyncError, type FieldIssue } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import type { RefusedItem } from '../http/batch.js';
import { isRedisUnavailable } from '../queues/redis.js';
import { refreshStatus } from '../credentials/status.js';
import { markReleased } from '../credentials/transitions.js';
import type { AgentRow } from '../store/agents.js';
import { recordAudit } from '../store/audit.js';
import { loadCredentials, saveCredentials } from '../credentials/store.js';
import { siteFacts } from '../store/sites.js';
import { holdsToken } from './agent-auth.js';

interface Held {
  jobId: string;
  token: string;
}

/**
 * Why a lock call on a job was refused: `not_held` = the agent's token does not hold the job's lock
 * in the agent's own site queue (another agent's or site's job, a lock that expired, a job that
 * finished); `foreign_token` = the token was not issued to this agent at all; `bad_job_id` = not a
 * job id the coordinator makes; `invalid` = the item failed its schema (`issues` say which field).
 */
type Refusal = 'not_held' | 'foreign_token' | 'bad_job_id' | 'invalid';

interface Refused {
  jobId: string;
  reason: Refusal;
  issues?: FieldIssue[];
}

/** The job id a batch item refused by its schema named, as sent ('' when it named none). */
export const sentJobId = (r: RefusedItem): string => {
  const jobId = (r.sent as { jobId?: unknown } | null)?.jobId;
  return typeof jobId === 'string' ? jobId : '';
};

const invalidItems = (invalid: RefusedItem[]): Refused[] =>
  invalid.map((r) => ({ jobId: sentJobId(r), reason: 'invalid', issues: r.issues }));

function refusal(agent: AgentRow, { jobId, token }: Held): Refusal | undefined {
  if (!isCoordinatorJobId(jobId)) return 'bad_job_id';
  if (!holdsToken(agent, token)) return 'foreign_token';
  return undefined;
}

/** Audits the refused part of an extend or release call (one event per call), like report.refused. */
async function auditRefused(
  ctx: Ctx,
  agent: AgentRow,
  action: 'extend.refused' | 'release.refused',
  refused: Refused[],
): Promise<void> {
  if (refused.length === 0) return;
  ctx.log.warn({ agentId: agent.id, siteId: agent.site_id, refused }, `agent ${action.replace('.', ' ')}`);
  await recordAudit(ctx.db, [
    {
      actorType: 'agent',
      actorId: agent.id,
      action,
      objectType: 'job',
      objectId: refused.length === 1 ? refused[0]!.jobId : null,
      details: { siteId: agent.site_id, refused },
    },
  ]);
}

/** A handle on a job by id, without reading it from Redis: lock scripts need only the id and token. */
const handle = (ctx: Ctx, siteId: string, jobId: string) =>
  new Job(ctx.queues.get(siteId).worker, 'held', {}, {}, jobId);

/**
 * One lock operation on a held job, bounded (SiteQueues.call): `held` when Redis did it, `not_held`
 * when Redis refused it (not this token's lock), `unavailable` when Redis could not be asked.
 */
async function onLock(
  ctx: Ctx,
  what: string,
  work: () => Promise<boolean>,
): Promise<'held' | 'not_held' | 'unavailable'> {
  try {
    return (await ctx.queues.call(what, work)) ? 'held' : 'not_held';
  } catch (err) {
    return isRedisUnavailable(err) ? 'unavailable' : 'not_held';
  }
}

/**
 * With Redis unavailable a lock call cannot be answered for those jobs: 503, so the agent neither
 * counts them as extended (its lock fence then holds back their changes) nor gives them up.
 */
function unavailableFor(action: string, jobIds: string[]): SyncError {
  return new SyncError(
    'UNAVAILABLE',
    `the job queues (Redis) are unavailable: could not ${action} ${jobIds.length} job(s); ask again`,
  );
}

/** Extends the locks of the agent's jobs in flight, all in one call. */
export async function extend(
  ctx: Ctx,
  agent: AgentRow,
  jobs: Held[],
  invalid: RefusedItem[] = [],
): Promise<ExtendResponse> {
  const extended: string[] = [];
  const unreachable: string[] = [];
  const refused = invalidItems(invalid);
  const lost = refused.map((r) => r.jobId);
  await Promise.all(
    jobs.map(async (job) => {
      let why = refusal(agent, job);
      if (why === undefined) {
        const state = await onLock(
          ctx,
          'extending a lock',
          async () =>
            (await handle(ctx, agent.site_id, job.jobId).extendLock(job.token, ctx.config.JOB_LOCK_MS)) === 1,
        );
        if (state === 'unavailable') {
          unreachable.push(job.jobId);
          return;
        }
        if (state === 'not_held') why = 'not_held';
      }
      if (why === undefined) extended.push(job.jobId);
      else {
        lost.push(job.jobId);
        refused.push({ jobId: job.jobId, reason: why });
      }
    }),
  );
  await auditRefused(ctx, agent, 'extend.refused', refused);
  if (unreachable.length > 0) throw unavailableFor('extend the locks of', unreachable);
  return { extended, lost };
}

/**
 * Hands jobs back to the queue (agent shutting down): another agent takes them. A released change
 * stays counted as handed out (its agent may have sent it before stopping), unless `undelivered`:
 * the claim's answer never left the coordinator (its agent went away first), so no agent ever saw
 * the pending password and the hand-out is taken back.
 */
export async function release(
  ctx: Ctx,
  agent: AgentRow,
  jobs: Held[],
  undelivered = false,
  invalid: RefusedItem[] = [],
): Promise<ReleaseResponse> {
  const released: string[] = [];
  const unreachable: string[] = [];
  const refused = invalidItems(invalid);
  const lost = refused.map((r) => r.jobId);
  await Promise.all(
    jobs.map(async (job) => {
      let why = refusal(agent, job);
      if (why === undefined) {
        const state = await onLock(ctx, 'handing a job back', async () => {
          await handle(ctx, agent.site_id, job.jobId).moveToWait(job.token);
          return true;
        });
        if (state === 'unavailable') {
          unreachable.push(job.jobId);
          return;
        }
        if (state === 'not_held') why = 'not_held';
      }
      if (why === undefined) released.push(job.jobId);
      else {
        lost.push(job.jobId);
        refused.push({ jobId: job.jobId, reason: why });
      }
    }),
  );
  await auditRefused(ctx, agent, 'release.refused', refused);
  if (released.length > 0) {
    await ctx.db.tx(async (q) => {
      const now = new Date();
      // A login trial's job (no credential job id) leaves its credential alone: its trial is claimed again.
      const rows = await loadCredentials(
        q,
        released.flatMap((id) => parseJobId(id)?.credentialId ?? []),
        true,
      );
      const facts = await siteFacts(q, [agent.site_id]);
      for (const row of rows) {
        markReleased(row, undelivered);
        refreshStatus(row, facts.get(row.site_id)!, now);
      }
      await saveCredentials(q, rows);
    });
    ctx.wake.notify(agent.site_id);
  }
  // Not handed back: they return to the queue when their locks expire, as for a vanished agent.
  if (unreachable.length > 0) throw unavailableFor('hand back', unreachable);
  return { released, lost };
}

/**
 * Jobs handed out for an answer no agent will read (it went away, or the report failed): back to the
 * queue at once, each change's hand-out taken back (no agent saw its pending password).
 */
export async function releaseUndelivered(
  ctx: Ctx,
  agent: AgentRow,
  jobs: { jobId: string; token: string }[],
): Promise<void> {
  if (jobs.length === 0) return;
  await release(
    ctx,
    agent,
    jobs.map(({ jobId, token }) => ({ jobId, token })),
    true,
  );
}
