import { Job } from 'bullmq';
import type { ExtendResponse, ReleaseResponse } from '../../shared/contracts/gateway.js';
import { parseJobId } from '../../shared/contracts/jobs.js';
import type { Ctx } from '../context.js';
import { refreshStatus } from '../status.js';
import type { AgentRow } from '../store/agents.js';
import { loadCredentials, saveCredentials } from '../store/credentials.js';
import { siteFacts } from '../store/sites.js';
import { holdsToken } from './agent-auth.js';

interface Held {
  jobId: string;
  token: string;
}

/** A handle on a job by id, without reading it from Redis: lock scripts need only the id and token. */
const handle = (ctx: Ctx, siteId: string, jobId: string) =>
  new Job(ctx.queues.get(siteId).worker, 'held', {}, {}, jobId);

/** Extends the locks of the agent's jobs in flight, all in one call. */
export async function extend(ctx: Ctx, agent: AgentRow, jobs: Held[]): Promise<ExtendResponse> {
  const extended: string[] = [];
  const lost: string[] = [];
  await Promise.all(
    jobs.map(async ({ jobId, token }) => {
      const ok =
        parseJobId(jobId) !== null &&
        holdsToken(agent, token) &&
        (await handle(ctx, agent.site_id, jobId)
          .extendLock(token, ctx.config.JOB_LOCK_MS)
          .catch(() => 0)) === 1;
      (ok ? extended : lost).push(jobId);
    }),
  );
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
): Promise<ReleaseResponse> {
  const released: string[] = [];
  const lost: string[] = [];
  await Promise.all(
    jobs.map(async ({ jobId, token }) => {
      let ok = parseJobId(jobId) !== null && holdsToken(agent, token);
      if (ok) {
        ok = await handle(ctx, agent.site_id, jobId)
          .moveToWait(token)
          .then(() => true)
          .catch(() => false);
      }
      (ok ? released : lost).push(jobId);
    }),
  );
  if (released.length > 0) {
    await ctx.db.tx(async (q) => {
      const now = new Date();
      const rows = await loadCredentials(
        q,
        released.map((id) => parseJobId(id)!.credentialId),
        true,
      );
      const facts = await siteFacts(q, [agent.site_id]);
      for (const row of rows) {
        if (row.job_state === 'active') row.job_state = 'queued';
        if (undelivered && row.job_kind === 'change' && row.pending_handouts > 0) row.pending_handouts -= 1;
        refreshStatus(row, facts.get(row.site_id)!, now);
      }
      await saveCredentials(q, rows);
    });
    ctx.wake.notify(agent.site_id);
  }
  return { released, lost };
}
