import type { DependencyResult } from '../../shared/contracts/dependencies.js';
import type { JobOutcome } from '../../shared/contracts/gateway.js';
import type { JobKind } from '../../shared/contracts/jobs.js';
import { isSyncError } from '../../shared/errors.js';
import { guardMessage, WITHHELD_MESSAGE } from '../../shared/message-guard.js';
import type { Ctx } from '../context.js';
import { loadCredentials, type CredentialRow } from '../credentials/store.js';
import { checkGivenPassword } from '../operations/change.js';
import { dispatch } from '../queues/dispatch.js';
import { recordAudit } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { recordDependencyResults, type DependencyRow } from './store.js';

/** What a job's result did to its credential's dependencies. */
export interface DependencyOutcome {
  /** The change's password is set but a dependency failed or did not run: the change counts `partial`. */
  partial?: { message: string };
}

/**
 * Records the dependency results of one accepted job (only the credential's own dependencies), and
 * once its password is proven (`proven`: a change promoted, or a verification ok) runs the
 * `credential` dependencies: each chained credential gets the same password as a change of its own.
 * A change whose dependencies did not all end ok is `partial`.
 */
export async function settleDependencies(
  ctx: Ctx,
  q: Queryable,
  row: CredentialRow,
  kind: JobKind,
  result: JobOutcome,
  proven: boolean,
  deps: DependencyRow[],
  now: Date,
): Promise<DependencyOutcome> {
  const known = new Map(deps.map((d) => [d.id, d]));
  // Defence in depth, as for the job's own message (gateway/report.ts): no message quoting the password.
  const secret = ctx.box.open(row.secret, row.id, 'secret');
  const reported = (result.dependencies ?? [])
    .filter((r) => known.has(r.id))
    .map((r) =>
      r.message === undefined ? r : { ...r, message: guardMessage(r.message, [secret]) ?? WITHHELD_MESSAGE },
    );
  const chained = deps.filter(
    (d) => d.kind === 'credential' && (kind !== 'verify' || d.requested === 'push'),
  );
  const checked = deps.filter((d) => d.kind === 'credential' && kind === 'verify' && d.requested === 'check');
  const results = [
    ...reported,
    ...(proven ? await runChains(ctx, q, row, chained, now) : []),
    ...(proven ? await checkChains(ctx, q, row, checked) : []),
  ];
  await recordDependencyResults(q, row.id, results, now);
  if (kind === 'verify' || !proven) return {};
  // A change: every dependency must have been pushed; one the agent did not report did not run.
  const pushed = new Map(results.filter((r) => r.mode === 'push').map((r) => [r.id, r]));
  const missing = deps.filter((d) => pushed.get(d.id)?.status !== 'ok');
  if (missing.length === 0) return {};
  const first = missing[0]!;
  const why = pushed.get(first.id)?.message ?? 'not run';
  await recordDependencyResults(q, row.id, notRun(missing.filter((d) => !pushed.has(d.id))), now);
  return {
    partial: {
      message: `password changed; dependency '${first.name}' ${pushed.get(first.id)?.status === 'failed' ? 'failed' : 'did not run'}: ${why}${missing.length > 1 ? ` (${missing.length} dependencies not ok)` : ''}`,
    },
  };
}

const notRun = (deps: DependencyRow[]): DependencyResult[] =>
  deps.map((d) => ({ id: d.id, mode: 'push', status: 'not_run', message: 'no result from the agent' }));

/** Starts a change with the credential's (now current) password on each chained credential. */
async function runChains(
  ctx: Ctx,
  q: Queryable,
  row: CredentialRow,
  chained: DependencyRow[],
  now: Date,
): Promise<DependencyResult[]> {
  if (chained.length === 0) return [];
  const password = ctx.box.open(row.secret, row.id, 'secret');
  const ids = chained.map(chainedId);
  const others = new Map((await loadCredentials(q, ids, true)).map((r) => [r.id, r]));
  const out: DependencyResult[] = [];
  for (const [i, d] of chained.entries()) {
    const other = others.get(ids[i]!);
    // Already its password: nothing to start. This also ends a cycle of chains (A → B → A) that
    // concurrent edits let through the check when dependencies are set (definitions.ts).
    if (other && ctx.box.open(other.secret, other.id, 'secret') === password) {
      out.push({
        id: d.id,
        mode: 'push',
        status: 'ok',
        message: `credential ${other.id} already has this password`,
      });
      continue;
    }
    const problem = await chainProblem(q, row, other, password);
    if (problem !== undefined || !other) {
      out.push({ id: d.id, mode: 'push', status: 'failed', message: problem ?? 'gone' });
      continue;
    }
    await dispatch(ctx, q, [{ row: other, kind: 'change', password }], now);
    await recordAudit(q, [
      {
        actorType: 'system',
        actorId: 'dependencies',
        action: 'credential.change',
        objectType: 'credential',
        objectId: other.id,
        details: { given: true, chainedFrom: row.id, dependencyId: d.id },
      },
    ]);
    out.push({ id: d.id, mode: 'push', status: 'ok', message: `change of credential ${other.id} started` });
  }
  return out;
}

/** Checks each chained credential could take the password now (nothing is started). */
async function checkChains(
  ctx: Ctx,
  q: Queryable,
  row: CredentialRow,
  checked: DependencyRow[],
): Promise<DependencyResult[]> {
  if (checked.length === 0) return [];
  const password = ctx.box.open(row.secret, row.id, 'secret');
  const others = new Map((await loadCredentials(q, checked.map(chainedId), false)).map((r) => [r.id, r]));
  const out: DependencyResult[] = [];
  for (const d of checked) {
    const problem = await chainProblem(q, row, others.get(chainedId(d)), password);
    out.push({
      id: d.id,
      mode: 'check',
      status: problem === undefined ? 'ok' : 'failed',
      ...(problem ? { message: problem } : {}),
    });
  }
  return out;
}

const chainedId = (d: DependencyRow): string =>
  d.definition.kind === 'credential' ? d.definition.credentialId : '';

async function chainProblem(
  q: Queryable,
  row: CredentialRow,
  other: CredentialRow | undefined,
  password: string,
): Promise<string | undefined> {
  if (!other) return 'the chained credential no longer exists';
  if (other.site_id !== row.site_id) return 'the chained credential belongs to another site';
  if (!other.sync_enabled) return 'sync is disabled for the chained credential';
  if (other.group_id !== null) return 'the chained credential is a member of a sync group';
  if (other.pending_secret !== null || other.job_state !== 'idle') {
    return 'the chained credential has a job or a change of its own in flight; retry later';
  }
  try {
    await checkGivenPassword(q, other, password);
  } catch (err) {
    if (isSyncError(err)) return err.message;
    throw err;
  }
  return undefined;
}
