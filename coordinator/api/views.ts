import { versionStatus, type AgentVersionRange } from '../../shared/agent-versions.js';
import { STATUS_LABELS } from '../../shared/contracts/status.js';
import type { CredentialView, SyncRunView } from '../../shared/contracts/api.js';
import { isOnline, type AgentRow } from '../store/agents.js';
import type { CredentialRow } from '../credentials/store.js';
import type { SyncRunRow } from '../runs/store.js';
import type { SiteRow } from '../store/sites.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const siteView = (s: SiteRow) => ({
  id: s.id,
  name: s.name,
  enabled: s.enabled,
  requireApproval: s.require_approval,
  lastSyncAt: iso(s.last_sync_at),
  createdAt: s.created_at.toISOString(),
});

export const agentView = (a: AgentRow, versions: AgentVersionRange, now = Date.now()) => ({
  id: a.id,
  siteId: a.site_id,
  name: a.name,
  host: a.host,
  version: a.version,
  versionStatus: versionStatus(a.version, versions),
  adapters: a.adapters,
  concurrency: a.concurrency,
  enabled: a.enabled,
  approved: a.approved,
  online: isOnline(a, now),
  inFlight: a.in_flight,
  lastHeartbeatAt: iso(a.last_heartbeat_at),
  enrolledAt: a.enrolled_at.toISOString(),
});

/** Never carries a secret: sealed columns are not read here. api/named.ts adds the names. */
export const credentialView = (
  c: CredentialRow,
): Omit<CredentialView, 'siteName' | 'policyName' | 'groupName'> => ({
  id: c.id,
  targetId: c.target_id,
  targetName: c.target_name,
  targetKind: c.target_kind,
  siteId: c.site_id,
  username: c.username,
  policyId: c.policy_id,
  groupId: c.group_id,
  syncEnabled: c.sync_enabled,
  status: c.status,
  statusLabel: STATUS_LABELS[c.status],
  statusReason: c.status_reason,
  statusChangedAt: c.status_changed_at.toISOString(),
  lastMessage: c.last_message,
  lastErrorCode: c.last_outcome === 'failed' ? c.last_detail_code : null,
  lastResultAt: iso(c.last_result_at),
  lastVerifiedAt: iso(c.last_verified_at),
  lastChangedAt: iso(c.last_changed_at),
  nextVerifyAt: iso(c.next_verify_at),
  nextChangeAt: iso(c.next_change_at),
  job: { state: c.job_state, kind: c.job_kind },
  changePending: c.pending_secret !== null,
  suspended: c.suspended,
  verifyPaused: c.verify_paused,
  consecutiveFailures: c.consecutive_failures,
  createdAt: c.created_at.toISOString(),
});

/** A run without names: api/named.ts `namedRunViews` adds the scope's and the starter's. */
export const syncRunView = (r: SyncRunRow): Omit<SyncRunView, 'scopeName' | 'createdByName'> => ({
  id: r.id,
  kind: r.kind,
  trigger: r.trigger,
  scope: r.scope,
  createdBy: r.created_by,
  startedAt: r.started_at.toISOString(),
  finishedAt: iso(r.finished_at),
  counts: {
    impacted: r.impacted,
    success: r.success,
    unsynced: r.unsynced,
    partial: r.partial,
    failed: r.failed,
  },
  outcome: r.outcome,
  cancelledAt: iso(r.cancelled_at),
  cancelledBy: r.cancelled_by,
});
