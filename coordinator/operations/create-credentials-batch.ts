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
import { refreshStatus } from '../credentials/status.js';
import { loadCredentials, saveCredentials, type NewCredential } from '../credentials/store.js';
import { scheduleOnAssignment } from '../policies/rotation.js';
import { loadPolicies, rulesForTargets, type PolicyRow } from '../policies/store.js';
import { dispatch } from '../queues/dispatch.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { siteFacts } from '../store/sites.js';
import type { TargetRow } from '../store/targets.js';
import { wantsFirstVerification, type CredentialInput } from './create-credential.js';

/** Items created per transaction: a chunk commits whole or not at all. */
const BATCH_CHUNK = 500;
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
  try {
    let sealing = seal(chunks[0]);
    for (const [k, chunk] of chunks.entries()) {
      const sealed = await sealing!;
      sealing = seal(chunks[k + 1]);
      const done = await ctx.db.tx((q) => createChunk(ctx, q, chunk, sealed));
      results.push(...done);
    }
  } catch (err) {
    failure = err;
  }
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

/** One chunk in its transaction: check the targets and policies, insert, then queue first verifications. */
async function createChunk(
  ctx: Ctx,
  q: Queryable,
  chunk: Accepted[],
  sealed: string[],
): Promise<BatchItemResult[]> {
  const results: BatchItemResult[] = [];
  const targets = await shareTargets(q, [...new Set(chunk.map((a) => a.input.targetId.toLowerCase()))]);
  const policies = await loadPolicies(
    q,
    chunk.map((a) => a.input.policyId?.toLowerCase() ?? null),
  );
  const suits = new Map<string, FieldIssue[] | null>();
  const rows: (NewCredential & { index: number })[] = [];
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
    rows.push({
      index: a.index,
      id: a.id,
      targetId: target!.id,
      siteId: target!.site_id,
      username: a.input.username,
      policyId,
      syncEnabled: a.input.syncEnabled,
      sealedSecret: sealed[i]!,
    });
  }
  const inserted = await insertCredentials(q, rows);
  const existing = await credentialIdsByKey(
    q,
    rows.filter((r) => !inserted.has(r.id)),
  );
  const created = await loadCredentials(q, [...inserted], true);
  const now = new Date();
  const facts = await siteFacts(
    q,
    created.map((r) => r.site_id),
  );
  for (const row of created) {
    scheduleOnAssignment(row, row.policy_id ? policies.get(row.policy_id)! : null, now);
    refreshStatus(row, facts.get(row.site_id)!, now);
  }
  const verify = new Set(created.filter(wantsFirstVerification));
  // The first verifications: their jobs reach the queues once the chunk is committed (dispatch).
  await dispatch(
    ctx,
    q,
    [...verify].map((row) => ({ row, kind: 'verify' as const })),
    now,
  );
  await saveCredentials(
    q,
    created.filter((row) => !verify.has(row)),
  );
  const byId = new Map(created.map((r) => [r.id, r]));
  for (const r of rows) {
    const row = byId.get(r.id);
    const id = row ? undefined : existing.get(credentialKey(r.targetId, r.username));
    if (row) results.push({ index: r.index, result: 'created', id: row.id, status: row.status });
    else if (id) results.push({ index: r.index, result: 'exists', id });
    else {
      // Its twin was deleted between this insert and the lookup: nothing was created.
      results.push({
        index: r.index,
        result: 'invalid',
        issues: [
          { field: field(r.index, 'username'), message: 'deleted while being created; send it again' },
        ],
      });
    }
  }
  return results;
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
