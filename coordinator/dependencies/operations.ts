import { DependencyDefinitionSchema, type DependencyMode } from '../../shared/contracts/dependencies.js';
import { parseOrThrow } from '../../shared/validation.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { historyEntry, saveHistory } from '../credentials/history.js';
import type { CredentialRow } from '../credentials/store.js';
import { withdrawPending } from '../credentials/transitions.js';
import { getCredential, lockCredential } from '../operations/load.js';
import { verifyLocked } from '../operations/verify-now.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { checkDefinitions } from './definitions.js';
import { loadDependencies, replaceDependencies, requestDependencies, type DependencyRow } from './store.js';

/*
 * What an operator can do to a credential's dependencies (docs/adapters/dependencies.md), without
 * HTTP: set them, check them, push the password to them again, and store a password set on the
 * target by hand. Each runs in one transaction with the credential locked, and is audited.
 */

/** A credential (404 when there is none) with its dependencies in order, each with its last push and check. */
export async function credentialWithDependencies(
  q: Queryable,
  id: string,
): Promise<{ row: CredentialRow; dependencies: DependencyRow[] }> {
  const row = await getCredential(q, id);
  return { row, dependencies: await loadDependencies(q, [row.id]) };
}

/** Replaces a credential's dependencies (admin: they decide where its password goes). */
export async function setDependencies(
  ctx: Ctx,
  id: string,
  input: unknown[],
  by: OperatorAct,
): Promise<DependencyRow[]> {
  const definitions = input.map((d, n) => parseOrThrow(DependencyDefinitionSchema, d, `dependencies.${n}`));
  return ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    await checkDefinitions(q, row, definitions);
    await replaceDependencies(q, row.id, definitions);
    await auditOperator(q, by, 'credential.dependencies_set', 'credential', row.id, {
      dependencies: definitions.map((d) => ({ kind: d.kind, name: d.name })),
    });
    return loadDependencies(q, [row.id]);
  });
}

/**
 * Asks the credential's next verification to `check` every dependency, or to `push` the stored
 * password to some (`ids`; default: every one whose last push did not end ok), and queues that
 * verification (as soon as a job in flight is over). 409 when there is nothing to ask.
 */
export async function askDependencies(
  ctx: Ctx,
  id: string,
  mode: DependencyMode,
  ids: string[] | undefined,
  by: OperatorAct,
): Promise<{ row: CredentialRow; requested: string[] }> {
  return ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    const all = await loadDependencies(q, [row.id]);
    const unknown = ids?.filter((i) => !all.some((d) => d.id === i)) ?? [];
    if (unknown.length > 0) {
      const message = `not a dependency of credential ${row.id}: ${unknown.join(', ')}`;
      throw new SyncError('VALIDATION_FAILED', `dependencyIds: ${message}`, {
        issues: [{ field: 'dependencyIds', message }],
      });
    }
    const wanted =
      ids ?? (mode === 'push' ? all.filter((d) => d.status !== 'ok').map((d) => d.id) : undefined);
    if (all.length === 0 || wanted?.length === 0) {
      throw new SyncError(
        'CONFLICT',
        all.length === 0 ? 'the credential has no dependencies' : 'no dependency failed',
      );
    }
    if (!row.sync_enabled) throw new SyncError('CONFLICT', 'sync is disabled for this credential');
    const requested = await requestDependencies(q, row.id, mode, wanted);
    await verifyLocked(ctx, q, row, new Date());
    await auditOperator(
      q,
      by,
      `credential.dependencies_${mode === 'push' ? 'retry' : 'check'}`,
      'credential',
      row.id,
      {
        dependencyIds: requested,
      },
    );
    return { row, requested };
  });
}

/**
 * Stores the password now on the target (changed there by hand) as the current one, without changing
 * it again, and verifies it at once; `push`: the verification then pushes it to every dependency.
 * Admin only; audited like a reveal (whoever sets it knows it). Refused while a change is open (its
 * pending password may be the one on the target: the change protocol settles that).
 */
export async function setStoredPassword(
  ctx: Ctx,
  id: string,
  password: string,
  push: boolean,
  by: OperatorAct,
): Promise<CredentialRow> {
  return ctx.db.tx(async (q) => {
    const row = await lockCredential(q, id);
    // A change whose new password was never handed out is withdrawn (nothing can have set it); one
    // that may be set is settled by the change protocol first.
    if (row.pending_secret !== null && !withdrawPending(row)) {
      throw new SyncError(
        'CONFLICT',
        'a change is open: its new password may be the one on the target; wait for it to settle',
      );
    }
    row.change_wanted = false;
    // Busy (the withdrawn change's job): verified as soon as that job is over.
    if (row.job_state !== 'idle') row.next_verify_at = new Date();
    await saveHistory(q, [historyEntry(ctx.box, row.id, row.secret, 'secret', 'retired')]);
    row.secret = ctx.box.seal(password, row.id, 'secret');
    const pushed = push ? await requestDependencies(q, row.id, 'push') : [];
    await verifyLocked(ctx, q, row, new Date());
    await auditOperator(q, by, 'credential.set_stored_password', 'credential', row.id, {
      revealClass: true,
      pushDependencies: pushed,
    });
    return row;
  });
}
