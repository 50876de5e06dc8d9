/**
 * The agent gateway protocol: what an agent sends to the coordinator and gets back. Every call but
 * `enroll` carries `Authorization: Bearer <agentToken>`. Paths are under GATEWAY_PREFIX.
 */
import { z } from 'zod';
import { AgentVersionRangeSchema, VersionStatusSchema } from '../agent-versions.js';
import { ClaimedDependencySchema, DependencyResultSchema } from './dependencies.js';
import { JobKindSchema } from './jobs.js';
import { DetailCodeSchema, ReasonSchema } from './status.js';

export const GATEWAY_PREFIX = '/agent/v1';
export const GATEWAY_PATHS = {
  enroll: `${GATEWAY_PREFIX}/enroll`,
  heartbeat: `${GATEWAY_PREFIX}/heartbeat`,
  claim: `${GATEWAY_PREFIX}/claim`,
  extend: `${GATEWAY_PREFIX}/extend`,
  report: `${GATEWAY_PREFIX}/report`,
  release: `${GATEWAY_PREFIX}/release`,
} as const;

const name = z.string().trim().min(1).max(200);

export const EnrollRequestSchema = z.strictObject({
  enrollmentToken: z.string().min(10).max(200),
  name,
  host: z.string().trim().min(1).max(253),
  version: z.string().trim().min(1).max(50),
  adapters: z.array(z.string().min(1).max(50)).max(20),
  concurrency: z.number().int().min(1).max(1000),
});
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;

export const EnrollResponseSchema = z.object({
  agentId: z.uuid(),
  siteId: z.uuid(),
  /** The agent's own credential: shown once, stored hashed by the coordinator. */
  agentToken: z.string(),
  state: z.enum(['active', 'pending']),
});
export type EnrollResponse = z.infer<typeof EnrollResponseSchema>;

export const HeartbeatRequestSchema = z.strictObject({
  inFlight: z.number().int().min(0).max(100_000),
  version: z.string().trim().min(1).max(50).optional(),
  concurrency: z.number().int().min(1).max(1000).optional(),
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>;

export const HeartbeatResponseSchema = z.object({
  agentId: z.uuid(),
  siteId: z.uuid(),
  /**
   * `active`: may claim; `pending`: waits for an administrator's approval; `disabled`: the agent or its
   * site is disabled. Only an active agent's claim, extend, report and release calls are taken (403 else).
   */
  state: z.enum(['active', 'pending', 'disabled']),
  serverTime: z.string(),
  /** How long a claimed job stays locked without an extension. */
  lockMs: z.number().int(),
  /** How often the agent should extend the locks of its jobs in flight. */
  extendEveryMs: z.number().int(),
  heartbeatEveryMs: z.number().int(),
  /**
   * Where the agent's version stands: `unsupported` = its claims are refused (403
   * AGENT_VERSION_UNSUPPORTED, `message` says why) until it is upgraded or the range widened; its
   * jobs in flight may still be extended, reported and released. Absent from older coordinators.
   */
  agentVersion: z
    .object({
      status: VersionStatusSchema,
      supported: AgentVersionRangeSchema,
      message: z.string().optional(),
    })
    .optional(),
  /**
   * True: a report may ask for the agent's next jobs (`claim` in the report request) and they come
   * with its answer. Absent from older coordinators: the agent then claims only through `claim`.
   */
  reportMayClaim: z.boolean().optional(),
  /**
   * True: a claim may be `priorityOnly` (the agent's priority lane: one job ahead of routine
   * verifications, beside its `concurrency`). Absent from older coordinators.
   */
  priorityClaims: z.boolean().optional(),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>;

export const ClaimRequestSchema = z
  .strictObject({
    /** Free slots: the most jobs to hand out. */
    max: z.number().int().min(1).max(500),
    /** Long-poll: how long to wait for work when none is queued. */
    waitMs: z.number().int().min(0).max(30_000).default(20_000),
    /**
     * The agent's priority lane (only when the heartbeat said `priorityClaims`): waits until work
     * ahead of routine verifications is queued for the site (an operator's Sync now, a change, a
     * reconcile) and hands out one job (`max` must be 1), which the agent runs beside its
     * `concurrency`: an operator's Sync now starts at once while every slot is busy with a run.
     */
    priorityOnly: z.boolean().optional(),
  })
  .refine((b) => b.priorityOnly !== true || b.max === 1, {
    path: ['max'],
    message: 'must be 1 for a priorityOnly claim',
  });
export type ClaimRequest = z.input<typeof ClaimRequestSchema>;

export const ClaimedJobSchema = z.object({
  jobId: z.string(),
  /** Lock token: proves this agent holds the job on extend and report. */
  token: z.string(),
  kind: JobKindSchema,
  credentialId: z.uuid(),
  attempt: z.number().int(),
  target: z.object({
    id: z.uuid(),
    kind: z.string(),
    host: z.string(),
    connection: z.record(z.string(), z.unknown()),
  }),
  username: z.string(),
  /** The stored password. */
  password: z.string(),
  /** For change / reconcile: the password being set. */
  pendingPassword: z.string().optional(),
  /**
   * False when the coordinator knows the pending password was never tried on the target (a change's
   * first attempt): the agent then skips the "already changed?" login, one failed login fewer.
   */
  pendingMayBeSet: z.boolean().default(true),
  /**
   * An operator's Sync now (queued with OPERATOR_VERIFY_PRIORITY, shared/contracts/jobs.ts): the agent
   * reports its result at once on a request of its own instead of with the next batch. Absent: false.
   */
  urgent: z.boolean().optional(),
  /** A privileged account of the same site that may reset this account's password (change / reconcile). */
  privileged: z.object({ username: z.string(), password: z.string() }).optional(),
  /**
   * What must follow the password (docs/adapters/dependencies.md), in order: on a change or
   * reconcile, checked before the change is sent and pushed once the pending password works; on a
   * verification, only the ones an operator asked to check or push, run once the password works.
   */
  dependencies: z.array(ClaimedDependencySchema).optional(),
});
/** As sent (the schema's input: `pendingMayBeSet` may be absent and then means true). */
export type ClaimedJob = z.input<typeof ClaimedJobSchema>;

export const ClaimResponseSchema = z.object({ jobs: z.array(ClaimedJobSchema) });
export type ClaimResponse = z.infer<typeof ClaimResponseSchema>;

const heldJob = z.strictObject({ jobId: z.string().min(1).max(200), token: z.string().min(1).max(200) });

export const ExtendRequestSchema = z.strictObject({ jobs: z.array(heldJob).min(1).max(1000) });
export type ExtendRequest = z.infer<typeof ExtendRequestSchema>;
export const ExtendResponseSchema = z.object({ extended: z.array(z.string()), lost: z.array(z.string()) });
export type ExtendResponse = z.infer<typeof ExtendResponseSchema>;

/**
 * What an adapter found. `ok` means: verify → the password works; change → the new password is set
 * and works; reconcile → `works` says which one works. A failure always has a reason.
 * `message` is for operators and must never contain a secret.
 */
/**
 * Facts the agent saw on the target that the coordinator may record, each pinned on first use when
 * the target has none: the SSH host key's SHA-256 fingerprint (`SHA256:<base64>`), a TLS server
 * certificate's SHA-256 fingerprint (`AB:CD:…`), the SID of the account domain an SMB server
 * answered for (`S-1-5-21-…`).
 */
export const ObservedSchema = z.strictObject({
  hostKeySha256: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/)
    .optional(),
  tlsCertificateSha256: z
    .string()
    .regex(/^(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    .optional(),
  accountDomainSid: z
    .string()
    .regex(/^S-1-5-21(?:-\d{1,10}){3}$/)
    .optional(),
});
export type Observed = z.infer<typeof ObservedSchema>;

export const JobOutcomeSchema = z.discriminatedUnion('outcome', [
  z.strictObject({
    outcome: z.literal('ok'),
    works: z.enum(['current', 'pending']).optional(),
    message: z.string().max(500).optional(),
    observed: ObservedSchema.optional(),
    /** Each dependency the job handed out: pushed or checked, failed, or not run. */
    dependencies: z.array(DependencyResultSchema).max(50).optional(),
  }),
  z.strictObject({
    outcome: z.literal('failed'),
    reason: ReasonSchema.exclude(['stale']),
    message: z.string().max(500).optional(),
    /** What exactly went wrong, when it is one of the known cases (stored, shown as `lastErrorCode`). */
    detailCode: DetailCodeSchema.optional(),
    observed: ObservedSchema.optional(),
    dependencies: z.array(DependencyResultSchema).max(50).optional(),
  }),
]);
export type JobOutcome = z.infer<typeof JobOutcomeSchema>;

export const ReportItemSchema = heldJob.extend({
  result: JobOutcomeSchema,
  durationMs: z.number().int().min(0).max(86_400_000),
});
export type ReportItem = z.infer<typeof ReportItemSchema>;

export const ReportRequestSchema = z.strictObject({
  results: z.array(ReportItemSchema).min(1).max(1000),
  /**
   * The next jobs, in the same call (only when the heartbeat answered `reportMayClaim: true`): up to
   * `max` (the agent's free slots), handed out as a claim hands them out once the results are
   * applied, never waiting for work (the claim call long-polls).
   */
  claim: z.strictObject({ max: z.number().int().min(1).max(500) }).optional(),
});
export type ReportRequest = z.infer<typeof ReportRequestSchema>;

export const ReportResponseSchema = z.object({
  accepted: z.array(z.string()),
  /** Results refused for good (job not held, finished already, another site): drop them, do not resend. */
  rejected: z.array(z.object({ jobId: z.string(), code: z.string() })),
  /** With `claim` in the request: the jobs handed out, as a claim answers them (none when no work waits). */
  jobs: z.array(ClaimedJobSchema).optional(),
});
export type ReportResponse = z.infer<typeof ReportResponseSchema>;

/** Hand jobs back (graceful shutdown): they return to the queue for another agent. */
export const ReleaseRequestSchema = z.strictObject({ jobs: z.array(heldJob).min(1).max(1000) });
export type ReleaseRequest = z.infer<typeof ReleaseRequestSchema>;
export const ReleaseResponseSchema = z.object({ released: z.array(z.string()), lost: z.array(z.string()) });
export type ReleaseResponse = z.infer<typeof ReleaseResponseSchema>;
