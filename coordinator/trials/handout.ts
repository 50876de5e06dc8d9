import type { Job } from 'bullmq';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';
import { JobDataSchema, parseTrialJobId, type JobData } from '../../shared/contracts/jobs.js';
import { targetSpec } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { loadCredentials } from '../credentials/store.js';
import type { AgentRow } from '../store/agents.js';
import { recordAudit } from '../store/audit.js';
import { finishTrial, loadTrials, markTrialsRunning } from './store.js';

/** Whether a job a claim took is a login trial's (`t-<trialId>`). */
export const isTrialJob = (job: Job<JobData>): boolean => parseTrialJobId(job.id ?? '') !== null;

/**
 * Hands out login trials' jobs (gateway/claim.ts, apart from the credentials' own work): each goes
 * out as a `verify` of its credential with the target's connection, its login workflow replaced by
 * the trial's. Nothing of the credential changes (no job state, status or run); the trial becomes
 * running and every hand-out of the password is audited. A trial no longer open, of another site or
 * whose credential is gone or disabled is not handed out (its job finished as skipped; a trial that
 * cannot run any more fails with reason `unusable`).
 */
export async function handOutTrials(ctx: Ctx, agent: AgentRow, jobs: Job<JobData>[]): Promise<ClaimedJob[]> {
  const now = new Date();
  const parsed = jobs.map((job) => {
    const data = JobDataSchema.safeParse(job.data);
    return { job, trialId: parseTrialJobId(job.id ?? '')!, data: data.success ? data.data : undefined };
  });
  const trials = await loadTrials(
    ctx.db,
    parsed.map((p) => p.trialId),
  );
  const rows = new Map(
    (
      await loadCredentials(
        ctx.db,
        [...trials.values()].map((t) => t.credential_id),
        false,
      )
    ).map((r) => [r.id, r]),
  );
  const claimed: ClaimedJob[] = [];
  const skipped: Job<JobData>[] = [];
  const unusable: { id: string; detail: string }[] = [];
  for (const p of parsed) {
    const trial = trials.get(p.trialId);
    const row = trial ? rows.get(trial.credential_id) : undefined;
    const open = trial?.state === 'queued' || trial?.state === 'running';
    if (!trial || !open || trial.site_id !== agent.site_id || p.data?.credentialId !== trial.credential_id) {
      skipped.push(p.job);
      continue;
    }
    if (!row || row.site_id !== agent.site_id || row.target_id !== trial.target_id || !row.sync_enabled) {
      skipped.push(p.job);
      unusable.push({ id: trial.id, detail: 'the credential was deleted, moved or disabled since' });
      continue;
    }
    const spec = targetSpec(row.target_kind);
    const connection = spec.connectionSchema.safeParse({ ...row.target_connection, login: trial.workflow });
    if (row.target_kind !== 'web' || !connection.success) {
      skipped.push(p.job);
      unusable.push({
        id: trial.id,
        detail: 'the target was edited since: its workflows no longer fit this one',
      });
      continue;
    }
    let password: string;
    try {
      password = ctx.box.open(row.secret, row.id, 'secret');
    } catch {
      skipped.push(p.job);
      unusable.push({ id: trial.id, detail: 'the stored password failed its integrity check' });
      continue;
    }
    const c = connection.data as Record<string, unknown>;
    claimed.push({
      jobId: p.job.id!,
      // Each job is held with its own token (a claim's, or the result's it followed in a report).
      token: p.job.token!,
      kind: 'verify',
      credentialId: row.id,
      attempt: 0,
      target: { id: row.target_id, kind: row.target_kind, host: spec.host(c), connection: c },
      username: row.username,
      password,
      pendingMayBeSet: false,
    });
  }
  for (const u of unusable) {
    await finishTrial(
      ctx.db,
      u.id,
      { state: 'failed', outcome: null, reason: 'unusable', detail: u.detail },
      now,
    );
  }
  if (claimed.length > 0) {
    await markTrialsRunning(
      ctx.db,
      claimed.map((c) => parseTrialJobId(c.jobId)!),
      now,
    );
    await recordAudit(
      ctx.db,
      claimed.map((c) => ({
        actorType: 'agent' as const,
        actorId: agent.id,
        action: 'secret.handout',
        objectType: 'credential',
        objectId: c.credentialId,
        details: { siteId: agent.site_id, jobId: c.jobId, kind: c.kind, trialId: parseTrialJobId(c.jobId) },
      })),
    );
    ctx.log.info(
      { agentId: agent.id, siteId: agent.site_id, jobIds: claimed.map((c) => c.jobId) },
      'login trials claimed',
    );
  }
  await ctx.queues.finishSkipped(skipped);
  return claimed;
}
