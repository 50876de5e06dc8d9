import type { Reason, Status } from '../../shared/contracts/status.js';
import { capabilitiesOf, isSupportedKind, type Capabilities } from '../../shared/targets/index.js';
import type { CredentialRow } from './store.js';
import type { SiteFacts } from '../store/sites.js';

/** Everything a credential's status depends on. */
export interface StatusFacts {
  syncEnabled: boolean;
  /** The target's kind has an adapter in this version. */
  adapterAssigned: boolean;
  capabilities: Capabilities;
  site: SiteFacts;
  jobState: 'idle' | 'queued' | 'active';
  /** A change is wanted (rotation due or requested). */
  changeWanted: boolean;
  lastOutcome: 'ok' | 'failed' | null;
  lastReason: Reason | null;
  /** Last time the stored password was seen to work. */
  lastVerifiedAt: Date | null;
  verifyIntervalMs: number;
  now: Date;
}

export interface DerivedStatus {
  status: Status;
  reason: Reason | null;
}

/**
 * The one place a status is decided, in the precedence of the README's status table:
 * not_synced > unsyncable > agent_disabled > being_synced > pending_sync > change_not_configured >
 * in_sync > out_of_sync. A credential never checked yet is `pending_sync` (its first verification
 * comes at once). `agent_disabled`: no enabled agent can take the credential's jobs, because
 * the site is disabled or because it had agents and none of them can work now (disabled, revoked or
 * awaiting approval: an operator has to act). A site that never had an agent is not "agent
 * disabled": its work waits for the first agent (pending). Pure: same facts, same answer.
 */
export function deriveStatus(f: StatusFacts): DerivedStatus {
  if (!f.syncEnabled || !f.adapterAssigned) return { status: 'not_synced', reason: null };
  if (!f.capabilities.verify && !f.capabilities.change) return { status: 'unsyncable', reason: null };
  if (!f.site.enabled || (f.site.agents > 0 && f.site.enabledAgents === 0)) {
    return { status: 'agent_disabled', reason: null };
  }
  if (f.jobState === 'active') return { status: 'being_synced', reason: null };
  if (f.jobState === 'queued') return { status: 'pending_sync', reason: null };
  if (f.changeWanted && (!f.capabilities.change || !f.capabilities.changeConfigured)) {
    return { status: 'change_not_configured', reason: null };
  }
  // Never checked: its first verification is queued when it is created (or when sync is turned
  // on); until that first result it is pending, not "not verified recently".
  if (f.lastOutcome === null && f.capabilities.verify) return { status: 'pending_sync', reason: null };
  if (f.lastOutcome === 'failed') return { status: 'out_of_sync', reason: f.lastReason ?? 'error' };
  const fresh =
    f.lastVerifiedAt !== null && f.now.getTime() - f.lastVerifiedAt.getTime() <= f.verifyIntervalMs;
  if (f.lastOutcome === 'ok' && fresh) return { status: 'in_sync', reason: null };
  return { status: 'out_of_sync', reason: 'stale' };
}

/** Facts of a stored credential row (see credentials/store.ts). */
export function factsOf(row: CredentialRow, site: SiteFacts, now: Date): StatusFacts {
  return {
    syncEnabled: row.sync_enabled,
    adapterAssigned: isSupportedKind(row.target_kind),
    capabilities: capabilitiesOf(row.target_kind, row.target_connection),
    site,
    jobState: row.job_state,
    changeWanted: row.change_wanted,
    lastOutcome: row.last_outcome,
    lastReason: row.last_reason,
    lastVerifiedAt: row.last_verified_at,
    verifyIntervalMs: row.verify_interval_s * 1000,
    now,
  };
}

/** Recomputes a row's status in place; returns whether it changed. */
export function refreshStatus(row: CredentialRow, site: SiteFacts, now: Date): boolean {
  const next = deriveStatus(factsOf(row, site, now));
  const changed = next.status !== row.status || next.reason !== row.status_reason;
  if (changed) {
    row.status = next.status;
    row.status_reason = next.reason;
    row.status_changed_at = now;
  }
  row.updated_at = now;
  return changed;
}
