/** Operator API schemas (`/api/v1`), shared by the coordinator, the CLI and the tests. */
import { z } from 'zod';
import { ErrorCodes, type ErrorCode } from '../errors.js';
import { VersionStatusSchema } from '../agent-versions.js';
import { DependencyView } from './dependencies.js';
import { JobKindSchema } from './jobs.js';
import { wholeNumber } from './whole-number.js';
import { DetailCodeSchema, ReasonSchema, StatusSchema } from './status.js';
import { TargetKindSchema } from '../targets/index.js';

export const API_PREFIX = '/api/v1';

const name = z.string().trim().min(1).max(200);
const timestamp = z.string().nullable();
/** A whole number in a query string, in decimal digits only (whole-number.ts). */
export const queryInt = wholeNumber;

export const Limit = queryInt(1, 500).default(50);

/**
 * A date and time in a query (`since`, `until`): ISO 8601 with `Z` or an offset, that PostgreSQL
 * also takes. zod's format alone let through year 0000 and offsets beyond ±15:59, which PostgreSQL
 * refuses (they were 500s, and an export cut off after its first bytes).
 */
export const queryTime = z.iso
  .datetime({ offset: true })
  .refine((s) => !s.startsWith('0000'), 'year 0000 does not exist; the first year is 0001')
  .refine((s) => {
    const offset = /([+-])(\d{2}):(\d{2})$/.exec(s);
    return !offset || Number(offset[2]) * 60 + Number(offset[3]) <= 15 * 60 + 59;
  }, 'a time zone offset is at most ±15:59');

export const CreateSiteBody = z.strictObject({ name, requireApproval: z.boolean().default(false) });
export const SiteView = z.object({
  id: z.uuid(),
  name: z.string(),
  enabled: z.boolean(),
  requireApproval: z.boolean(),
  lastSyncAt: timestamp,
  createdAt: z.string(),
});

export const EnrollmentTokenBody = z.strictObject({
  ttlSeconds: z
    .number()
    .int()
    .min(60)
    .max(30 * 86_400)
    .optional(),
  /** How many agents it may enroll (default 1: one-time). */
  uses: z.number().int().min(1).max(1000).default(1),
});
export const EnrollmentTokenView = z.object({ id: z.uuid(), token: z.string(), expiresAt: z.string() });
/** An enrollment token as listed: never the token itself (only its hash is stored). */
export const EnrollmentTokenListItem = z.object({
  id: z.uuid(),
  siteId: z.uuid(),
  state: z.enum(['active', 'used_up', 'expired', 'revoked']),
  usesLeft: z.number(),
  expiresAt: z.string(),
  createdBy: z.string(),
  /** The creating API token's name (its id when the token is gone). */
  createdByName: z.string(),
  createdAt: z.string(),
  lastUsedAt: timestamp,
  lastUsedBy: z.uuid().nullable(),
  /** The name of the agent it last enrolled. */
  lastUsedByName: z.string().nullable(),
  revokedAt: timestamp,
  revokedBy: z.string().nullable(),
  revokedByName: z.string().nullable(),
});

export const AgentView = z.object({
  id: z.uuid(),
  siteId: z.uuid(),
  name: z.string(),
  host: z.string(),
  version: z.string(),
  /** `up_to_date`, `update_available` (supported, older than the coordinator), `unsupported` (claims refused). */
  versionStatus: VersionStatusSchema,
  adapters: z.array(z.string()),
  concurrency: z.number(),
  enabled: z.boolean(),
  approved: z.boolean(),
  online: z.boolean(),
  inFlight: z.number(),
  lastHeartbeatAt: timestamp,
  enrolledAt: z.string(),
});
export const AgentListQuery = z.strictObject({ siteId: z.uuid().optional() });

export const CreateTargetBody = z.strictObject({
  siteId: z.uuid(),
  name,
  kind: TargetKindSchema,
  connection: z.record(z.string(), z.unknown()).default({}),
});
/**
 * Only the fields given change. `connection` is merged into the stored one key by key (a key set to
 * null is removed, e.g. `hostKeySha256: null` to pin the next key seen), then validated whole with
 * the kind's schema.
 */
export const PatchTargetBody = z
  .strictObject({
    name: name.optional(),
    connection: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((b) => b.name !== undefined || b.connection !== undefined, {
    message: 'give name or connection',
  });
export const TargetView = z.object({
  id: z.uuid(),
  siteId: z.uuid(),
  name: z.string(),
  kind: z.string(),
  connection: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});

/**
 * A login trial (docs/api.md "Login trials"): the web login workflow to try, unsaved, with the stored
 * password of one of the target's credentials. `workflow` is what a web target's `connection.login`
 * holds (`{steps: [...]}`, docs/adapters/web.md), checked with the same schema.
 */
export const LoginTrialBody = z.strictObject({
  workflow: z.record(z.string(), z.unknown()),
  credentialId: z.uuid(),
});
export const LOGIN_TRIAL_STATES = ['queued', 'running', 'done', 'failed'] as const;
export const LoginTrialView = z.object({
  id: z.uuid(),
  targetId: z.uuid(),
  credentialId: z.uuid(),
  /** queued → running → done (the agent answered: see `outcome`), or failed (it could not run). */
  state: z.enum(LOGIN_TRIAL_STATES),
  /** Once done: whether the login (and the target's verify workflow, if any) worked. */
  outcome: z.enum(['ok', 'failed']).nullable(),
  /** Why it failed (a reason code: mismatch, workflow_failed, unreachable, timeout, …). */
  reason: z.string().nullable(),
  /** The reason in words (shared/contracts/labels.ts LOGIN_TRIAL_REASON_LABELS). */
  reasonLabel: z.string().nullable(),
  /** What the agent said, scrubbed of the password. */
  detail: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** The operator (token id) who started it. */
  by: z.string(),
});
export type LoginTrialViewT = z.infer<typeof LoginTrialView>;

/**
 * Targets by name, in pages. Without `limit` a page holds up to 1000 (what the list returned
 * before it was paged, for callers that read `items` only); the dashboard asks for small pages.
 */
export const TargetListQuery = z.strictObject({
  siteId: z.uuid().optional(),
  /** Part of the name (case-insensitive). */
  q: z.string().trim().min(1).max(200).optional(),
  limit: queryInt(1, 1000).default(1000),
  cursor: z.string().max(4000).optional(),
});

export const CreateCredentialBody = z.strictObject({
  targetId: z.uuid(),
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  policyId: z.uuid().optional(),
  syncEnabled: z.boolean().default(true),
});
export const CredentialView = z.object({
  id: z.uuid(),
  targetId: z.uuid(),
  targetName: z.string(),
  targetKind: z.string(),
  siteId: z.uuid(),
  /** The site's name (the id when the site is gone). */
  siteName: z.string(),
  username: z.string(),
  policyId: z.uuid().nullable(),
  /**
   * The policy's and the sync group's names, on every answer that carries a credential: lists,
   * GET /credentials/{id}, the enable, disable, PATCH and resume answers, and exports.
   */
  policyName: z.string().nullable(),
  groupId: z.uuid().nullable(),
  groupName: z.string().nullable(),
  syncEnabled: z.boolean(),
  status: StatusSchema,
  statusLabel: z.string(),
  statusReason: ReasonSchema.nullable(),
  statusChangedAt: z.string(),
  lastMessage: z.string().nullable(),
  /**
   * What exactly the last failure was, when it is a known case (DETAIL_CODES in status.ts, e.g.
   * `host_key_changed`, `account_locked`, `password_history`): for programs, beside the reason;
   * null otherwise.
   */
  lastErrorCode: DetailCodeSchema.nullable(),
  lastResultAt: timestamp,
  lastVerifiedAt: timestamp,
  lastChangedAt: timestamp,
  nextVerifyAt: timestamp,
  nextChangeAt: timestamp,
  job: z.object({ state: z.enum(['idle', 'queued', 'active']), kind: JobKindSchema.nullable() }),
  changePending: z.boolean(),
  suspended: z.boolean(),
  verifyPaused: z.boolean(),
  consecutiveFailures: z.number(),
  createdAt: z.string(),
  /**
   * GET /credentials/{id} only: its dependencies in order, each with the status of its last push
   * (`ok`, `failed` with the reason in `message`, `not_run`) and of its last check.
   */
  dependencies: z.array(DependencyView).optional(),
});
export type CredentialView = z.infer<typeof CredentialView>;

export const CREDENTIAL_SORTS = [
  'id',
  'username',
  'target',
  'status',
  'statusChangedAt',
  'lastVerifiedAt',
  'problems',
] as const;
/** The filters of the credential list, also what a bulk action by filter takes (credentials-bulk.ts). */
export const CredentialFilterFields = {
  status: StatusSchema.optional(),
  reason: ReasonSchema.optional(),
  siteId: z.uuid().optional(),
  targetId: z.uuid().optional(),
  groupId: z.uuid().optional(),
  /** Text search: part of the username or of the target's name (case-insensitive). */
  q: z.string().trim().min(1).max(200).optional(),
  suspended: z.enum(['true', 'false']).optional(),
  jobState: z.enum(['idle', 'queued', 'active']).optional(),
};
export const CredentialListQuery = z.strictObject({
  ...CredentialFilterFields,
  /**
   * Sort key, `-` for descending; the default `id` keeps the original order and cursors.
   * `problems`: what needs a person first (PROBLEMS_FIRST in status.ts), then by id.
   */
  sort: z.enum(CREDENTIAL_SORTS.flatMap((k) => [k, `-${k}`] as const)).default('id'),
  limit: Limit,
  cursor: z.string().max(4000).optional(),
  /** `true`: the answer carries `total`, how many credentials match the filters (one count). */
  total: z.enum(['true', 'false']).optional(),
});
export const ChangeBody = z.strictObject({ password: z.string().min(1).max(1024).optional() });
export const DeleteQuery = z.strictObject({ force: z.enum(['true', 'false']).default('false') });

/** GET /credentials/{id}/password-history: newest first. */
export const PasswordHistoryQuery = z.strictObject({ limit: Limit });
export const PasswordHistoryView = z.object({
  items: z.array(
    z.object({
      id: z.uuid(),
      /** `retired`: a change replaced it; `discarded_pending`: a new one set aside after it was handed out. */
      kind: z.enum(['retired', 'discarded_pending']),
      at: z.iso.datetime(),
      password: z.string(),
    }),
  ),
});

export const StatusCounts = z.record(StatusSchema, z.number());
/**
 * A site's latest results, scheduled work included (docs/sync-runs.md): the credentials of the site
 * whose latest result (a verification, a change, a reconcile; in a run or not) came within the
 * last 24 hours, and how many of those succeeded or failed.
 */
export const Last24h = z.object({ checked: z.number(), ok: z.number(), failed: z.number() });
/** Fields every site summary carries (GET /summary, GET /overview). */
const siteResults = {
  /** The last result of any job of the site (verification or change, scheduled or in a run). */
  lastSyncAt: timestamp,
  /** The last time a stored password of the site was seen to work (a verification or a change). */
  lastVerifiedAt: timestamp,
  last24h: Last24h,
};
export const SummaryView = z.object({
  byStatus: StatusCounts,
  suspended: z.number(),
  sites: z.array(
    z.object({
      siteId: z.uuid(),
      name: z.string(),
      enabled: z.boolean(),
      byStatus: StatusCounts,
      ...siteResults,
    }),
  ),
  /** When the counts were taken (they are shared for up to COUNTS_MAX_AGE_MS, 2 s by default). */
  asOf: z.string(),
});
export type SummaryView = z.infer<typeof SummaryView>;

export const SyncRunScope = z.strictObject({
  siteId: z.uuid().optional(),
  targetId: z.uuid().optional(),
  groupId: z.uuid().optional(),
});
export const CreateSyncRunBody = z.strictObject({
  kind: z.enum(['verify', 'change']),
  scope: SyncRunScope.default({}),
});
/** What a run's outcome can be once it finished (docs/sync-runs.md). */
export const RunOutcome = z.enum(['success', 'partial', 'failure']);
export const SyncRunView = z.object({
  id: z.uuid(),
  kind: z.enum(['verify', 'change']),
  /** `manual`, `group`, or `schedule` (the day's work outside runs at a site, one entry per UTC day). */
  trigger: z.string(),
  scope: SyncRunScope,
  /**
   * The scope in words: the site's, target's or sync group's name (null for everything; the id
   * when the object is gone). On every answer that carries a run: GET /sync-runs, GET
   * /sync-runs/{id}, a run's start and cancel, a group's runs, last run and change, the overview's
   * latest and scheduled runs, and exports.
   */
  scopeName: z.string().nullable(),
  createdBy: z.string(),
  /** Who started it: the API token's name (`bootstrap-admin`, `scheduler` as they are). */
  createdByName: z.string(),
  startedAt: z.string(),
  finishedAt: timestamp,
  counts: z.object({
    impacted: z.number(),
    success: z.number(),
    unsynced: z.number(),
    partial: z.number(),
    failed: z.number(),
  }),
  outcome: RunOutcome.nullable(),
  /** Set when an operator cancelled the run (POST /sync-runs/{id}/cancel), with who did. */
  cancelledAt: timestamp,
  cancelledBy: z.string().nullable(),
});
export type SyncRunView = z.infer<typeof SyncRunView>;
export const PageQuery = z.strictObject({ limit: Limit, cursor: z.string().max(200).optional() });
/** Pages of rows keyed by a bigserial id (status history, run items): the cursor is that id. */
export const SerialPageQuery = z.strictObject({
  limit: Limit,
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'not a cursor from a previous page')
    .optional(),
});
export const SyncRunListQuery = z.strictObject({
  limit: Limit,
  cursor: z.string().max(200).optional(),
  /**
   * Finished with this outcome, `issues` (finished `partial` or `failure`: the With Issues bucket),
   * or `running` (not finished yet).
   */
  outcome: z.enum(['success', 'partial', 'failure', 'issues', 'running']).optional(),
  /** Runs scoped to this site (Resync, sync --site). */
  siteId: z.uuid().optional(),
  /** Runs started at or after this ISO 8601 time. */
  since: queryTime.optional(),
});

export const AuditQuery = z.strictObject({
  limit: Limit,
  /** The id of the last event of the previous page. */
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'not a cursor from a previous page')
    .optional(),
  actor: z.string().max(200).optional(),
  action: z.string().max(100).optional(),
  objectId: z.string().max(200).optional(),
  objectType: z.string().max(100).optional(),
  /** ISO 8601 times: events at or after `since`, before `until`. */
  since: queryTime.optional(),
  until: queryTime.optional(),
});
export const AuditView = z.object({
  id: z.number(),
  at: z.string(),
  actorType: z.string(),
  actorId: z.string(),
  action: z.string(),
  objectType: z.string(),
  objectId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  /** The actor's name (an API token's or an agent's), null when it has none (a system actor, a deleted one). */
  actorName: z.string().nullable(),
  /** The action in words (shared/contracts/labels.ts), the code when it has none. */
  actionLabel: z.string(),
  /** The object's name (a credential: `user on target`), null when it has none or is gone. */
  objectName: z.string().nullable(),
  /** The names of the ids in `details` (`siteId`, `targetId`, `policyId`, …), by id. */
  detailNames: z.record(z.string(), z.string()),
});

export const RoleSchema = z.enum(['viewer', 'operator', 'admin']);
export const CreateTokenBody = z.strictObject({ name, role: RoleSchema });
export const TokenView = z.object({
  id: z.uuid(),
  name: z.string(),
  role: RoleSchema,
  createdBy: z.string(),
  /** The creating token's name (`bootstrap-admin` as it is; the id when the token is gone). */
  createdByName: z.string(),
  createdAt: z.string(),
  revokedAt: timestamp,
});

export const StatusHistoryView = z.object({
  items: z.array(
    z.object({
      at: z.string(),
      status: StatusSchema,
      statusLabel: z.string(),
      reason: ReasonSchema.nullable(),
      message: z.string().nullable(),
    }),
  ),
  nextCursor: z.string().nullable(),
});

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

// Policies, sync groups, run items (issue 4). The policy body is declared with its rules in
// coordinator/api/policies.ts (the generator's schema).
export const PolicyView = z.object({
  id: z.uuid(),
  name: z.string(),
  rules: z.object({
    length: z.number(),
    lower: z.number(),
    upper: z.number(),
    digits: z.number(),
    symbols: z.number(),
    exclude: z.string(),
  }),
  verifyIntervalSeconds: z.number(),
  rotateIntervalSeconds: z.number().nullable(),
  maintenanceWindow: z
    .object({ days: z.array(z.number()), start: z.string(), end: z.string(), timeZone: z.string() })
    .nullable(),
  createdAt: z.string(),
});
export type PolicyView = z.infer<typeof PolicyView>;

/** Only the fields given change; `policyId: null` removes the policy. */
export const PatchCredentialBody = z.strictObject({
  policyId: z.uuid().nullable().optional(),
  syncEnabled: z.boolean().optional(),
});

export const SyncRunItemView = z.object({
  credentialId: z.uuid(),
  username: z.string().nullable(),
  targetName: z.string().nullable(),
  result: z.enum(['success', 'partial', 'failed', 'unsynced']),
  /** The result and the reason in words (shared/contracts/labels.ts). */
  resultLabel: z.string(),
  reason: z.string().nullable(),
  reasonLabel: z.string().nullable(),
  at: z.string(),
});
export type SyncRunItemView = z.infer<typeof SyncRunItemView>;

export const CreateSyncGroupBody = z.strictObject({
  name,
  policyId: z.uuid().optional(),
  /** The authentication credential: changed first; if it fails nothing else is tried. */
  primaryCredentialId: z.uuid(),
  /** The other members (the primary may be listed too). */
  memberCredentialIds: z.array(z.uuid()).max(1000).default([]),
});
export const GroupChangeBody = z.strictObject({ password: z.string().min(1).max(1024).optional() });
export const SyncGroupView = z.object({
  id: z.uuid(),
  name: z.string(),
  policyId: z.uuid().nullable(),
  primaryCredentialId: z.uuid().nullable(),
  members: z.array(
    z.object({
      credentialId: z.uuid(),
      username: z.string(),
      targetId: z.uuid(),
      targetName: z.string(),
      primary: z.boolean(),
      status: StatusSchema,
      statusReason: ReasonSchema.nullable(),
      changePending: z.boolean(),
      lastChangedAt: timestamp,
    }),
  ),
  changeInProgress: z.boolean(),
  /** A disabled group is not rotated and refuses a change now (POST /sync-groups/{id}/enable). */
  enabled: z.boolean(),
  nextChangeAt: timestamp,
  lastRun: SyncRunView.extend({ items: z.array(SyncRunItemView) }).nullable(),
  createdAt: z.string(),
});
export type SyncGroupView = z.infer<typeof SyncGroupView>;

/** GET /overview: the dashboard's buckets, per-site sync summaries and runs over time. */
export const OverviewView = z.object({
  buckets: z.object({
    /** Jobs agents run right now: BullMQ's active count of every site queue. */
    active: z.number(),
    /** Jobs queued, waiting for an agent (BullMQ wait + prioritized). */
    queued: z.number(),
    /** Retries waiting for their backoff (BullMQ delayed). */
    delayed: z.number(),
    /** Where active / queued / delayed come from: the queues, or PostgreSQL's job states when Redis did not answer. */
    jobsFrom: z.enum(['queues', 'database']),
    /** Sync runs not finished yet. */
    runsInProgress: z.number(),
    /** Runs that ended `partial` or `failure` within the window (`GET /sync-runs?outcome=issues`). */
    withIssues: z.number(),
    withIssuesDays: z.number(),
    /** Credentials suspended after repeated errors (not scheduled until an operator acts). */
    suspended: z.number(),
    /** Credentials with no sync configured (`not_synced`). */
    notConfigured: z.number(),
  }),
  sites: z.array(
    z.object({
      siteId: z.uuid(),
      name: z.string(),
      enabled: z.boolean(),
      ...siteResults,
      agents: z.object({ total: z.number(), enabled: z.number(), online: z.number() }),
      /** The site queue's jobs running and waiting (null when its queue did not answer). */
      jobs: z.object({ active: z.number(), queued: z.number(), delayed: z.number() }).nullable(),
      /** The site's latest run scoped to it (Resync, sync --site), not counting schedule entries. */
      latestRun: SyncRunView.nullable(),
      /** Today's schedule entry of the site (its verifications outside runs), if any yet. */
      scheduled: SyncRunView.nullable(),
    }),
  ),
  runsOverTime: z.object({
    bucket: z.enum(['hour', 'day']),
    points: z.array(
      z.object({
        at: z.string(),
        success: z.number(),
        partial: z.number(),
        failure: z.number(),
        running: z.number(),
      }),
    ),
  }),
  /**
   * Issues to act on (docs/alerts.md): agents marked offline (no heartbeat for
   * ALERT_AGENT_OFFLINE_MS, not revoked) and enabled sites with agents but none that can work now;
   * each names the site to drill down to (`/api/v1/agents?siteId=`, the Sites page).
   */
  issues: z.object({
    agentsOffline: z.array(
      z.object({
        agentId: z.string(),
        name: z.string(),
        siteId: z.string(),
        siteName: z.string(),
        since: z.string(),
      }),
    ),
    sitesWithoutAgent: z.array(z.object({ siteId: z.string(), name: z.string(), since: z.string() })),
  }),
  /** When the shared counts were taken (at most COUNTS_MAX_AGE_MS old). */
  asOf: z.string(),
});
export type OverviewView = z.infer<typeof OverviewView>;

/**
 * Every error answer: `code` for programs (shared/errors.ts), `message` for people, and for a 400
 * `issues` naming each bad field (`body.name`, `query.q`, `params.id`, `body.connection.steps.0.url`).
 */
export const ErrorView = z.object({
  error: z.object({
    code: z.enum(Object.keys(ErrorCodes) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    issues: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  }),
});
