/**
 * Every code the API answers, in the words the dashboard and the exports show (issue 15, "names, not
 * ids"). One table: the API's views carry these labels beside the codes, and the dashboard gets
 * them through its generated vocabulary (coordinator/dashboard/generate-vocabulary.ts), never a copy.
 */
import type { AlertType } from './alerts.js';
import type { DependencyKind, DependencyStatus } from './dependencies.js';
import type { Reason } from './status.js';

/** Why a credential is `out_of_sync`, in words. */
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

/** Why a login trial failed (docs/api.md "Login trials"): an agent's reason, or why none ran it. */
export const LOGIN_TRIAL_REASON_LABELS: Record<string, string> = {
  ...REASON_LABELS,
  timeout: 'No agent answered in time',
  unusable: 'Cannot be tried any more',
};

/** A dependency's last push or check (docs/adapters/dependencies.md). */
export const DEPENDENCY_STATUS_LABELS: Record<DependencyStatus, string> = {
  ok: 'OK',
  failed: 'Failed',
  not_run: 'Not run',
};

/** A sync run's per-credential result (docs/sync-runs.md). */
export const RUN_RESULT_LABELS: Record<string, string> = {
  success: 'Synced',
  partial: 'Partially synced',
  failed: 'Failed',
  unsynced: 'Not synced',
};

/** A finished run's outcome, and the history's filters on it. */
export const RUN_OUTCOME_LABELS: Record<string, string> = {
  success: 'Success',
  partial: 'Partial success',
  failure: 'Failure',
  issues: 'With issues (partial or failure)',
  running: 'Running',
};

/** How a run started. */
export const RUN_TRIGGER_LABELS: Record<string, string> = {
  manual: 'Manual',
  group: 'Sync group',
  schedule: 'Schedule',
};

/**
 * The reason on a run item: a failure's reason (REASON_LABELS) or why it has no result
 * (docs/sync-runs.md, "Reasons of unsynced items").
 */
export const RUN_ITEM_REASON_LABELS: Record<string, string> = {
  ...REASON_LABELS,
  dependency_failed: 'A dependency failed',
  not_eligible: 'Could not take part',
  suspended: 'Suspended after errors',
  paused: 'Verification paused',
  sync_disabled: 'Sync disabled',
  superseded: 'Taken over by a newer run',
  deleted: 'Credential deleted',
  group_member: 'Changed by its sync group',
  change_not_configured: 'Change not configured',
  not_changeable: 'Cannot take the group password now',
  change_in_flight: 'A change was already in flight',
  primary_failed: "The group's primary failed",
  primary_unsettled: "The group's primary did not settle",
  abandoned: "The group's primary was deleted",
  no_agent: 'No agent',
  agent_disabled: 'Agents disabled',
  site_disabled: 'Site disabled',
  agents_offline: 'Agents offline',
  not_scheduled: 'Not scheduled',
  cancelled: 'Run cancelled',
};

/** Who an audit event came from. */
export const ACTOR_TYPE_LABELS: Record<string, string> = {
  operator: 'Operator',
  agent: 'Agent',
  system: 'System',
};

/** Audit actions in words; an action this table lacks is shown as its code. */
export const AUDIT_ACTION_LABELS: Record<string, string> = {
  'agent.approve': 'Approved agent',
  'agent.deny': 'Denied agent',
  'agent.disable': 'Disabled agent',
  'agent.enable': 'Enabled agent',
  'agent.enroll': 'Agent enrolled',
  'agent.rename': 'Renamed agent',
  'agent.revoke': 'Revoked agent',
  'audit.export': 'Exported the audit log',
  'channel.create': 'Created notification channel',
  'channel.delete': 'Deleted notification channel',
  'channel.test': 'Tested notification channel',
  'channel.update': 'Edited notification channel',
  'credential.change': 'Asked for a password change',
  'credential.create': 'Created credential',
  'credential.create_batch': 'Imported credentials',
  'credential.delete': 'Deleted credential',
  'credential.dependencies_check': 'Asked for a check of the dependencies',
  'credential.dependencies_retry': 'Asked to push the password to the dependencies again',
  'credential.dependencies_set': 'Set dependencies',
  'credential.disable': 'Disabled sync',
  'credential.enable': 'Enabled sync',
  'credential.export': 'Exported credentials',
  'credential.force_delete': 'Force-deleted credential',
  'credential.resume': 'Resumed credential',
  'credential.reveal': 'Revealed password',
  'credential.reveal_history': 'Revealed earlier passwords',
  'credential.set_stored_password': 'Set stored password',
  'credential.update': 'Edited credential',
  'credential.verify': 'Asked for a verification',
  'enrollment_token.create': 'Created enrollment token',
  'enrollment_token.revoke': 'Revoked enrollment token',
  'extend.refused': 'Refused a lease extension',
  'policy.create': 'Created policy',
  'policy.delete': 'Deleted policy',
  'policy.update': 'Edited policy',
  'release.refused': 'Refused a release',
  'report.refused': 'Refused a report',
  'secret.handout': 'Password handed to agent',
  'site.compliance_report': 'Exported a compliance report',
  'site.create': 'Created site',
  'site.delete': 'Deleted site',
  'site.disable': 'Disabled site',
  'site.enable': 'Enabled site',
  'site.force_delete': 'Force-deleted site',
  'site.update': 'Edited site',
  'sync_group.change': 'Changed group password',
  'sync_group.create': 'Created sync group',
  'sync_group.delete': 'Deleted sync group',
  'sync_group.disable': 'Disabled sync group',
  'sync_group.enable': 'Enabled sync group',
  'sync_group.update': 'Edited sync group',
  'sync_run.cancel': 'Cancelled sync run',
  'sync_run.create': 'Started sync run',
  'sync_run.export': 'Exported sync runs',
  'sync_run.export_items': 'Exported run items',
  'system.master_key_rotated': 'Rotated master key',
  'target.account_domain_mismatch': 'Account domain mismatch',
  'target.create': 'Created target',
  'target.delete': 'Deleted target',
  'target.force_delete': 'Force-deleted target',
  'target.host_key_mismatch': 'Host key mismatch',
  'target.login_trial': 'Tried a login workflow',
  'target.pin_observed': 'Pinned identity observed',
  'target.tls_certificate_mismatch': 'TLS certificate mismatch',
  'target.update': 'Edited target',
  'token.create': 'Created API token',
  'token.revoke': 'Revoked API token',
};

/** An audit event's object type in words. */
export const OBJECT_TYPE_LABELS: Record<string, string> = {
  agent: 'Agent',
  audit: 'Audit log',
  notification_channel: 'Notification channel',
  credential: 'Credential',
  credential_batch: 'Credential import',
  job: 'Job',
  enrollment_token: 'Enrollment token',
  policy: 'Policy',
  site: 'Site',
  sync_group: 'Sync group',
  sync_run: 'Sync run',
  target: 'Target',
  token: 'API token',
  system: 'System',
};

/** What a dependency is (docs/adapters/dependencies.md). */
export const DEPENDENCY_KIND_LABELS: Record<DependencyKind, string> = {
  file: 'File',
  command: 'Command',
  service: 'Service',
  web: 'Web page',
  credential: 'Another credential',
};

/** The work a credential has at its site's queue (`job.state`, `job.kind`). */
export const JOB_STATE_LABELS: Record<string, string> = {
  idle: 'None',
  queued: 'Queued',
  active: 'Running',
};
export const JOB_KIND_LABELS: Record<string, string> = {
  verify: 'Verification',
  change: 'Change',
};

/** An agent enrollment token's state. */
export const ENROLLMENT_TOKEN_STATE_LABELS: Record<string, string> = {
  active: 'Active',
  used_up: 'Used up',
  expired: 'Expired',
  revoked: 'Revoked',
};

/** A notification channel's kind and a delivery's state (docs/alerts.md). */
export const CHANNEL_KIND_LABELS: Record<string, string> = {
  webhook: 'Webhook',
  email: 'Email',
};
export const DELIVERY_STATE_LABELS: Record<string, string> = {
  pending: 'Pending',
  retrying: 'Retrying',
  sent: 'Sent',
  failed: 'Failed',
};

/** What an alert is about (shared/contracts/alerts.ts ALERT_TYPES). */
export const ALERT_TYPE_LABELS: Record<AlertType, string> = {
  'credential.out_of_sync': 'Credential out of sync',
  'credential.agent_disabled': "Credential's agents disabled",
  'credential.unsyncable': 'Credential unsyncable',
  'credential.in_sync': 'Credential back in sync',
  'credential.change_succeeded': 'Password changed',
  'credential.change_failed': 'Password change failed',
  'credential.change_outcome_unknown': 'Password change outcome unknown',
  'credential.suspended': 'Credential suspended',
  'credential.flapping': 'Credential flapping',
  'agent.offline': 'Agent offline',
  'agent.online': 'Agent back online',
  'agent.awaiting_approval': 'Agent awaiting approval',
  'site.no_working_agent': 'Site without a working agent',
  'site.agent_restored': 'Site has a working agent again',
  'run.finished': 'Sync run finished',
  'run.overdue': 'Sync run overdue',
  'system.master_key_rotated': 'Master key rotated',
  digest: 'Digest',
  test: 'Test alert',
};

/** A code's words from one of the tables above, or the code itself when the table lacks it. */
export const labelOf = (table: Record<string, string>, code: string | null): string | null =>
  code === null ? null : (table[code] ?? code);
