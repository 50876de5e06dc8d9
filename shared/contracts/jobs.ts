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

export function parseJobId(jobId: string): { kind: JobKind; credentialId: string } | null {
  const kind = PREFIX_KIND[jobId.slice(0, 1)];
  const credentialId = jobId.slice(2);
  if (!kind || jobId[1] !== '-' || !z.uuid().safeParse(credentialId).success) return null;
  return { kind, credentialId };
}

/** Queue name of a site (contract: `site-<siteId>`). */
export const siteQueueName = (siteId: string): string => `site-${siteId}`;
/**
 * Key prefix of a site's queue. The hash tag `{site-<id>}` keeps every key of one queue in one
 * Redis Cluster slot (BullMQ's Lua scripts need that) while different sites spread over the cluster.
 */
export const siteQueuePrefix = (base: string, siteId: string): string => `${base}:{site-${siteId}}`;
