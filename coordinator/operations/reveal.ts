import type { Ctx } from '../context.js';
import { revealHistory } from '../credentials/history.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { getCredential } from './load.js';

/** A credential's stored password, opened (admin; audited as `credential.reveal`). */
export async function revealPassword(ctx: Ctx, id: string, by: OperatorAct): Promise<string> {
  const row = await getCredential(ctx.db, id);
  const password = ctx.box.open(row.secret, row.id, 'secret');
  await auditOperator(ctx.db, by, 'credential.reveal', 'credential', row.id);
  return password;
}

/**
 * A credential's earlier passwords kept sealed (replaced by a change, or discarded after they were
 * handed out), newest first, opened (admin; audited as `credential.reveal_history`).
 */
export async function revealPasswordHistory(
  ctx: Ctx,
  id: string,
  limit: number,
  by: OperatorAct,
): Promise<Awaited<ReturnType<typeof revealHistory>>> {
  const row = await getCredential(ctx.db, id);
  const items = await revealHistory(ctx.db, ctx.box, row.id, limit);
  await auditOperator(ctx.db, by, 'credential.reveal_history', 'credential', row.id, {
    entries: items.length,
  });
  return items;
}
