/**
 * The API's shapes as the dashboard reads them, and the words it shows for codes. The codes
 * themselves (statuses, reasons, detail codes, version statuses) and the agent view come from
 * shared/ through ./vocabulary.ts, generated at build time (coordinator/dashboard/generate-vocabulary.ts).
 */
import type { Dependency, DetailCode, Reason, RunOutcome, Status, VersionStatus } from './vocabulary.js';

import { JOB_KIND_LABELS, JOB_STATE_LABELS, labelOf, RUN_OUTCOME_LABELS } from './vocabulary.js';

export {
  ACTOR_TYPE_LABELS,
  ALERT_TYPE_LABELS,
  CHANNEL_KIND_LABELS,
  DELIVERY_STATE_LABELS,
  DEPENDENCY_KIND_LABELS,
  ENROLLMENT_TOKEN_STATE_LABELS,
  DEPENDENCY_STATUS_LABELS,
  AUDIT_ACTION_LABELS,
  labelOf,
  OBJECT_TYPE_LABELS,
  REASON_LABELS,
  RUN_ITEM_REASON_LABELS,
  RUN_RESULT_LABELS,
  RUN_TRIGGER_LABELS,
  DETAIL_CODES,
  DISPLAY_ORDER,
  REASONS,
  STATUS_LABELS,
  STATUSES,
  type Agent,
  type Dependency,
  type DependencyStatus,
  type DetailCode,
  type Reason,
  type Status,
  type VersionStatus,
} from './vocabulary.js';

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

/** Target kinds in words (the API's `targetKind`); a kind this list lacks is shown as it is. */
export const KIND_LABELS: Record<string, string> = {
  workstation: 'SSH workstation',
  service: 'database service account',
  web: 'web login',
  directory: 'directory (Active Directory / LDAP)',
  windows: 'Windows (SMB)',
  simulated: 'simulated',
};
export const kindLabel = (kind: string): string => KIND_LABELS[kind] ?? kind;

/** Known cases of a failure (the API's `lastErrorCode`), and what they mean for an operator. */
export const DETAIL_EXPLAINED: Record<DetailCode, string> = {
  host_key_changed:
    'The SSH server presented a different host key than the one pinned for this target, so the agent refused to log in (it could be another machine listening at that address). If the key was changed on purpose, put the new fingerprint on the target; otherwise find out why before anything else.',
  second_factor_required:
    'The server accepted the password but asks for another factor as well (a key or a one-time code). Password-only logins cannot verify this account: exempt it from the second factor, or do not sync it.',
  tls_certificate_changed:
    'The server presented a different TLS certificate than the one pinned for this target (certificateSha256), so the agent refused to send a password. If the certificate was renewed, put its fingerprint on the target (or remove the pin to trust the next one seen); otherwise find out why.',
  tls_untrusted:
    "The server's TLS certificate does not chain to the target's CA or does not name the target's host, so the agent refused to send a password. Check the target's CA and host name against the server's certificate.",
  account_domain_changed:
    'The SMB server answered for a different account domain (SID) than the one pinned for this target: it may be another machine at that address, or the machine was reinstalled. The password change was not sent. If expected, put the new SID on the target.',
  account_disabled: 'The account is disabled on the target. Enable it there, then press Sync now.',
  account_locked:
    'The account is locked out on the target (too many failed logins). Unlock it there, then press Sync now.',
  account_expired: 'The account itself has expired on the target. Extend it there, then press Sync now.',
  password_expired:
    'The password is right but has expired on the target. A privileged reset (changeVia privileged) can set a new one; otherwise reset it there.',
  password_must_change:
    'The password is right but the target requires it to be changed at the next logon (for example after an administrator reset). A privileged reset can set a new one.',
  logon_restricted:
    'The password is right but the account may not log on now or from here (logon hours or allowed workstations on the target).',
  guest_session:
    'The SMB server did not log the account in: it gave a guest session instead, so the password was not accepted as this account.',
  password_policy:
    "The target refused the new password by its password policy (length, complexity, or a rule it did not name). The stored password still works; adjust the credential's policy to the target's rules.",
  password_history:
    'The target refused the new password because it was used before (password history). The stored password still works; the next change generates a fresh one.',
  password_min_age:
    "The target refused the change because the password was changed too recently (minimum password age). The stored password still works; change it again after the target's minimum age.",
  change_not_allowed:
    'The target does not let this account change its password (or the privileged account set it). Grant the right on the target, or use another change method.',
  account_not_found:
    "The account's entry could not be found on the target (or the name matched several) when the password was to be changed. Check the username and the target's base DN.",
  tool_missing:
    "A program the adapter needs is not installed on the agent's host (for Windows targets: Samba's rpcclient, package smbclient). Install it there.",
  dependency_unreachable:
    'A dependency of this credential (a file, command or database that must follow the password) could not be reached or written, so the change was not sent and the target is unchanged. The message names the dependency; fix it, then check the dependencies or change again.',
};

export interface Credential {
  id: string;
  targetId: string;
  targetName: string;
  targetKind: string;
  siteId: string;
  username: string;
  policyId: string | null;
  policyName?: string | null;
  groupId: string | null;
  groupName?: string | null;
  siteName?: string;
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
  /** In order (GET /credentials/{id} only): docs/adapters/dependencies.md. */
  dependencies?: Dependency[];
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
  /** The scope in words (`site Berlin`); null for everything. */
  scopeName?: string | null;
  createdBy: string;
  createdByName?: string;
  startedAt: string;
  finishedAt: string | null;
  counts: { impacted: number; success: number; unsynced: number; partial: number; failed: number };
  outcome: RunOutcome | null;
  cancelledAt: string | null;
  cancelledBy: string | null;
}

export interface SyncRunItem {
  credentialId: string;
  username: string | null;
  targetName: string | null;
  result: 'success' | 'partial' | 'failed' | 'unsynced';
  resultLabel: string;
  reason: string | null;
  reasonLabel: string | null;
  at: string;
}

/** A run's outcome in words (and the history's `issues` and `running` filters). */
export const OUTCOME_LABELS = RUN_OUTCOME_LABELS;

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
  /** What needs an operator now (docs/alerts.md): agents marked offline, sites with no working agent. */
  issues: {
    agentsOffline: { agentId: string; name: string; siteId: string; siteName: string; since: string }[];
    sitesWithoutAgent: { siteId: string; name: string; since: string }[];
  };
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
  actorName: string | null;
  actionLabel: string;
  objectName: string | null;
  /** Names of the ids in `details`, by id. */
  detailNames: Record<string, string>;
}

export interface SyncGroupMember {
  credentialId: string;
  username: string;
  targetId: string;
  targetName: string;
  primary: boolean;
  status: Status;
  statusReason: Reason | null;
  changePending: boolean;
  lastChangedAt: string | null;
}

export interface SyncGroup {
  id: string;
  name: string;
  policyId: string | null;
  primaryCredentialId: string | null;
  members: SyncGroupMember[];
  changeInProgress: boolean;
  enabled: boolean;
  nextChangeAt: string | null;
  lastRun: (SyncRun & { items: SyncRunItem[] }) | null;
  createdAt: string;
}

export interface Policy {
  id: string;
  name: string;
  rules: { length: number };
  verifyIntervalSeconds: number;
  rotateIntervalSeconds: number | null;
}

/** A credential's work at its site's queue in words: `Verification queued`, `Change running`, `None`. */
export const jobText = (job: { state: string; kind: string | null }): string =>
  job.state === 'idle' || !job.kind
    ? labelOf(JOB_STATE_LABELS, job.state)
    : `${labelOf(JOB_KIND_LABELS, job.kind)} ${labelOf(JOB_STATE_LABELS, job.state).toLowerCase()}`;
