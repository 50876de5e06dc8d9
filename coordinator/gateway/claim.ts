import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import {
  JobDataSchema,
  OPERATOR_VERIFY_PRIORITY,
  parseJobId,
  type JobData,
  type JobKind,
} from '../../shared/contracts/jobs.js';
import { targetSpec } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { countInRuns } from '../runs/count.js';
import { refreshStatus } from '../credentials/status.js';
import { agentMayWork, type AgentRow } from '../store/agents.js';
import { recordAudit } from '../store/audit.js';
import {
  loadCredentials,
  readCredentials,
  saveCredentials,
  type CredentialRow,
} from '../credentials/store.js';
import { siteFacts } from '../store/sites.js';
import {
  markHandedOut,
  markIdle,
  refuseHandout,
  refuseUnreadable,
  settlePendingSoon,
} from '../credentials/transitions.js';
import { loadPrivileged, privilegedIdOf, privilegedMismatch } from '../credentials/privileged.js';
import { isRedisUnavailable } from '../queues/redis.js';
import { lockTokenFor } from './agent-auth.js';
import { markBeingSynced } from './being-synced.js';
import { dependenciesForClaim } from '../dependencies/handout.js';
import { handOutTrials, isTrialJob } from '../trials/handout.js';

/** How often a waiting claim looks at the queue again without a wake-up (delayed and stalled jobs). */
const RECHECK_MS = 1000;

/**
 * Long-poll claim: takes up to `max` jobs of the agent's own site (the agent never names a queue),
 * waits up to `waitMs` for work when there is none, and returns the jobs with their secrets. Every
 * hand-out of secrets is audited. `priorityOnly` (the agent's priority lane): takes only while work
 * ahead of routine verifications waits (PRIORITY_LANE; the queue hands out by priority, so the job
 * taken is that work unless another claim took it first).
 */
export async function claim(
  ctx: Ctx,
  agent: AgentRow,
  max: number,
  waitMs: number,
  signal: AbortSignal,
  priorityOnly = false,
): Promise<ClaimedJob[]> {
  if (!priorityOnly) return claimFor(ctx, agent, max, waitMs, signal, false);
  const lanes = lanesOf(ctx);
  lanes.set(agent.id, (lanes.get(agent.id) ?? 0) + 1);
  try {
    return await claimFor(ctx, agent, max, waitMs, signal, true);
  } finally {
    const open = lanes.get(agent.id)! - 1;
    if (open > 0) lanes.set(agent.id, open);
    else lanes.delete(agent.id);
  }
}

/** Per coordinator: the agents with a priority-lane claim open here, and how many. */
const openLanes = new WeakMap<Ctx, Map<string, number>>();

function lanesOf(ctx: Ctx): Map<string, number> {
  let lanes = openLanes.get(ctx);
  if (!lanes) openLanes.set(ctx, (lanes = new Map()));
  return lanes;
}

async function claimFor(
  ctx: Ctx,
  agent: AgentRow,
  max: number,
  waitMs: number,
  signal: AbortSignal,
  priorityOnly: boolean,
): Promise<ClaimedJob[]> {
  const deadline = Date.now() + waitMs;
  const token = lockTokenFor(agent.id, randomUUID());
  for (;;) {
    const may = await mayTake(ctx, agent, max, priorityOnly);
    const jobs = may > 0 ? await takeUnlessUnavailable(ctx, agent, token, may) : [];
    if (jobs.length > 0) {
      const handed = await handOutTaken(ctx, agent, jobs);
      if (handed.length > 0 || signal.aborted) return handed;
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0 || signal.aborted) return [];
    // A hold on the site's routine work (an operator's job) may end by its bounds before anything wakes it.
    const held = priorityOnly ? 0 : ctx.wake.holdEndsIn(agent.site_id);
    await ctx.wake.wait(agent.site_id, Math.min(left, RECHECK_MS, held > 0 ? held : RECHECK_MS), signal);
    // The agent was authenticated when the call began; it (or its site) may have been disabled or
    // revoked while it waited. Its next call gets the 403/401.
    if (!(await agentMayWork(ctx.db, agent.id))) return [];
  }
}

/**
 * The claim that comes with a report (report.ts): hands out `next`, the jobs BullMQ took while it
 * completed the report's results (each locked with the token of the result it followed), topped up
 * to `max` with jobs taken now, never waiting for work. With Redis unavailable, only `next`. If the
 * hand-out fails, every job it took goes back to the queue before the error is thrown.
 */
export async function claimAfterReport(
  ctx: Ctx,
  agent: AgentRow,
  next: Job<JobData>[],
  max: number,
): Promise<ClaimedJob[]> {
  const jobs = [...next];
  try {
    if (jobs.length < max) {
      const token = lockTokenFor(agent.id, randomUUID());
      jobs.push(...(await takeUnlessUnavailable(ctx, agent, token, max - jobs.length)));
    }
    return jobs.length > 0 ? await handOutTaken(ctx, agent, jobs) : [];
  } catch (err) {
    await giveBack(ctx, agent, jobs);
    throw err;
  }
}

/**
 * Jobs taken for this agent whose answer will not be given: back to the queue now (best effort;
 * else their locks expire and the stalled-job check returns them). A job handed out or finished
 * meanwhile is no longer held and stays as it is.
 */
export async function giveBack(ctx: Ctx, agent: AgentRow, jobs: Job<JobData>[]): Promise<void> {
  if (jobs.length === 0) return;
  await Promise.all(
    jobs.map((job) =>
      ctx.queues.call('handing a job back', () => job.moveToWait(tokenOf(job))).catch(() => undefined),
    ),
  );
  ctx.wake.notify(agent.site_id);
}

/**
 * How many of `max` jobs a report's claim may take now: as a claim, but none while an operator's job
 * of the site is in flight and the agent's priority lane waits here (a job taken with the report
 * leaves only with its answer, once all its results are applied; the lane takes the work at once).
 */
export async function reportMayTake(ctx: Ctx, agent: AgentRow, max: number): Promise<number> {
  if (ctx.wake.holding(agent.site_id) && lanesOf(ctx).has(agent.id)) return 0;
  return mayTake(ctx, agent, max, false);
}

/**
 * How many of `max` jobs a claim may take now. The priority lane (`priorityOnly`): all, once work
 * ahead of routine verifications waits for the site. Any other claim: all, unless an operator's job
 * of the site is in flight (queues/operator-holds.ts): then only the work ahead of routine
 * verifications that waits (the queue hands it out first), so the routine work waits for the
 * operator's result. None while Redis is unavailable, where it has to be asked.
 */
async function mayTake(ctx: Ctx, agent: AgentRow, max: number, priorityOnly: boolean): Promise<number> {
  if (max === 0 || (!priorityOnly && !ctx.wake.holding(agent.site_id))) return max;
  let ahead: number;
  try {
    ahead = await ctx.queues.waitingAhead(agent.site_id);
  } catch (err) {
    if (!isRedisUnavailable(err)) throw err;
    return 0;
  }
  return priorityOnly ? (ahead > 0 ? max : 0) : Math.min(max, ahead);
}

/**
 * The jobs a claim takes, or none while Redis is unavailable: the claim then waits as for an empty
 * queue (trying again every RECHECK_MS) and answers `{jobs: []}` at its wait's end, so agents keep
 * their pace instead of calling again at once or backing off.
 */
async function takeUnlessUnavailable(
  ctx: Ctx,
  agent: AgentRow,
  token: string,
  max: number,
): Promise<Job<JobData>[]> {
  try {
    const jobs = await ctx.queues.take(agent.site_id, token, max);
    for (const job of jobs) job.token = token; // handOut hands each job out with its own token
    return jobs;
  } catch (err) {
    if (!isRedisUnavailable(err)) throw err;
    ctx.log.debug(
      { agentId: agent.id, siteId: agent.site_id, err: (err as Error).message },
      'claim: no jobs',
    );
    return [];
  }
}

/**
 * The trial branch point: login trials' jobs (`t-<trialId>`, trials/handout.ts) go out apart from the
 * credentials' own work, which keeps its path (handOut) untouched.
 */
async function handOutTaken(ctx: Ctx, agent: AgentRow, jobs: Job<JobData>[]): Promise<ClaimedJob[]> {
  if (!jobs.some(isTrialJob)) return handOut(ctx, agent, jobs);
  const rest = jobs.filter((j) => !isTrialJob(j));
  const trials = await handOutTrials(ctx, agent, jobs.filter(isTrialJob));
  return rest.length > 0 ? [...trials, ...(await handOut(ctx, agent, rest))] : trials;
}

interface Taken {
  job: Job<JobData>;
  kind: JobKind;
  data: JobData;
  row: CredentialRow;
}

/** A job not handed out whose credential needs settling: no longer wanted, or its secret unreadable. */
interface Settle {
  id: string;
  kind: JobKind;
  unreadable: boolean;
  /** Why the job's privileged account may not be handed out (settled as an error with this message). */
  refused?: string;
  /**
   * The job is about an older pending password than the credential's (left behind in Redis, e.g. by
   * a cancelled run whose job removal failed, and standing in for the new change's deduplicated job):
   * the credential's own pending password goes out again soon.
   */
  outdated?: boolean;
}

/** Whether a change / reconcile job is about another pending password than the one the row waits with. */
const outdatedChange = (row: CredentialRow, kind: JobKind, data: JobData): boolean =>
  kind !== 'verify' && row.sync_enabled && row.pending_secret !== null && row.pending_id !== data.changeId;

/** What a hand-out decided: the jobs going to the agent, and the ones finished without it. */
interface HandOut {
  claimed: ClaimedJob[];
  taken: Taken[];
  skipped: Job<JobData>[];
}

/** The lock token a taken job is held with (set by BullMQ, or by takeUnlessUnavailable / SiteQueues.nextFrom). */
const tokenOf = (job: Job<JobData>): string => job.token!;

/**
 * Hands claimed jobs out, each with the token its lock is held with. Verifications (the hot path) read their credentials without row locks
 * and write nothing: the lock tokens in Redis already make a job one agent's, and "being synced"
 * becomes visible a moment later (being-synced.ts), only for jobs still running then. Changes and
 * reconciles are handed out from rows locked in a transaction that records the hand-out and
 * commits before the agent hears of the job (handOutChanges).
 */
async function handOut(ctx: Ctx, agent: AgentRow, jobs: Job<JobData>[]): Promise<ClaimedJob[]> {
  const out: HandOut = { claimed: [], taken: [], skipped: [] };
  const settle: Settle[] = [];
  const parsed = jobs.map((job) => {
    const id = parseJobId(job.id ?? '');
    const data = JobDataSchema.safeParse(job.data);
    return { job, kind: id?.kind, data: data.success ? data.data : undefined };
  });
  // Read, never saved: changes are handed out from rows locked and loaded again (handOutChanges).
  const rows = await readCredentials(
    ctx.db,
    parsed.flatMap((p) => (p.data ? [p.data.credentialId] : [])),
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  // The privileged accounts named by the targets of change / reconcile jobs (checked by privilegedRefusal).
  const privileged = await loadPrivileged(
    ctx.db,
    parsed.flatMap((p) => {
      const row = p.data && p.kind !== 'verify' ? byId.get(p.data.credentialId) : undefined;
      return row ? [row] : [];
    }),
    agent.site_id,
  );
  const changes: Taken[] = [];
  for (const p of parsed) {
    const row = p.data ? byId.get(p.data.credentialId) : undefined;
    if (!p.kind || !p.data || !row || row.site_id !== agent.site_id) {
      out.skipped.push(p.job);
      continue;
    }
    if (!stillWanted(row, p.kind, p.data)) {
      out.skipped.push(p.job);
      settle.push({
        id: row.id,
        kind: p.kind,
        unreadable: false,
        outdated: outdatedChange(row, p.kind, p.data),
      });
      continue;
    }
    // The privileged account must still be on the same target (it may have been edited since).
    const refused = p.kind === 'verify' ? undefined : privilegedRefusal(row, privileged);
    if (refused !== undefined) {
      ctx.log.warn(
        { credentialId: row.id, detail: refused },
        'privileged account refused; job not handed out',
      );
      out.skipped.push(p.job);
      settle.push({ id: row.id, kind: p.kind, unreadable: false, refused });
      continue;
    }
    const t = { job: p.job, kind: p.kind, data: p.data, row };
    if (p.kind !== 'verify') {
      changes.push(t);
      continue;
    }
    const claimed = openFor(ctx, t, privileged, false);
    if (claimed) {
      out.claimed.push(claimed);
      out.taken.push(t);
    } else {
      out.skipped.push(p.job);
      settle.push({ id: row.id, kind: p.kind, unreadable: true });
    }
  }
  if (settle.length > 0 || changes.length > 0) {
    const more = await handOutChanges(ctx, agent.site_id, settle, changes, privileged);
    out.claimed.push(...more.claimed);
    out.taken.push(...more.taken);
    out.skipped.push(...more.skipped);
  }
  const { claimed, taken, skipped } = out;
  if (taken.length > 0) {
    // The dependencies to run with each job, and their login passwords (claimed and taken are parallel).
    const deps = await dependenciesForClaim(
      ctx,
      ctx.db,
      agent,
      claimed.map((c, i) => ({ jobId: c.jobId, kind: c.kind, row: taken[i]!.row })),
    );
    for (const c of claimed) {
      const list = deps.byJob.get(c.jobId);
      if (list) c.dependencies = list;
    }
    await recordAudit(ctx.db, deps.audits);
    // One row per password handed out (a privileged account's too), so GET /audit?objectId=<credential>
    // answers "who received this password"; one INSERT for the whole claim.
    await recordAudit(
      ctx.db,
      claimed.flatMap((c) => {
        const details = { siteId: agent.site_id, jobId: c.jobId, kind: c.kind };
        const own = {
          actorType: 'agent' as const,
          actorId: agent.id,
          action: 'secret.handout',
          objectType: 'credential',
          objectId: c.credentialId,
          details,
        };
        const privilegedId = c.privileged ? privilegedIdOf(byId.get(c.credentialId)!) : undefined;
        if (privilegedId === undefined) return [own];
        return [
          own,
          { ...own, objectId: privilegedId, details: { ...details, privilegedFor: c.credentialId } },
        ];
      }),
    );
    const verifies = taken.filter((t) => t.kind === 'verify');
    markBeingSynced(
      ctx,
      verifies.map((t) => ({ id: t.row.id, kind: t.kind, queuedAt: t.row.job_since })),
    );
  }
  // Jobs for credentials that are gone or no longer want the work are finished, not handed out.
  await ctx.queues.finishSkipped(skipped);
  for (const j of claimed) ctx.metrics.jobsClaimed.inc({ site: agent.site_id, kind: j.kind });
  if (claimed.length > 0 && ctx.log.isLevelEnabled('debug'))
    ctx.log.debug(
      { agentId: agent.id, siteId: agent.site_id, jobs: claimed.length, jobIds: claimed.map((j) => j.jobId) },
      'jobs claimed',
    );
  return claimed;
}

function stillWanted(row: CredentialRow, kind: JobKind, data: JobData): boolean {
  const needsPending = kind !== 'verify';
  return (
    row.sync_enabled &&
    row.status !== 'not_synced' &&
    row.status !== 'unsyncable' &&
    (!needsPending || (row.pending_secret !== null && row.pending_id === data.changeId))
  );
}

/** The job as handed out, its secrets opened; undefined when a stored secret fails its integrity check. */
function openFor(
  ctx: Ctx,
  t: Taken,
  privileged: Map<string, CredentialRow>,
  pendingMayBeSet: boolean,
): ClaimedJob | undefined {
  try {
    return toClaimed(ctx, t, privileged, pendingMayBeSet);
  } catch (err) {
    // A secret that fails its integrity check is reported on the credential, never handed out.
    ctx.log.error(
      { credentialId: t.row.id, jobId: t.job.id, detail: err instanceof Error ? err.message : String(err) },
      'stored secret unreadable; job not handed out',
    );
    return undefined;
  }
}

/**
 * In one transaction, with the rows locked: hands out change and reconcile jobs whose pending
 * password is still the one they are about, recording each change's hand-out (so from the commit
 * on, PostgreSQL knows the pending password may be set, whatever happens to the job or the agent)
 * and telling the agent whether an earlier attempt may have set it; and takes skipped credentials
 * out of their job (and run). Commits before the claim answers.
 */
async function handOutChanges(
  ctx: Ctx,
  siteId: string,
  settle: Settle[],
  changes: Taken[],
  privileged: Map<string, CredentialRow>,
): Promise<HandOut> {
  return ctx.db.tx(async (q) => {
    const out: HandOut = { claimed: [], taken: [], skipped: [] };
    const now = new Date();
    const ids = [...settle.map((s) => s.id), ...changes.map((c) => c.row.id)];
    const rows = new Map((await loadCredentials(q, ids, true)).map((r) => [r.id, r]));
    const running: CredentialRow[] = [];
    for (const c of changes) {
      const row = rows.get(c.row.id);
      if (!row || !stillWanted(row, c.kind, c.data)) {
        // Settled or replaced since the unlocked read: this job is not about the pending password now.
        out.skipped.push(c.job);
        if (row) {
          settle.push({
            id: row.id,
            kind: c.kind,
            unreadable: false,
            outdated: outdatedChange(row, c.kind, c.data),
          });
        }
        continue;
      }
      const t = { ...c, row };
      const probe = openFor(ctx, t, privileged, false);
      if (!probe) {
        out.skipped.push(c.job);
        settle.push({ id: row.id, kind: c.kind, unreadable: true });
        continue;
      }
      const mayBeSet = markHandedOut(row, c.kind, now);
      out.claimed.push({ ...probe, pendingMayBeSet: mayBeSet });
      out.taken.push(t);
      running.push(row);
    }
    const touched: CredentialRow[] = [];
    for (const s of settle) {
      const row = rows.get(s.id);
      if (!row || row.job_state === 'idle' || row.job_kind !== s.kind) continue;
      markIdle(row);
      if (s.outdated) settlePendingSoon(row, now);
      if (s.unreadable) refuseUnreadable(row, now);
      if (s.refused !== undefined) refuseHandout(row, now, s.refused);
      touched.push(row);
    }
    const facts = (await siteFacts(q, [siteId])).get(siteId)!;
    for (const row of [...touched, ...running]) refreshStatus(row, facts, now);
    await countInRuns(
      q,
      touched.map((row) => ({ row, count: 'unsynced' as const })),
      now,
    );
    await saveCredentials(q, [...touched, ...running]);
    return out;
  });
}

/** Why the privileged account of a change / reconcile job may not go out with it, if it may not. */
function privilegedRefusal(row: CredentialRow, privileged: Map<string, CredentialRow>): string | undefined {
  const id = privilegedIdOf(row);
  if (id === undefined) return undefined;
  const connection = targetSpec(row.target_kind).connectionSchema.parse(row.target_connection) as Record<
    string,
    unknown
  >;
  return privilegedMismatch(
    { siteId: row.site_id, kind: row.target_kind, connection },
    id,
    privileged.get(id),
  );
}

function toClaimed(
  ctx: Ctx,
  t: Taken,
  privileged: Map<string, CredentialRow>,
  pendingMayBeSet: boolean,
): ClaimedJob {
  const spec = targetSpec(t.row.target_kind);
  const connection = spec.connectionSchema.parse(t.row.target_connection) as Record<string, unknown>;
  const privilegedRow = t.kind === 'verify' ? undefined : privileged.get(privilegedIdOf(t.row) ?? '');
  return {
    jobId: t.job.id!,
    token: tokenOf(t.job),
    kind: t.kind,
    credentialId: t.row.id,
    attempt: t.row.attempt,
    target: { id: t.row.target_id, kind: t.row.target_kind, host: spec.host(connection), connection },
    username: t.row.username,
    password: ctx.box.open(t.row.secret, t.row.id, 'secret'),
    ...(t.kind !== 'verify' && t.row.pending_secret
      ? { pendingPassword: ctx.box.open(t.row.pending_secret, t.row.id, 'pending_secret') }
      : {}),
    // Decided from PostgreSQL (markHandedOut): an earlier hand-out may have set the pending password.
    pendingMayBeSet,
    ...(t.kind === 'verify' && t.job.opts.priority === OPERATOR_VERIFY_PRIORITY ? { urgent: true } : {}),
    ...(privilegedRow
      ? {
          privileged: {
            username: privilegedRow.username,
            password: ctx.box.open(privilegedRow.secret, privilegedRow.id, 'secret'),
          },
        }
      : {}),
  };
}
