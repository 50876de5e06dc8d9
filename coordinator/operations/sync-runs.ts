import { randomUUID } from 'node:crypto';
import type { SyncRunView } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import { markCancelled, withdrawRun } from '../runs/cancel.js';
import { markRest } from '../runs/marking.js';
import { requireScope, startRun } from '../runs/start.js';
import type { SyncRunRow } from '../runs/store.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';

/** How long a cancel withdraws work before it returns (the run sweep finishes the rest). */
const CANCEL_BUDGET_MS = 5000;

/** Starts a manual sync run over a scope (empty scope = everything; each id it names must exist). */
export async function startManualRun(
  ctx: Ctx,
  input: { kind: SyncRunRow['kind']; scope: SyncRunView['scope'] },
  by: OperatorAct,
): Promise<SyncRunRow> {
  const id = randomUUID();
  const run = await ctx.db.tx(async (q) => {
    await requireScope(q, input.scope);
    const run = await startRun(
      ctx,
      q,
      { id, kind: input.kind, scope: input.scope, trigger: 'manual', createdBy: by.operatorId },
      ctx.config.RUN_MARK_CHUNK,
    );
    await auditOperator(q, by, 'sync_run.create', 'sync_run', id, {
      kind: input.kind,
      scope: input.scope,
      impacted: run.impacted,
    });
    return run;
  });
  ctx.kickScheduler();
  // More credentials than one chunk: the rest are marked in the background (runs/marking.ts).
  if (run.marking_after !== null) void markRest(ctx, id);
  ctx.log.info({ runId: id, kind: input.kind, impacted: run.impacted }, 'sync run started');
  return run;
}

/**
 * Cancels a running sync run: it ends now (items without a result count unsynced, reason
 * cancelled); queued work it asked for is withdrawn for up to CANCEL_BUDGET_MS, the run sweep
 * withdraws the rest.
 */
export async function cancelRun(ctx: Ctx, id: string, by: OperatorAct): Promise<SyncRunRow> {
  await ctx.db.tx(async (q) => {
    const run = await markCancelled(q, id, by.operatorId);
    await auditOperator(q, by, 'sync_run.cancel', 'sync_run', id, {
      kind: run.kind,
      trigger: run.trigger,
      scope: run.scope,
    });
  });
  const run = await withdrawRun(ctx, id, CANCEL_BUDGET_MS);
  ctx.log.info({ runId: id, finished: run.finished_at !== null }, 'sync run cancelled');
  return run;
}
