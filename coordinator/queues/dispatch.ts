import { groupBy } from '../../shared/collections.js';
import { OPERATOR_VERIFY_PRIORITY, type JobKind } from '../../shared/contracts/jobs.js';
import type { Ctx } from '../context.js';
import { isSyncError } from '../../shared/errors.js';
import { generatePassword } from '../policies/generate.js';
import { loadPolicies, rulesForTargets } from '../policies/store.js';
import { countInRuns } from '../runs/count.js';
import type { NewJob } from './site-queues.js';
import {
  beginChange,
  markQueued,
  pendingMayBeSet,
  refuseChange,
  type TransitionOptions,
} from '../credentials/transitions.js';
import { rowSealer } from '../credentials/sealing.js';
import { refreshStatus } from '../credentials/status.js';
import { saveCredentials, type CredentialRow } from '../credentials/store.js';
import type { PolicyRow } from '../policies/store.js';
import { whenCommitted, type Queryable } from '../store/db.js';
import { siteFacts, type SiteFacts } from '../store/sites.js';

export interface Work {
  row: CredentialRow;
  kind: JobKind;
  /** For a change: the password to set (else generated from the policy). */
  password?: string;
  /** An operator waits for it (Sync now): queued ahead of scheduled and run verifications. */
  urgent?: boolean;
}

/**
 * Queues work for credentials inside the caller's transaction (rows locked FOR UPDATE): each job is
 * decided by `queueWork` (a `reconcile` while a pending password may be set on the target; a change
 * without a pending password first stores its new one, sealed, as pending), then the rows are saved
 * marked queued; the jobs are added (`addJobs`) to the sites' queues once that transaction has committed, so an agent that takes a
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
  const queued: QueuedJob[] = [];
  const facts = await siteFacts(
    q,
    work.map((w) => w.row.site_id),
  );
  const refused: CredentialRow[] = [];
  for (const w of work) {
    const job = queueWork(w, facts.get(w.row.site_id)!, policies, sealer, now);
    if (job) queued.push({ siteId: w.row.site_id, job });
    else refused.push(w.row);
    // An operator waits for it: from now on the site's routine work waits for its result
    // (queues/operator-holds.ts; a transaction that rolls back leaves a hold of at most 1 s).
    if (job?.priority === OPERATOR_VERIFY_PRIORITY) ctx.wake.hold(w.row.site_id, w.row.id);
  }
  await countInRuns(
    q,
    refused.map((row) => ({ row, count: 'failed' as const })),
    now,
  );
  await saveCredentials(
    q,
    work.map((w) => w.row),
  );
  await whenCommitted(q, () => addJobs(ctx, queued, waitFor === 'request' ? 'bounded' : 'added'));
}

/** A job for a site's queue, to add once the row it is about is committed. */
export interface QueuedJob {
  siteId: string;
  job: NewJob;
}

/**
 * The one place a credential's job is decided (in memory: the caller saves or inserts the row, then
 * adds the job once that has committed, `addJobs`). Whatever was asked becomes a `reconcile` while a
 * pending password may be set on the target (it tries both and keeps the one that works: a
 * verification of the current password alone would fail on a changed account, a fresh change
 * attempt could discard it); a change without a pending password first stores its new one, sealed,
 * as pending; the row is marked queued (job columns, due time) and its status refreshed. Returns
 * the job, or null when a change was refused (its policy no longer suits the target's limits: the
 * row records why and its status is refreshed; the caller counts it `failed` in its run).
 */
export function queueWork(
  w: Work,
  site: SiteFacts,
  policies: Map<string, PolicyRow>,
  sealer: Pick<TransitionOptions, 'seal'>,
  now: Date,
): NewJob | null {
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
        refreshStatus(w.row, site, now);
        return null;
      }
    }
    beginChange(w.row, password, sealer);
    w.row.change_wanted = false;
  }
  markQueued(w.row, kind, now);
  refreshStatus(w.row, site, now);
  return {
    kind,
    credentialId: w.row.id,
    ...(w.row.pending_id ? { changeId: w.row.pending_id } : {}),
    ...(w.urgent && kind === 'verify' ? { priority: OPERATOR_VERIFY_PRIORITY } : {}),
  };
}

/**
 * Adds jobs to their sites' queues (call it once their rows are committed), sites in parallel: with
 * Redis hanging, a `bounded` wait (a request) lasts one REDIS_REQUEST_TIMEOUT_MS, not one per site;
 * `added`: until Redis took them (SiteQueues.enqueue). Never throws: jobs Redis did not take are
 * logged, kept by the site queues and added once Redis answers (else by the reconciler).
 */
export async function addJobs(ctx: Ctx, queued: QueuedJob[], wait: 'bounded' | 'added'): Promise<void> {
  await Promise.all(
    [...groupBy(queued, (x) => x.siteId)].map(async ([siteId, items]) => {
      const jobs = items.map((x) => x.job);
      try {
        await ctx.queues.enqueue(siteId, jobs, wait);
      } catch (err) {
        ctx.log.error(
          { siteId, jobs: jobs.length, err: err instanceof Error ? err.message : String(err) },
          'jobs not queued yet; queued once Redis answers (else by the reconciler)',
        );
      }
    }),
  );
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
