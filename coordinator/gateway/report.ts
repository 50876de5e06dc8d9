import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { ReportItem, ReportResponse } from '../../shared/contracts/gateway.js';
import { JobDataSchema, parseJobId, type JobData, type JobKind } from '../../shared/contracts/jobs.js';
import type { Ctx } from '../context.js';
import { settleGroupChanges, type SettledChange } from '../groups/change.js';
import { scheduleAfterChange } from '../policies/rotation.js';
import { loadPolicies, type PolicyRow } from '../policies/store.js';
import { countInRuns } from '../results/runs.js';
import { applyResult, type RunCount } from '../results/transitions.js';
import { dispatch, type Work } from '../scheduler/dispatch.js';
import { historyField, rowSealer } from '../secrets.js';
import { refreshStatus } from '../status.js';
import type { AgentRow } from '../store/agents.js';
import { recordAudit } from '../store/audit.js';
import { loadCredentials, saveCredentials, type CredentialRow } from '../store/credentials.js';
import type { Queryable } from '../store/db.js';
import { siteFacts } from '../store/sites.js';
import { targetSpec } from '../../shared/targets/index.js';
import { holdsToken } from './agent-auth.js';

interface Accepted {
  item: ReportItem;
  kind: JobKind;
  data: JobData;
}

/**
 * Takes a batch of results. A result counts only for a job this agent holds right now: the job must
 * be in the agent's own site queue, locked with a token the agent got from its claim; BullMQ's
 * moveToCompleted checks the lock atomically, so of two agents racing for one job only one result
 * is taken. The credential a result applies to is the one of the job, never one the agent names.
 */
export async function report(ctx: Ctx, agent: AgentRow, items: ReportItem[]): Promise<ReportResponse> {
  const rejected: ReportResponse['rejected'] = [];
  const accepted: Accepted[] = [];
  await Promise.all(
    items.map(async (item) => {
      const held = await completeHeld(ctx, agent, item);
      if (typeof held === 'string') rejected.push({ jobId: item.jobId, code: held });
      else accepted.push(held);
    }),
  );
  if (rejected.length > 0) {
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
  if (accepted.length > 0) await applyAccepted(ctx, agent, accepted);
  return { accepted: accepted.map((a) => a.item.jobId), rejected };
}

async function completeHeld(ctx: Ctx, agent: AgentRow, item: ReportItem): Promise<Accepted | string> {
  const id = parseJobId(item.jobId);
  if (!id || !holdsToken(agent, item.token)) return 'JOB_NOT_HELD';
  let job: Job<JobData> | undefined;
  try {
    // A verify job's id says all its data holds: no read from Redis. Changes carry a change id: read it.
    job =
      id.kind === 'verify'
        ? ctx.queues.verifyJob(agent.site_id, item.jobId, id.credentialId)
        : await ctx.queues.fetch(agent.site_id, item.jobId);
  } catch {
    return 'JOB_NOT_HELD';
  }
  const data = JobDataSchema.safeParse(job?.data);
  if (!job || !data.success || data.data.credentialId !== id.credentialId) return 'JOB_NOT_HELD';
  const summary =
    item.result.outcome === 'ok' ? { outcome: 'ok' } : { outcome: 'failed', reason: item.result.reason };
  try {
    await job.moveToCompleted(summary, item.token, false);
  } catch {
    return 'JOB_NOT_HELD'; // lock lost (expired, taken by another agent) or the job finished already
  }
  return { item, kind: id.kind, data: data.data };
}

async function applyAccepted(ctx: Ctx, agent: AgentRow, accepted: Accepted[]): Promise<void> {
  const follow: { id: string; kind: JobKind }[] = [];
  await ctx.db.tx(async (q) => {
    const now = new Date();
    const sealer = rowSealer(ctx.box);
    const rows = await loadCredentials(q, [...new Set(accepted.map((a) => a.data.credentialId))], true);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const counted: { row: CredentialRow; count: RunCount }[] = [];
    const settled: SettledChange[] = [];
    const policies = accepted.some((a) => a.kind !== 'verify')
      ? await loadPolicies(
          q,
          rows.map((r) => r.policy_id),
        )
      : new Map<string, PolicyRow>();
    const history: { id: string; credentialId: string; secret: string }[] = [];
    for (const a of accepted) {
      const row = byId.get(a.data.credentialId);
      if (!row) continue; // deleted meanwhile
      ctx.metrics.jobsCompleted.inc({ site: agent.site_id, kind: a.kind, outcome: a.item.result.outcome });
      ctx.metrics.jobDuration.observe({ kind: a.kind, adapter: row.target_kind }, a.item.durationMs / 1000);
      if (a.kind !== 'verify' && a.data.changeId !== row.pending_id) {
        // About a pending password that is no longer the pending one: only the job is over.
        if (row.job_kind === a.kind) row.job_state = 'idle';
        continue;
      }
      const effect = applyResult(row, a.kind, a.item.result, {
        now,
        retryLimit: ctx.config.RETRY_LIMIT,
        suspendAfter: ctx.config.SUSPEND_AFTER_FAILURES,
        ...sealer,
      });
      if (effect.retired) {
        const id = randomUUID();
        const plain = ctx.box.open(effect.retired, row.id, 'secret');
        history.push({ id, credentialId: row.id, secret: ctx.box.seal(plain, row.id, historyField(id)) });
      }
      if (effect.count) counted.push({ row, count: effect.count });
      if (effect.count && a.kind !== 'verify') {
        // The change settled: the next rotation, and a sync group's next step.
        const policy = row.policy_id ? policies.get(row.policy_id) : undefined;
        scheduleAfterChange(row, policy, effect.count === 'success', now);
        if (row.group_id !== null) settled.push({ row, changeId: a.data.changeId, count: effect.count });
      }
      if (effect.followUp) follow.push({ id: row.id, kind: effect.followUp });
      // A failure is worth a line by default (an operator looks for it); a success only at debug
      // (thousands a second under load: nothing is built unless debug is on).
      const failed = a.item.result.outcome === 'failed';
      if (failed || ctx.log.isLevelEnabled('debug')) {
        const fields = {
          jobId: a.item.jobId,
          credentialId: row.id,
          agentId: agent.id,
          siteId: agent.site_id,
          kind: a.kind,
          outcome: a.item.result.outcome,
          durationMs: a.item.durationMs,
        };
        if (a.item.result.outcome === 'failed') {
          ctx.log.info(
            { ...fields, reason: a.item.result.reason, message: a.item.result.message },
            'job failed',
          );
        } else ctx.log.debug(fields, 'job result');
      }
    }
    const facts = await siteFacts(q, [agent.site_id]);
    for (const row of rows) refreshStatus(row, facts.get(row.site_id)!, now);
    await countInRuns(q, counted, now);
    await saveCredentials(q, rows);
    if (history.length > 0) {
      await q.query(
        `INSERT INTO secret_history (id, credential_id, secret) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[])`,
        [history.map((h) => h.id), history.map((h) => h.credentialId), history.map((h) => h.secret)],
      );
    }
    await pinObserved(q, agent, accepted, byId);
    const work: Work[] = follow.map((f) => ({ row: byId.get(f.id)!, kind: f.kind }));
    await dispatch(ctx, q, work, now);
    await settleGroupChanges(ctx, q, settled, now);
  });
  // At most one write a second per site: every report of every agent of the site would otherwise
  // queue on this one row (a lock and a commit per report batch) for a timestamp shown in seconds.
  await ctx.db.query(
    `UPDATE sites SET last_sync_at = now()
      WHERE id = $1 AND (last_sync_at IS NULL OR last_sync_at < now() - interval '1 second')`,
    [agent.site_id],
  );
}

/**
 * Records what agents observed on targets that have nothing pinned yet (trust on first use, e.g. an
 * SSH host key), compare-and-set so two agents cannot pin two keys; audited for the operator to check.
 */
async function pinObserved(
  q: Queryable,
  agent: AgentRow,
  accepted: Accepted[],
  rows: Map<string, CredentialRow>,
): Promise<void> {
  const seen = new Set<string>();
  for (const a of accepted) {
    const row = rows.get(a.data.credentialId);
    const observed = a.item.result.observed;
    if (!row || !observed || seen.has(row.target_id)) continue;
    seen.add(row.target_id);
    const spec = targetSpec(row.target_kind);
    const pinned = spec.pinObserved?.(spec.connectionSchema.parse(row.target_connection), observed);
    if (!pinned) continue;
    const r = await q.query('UPDATE targets SET connection = $2 WHERE id = $1 AND connection = $3::jsonb', [
      row.target_id,
      JSON.stringify(pinned),
      JSON.stringify(row.target_connection),
    ]);
    if (r.rowCount === 0) continue;
    await recordAudit(q, [
      {
        actorType: 'agent',
        actorId: agent.id,
        action: 'target.pin_observed',
        objectType: 'target',
        objectId: row.target_id,
        details: { observed },
      },
    ]);
  }
}
