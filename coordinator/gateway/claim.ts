import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { JobDataSchema, parseJobId, type JobData, type JobKind } from '../../shared/contracts/jobs.js';
import { targetSpec } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { countInRuns } from '../results/runs.js';
import { refreshStatus } from '../status.js';
import type { AgentRow } from '../store/agents.js';
import { recordAudit } from '../store/audit.js';
import { loadCredentials, saveCredentials, type CredentialRow } from '../store/credentials.js';
import type { Queryable } from '../store/db.js';
import { siteFacts } from '../store/sites.js';
import { markClaimed, markIdle } from '../results/transitions.js';
import { lockTokenFor } from './agent-auth.js';
import { markBeingSynced } from './being-synced.js';

/** How often a waiting claim looks at the queue again without a wake-up (delayed and stalled jobs). */
const RECHECK_MS = 1000;

/**
 * Long-poll claim: takes up to `max` jobs of the agent's own site (the agent never names a queue),
 * waits up to `waitMs` for work when there is none, and returns the jobs with their secrets. Every
 * hand-out of secrets is audited.
 */
export async function claim(
  ctx: Ctx,
  agent: AgentRow,
  max: number,
  waitMs: number,
  signal: AbortSignal,
): Promise<ClaimedJob[]> {
  const deadline = Date.now() + waitMs;
  const token = lockTokenFor(agent.id, randomUUID());
  for (;;) {
    const jobs = await ctx.queues.take(agent.site_id, token, max);
    if (jobs.length > 0) {
      const handed = await handOut(ctx, agent, jobs, token);
      if (handed.length > 0 || signal.aborted) return handed;
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0 || signal.aborted) return [];
    await ctx.wake.wait(agent.site_id, Math.min(left, RECHECK_MS), signal);
    // The agent was authenticated when the call began; it (or its site) may have been disabled or
    // revoked while it waited. Its next call gets the 403/401.
    if (!(await stillAllowed(ctx, agent))) return [];
  }
}

async function stillAllowed(ctx: Ctx, agent: AgentRow): Promise<boolean> {
  const { rows } = await ctx.db.query<{ ok: boolean }>(
    `SELECT (a.enabled AND a.approved AND a.revoked_at IS NULL AND s.enabled) AS ok
       FROM agents a JOIN sites s ON s.id = a.site_id WHERE a.id = $1`,
    [agent.id],
  );
  return rows[0]?.ok === true;
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
}

/**
 * Hands claimed jobs out. The credentials are read without row locks and not written: claiming is
 * the hot path, and the lock tokens in Redis already make a job one agent's. "Being synced" becomes
 * visible a moment later (being-synced.ts), only for jobs still running then. The rare jobs that are
 * not handed out are settled in a transaction of their own.
 */
async function handOut(
  ctx: Ctx,
  agent: AgentRow,
  jobs: Job<JobData>[],
  token: string,
): Promise<ClaimedJob[]> {
  const skipped: Job<JobData>[] = [];
  const settle: Settle[] = [];
  const parsed = jobs.map((job) => {
    const id = parseJobId(job.id ?? '');
    const data = JobDataSchema.safeParse(job.data);
    return { job, kind: id?.kind, data: data.success ? data.data : undefined };
  });
  const rows = await loadCredentials(
    ctx.db,
    parsed.flatMap((p) => (p.data ? [p.data.credentialId] : [])),
    false,
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const privileged = await privilegedAccounts(ctx, ctx.db, agent.site_id, parsed, byId);
  const taken: Taken[] = [];
  const claimed: ClaimedJob[] = [];
  for (const p of parsed) {
    const row = p.data ? byId.get(p.data.credentialId) : undefined;
    if (!p.kind || !p.data || !row || row.site_id !== agent.site_id) {
      skipped.push(p.job);
      continue;
    }
    if (!stillWanted(row, p.kind, p.data)) {
      skipped.push(p.job);
      settle.push({ id: row.id, kind: p.kind, unreadable: false });
      continue;
    }
    try {
      claimed.push(toClaimed(ctx, { job: p.job, kind: p.kind, data: p.data, row }, token, privileged));
    } catch (err) {
      // A secret that fails its integrity check is reported on the credential, never handed out.
      ctx.log.error(
        { credentialId: row.id, detail: err instanceof Error ? err.message : String(err) },
        'stored secret unreadable; job not handed out',
      );
      skipped.push(p.job);
      settle.push({ id: row.id, kind: p.kind, unreadable: true });
      continue;
    }
    taken.push({ job: p.job, kind: p.kind, data: p.data, row });
  }
  if (taken.length > 0) {
    await recordAudit(ctx.db, [
      {
        actorType: 'agent',
        actorId: agent.id,
        action: 'secret.handout',
        objectType: 'credential',
        objectId: taken.length === 1 ? taken[0]!.row.id : null,
        details: {
          siteId: agent.site_id,
          credentialIds: taken.map((t) => t.row.id),
          jobIds: taken.map((t) => t.job.id),
          privilegedCredentialIds: claimed.flatMap((c) =>
            c.privileged ? [privilegedIdOf(byId.get(c.credentialId)!)] : [],
          ),
        },
      },
    ]);
    const verifies = taken.filter((t) => t.kind === 'verify');
    markBeingSynced(
      ctx,
      verifies.map((t) => ({ id: t.row.id, kind: t.kind, queuedAt: t.row.job_since })),
    );
  }
  // A change or reconcile is recorded as running before the agent hears of it: if its job is lost
  // later, PostgreSQL knows the new password may be set (the reconciler then sends a reconcile).
  const changes = taken.filter((t) => t.kind !== 'verify').map((t) => t.row.id);
  if (settle.length > 0 || changes.length > 0) await settleInPostgres(ctx, agent.site_id, settle, changes);
  // Jobs for credentials that are gone or no longer want the work are finished, not handed out.
  await Promise.all(
    skipped.map((job) => job.moveToCompleted({ skipped: true }, token, false).catch(() => undefined)),
  );
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

/** Marks changes as running, and takes skipped credentials out of their job (and run); locked, re-checked. */
async function settleInPostgres(
  ctx: Ctx,
  siteId: string,
  settle: Settle[],
  changes: string[],
): Promise<void> {
  await ctx.db.tx(async (q) => {
    const now = new Date();
    const ids = [...settle.map((s) => s.id), ...changes];
    const rows = new Map((await loadCredentials(q, ids, true)).map((r) => [r.id, r]));
    const running = changes.flatMap((id) => rows.get(id) ?? []).filter((r) => r.job_state === 'queued');
    for (const row of running) markClaimed(row, now);
    const touched: CredentialRow[] = [];
    for (const s of settle) {
      const row = rows.get(s.id);
      if (!row || row.job_state === 'idle' || row.job_kind !== s.kind) continue;
      markIdle(row);
      if (s.unreadable) failUnreadable(row, now);
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
  });
}

function failUnreadable(row: CredentialRow, now: Date): void {
  row.last_outcome = 'failed';
  row.last_reason = 'error';
  row.last_message = 'the stored secret failed its integrity check (tampered or wrong master key)';
  row.last_result_at = now;
  row.next_verify_at = null;
}

/** The privileged accounts named by the targets of change / reconcile jobs, from the agent's own site only. */
async function privilegedAccounts(
  ctx: Ctx,
  q: Queryable,
  siteId: string,
  parsed: { kind: JobKind | undefined; data: JobData | undefined }[],
  rows: Map<string, CredentialRow>,
): Promise<Map<string, CredentialRow>> {
  const ids = new Set<string>();
  for (const p of parsed) {
    const row = p.data ? rows.get(p.data.credentialId) : undefined;
    if (!row || p.kind === 'verify') continue;
    const id = privilegedIdOf(row);
    if (id) ids.add(id);
  }
  const found = await loadCredentials(q, [...ids], false);
  return new Map(found.filter((r) => r.site_id === siteId).map((r) => [r.id, r]));
}

function privilegedIdOf(row: CredentialRow): string | undefined {
  const spec = targetSpec(row.target_kind);
  return spec.privilegedCredentialId?.(spec.connectionSchema.parse(row.target_connection));
}

function toClaimed(ctx: Ctx, t: Taken, token: string, privileged: Map<string, CredentialRow>): ClaimedJob {
  const spec = targetSpec(t.row.target_kind);
  const connection = spec.connectionSchema.parse(t.row.target_connection) as Record<string, unknown>;
  const privilegedRow = t.kind === 'verify' ? undefined : privileged.get(privilegedIdOf(t.row) ?? '');
  return {
    jobId: t.job.id!,
    token,
    kind: t.kind,
    credentialId: t.row.id,
    attempt: t.row.attempt,
    target: { id: t.row.target_id, kind: t.row.target_kind, host: spec.host(connection), connection },
    username: t.row.username,
    password: ctx.box.open(t.row.secret, t.row.id, 'secret'),
    ...(t.kind !== 'verify' && t.row.pending_secret
      ? { pendingPassword: ctx.box.open(t.row.pending_secret, t.row.id, 'pending_secret') }
      : {}),
    // A job that was started before (stalled, released) may have set the pending password already.
    pendingMayBeSet:
      t.kind === 'reconcile' || t.row.pending_state === 'uncertain' || (t.job.attemptsStarted ?? 0) > 1,
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
