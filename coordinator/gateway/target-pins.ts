import type { Observed, ReportItem } from '../../shared/contracts/gateway.js';
import type { DetailCode } from '../../shared/contracts/status.js';
import { targetSpec } from '../../shared/targets/index.js';
import type { CredentialRow } from '../credentials/store.js';
import type { AgentRow } from '../store/agents.js';
import { recordAudit } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { replaceConnection } from '../store/targets.js';

/** A result taken from an agent, and the credential its job is about. */
interface TakenResult {
  item: ReportItem;
  data: { credentialId: string };
}

/**
 * Records what agents observed on targets that have nothing pinned yet (trust on first use, e.g. an
 * SSH host key), compare-and-set so two agents cannot pin two keys; audited for the operator to check.
 */
export async function pinObserved(
  q: Queryable,
  agent: AgentRow,
  accepted: TakenResult[],
  rows: Map<string, CredentialRow>,
): Promise<void> {
  const seen = new Set<string>();
  for (const a of accepted) {
    const row = rows.get(a.data.credentialId);
    const observed = a.item.result.observed;
    if (!row || !observed || seen.has(row.target_id)) continue;
    seen.add(row.target_id);
    const spec = targetSpec(row.target_kind);
    const pinned = spec.pinObserved?.(spec.connectionSchema.parse(row.target_connection), observed);
    if (!pinned) continue;
    if (!(await replaceConnection(q, row.target_id, row.target_connection, pinned))) continue;
    await recordAudit(q, [
      {
        actorType: 'agent',
        actorId: agent.id,
        action: 'target.pin_observed',
        objectType: 'target',
        objectId: row.target_id,
        details: { observed },
      },
    ]);
  }
}

/** The detail codes that report a host identity other than the pinned one, and how each is audited. */
const PIN_MISMATCHES: Partial<Record<DetailCode, { action: string; fact: keyof Observed }>> = {
  host_key_changed: { action: 'target.host_key_mismatch', fact: 'hostKeySha256' },
  tls_certificate_changed: { action: 'target.tls_certificate_mismatch', fact: 'tlsCertificateSha256' },
  account_domain_changed: { action: 'target.account_domain_mismatch', fact: 'accountDomainSid' },
};

/**
 * A changed host identity (SSH host key, TLS certificate, SMB account domain) is a security event,
 * not only a failed job: each report of one is audited for the target (`target.host_key_mismatch`,
 * `target.tls_certificate_mismatch`, `target.account_domain_mismatch`) with the pinned and the
 * presented value. The pin stays as it is: only an operator can accept a new one (by updating the
 * target).
 */
export async function auditPinMismatches(
  q: Queryable,
  agent: AgentRow,
  accepted: TakenResult[],
  rows: Map<string, CredentialRow>,
): Promise<void> {
  const seen = new Set<string>();
  const events = [];
  for (const a of accepted) {
    const row = rows.get(a.data.credentialId);
    const result = a.item.result;
    if (!row || result.outcome !== 'failed' || result.detailCode === undefined) continue;
    const mismatch = PIN_MISMATCHES[result.detailCode];
    if (mismatch === undefined || seen.has(row.target_id)) continue;
    seen.add(row.target_id);
    const spec = targetSpec(row.target_kind);
    const parsed = spec.connectionSchema.safeParse(row.target_connection);
    const pinned = parsed.success ? spec.pinned?.(parsed.data)?.[mismatch.fact] : undefined;
    events.push({
      actorType: 'agent' as const,
      actorId: agent.id,
      action: mismatch.action,
      objectType: 'target',
      objectId: row.target_id,
      details: {
        credentialId: row.id,
        jobId: a.item.jobId,
        pinned: pinned ?? null,
        presented: result.observed?.[mismatch.fact] ?? null,
      },
    });
  }
  if (events.length > 0) await recordAudit(q, events);
}
