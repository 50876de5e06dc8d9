import { groupBy } from '../../shared/collections.js';
import type { ReportItem } from '../../shared/contracts/gateway.js';
import type { JobData, JobKind } from '../../shared/contracts/jobs.js';
import { guardMessage, WITHHELD_MESSAGE } from '../../shared/message-guard.js';
import type { Ctx } from '../context.js';
import { historyEntry, saveHistory, type HistoryEntry } from '../credentials/history.js';
import { loadPrivileged, privilegedIdOf } from '../credentials/privileged.js';
import { rowSealer } from '../credentials/sealing.js';
import { refreshStatus } from '../credentials/status.js';
import { loadCredentials, saveCredentials, setLastDetail, type CredentialRow } from '../credentials/store.js';
import {
  applyResult,
  changed,
  markIdle,
  settlePendingSoon,
  type RunCount,
} from '../credentials/transitions.js';
import { settleDependencies } from '../dependencies/settle.js';
import { loadDependencies, type DependencyRow } from '../dependencies/store.js';
import { settleGroupChanges, type SettledChange } from '../groups/change.js';
import { scheduleAfterChange } from '../policies/rotation.js';
import { loadPolicies, type PolicyRow } from '../policies/store.js';
import { dispatch, type Work } from '../queues/dispatch.js';
import { countInRuns } from '../runs/count.js';
import type { AgentRow } from '../store/agents.js';
import type { Queryable } from '../store/db.js';
import { noteSiteSync, siteFacts } from '../store/sites.js';
import { reported } from './being-synced.js';
import { auditPinMismatches, pinObserved } from './target-pins.js';

/** A result taken from the agent's site queue (gateway/report.ts), to apply to its credential. */
export interface Accepted {
  item: ReportItem;
  kind: JobKind;
  data: JobData;
}

/** The credentials a batch of results applies to, locked, with what applying them needs. */
interface Batch {
  /** Every credential the results name (locked), another site's included. */
  all: CredentialRow[];
  /** Those of the agent's site, by id: the ones results apply to. */
  byId: Map<string, CredentialRow>;
  policies: Map<string, PolicyRow>;
  /** The privileged accounts of change / reconcile results that carry a message (for scrubbed()). */
  privileged: Map<string, CredentialRow>;
  /** Dependencies to settle: every one of the credentials of changes, the ones asked of verifications. */
  dependencies: Map<string, DependencyRow[]>;
  sealer: ReturnType<typeof rowSealer>;
}

/** What a batch of results leads to, gathered result by result and stored at the end. */
interface Outcomes {
  /** Results to count in their sync runs. */
  counted: { row: CredentialRow; count: RunCount; reason?: string }[];
  /** Settled changes of sync group members (their group's next step). */
  settled: SettledChange[];
  history: HistoryEntry[];
  /** Work a result asks for next (a verification after a change, a reconcile). */
  follow: Work[];
  /** Results of work outside runs: the day's schedule entry of the site counts them (after the commit). */
  outside: { kind: 'verify' | 'change'; count: RunCount }[];
  /** Jobs whose credential is of another site than the agent's: refused, not applied. */
  foreign: Set<string>;
}

/**
 * Applies the results in one transaction: each changes its credential (credentials/transitions.ts),
 * then the rows, their runs' counts, the password history, target pins, follow-up work and sync
 * groups' next steps are stored. Returns the job ids whose credential is not of the agent's site.
 */
export async function applyAccepted(ctx: Ctx, agent: AgentRow, accepted: Accepted[]): Promise<Set<string>> {
  const out: Outcomes = {
    counted: [],
    settled: [],
    history: [],
    follow: [],
    outside: [],
    foreign: new Set(),
  };
  const started = Date.now();
  let at = new Date();
  await ctx.db.tx(async (q) => {
    const now = new Date();
    at = now;
    const batch = await loadBatch(ctx, q, agent, accepted);
    for (const a of accepted) {
      const row = batch.byId.get(a.data.credentialId);
      if (!row) {
        // Deleted meanwhile, or another site's (refused).
        if (batch.all.some((r) => r.id === a.data.credentialId)) out.foreign.add(a.item.jobId);
        continue;
      }
      ctx.metrics.jobsCompleted.inc({ site: agent.site_id, kind: a.kind, outcome: a.item.result.outcome });
      ctx.metrics.jobDuration.observe({ kind: a.kind, adapter: row.target_kind }, a.item.durationMs / 1000);
      if (a.kind !== 'verify' && a.data.changeId !== row.pending_id) {
        endSupersededJob(a, row, now, out);
        continue;
      }
      // Logged as stored: the message checked against the passwords (never the agent's own words).
      logResult(ctx, agent, a, row, await applyOne(ctx, q, agent, a, row, batch, now, out));
    }
    await storeOutcomes(ctx, q, agent, accepted, batch, out, now);
  });
  // Their jobs are over: a verification reported in time is never marked "being synced".
  reported(
    ctx,
    accepted.map((a) => a.data.credentialId),
    started,
  );
  // An operator's job among them: the site's routine work goes on (queues/operator-holds.ts).
  ctx.wake.release(
    agent.site_id,
    accepted.map((a) => a.data.credentialId),
  );
  for (const o of out.outside) ctx.scheduleCounts.add(agent.site_id, o.kind, o.count, at);
  await noteSiteSync(ctx.db, agent.site_id);
  return out.foreign;
}

/** Locks the credentials the results name and loads their policies and privileged accounts. */
async function loadBatch(ctx: Ctx, q: Queryable, agent: AgentRow, accepted: Accepted[]): Promise<Batch> {
  const all = await loadCredentials(q, [...new Set(accepted.map((a) => a.data.credentialId))], true);
  // As claim.ts does: a result never touches a credential of another site than the agent's.
  const rows = all.filter((r) => r.site_id === agent.site_id);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const policies = accepted.some((a) => a.kind !== 'verify')
    ? await loadPolicies(
        q,
        rows.map((r) => r.policy_id),
      )
    : new Map<string, PolicyRow>();
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
  return { all, byId, policies, privileged, dependencies, sealer: rowSealer(ctx.box) };
}

/**
 * A result about a pending password that is no longer the pending one: only the job is over (and
 * counts in its run); a pending password that replaced it is settled next.
 */
function endSupersededJob(a: Accepted, row: CredentialRow, now: Date, out: Outcomes): void {
  if (row.job_kind !== a.kind || row.job_state === 'idle') return;
  markIdle(row);
  settlePendingSoon(row, now);
  out.counted.push({ row, count: 'unsynced' });
}

/**
 * What one result does to its credential (the change protocol), and what it leads to; returns the
 * result as stored (its message checked against the passwords the job carried).
 */
async function applyOne(
  ctx: Ctx,
  q: Queryable,
  agent: AgentRow,
  a: Accepted,
  row: CredentialRow,
  batch: Batch,
  now: Date,
  out: Outcomes,
): Promise<ReportItem['result']> {
  const result = scrubbed(ctx, a, row, batch.privileged);
  const effect = applyResult(row, a.kind, result, {
    now,
    retryLimit: ctx.config.RETRY_LIMIT,
    suspendAfter: ctx.config.SUSPEND_AFTER_FAILURES,
    ...batch.sealer,
  });
  // The result's detail code goes with its reason and message (cleared by a result without one).
  setLastDetail(
    row,
    a.item.result.outcome === 'failed' && row.last_outcome === 'failed'
      ? (a.item.result.detailCode ?? null)
      : null,
  );
  if (effect.retired) out.history.push(historyEntry(ctx.box, row.id, effect.retired, 'secret', 'retired'));
  if (effect.discarded) {
    out.history.push(historyEntry(ctx.box, row.id, effect.discarded, 'pending_secret', 'discarded_pending'));
    ctx.log.info(
      { jobId: a.item.jobId, credentialId: row.id, agentId: agent.id },
      'pending password discarded; kept sealed in secret_history',
    );
  }
  const deps = batch.dependencies.get(row.id);
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
    out.counted.push({ row, count: effect.count, ...(runReason ? { reason: runReason } : {}) });
    if (row.run_id === null)
      out.outside.push({ kind: a.kind === 'verify' ? 'verify' : 'change', count: effect.count });
  }
  if (effect.count && a.kind !== 'verify') {
    // The change settled: the next rotation, and a sync group's next step.
    const policy = row.policy_id ? batch.policies.get(row.policy_id) : undefined;
    scheduleAfterChange(row, policy, changed(effect.count), now);
    if (row.group_id !== null) out.settled.push({ row, changeId: a.data.changeId, count: effect.count });
  }
  if (effect.followUp) out.follow.push({ row, kind: effect.followUp });
  return result;
}

/**
 * A failure is worth a line by default (an operator looks for it); a success only at debug
 * (thousands a second under load: nothing is built unless debug is on).
 */
function logResult(
  ctx: Ctx,
  agent: AgentRow,
  a: Accepted,
  row: CredentialRow,
  result: ReportItem['result'],
): void {
  if (result.outcome !== 'failed' && !ctx.log.isLevelEnabled('debug')) return;
  const fields = {
    jobId: a.item.jobId,
    credentialId: row.id,
    agentId: agent.id,
    siteId: agent.site_id,
    kind: a.kind,
    outcome: result.outcome,
    durationMs: a.item.durationMs,
  };
  if (result.outcome === 'failed') {
    ctx.log.info({ ...fields, reason: result.reason, message: result.message }, 'job failed');
  } else ctx.log.debug(fields, 'job result');
}

/**
 * Stores what the batch led to, in the caller's transaction: statuses, run counts, the rows, the
 * password history, target pins and mismatches, follow-up work, sync groups' next steps.
 */
async function storeOutcomes(
  ctx: Ctx,
  q: Queryable,
  agent: AgentRow,
  accepted: Accepted[],
  batch: Batch,
  out: Outcomes,
  now: Date,
): Promise<void> {
  const rows = [...batch.byId.values()];
  const facts = await siteFacts(q, [agent.site_id]);
  for (const row of rows) refreshStatus(row, facts.get(row.site_id)!, now);
  // The runs' counters are added when the transaction commits (their rows are the hot ones:
  // runs/count.ts), unless a sync group's next step reads them in this transaction.
  await countInRuns(q, out.counted, now, { atCommit: out.settled.length === 0 });
  await saveCredentials(q, rows);
  await saveHistory(q, out.history);
  await pinObserved(q, agent, accepted, batch.byId);
  await auditPinMismatches(q, agent, accepted, batch.byId);
  await dispatch(ctx, q, out.follow, now);
  await settleGroupChanges(ctx, q, out.settled, now);
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
