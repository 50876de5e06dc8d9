import { groupBy } from '../../shared/collections.js';
import { OPERATOR_VERIFY_PRIORITY, type JobKind } from '../../shared/contracts/jobs.js';
import type { Ctx } from '../context.js';
import { isSyncError } from '../../shared/errors.js';
import { generatePassword } from '../policies/generate.js';
import { loadPolicies, rulesForTargets } from '../policies/store.js';
import { countInRuns } from '../runs/count.js';
import type { NewJob } from './site-queues.js';
import { beginChange, markQueued, pendingMayBeSet, refuseChange } from '../credentials/transitions.js';
import { rowSealer } from '../credentials/sealing.js';
import { refreshStatus } from '../credentials/status.js';
import { saveCredentials, type CredentialRow } from '../credentials/store.js';
import type { PolicyRow } from '../policies/store.js';
import { whenCommitted, type Queryable } from '../store/db.js';
import { siteFacts } from '../store/sites.js';

export interface Work {
  row: CredentialRow;
  kind: JobKind;
  /** For a change: the password to set (else generated from the policy). */
  password?: string;
  /** An operator waits for it (Sync now): queued ahead of scheduled and run verifications. */
  urgent?: boolean;
}

/**
 * Queues work for credentials inside the caller's transaction (rows locked FOR UPDATE): whatever was
 * asked becomes a `reconcile` while a pending password may be set on the target; a change without
 * a pending password first stores its new one, sealed, as pending; then the rows are marked queued and saved; the
 * jobs are added to the sites' queues once that transaction has committed, so an agent that takes a
 * job always finds the row as the job expects it (pending password included). Should adding fail
 * after the commit (Redis unavailable: it fails at once; Redis hanging: a request stops waiting after
 * REDIS_REQUEST_TIMEOUT_MS), the caller's answer does not wait for Redis: the site queues add the
 * jobs as soon as Redis answers again, and otherwise PostgreSQL says "queued" for a job Redis does
 * not have, as after Redis loses jobs, and the reconciler re-adds it.
 */
export async function dispatch(
  ctx: Ctx,
  q: Queryable,
  work: Work[],
  now: Date,
  /**
   * `request` (default): the caller answers a request and waits for the queues at most
   * REDIS_REQUEST_TIMEOUT_MS; `scheduler` (tick, reconciler): until the jobs are added, so a long
   * run is queued batch after batch, never faster than Redis takes it.
   */
  waitFor: 'request' | 'scheduler' = 'request',
): Promise<void> {
  if (work.length === 0) return;
  const policies = await loadPolicies(
    q,
    work.filter((w) => w.kind === 'change' && !w.row.pending_secret).map((w) => w.row.policy_id),
  );
  const sealer = rowSealer(ctx.box);
  const queued: { siteId: string; job: NewJob }[] = [];
  const facts = await siteFacts(
    q,
    work.map((w) => w.row.site_id),
  );
  const refused: CredentialRow[] = [];
  for (const w of work) {
    // A pending password that may be set on the target is settled by a reconcile (it tries both and
    // keeps the one that works) before anything else: a verification of the current password alone
    // would fail on a changed account, a fresh change attempt could discard it.
    const kind: JobKind = pendingMayBeSet(w.row) ? 'reconcile' : w.kind;
    if (kind === 'change' && !w.row.pending_secret) {
      let password = w.password;
      if (password === undefined) {
        try {
          password = generatePassword(newPasswordRules(w.row, policies));
        } catch (err) {
          if (!isSyncError(err)) throw err;
          // The policy no longer suits the target (its limits changed): nothing to send.
          refuseChange(w.row, err.message, now);
          refused.push(w.row);
          continue;
        }
      }
      beginChange(w.row, password, sealer);
      w.row.change_wanted = false;
    }
    markQueued(w.row, kind, now);
    refreshStatus(w.row, facts.get(w.row.site_id)!, now);
    const job: NewJob = {
      kind,
      credentialId: w.row.id,
      ...(w.row.pending_id ? { changeId: w.row.pending_id } : {}),
      ...(w.urgent && kind === 'verify' ? { priority: OPERATOR_VERIFY_PRIORITY } : {}),
    };
    queued.push({ siteId: w.row.site_id, job });
  }
  for (const row of refused) refreshStatus(row, facts.get(row.site_id)!, now);
  await countInRuns(
    q,
    refused.map((row) => ({ row, count: 'failed' as const })),
    now,
  );
  await saveCredentials(
    q,
    work.map((w) => w.row),
  );
  // Sites in parallel: with Redis hanging, a request waits one REDIS_REQUEST_TIMEOUT_MS, not one per site.
  await whenCommitted(q, async () => {
    await Promise.all(
      [...groupBy(queued, (x) => x.siteId)].map(async ([siteId, items]) => {
        const jobs = items.map((x) => x.job);
        try {
          await ctx.queues.enqueue(siteId, jobs, waitFor === 'request' ? 'bounded' : 'added');
        } catch (err) {
          ctx.log.error(
            { siteId, jobs: jobs.length, err: err instanceof Error ? err.message : String(err) },
            'jobs not queued yet; queued once Redis answers (else by the reconciler)',
          );
        }
      }),
    );
  });
}

/** Generation rules for a credential's new password: its policy within its target's limits. */
function newPasswordRules(row: CredentialRow, policies: Map<string, PolicyRow>) {
  const policy = row.policy_id ? (policies.get(row.policy_id) ?? null) : null;
  return rulesForTargets(
    policy,
    [{ name: row.target_name, kind: row.target_kind, connection: row.target_connection }],
    'policyId',
  );
}
