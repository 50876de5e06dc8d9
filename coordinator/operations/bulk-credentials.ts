import { randomUUID } from 'node:crypto';
import {
  MAX_BULK_ITEMS,
  type BulkAction,
  type BulkCredentialsBody,
  type BulkCredentialsView,
  type BulkItemResultView,
} from '../../shared/contracts/credentials-bulk.js';
import { isSyncError, SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { countFiltered, filteredIds } from '../credentials/list-filter.js';
import type { CredentialRow } from '../credentials/store.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { changeNow } from './change.js';
import { deleteCredential } from './delete.js';
import { setSyncEnabled } from './sync-enabled.js';
import { verifyNow } from './verify-now.js';

/** Credentials acted on at once (each in its own transaction). */
const CONCURRENCY = 4;
/** Failed credentials named in the action's audit event (the counts are always complete). */
const AUDITED_FAILED = 100;

/** One credential's action, by the rules (and with the audit event) of its own route. */
function actOn(
  ctx: Ctx,
  action: BulkAction,
  id: string,
  force: boolean,
  by: OperatorAct,
): Promise<CredentialRow | null> {
  switch (action) {
    case 'verify':
      return verifyNow(ctx, id, by);
    case 'change':
      return changeNow(ctx, id, undefined, by);
    case 'enable':
    case 'disable':
      return setSyncEnabled(ctx, id, action === 'enable', by);
    case 'delete':
      return deleteCredential(ctx, id, force, by).then(() => null);
  }
}

/**
 * A bulk action on credentials chosen by ids or by a filter (at most MAX_BULK_ITEMS: a filter
 * matching more is refused with its count). Each credential is acted on by the rules of its own
 * route (Sync now on one with sync off is refused, a change on a sync group member too, a delete
 * with a change in flight without `force`), and answered on its own: a refusal never stops the
 * others. A change is always generated from the policy (choosing passwords is one at a time).
 * One audit event for the action (its counts, the filter, the failed ids), beside each
 * credential's own.
 */
export async function bulkCredentials(
  ctx: Ctx,
  body: BulkCredentialsBody,
  by: OperatorAct,
): Promise<BulkCredentialsView> {
  let ids: string[];
  if (body.ids) ids = [...new Set(body.ids)];
  else {
    ids = await filteredIds(ctx.db, body.filter!, MAX_BULK_ITEMS + 1);
    if (ids.length > MAX_BULK_ITEMS) {
      const matched = await countFiltered(ctx.db, body.filter!);
      const message = `the filter matches ${matched} credentials; at most ${MAX_BULK_ITEMS} at once: narrow it (or start a sync run for a site, target or sync group)`;
      throw new SyncError('VALIDATION_FAILED', `filter: ${message}`, {
        issues: [{ field: 'filter', message }],
      });
    }
  }
  const bulkId = randomUUID();
  const results: BulkItemResultView[] = new Array<BulkItemResultView>(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      const id = ids[i]!;
      try {
        const row = await actOn(ctx, body.action, id, body.force, by);
        results[i] = { id, result: 'ok', status: row?.status ?? null };
      } catch (err) {
        if (!isSyncError(err) || err.statusCode >= 500) {
          next = ids.length; // the others stop too: the database or the queue is failing
          throw err;
        }
        results[i] = { id, result: 'failed', code: err.code, message: err.message };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ids.length) }, worker));
  const counts = { ok: 0, failed: 0 };
  for (const r of results) counts[r.result]++;
  await auditOperator(ctx.db, by, 'credential.bulk', 'credential_bulk', bulkId, {
    action: body.action,
    ...(body.filter ? { filter: body.filter } : {}),
    ...(body.force ? { force: true } : {}),
    items: ids.length,
    ...counts,
    failedIds: results
      .filter((r) => r.result === 'failed')
      .slice(0, AUDITED_FAILED)
      .map((r) => r.id),
  });
  ctx.log.info({ bulkId, action: body.action, ...counts }, 'credentials acted on in bulk');
  return { bulkId, action: body.action, counts, results };
}
