import type { Job } from 'bullmq';
import type { Observed, ReportItem, ReportResponse } from '../../shared/contracts/gateway.js';
import type { DetailCode } from '../../shared/contracts/status.js';
import { JobDataSchema, parseJobId, type JobData, type JobKind } from '../../shared/contracts/jobs.js';
import { SyncError, type FieldIssue } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import type { RefusedItem } from '../http/batch.js';
import { isRedisUnavailable } from '../queues/redis.js';
import { settleGroupChanges, type SettledChange } from '../groups/change.js';
import { scheduleAfterChange } from '../policies/rotation.js';
import { loadPolicies, type PolicyRow } from '../policies/store.js';
import { countInRuns } from '../results/runs.js';
import { groupBy } from '../../shared/collections.js';
import { loadDependencies } from '../dependencies/store.js';
import { settleDependencies } from '../dependencies/settle.js';
import {
  applyResult,
  changed,
  markIdle,
  settlePendingSoon,
  type RunCount,
} from '../credentials/transitions.js';
import { dispatch, type Work } from '../scheduler/dispatch.js';
import { historyEntry, saveHistory, type HistoryEntry } from '../credentials/history.js';
import { rowSealer } from '../credentials/sealing.js';
import { refreshStatus } from '../credentials/status.js';
import type { AgentRow } from '../store/agents.js';
import { recordAudit } from '../store/audit.js';
import { loadCredentials, saveCredentials, setLastDetail, type CredentialRow } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import { siteFacts } from '../store/sites.js';
import { targetSpec } from '../../shared/targets/index.js';
import { loadPrivileged, privilegedIdOf } from '../credentials/privileged.js';
import { guardMessage, WITHHELD_MESSAGE } from '../../shared/message-guard.js';
import { holdsToken } from './agent-auth.js';
import { sentJobId } from './locks.js';

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
  const unreachable: string[] = [];
  let foreign = new Set<string>();
  try {
    await Promise.all(
      items.map(async (item) => {
        const held = await completeHeld(ctx, agent, item);
        if (held === UNREACHABLE) unreachable.push(item.jobId);
        else if (typeof held === 'string') rejected.push({ jobId: item.jobId, code: held });
        else accepted.push(held);
      }),
    );
    // A credential of another site (a job that should never have been in this queue) is refused too.
    if (accepted.length > 0) foreign = await applyAccepted(ctx, agent, accepted);
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
    accepted: accepted.map((a) => a.item.jobId).filter((id) => !foreign.has(id)),
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
): Promise<Accepted | string | typeof UNREACHABLE> {
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

/** Applies the results; returns the job ids whose credential is not of the agent's site (not applied). */
async function applyAccepted(ctx: Ctx, agent: AgentRow, accepted: Accepted[]): Promise<Set<string>> {
  const follow: { id: string; kind: JobKind }[] = [];
  const foreign = new Set<string>();
  /** Results of work outside runs: the day's schedule entry of the site counts them (after the commit). */
  const outside: { kind: 'verify' | 'change'; count: RunCount }[] = [];
  let at = new Date();
  await ctx.db.tx(async (q) => {
    const now = new Date();
    at = now;
    const sealer = rowSealer(ctx.box);
    const all = await loadCredentials(q, [...new Set(accepted.map((a) => a.data.credentialId))], true);
    // As claim.ts does: a result never touches a credential of another site than the agent's.
    const rows = all.filter((r) => r.site_id === agent.site_id);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const counted: { row: CredentialRow; count: RunCount; reason?: string }[] = [];
    // Dependencies: every one of the credentials of changes, the ones asked of verifications.
    const credentialsOf = (verify: boolean) => [
      ...new Set(accepted.filter((a) => (a.kind === 'verify') === verify).map((a) => a.data.credentialId)),
    ];
    const dependencies = groupBy(
      [
        ...(await loadDependencies(q, credentialsOf(false))),
        ...(await loadDependencies(q, credentialsOf(true), true)),
      ],
      (d) => d.credential_id,
    );
    const settled: SettledChange[] = [];
    const policies = accepted.some((a) => a.kind !== 'verify')
      ? await loadPolicies(
          q,
          rows.map((r) => r.policy_id),
        )
      : new Map<string, PolicyRow>();
    const history: HistoryEntry[] = [];
    // The privileged accounts of change / reconcile results that carry a message (for scrubbed()).
    const privileged = await loadPrivileged(
      q,
      accepted.flatMap((a) => {
        const row =
          a.kind !== 'verify' && a.item.result.message !== undefined
            ? byId.get(a.data.credentialId)
            : undefined;
        return row ? [row] : [];
      }),
    );
    for (const a of accepted) {
      const row = byId.get(a.data.credentialId);
      if (!row) {
        // Deleted meanwhile, or another site's (refused).
        if (all.some((r) => r.id === a.data.credentialId)) foreign.add(a.item.jobId);
        continue;
      }
      ctx.metrics.jobsCompleted.inc({ site: agent.site_id, kind: a.kind, outcome: a.item.result.outcome });
      ctx.metrics.jobDuration.observe({ kind: a.kind, adapter: row.target_kind }, a.item.durationMs / 1000);
      if (a.kind !== 'verify' && a.data.changeId !== row.pending_id) {
        // About a pending password that is no longer the pending one: only the job is over (and
        // counts in its run); a pending password that replaced it is settled next.
        if (row.job_kind === a.kind && row.job_state !== 'idle') {
          markIdle(row);
          settlePendingSoon(row, now);
          counted.push({ row, count: 'unsynced' });
        }
        continue;
      }
      const result = scrubbed(ctx, a, row, privileged);
      const effect = applyResult(row, a.kind, result, {
        now,
        retryLimit: ctx.config.RETRY_LIMIT,
        suspendAfter: ctx.config.SUSPEND_AFTER_FAILURES,
        ...sealer,
      });
      // The result's detail code goes with its reason and message (cleared by a result without one).
      setLastDetail(
        row,
        a.item.result.outcome === 'failed' && row.last_outcome === 'failed'
          ? (a.item.result.detailCode ?? null)
          : null,
      );
      if (effect.retired) history.push(historyEntry(ctx.box, row.id, effect.retired, 'secret', 'retired'));
      if (effect.discarded) {
        history.push(historyEntry(ctx.box, row.id, effect.discarded, 'pending_secret', 'discarded_pending'));
        ctx.log.info(
          { jobId: a.item.jobId, credentialId: row.id, agentId: agent.id },
          'pending password discarded; kept sealed in secret_history',
        );
      }
      const deps = dependencies.get(row.id);
      let runReason: string | undefined;
      if (deps) {
        const proven = a.kind === 'verify' ? result.outcome === 'ok' : changed(effect.count);
        const settledDeps = await settleDependencies(ctx, q, row, a.kind, result, proven, deps, now);
        if (settledDeps.partial && effect.count) {
          // The password is set, a dependency is not: never a silent success.
          effect.count = 'partial';
          row.last_message = settledDeps.partial.message;
          runReason = 'dependency_failed';
        }
      }
      if (effect.count) {
        counted.push({ row, count: effect.count, ...(runReason ? { reason: runReason } : {}) });
        if (row.run_id === null)
          outside.push({ kind: a.kind === 'verify' ? 'verify' : 'change', count: effect.count });
      }
      if (effect.count && a.kind !== 'verify') {
        // The change settled: the next rotation, and a sync group's next step.
        const policy = row.policy_id ? policies.get(row.policy_id) : undefined;
        scheduleAfterChange(row, policy, changed(effect.count), now);
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
    await saveHistory(q, history);
    await pinObserved(q, agent, accepted, byId);
    await auditPinMismatches(q, agent, accepted, byId);
    const work: Work[] = follow.map((f) => ({ row: byId.get(f.id)!, kind: f.kind }));
    await dispatch(ctx, q, work, now);
    await settleGroupChanges(ctx, q, settled, now);
  });
  for (const o of outside) ctx.scheduleCounts.add(agent.site_id, o.kind, o.count, at);
  // At most one write a second per site: every report of every agent of the site would otherwise
  // queue on this one row (a lock and a commit per report batch) for a timestamp shown in seconds.
  await ctx.db.query(
    `UPDATE sites SET last_sync_at = now()
      WHERE id = $1 AND (last_sync_at IS NULL OR last_sync_at < now() - interval '1 second')`,
    [agent.site_id],
  );
  return foreign;
}

/**
 * Defence in depth: an agent's message is checked against the passwords the coordinator handed out
 * with the job (current, pending, the privileged account's) before it is stored as the last message
 * and in the status history. The agent guards its messages too; this does not rely on it.
 */
function scrubbed(
  ctx: Ctx,
  a: Accepted,
  row: CredentialRow,
  privileged: Map<string, CredentialRow>,
): ReportItem['result'] {
  const result = a.item.result;
  if (result.message === undefined) return result;
  const secrets: string[] = [];
  try {
    secrets.push(ctx.box.open(row.secret, row.id, 'secret'));
    if (a.kind !== 'verify' && row.pending_secret !== null) {
      secrets.push(ctx.box.open(row.pending_secret, row.id, 'pending_secret'));
    }
    const id = a.kind !== 'verify' ? privilegedIdOf(row) : undefined;
    const admin = id === undefined ? undefined : privileged.get(id);
    if (admin) secrets.push(ctx.box.open(admin.secret, admin.id, 'secret'));
  } catch {
    // A secret that cannot be opened cannot be compared: keep no message rather than risk one.
    return { ...result, message: WITHHELD_MESSAGE };
  }
  const message = guardMessage(result.message, secrets);
  if (message === WITHHELD_MESSAGE && result.message !== WITHHELD_MESSAGE)
    ctx.log.warn({ credentialId: row.id, jobId: a.item.jobId }, 'agent message withheld');
  return { ...result, message: message ?? WITHHELD_MESSAGE };
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

/** The detail codes that report a host identity other than the pinned one, and how each is audited. */
const PIN_MISMATCHES: Partial<Record<DetailCode, { action: string; fact: keyof Observed }>> = {
  host_key_changed: { action: 'target.host_key_mismatch', fact: 'hostKeySha256' },
  tls_certificate_changed: { action: 'target.tls_certificate_mismatch', fact: 'tlsCertificateSha256' },
  account_domain_changed: { action: 'target.account_domain_mismatch', fact: 'accountDomainSid' },
};

/**
 * A changed host identity (SSH host key, TLS certificate, SMB account domain) is a security event,
 * not only a failed job: each report of one is audited for the target (`target.host_key_mismatch`,
 * `target.tls_certificate_mismatch`, `target.account_domain_mismatch`) with the pinned and the
 * presented value. The pin stays as it is: only an operator can accept a new one (by updating the
 * target).
 */
async function auditPinMismatches(
  q: Queryable,
  agent: AgentRow,
  accepted: Accepted[],
  rows: Map<string, CredentialRow>,
): Promise<void> {
  const seen = new Set<string>();
  const events = [];
  for (const a of accepted) {
    const row = rows.get(a.data.credentialId);
    const result = a.item.result;
    if (!row || result.outcome !== 'failed' || result.detailCode === undefined) continue;
    const mismatch = PIN_MISMATCHES[result.detailCode];
    if (mismatch === undefined || seen.has(row.target_id)) continue;
    seen.add(row.target_id);
    const spec = targetSpec(row.target_kind);
    const parsed = spec.connectionSchema.safeParse(row.target_connection);
    const pinned = parsed.success ? spec.pinned?.(parsed.data)?.[mismatch.fact] : undefined;
    events.push({
      actorType: 'agent' as const,
      actorId: agent.id,
      action: mismatch.action,
      objectType: 'target',
      objectId: row.target_id,
      details: {
        credentialId: row.id,
        jobId: a.item.jobId,
        pinned: pinned ?? null,
        presented: result.observed?.[mismatch.fact] ?? null,
      },
    });
  }
  if (events.length > 0) await recordAudit(q, events);
}
