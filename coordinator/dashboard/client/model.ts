/** The API's shapes as the dashboard reads them, and the words it shows for codes. */

export const STATUSES = [
  'not_synced',
  'unsyncable',
  'agent_disabled',
  'being_synced',
  'pending_sync',
  'change_not_configured',
  'in_sync',
  'out_of_sync',
] as const;
export type Status = (typeof STATUSES)[number];

/** Display order on the overview: healthy first, then work in progress, then what needs a person. */
export const DISPLAY_ORDER: Status[] = [
  'in_sync',
  'being_synced',
  'pending_sync',
  'out_of_sync',
  'agent_disabled',
  'change_not_configured',
  'unsyncable',
  'not_synced',
];

export const STATUS_LABELS: Record<Status, string> = {
  not_synced: 'Not Synced',
  in_sync: 'In Sync',
  out_of_sync: 'Out of Sync',
  being_synced: 'Being Synced',
  pending_sync: 'Pending Sync',
  unsyncable: 'Unsyncable',
  change_not_configured: 'Change not Configured',
  agent_disabled: 'Agent Disabled',
};

export const STATUS_HELP: Record<Status, string> = {
  not_synced: 'No sync configured: sync is disabled or no adapter handles the target.',
  in_sync: 'The stored password worked at a verification within the interval.',
  out_of_sync: 'The stored password could not be verified.',
  being_synced: 'An agent is working on it right now.',
  pending_sync: 'A job is queued and waits for an agent.',
  unsyncable: 'Its adapter can neither verify nor change; never sent to agents.',
  change_not_configured: "A change is wanted but the adapter's change step is not mapped.",
  agent_disabled: 'No enabled agent can take its jobs (site or all its agents disabled).',
};

export const REASONS = [
  'mismatch',
  'unreachable',
  'locked_or_disabled',
  'workflow_failed',
  'change_failed',
  'change_outcome_unknown',
  'stale',
  'error',
] as const;
export type Reason = (typeof REASONS)[number];

export const REASON_LABELS: Record<Reason, string> = {
  mismatch: 'Password rejected',
  unreachable: 'Target unreachable',
  locked_or_disabled: 'Account locked or disabled',
  workflow_failed: 'Login page changed',
  change_failed: 'Change refused',
  change_outcome_unknown: 'Change outcome unknown',
  stale: 'Not verified recently',
  error: 'Error',
};

/** The last error, in words an operator can act on. */
export const REASON_EXPLAINED: Record<Reason, string> = {
  mismatch:
    'The target rejected the stored password. It is not retried with the same password (that could lock the account): check the password, then press Sync now, or Change now if the target has a privileged reset account.',
  unreachable:
    'The agent could not reach the target (network, DNS or timeout). It is retried automatically with backoff.',
  locked_or_disabled:
    'The account is locked or disabled on the target. Unlock or enable it there, then press Sync now.',
  workflow_failed:
    "The web login page no longer matches the workflow (the site changed its login). Update the target's workflow.",
  change_failed:
    'The target refused the new password (its policy, most likely). The old password still works; a later change generates a fresh one.',
  change_outcome_unknown:
    'A change may or may not have happened on the target. Both passwords are kept and a reconcile job is finding the one that works.',
  stale: 'No successful verification within the verification interval. One is scheduled.',
  error: 'Something unexpected went wrong; the message below says what.',
};

/** Known cases of a failure (the API's `lastErrorCode`), and what they mean for an operator. */
export const DETAIL_CODES = ['host_key_changed', 'second_factor_required'] as const;
export type DetailCode = (typeof DETAIL_CODES)[number];
export const DETAIL_EXPLAINED: Record<DetailCode, string> = {
  host_key_changed:
    'The SSH server presented a different host key than the one pinned for this target, so the agent refused to log in (it could be another machine listening at that address). If the key was changed on purpose, put the new fingerprint on the target; otherwise find out why before anything else.',
  second_factor_required:
    'The server accepted the password but asks for another factor as well (a key or a one-time code). Password-only logins cannot verify this account: exempt it from the second factor, or do not sync it.',
};

export interface Credential {
  id: string;
  targetId: string;
  targetName: string;
  targetKind: string;
  siteId: string;
  username: string;
  policyId: string | null;
  groupId: string | null;
  syncEnabled: boolean;
  status: Status;
  statusLabel: string;
  statusReason: Reason | null;
  statusChangedAt: string;
  lastMessage: string | null;
  lastErrorCode: DetailCode | null;
  lastResultAt: string | null;
  lastVerifiedAt: string | null;
  lastChangedAt: string | null;
  nextVerifyAt: string | null;
  nextChangeAt: string | null;
  job: { state: 'idle' | 'queued' | 'active'; kind: string | null };
  changePending: boolean;
  suspended: boolean;
  verifyPaused: boolean;
  consecutiveFailures: number;
  createdAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Summary {
  byStatus: Record<Status, number>;
  suspended: number;
  sites: ({
    siteId: string;
    name: string;
    enabled: boolean;
    byStatus: Record<Status, number>;
  } & SiteResults)[];
}

/** A site's latest results, scheduled work included (GET /summary, GET /overview). */
export interface SiteResults {
  lastSyncAt: string | null;
  lastVerifiedAt: string | null;
  last24h: { checked: number; ok: number; failed: number };
}

export interface SyncRun {
  id: string;
  kind: 'verify' | 'change';
  trigger: string;
  scope: { siteId?: string; targetId?: string; groupId?: string };
  createdBy: string;
  startedAt: string;
  finishedAt: string | null;
  counts: { impacted: number; success: number; unsynced: number; partial: number; failed: number };
  outcome: 'success' | 'partial' | 'failure' | null;
  cancelledAt: string | null;
  cancelledBy: string | null;
}

export interface SyncRunItem {
  credentialId: string;
  username: string | null;
  targetName: string | null;
  result: 'success' | 'partial' | 'failed' | 'unsynced';
  reason: string | null;
  at: string;
}

export const OUTCOME_LABELS: Record<string, string> = {
  success: 'Success',
  partial: 'Partial success',
  failure: 'Failure',
  issues: 'With issues (partial or failure)',
  running: 'Running',
};

export interface Overview {
  buckets: {
    active: number;
    queued: number;
    delayed: number;
    jobsFrom: 'queues' | 'database';
    runsInProgress: number;
    withIssues: number;
    withIssuesDays: number;
    suspended: number;
    notConfigured: number;
  };
  sites: ({
    siteId: string;
    name: string;
    enabled: boolean;
    agents: { total: number; enabled: number; online: number };
    jobs: { active: number; queued: number; delayed: number } | null;
    latestRun: SyncRun | null;
    /** Today's schedule entry of the site's verifications outside runs. */
    scheduled: SyncRun | null;
  } & SiteResults)[];
  runsOverTime: {
    bucket: 'hour' | 'day';
    points: { at: string; success: number; partial: number; failure: number; running: number }[];
  };
}

export interface Site {
  id: string;
  name: string;
  enabled: boolean;
  requireApproval: boolean;
  lastSyncAt: string | null;
}

export interface Agent {
  id: string;
  siteId: string;
  name: string;
  host: string;
  version: string;
  versionStatus: VersionStatus;
  adapters: string[];
  concurrency: number;
  enabled: boolean;
  approved: boolean;
  online: boolean;
  inFlight: number;
  lastHeartbeatAt: string | null;
}

export type VersionStatus = 'up_to_date' | 'update_available' | 'unsupported';

export const VERSION_STATUS_LABELS: Record<VersionStatus, string> = {
  up_to_date: 'Up to date',
  update_available: 'Update available',
  unsupported: 'Unsupported',
};

/** The agent versions the coordinator takes claims from (GET /agents answers them). */
export interface AgentVersions {
  min: string;
  max: string;
  latest: string;
}

export interface Target {
  id: string;
  siteId: string;
  name: string;
  kind: string;
}

export interface AuditEvent {
  id: number;
  at: string;
  actorType: string;
  actorId: string;
  action: string;
  objectType: string;
  objectId: string | null;
  details: Record<string, unknown>;
}
