import { randomUUID } from 'node:crypto';
import type { Status } from '../../shared/contracts/status.js';
import { isSyncError, type FieldIssue } from '../../shared/errors.js';
import { uuidv7s } from '../../shared/uuid7.js';
import type { Ctx } from '../context.js';
import {
  credentialIdsByKey,
  credentialKey,
  insertCredentials,
  shareTargets,
} from '../credentials/bulk-store.js';
import { rowSealer } from '../credentials/sealing.js';
import { refreshStatus } from '../credentials/status.js';
import { DEFAULT_VERIFY_INTERVAL_S, newCredentialRow, type CredentialRow } from '../credentials/store.js';
import { scheduleOnAssignment } from '../policies/rotation.js';
import { loadPolicies, rulesForTargets, type PolicyRow } from '../policies/store.js';
import { addJobs, queueWork, type QueuedJob } from '../queues/dispatch.js';
import { within } from '../queues/redis.js';
import type { NewJob } from '../queues/site-queues.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { siteFacts, type SiteFacts } from '../store/sites.js';
import type { TargetRow } from '../store/targets.js';
import { wantsFirstVerification, type CredentialInput } from './create-credential.js';

/** Items created per transaction: a chunk commits whole or not at all. */
export const BATCH_CHUNK = 500;
/** Invalid items named in the batch's audit event (the counts are always complete). */
const AUDITED_INVALID = 100;

/** What became of one item of a batch, at its place in the request. */
export type BatchItemResult =
  | { index: number; result: 'created'; id: string; status: Status }
  | { index: number; result: 'exists'; id: string }
  | { index: number; result: 'invalid'; issues: FieldIssue[] };

export interface BatchOutcome {
  batchId: string;
  counts: { created: number; exists: number; invalid: number };
  results: BatchItemResult[];
}

interface Accepted {
  index: number;
  input: CredentialInput;
  id: string;
}

const field = (index: number, name: string) => `body.items.${index}.${name}`;

/**
 * Creates many credentials by the rules of createCredential (the target must exist, a policy must
 * exist and suit it; each gets its first verification queued), `BATCH_CHUNK` to a transaction.
 * Idempotent on its natural key: an item whose target has a credential of that username already is
 * `exists` with that credential's id (its stored password is left as it is), so a batch sent again
 * after a failure creates only what is missing. Items that failed their schema (`refused`), repeat
 * an earlier item's target and username, or name a target or policy that does not exist (or suit) are `invalid`
 * with the field; they never stop the others. Passwords are sealed on the seal pool (worker
 * threads), the next chunk's while the current one is written. One audit event for the batch, with
 * its counts (never a password).
 */
export async function createCredentialsBatch(
  ctx: Ctx,
  items: { index: number; input: CredentialInput }[],
  refused: { index: number; issues: FieldIssue[] }[],
  by: OperatorAct,
): Promise<BatchOutcome> {
  const batchId = randomUUID();
  const results: BatchItemResult[] = refused.map((r) => ({
    index: r.index,
    result: 'invalid',
    issues: r.issues,
  }));
  const first = new Map<string, number>();
  const accepted: Accepted[] = [];
  const ids = uuidv7s(items.length);
  for (const [i, { index, input }] of items.entries()) {
    const key = credentialKey(input.targetId, input.username);
    const earlier = first.get(key);
    if (earlier !== undefined) {
      results.push({
        index,
        result: 'invalid',
        issues: [
          { field: field(index, 'username'), message: `same targetId and username as item ${earlier}` },
        ],
      });
      continue;
    }
    first.set(key, index);
    accepted.push({ index, input, id: ids[i]! });
  }

  const chunks: Accepted[][] = [];
  for (let i = 0; i < accepted.length; i += BATCH_CHUNK) chunks.push(accepted.slice(i, i + BATCH_CHUNK));
  const seal = (chunk: Accepted[] | undefined) => {
    if (!chunk) return undefined;
    const sealing = ctx.sealPool.seal(chunk.map((a) => [a.id, a.input.password]));
    sealing.catch(() => undefined); // awaited below; a failure while an earlier chunk fails is not unhandled
    return sealing;
  };
  let failure: unknown;
  // A chunk's first verifications are added to the queues once it has committed, while the next
  // chunk is written (one chunk's jobs at a time); the answer waits for the last of them.
  let queueing: Promise<void> = Promise.resolve();
  try {
    let sealing = seal(chunks[0]);
    for (const [k, chunk] of chunks.entries()) {
      const sealed = await sealing!;
      sealing = seal(chunks[k + 1]);
      const done = await ctx.db.tx((q) => createChunk(ctx, q, chunk, sealed));
      results.push(...done.results);
      await queued(ctx, queueing);
      queueing = addJobs(ctx, done.jobs, 'added');
    }
  } catch (err) {
    failure = err;
  }
  await queued(ctx, queueing);
  results.sort((a, b) => a.index - b.index);
  const counts = { created: 0, exists: 0, invalid: 0 };
  for (const r of results) counts[r.result]++;
  const invalidItems = results
    .filter((r) => r.result === 'invalid')
    .slice(0, AUDITED_INVALID)
    .map((r) => ({ index: r.index, fields: r.issues.map((i) => i.field) }));
  const details = {
    items: items.length + refused.length,
    ...counts,
    invalidItems,
    ...(failure ? { failed: true } : {}),
  };
  const audited = auditOperator(ctx.db, by, 'credential.create_batch', 'credential_batch', batchId, details);
  if (failure) {
    // What committed is recorded too; a retry of the same batch finds it `exists`.
    await audited.catch(() => undefined);
    throw failure;
  }
  await audited;
  ctx.log.info({ batchId, ...counts }, 'credentials created in bulk');
  return { batchId, counts, results };
}

/**
 * One chunk in its transaction: check the targets and policies, then insert each new credential
 * once, in its first state (due times, status, and the job columns of its first verification,
 * decided by dispatch's `queueWork` as for any job). Returns the results and the jobs to add once
 * the chunk has committed.
 */
async function createChunk(
  ctx: Ctx,
  q: Queryable,
  chunk: Accepted[],
  sealed: string[],
): Promise<{ results: BatchItemResult[]; jobs: QueuedJob[] }> {
  const results: BatchItemResult[] = [];
  const targets = await shareTargets(q, [...new Set(chunk.map((a) => a.input.targetId.toLowerCase()))]);
  const policies = await loadPolicies(
    q,
    chunk.map((a) => a.input.policyId?.toLowerCase() ?? null),
  );
  const facts = await siteFacts(
    q,
    [...targets.values()].map((t) => t.site_id),
  );
  const now = new Date();
  const sealer = rowSealer(ctx.box);
  const suits = new Map<string, FieldIssue[] | null>();
  const rows: { index: number; row: CredentialRow; job: NewJob | null }[] = [];
  for (const [i, a] of chunk.entries()) {
    const target = targets.get(a.input.targetId.toLowerCase());
    const policyId = a.input.policyId?.toLowerCase() ?? null;
    const policy = policyId ? policies.get(policyId) : null;
    const issues = !target
      ? [{ field: field(a.index, 'targetId'), message: 'no such target' }]
      : policy === undefined
        ? [{ field: field(a.index, 'policyId'), message: 'no such policy' }]
        : policyIssues(suits, policy, target, a.index);
    if (issues) {
      results.push({ index: a.index, result: 'invalid', issues });
      continue;
    }
    const row = newCredentialRow(
      {
        id: a.id,
        targetId: target!.id,
        siteId: target!.site_id,
        username: a.input.username,
        policyId,
        syncEnabled: a.input.syncEnabled,
        sealedSecret: sealed[i]!,
      },
      target!,
      policy?.verify_interval_s ?? DEFAULT_VERIFY_INTERVAL_S,
      now,
    );
    rows.push({
      index: a.index,
      row,
      job: firstState(row, policy ?? null, facts.get(row.site_id)!, sealer, now),
    });
  }
  const inserted = await insertCredentials(
    q,
    rows.map((r) => r.row),
  );
  const existing = await credentialIdsByKey(
    q,
    rows
      .filter((r) => !inserted.has(r.row.id))
      .map((r) => ({ targetId: r.row.target_id, username: r.row.username })),
  );
  const jobs: QueuedJob[] = [];
  for (const { index, row, job } of rows) {
    const id = inserted.has(row.id) ? undefined : existing.get(credentialKey(row.target_id, row.username));
    if (inserted.has(row.id)) {
      results.push({ index, result: 'created', id: row.id, status: row.status });
      if (job) jobs.push({ siteId: row.site_id, job });
    } else if (id) results.push({ index, result: 'exists', id });
    else {
      // Its twin was deleted between this insert and the lookup: nothing was created.
      results.push({
        index,
        result: 'invalid',
        issues: [{ field: field(index, 'username'), message: 'deleted while being created; send it again' }],
      });
    }
  }
  return { results, jobs };
}

/**
 * A new credential's first state, as createCredential leaves one: its rotation scheduled by its
 * policy, its status refreshed, and its first verification decided (`queueWork`, the job columns)
 * when it can be verified. Returns that verification's job, or null.
 */
function firstState(
  row: CredentialRow,
  policy: PolicyRow | null,
  site: SiteFacts,
  sealer: ReturnType<typeof rowSealer>,
  now: Date,
): NewJob | null {
  scheduleOnAssignment(row, policy, now);
  refreshStatus(row, site, now);
  if (!wantsFirstVerification(row)) return null;
  return queueWork({ row, kind: 'verify' }, site, new Map(), sealer, now);
}

/**
 * Waits for a chunk's jobs to be added, at most REDIS_REQUEST_TIMEOUT_MS from now (counted once the
 * next chunk is written: on the embedded database its statements hold the event loop). With Redis
 * hanging the adding goes on and the batch goes on without it, as dispatch's `bounded` wait; with
 * Redis down, addJobs has logged them and the site queues keep them.
 */
async function queued(ctx: Ctx, adding: Promise<void>): Promise<void> {
  await within(adding, ctx.config.REDIS_REQUEST_TIMEOUT_MS, 'queueing jobs').catch((err: unknown) => {
    ctx.log.error(
      { err: err instanceof Error ? err.message : String(err) },
      'jobs not queued yet; queued once Redis answers (else by the reconciler)',
    );
  });
}

/** Whether a policy suits a target (createCredential's rule), once per pair. */
function policyIssues(
  cache: Map<string, FieldIssue[] | null>,
  policy: PolicyRow | null,
  target: TargetRow,
  index: number,
): FieldIssue[] | null {
  if (!policy) return null;
  const key = `${policy.id} ${target.id}`;
  if (!cache.has(key)) {
    try {
      rulesForTargets(policy, [target], 'policyId');
      cache.set(key, null);
    } catch (err) {
      if (!isSyncError(err) || !err.issues) throw err;
      cache.set(key, err.issues);
    }
  }
  return cache.get(key)?.map((i) => ({ field: field(index, i.field), message: i.message })) ?? null;
}
