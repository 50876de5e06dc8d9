import { z } from 'zod';

/** Job names on a site queue. Changes outrank verifications. */
export const JOB_KINDS = ['verify', 'change', 'reconcile'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export const JobKindSchema = z.enum(JOB_KINDS);

/** BullMQ priority: lower number = served first. */
export const JOB_PRIORITY: Record<JobKind, number> = { reconcile: 1, change: 2, verify: 10 };
/**
 * An operator's Sync now: ahead of scheduled and sync-run verifications (a full run queues thousands
 * of them), behind changes and reconciles (the change protocol's own work).
 */
export const OPERATOR_VERIFY_PRIORITY = 5;
/**
 * The priorities of work ahead of routine verifications (an operator's Sync now, changes,
 * reconciles): what a `priorityOnly` claim waits for (shared/contracts/gateway.ts).
 */
export const PRIORITY_LANE = [
  ...new Set(
    [...Object.values(JOB_PRIORITY), OPERATOR_VERIFY_PRIORITY].filter((p) => p < JOB_PRIORITY.verify),
  ),
].sort((a, b) => a - b);

/**
 * The whole payload of a queued job. It names the credential only: no secret, no username, no
 * target address ever enters Redis. The gateway looks the rest up in PostgreSQL at claim time.
 */
export const JobDataSchema = z.strictObject({
  v: z.literal(1),
  credentialId: z.uuid(),
  /** For change/reconcile: the pending password's id this job is about. */
  changeId: z.uuid().optional(),
});
export type JobData = z.infer<typeof JobDataSchema>;

const JOB_ID_PREFIX: Record<JobKind, string> = { verify: 'v', change: 'c', reconcile: 'r' };
const PREFIX_KIND: Record<string, JobKind> = { v: 'verify', c: 'change', r: 'reconcile' };

/** Deterministic job id: at most one pending job per credential and kind. (BullMQ ids may not hold ':'.) */
export const jobIdFor = (kind: JobKind, credentialId: string): string =>
  `${JOB_ID_PREFIX[kind]}-${credentialId}`;

const UUID = z.uuid();

export function parseJobId(jobId: string): { kind: JobKind; credentialId: string } | null {
  const kind = PREFIX_KIND[jobId.slice(0, 1)];
  const credentialId = jobId.slice(2);
  if (!kind || jobId[1] !== '-' || !UUID.safeParse(credentialId).success) return null;
  return { kind, credentialId };
}

/**
 * A login trial (an operator trying an unsaved web login workflow, docs/api.md "Login trials") is a
 * `verify` job of its credential on the site's queue under an id of its own, `t-<trialId>`: never
 * deduplicated with the credential's own verify job, and never parsed by parseJobId (no JobKind: its
 * result belongs to the trial, not to the credential). Its data is a JobData like any other's; the
 * workflow stays in PostgreSQL (login_trials) and is read at claim time.
 */
export const TRIAL_JOB_PREFIX = 't';
export const trialJobIdFor = (trialId: string): string => `${TRIAL_JOB_PREFIX}-${trialId}`;

/** The trial id of a login trial's job id, or null when the id is not a trial's. */
export function parseTrialJobId(jobId: string): string | null {
  const trialId = jobId.slice(2);
  if (jobId.slice(0, 2) !== `${TRIAL_JOB_PREFIX}-` || !z.uuid().safeParse(trialId).success) return null;
  return trialId;
}

/** Whether the coordinator makes job ids like this one (a credential's job or a login trial's). */
export const isCoordinatorJobId = (jobId: string): boolean =>
  parseJobId(jobId) !== null || parseTrialJobId(jobId) !== null;

/** Queue name of a site (contract: `site-<siteId>`). */
export const siteQueueName = (siteId: string): string => `site-${siteId}`;
/**
 * Key prefix of a site's queue. The hash tag `{site-<id>}` keeps every key of one queue in one
 * Redis Cluster slot (BullMQ's Lua scripts need that) while different sites spread over the cluster.
 */
export const siteQueuePrefix = (base: string, siteId: string): string => `${base}:{site-${siteId}}`;
