import { randomUUID } from 'node:crypto';
import { SyncError } from '../../shared/errors.js';
import { capabilitiesOf } from '../../shared/targets/index.js';
import { loadRun, type SyncRunRow } from '../runs/store.js';
import type { Ctx } from '../context.js';
import { constraintsOf, passwordProblems } from '../policies/constraints.js';
import { generatePassword } from '../policies/generate.js';
import { loadPolicies, rulesForTargets, type PolicyRow } from '../policies/store.js';
import { countInRuns, countRestUnsynced, finishRuns, type RunResult } from '../runs/count.js';
import { startGroupRun } from '../runs/start.js';
import { beginChange, changed, type RunCount } from '../credentials/transitions.js';

import { dispatch, type Work } from '../queues/dispatch.js';
import { rowSealer } from '../credentials/sealing.js';
import { refreshAndSave } from '../credentials/refresh.js';
import {
  loadCredential,
  loadCredentials,
  saveCredentials,
  type CredentialRow,
} from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import {
  closeGroupChange,
  forgetGroupChange,
  GROUP_SECRET_FIELD,
  loadGroup,
  memberIds,
  openGroupChange,
  type GroupRow,
} from './store.js';

const DAY_MS = 86_400_000;

/** The policy a group's password follows: its own, else its primary's, else the defaults (null). */
export async function groupPolicy(
  q: Queryable,
  group: Pick<GroupRow, 'policy_id'>,
  primary: CredentialRow | undefined,
): Promise<PolicyRow | null> {
  const id = group.policy_id ?? primary?.policy_id ?? null;
  return id ? ((await loadPolicies(q, [id])).get(id) ?? null) : null;
}

const targetsOf = (rows: CredentialRow[]) =>
  rows.map((r) => ({ name: r.target_name, kind: r.target_kind, connection: r.target_connection }));

const changeable = (r: CredentialRow): boolean => {
  const caps = capabilitiesOf(r.target_kind, r.target_connection);
  return (
    r.sync_enabled &&
    !r.suspended &&
    caps.change &&
    caps.changeConfigured &&
    r.status !== 'not_synced' &&
    r.status !== 'unsyncable'
  );
};

export interface GroupChangeRequest {
  /** Operator id, or `scheduler` for a rotation on the group policy's schedule. */
  createdBy: string;
  /** The password to set on every member (else generated). */
  password?: string;
}

/**
 * Starts a sync group's change (docs/passwords.md, sync groups): ONE password satisfying the group's policy and every
 * member's target, stored sealed as the primary's pending password (the primary changes first)
 * and, until the primary's change settles, on the group; every member joins the group's sync run.
 * The rest is done by settleGroupChanges when the primary's result comes in.
 */
export async function startGroupChange(
  ctx: Ctx,
  q: Queryable,
  groupId: string,
  req: GroupChangeRequest,
): Promise<SyncRunRow> {
  const now = new Date();
  const group = await loadGroup(q, groupId, true);
  if (!group) throw new SyncError('NOT_FOUND', `sync group ${groupId} not found`);
  if (!group.enabled) {
    throw new SyncError(
      'CONFLICT',
      `sync group '${group.name}' is disabled: enable it to change its password`,
    );
  }
  if (group.change_pending_id) {
    // A plain read: a report settling the primary may hold its row.
    const primary = group.primary_credential_id ? await loadCredential(q, group.primary_credential_id) : null;
    if (primary?.pending_id === group.change_pending_id) {
      throw new SyncError('CONFLICT', "the group's previous change is still in progress (its primary first)");
    }
    await abandonGroupChange(ctx, q, group, now); // its primary was deleted or its change discarded
  }
  const rows = await loadCredentials(q, await memberIds(q, groupId), true);
  const primary = rows.find((r) => r.id === group.primary_credential_id);
  if (!primary) throw new SyncError('CONFLICT', 'the group has no primary credential (deleted?)');
  const busy = rows.filter((r) => r.pending_secret !== null);
  if (busy.length > 0) {
    throw new SyncError(
      'CONFLICT',
      `member(s) ${busy.map((r) => r.id).join(', ')} have a change in flight; wait for it to settle`,
    );
  }
  if (!changeable(primary)) {
    throw new SyncError(
      'CONFLICT',
      `the primary credential ${primary.id} cannot be changed now (sync disabled, suspended, or no change step)`,
    );
  }
  const policy = await groupPolicy(q, group, primary);
  const rules = rulesForTargets(policy, targetsOf(rows), 'policyId');
  let password = req.password;
  if (password !== undefined) {
    const problems = passwordProblems(
      password,
      policy?.rules ?? null,
      rows.map((r) => constraintsOf(r.target_kind, r.target_connection)),
    );
    if (problems.length > 0) {
      const message = `does not suit the group's policy or targets: ${problems.join('; ')}`;
      throw new SyncError('VALIDATION_FAILED', `password: ${message}`, {
        issues: [{ field: 'password', message }],
      });
    }
  } else {
    password = generatePassword(rules);
  }

  // Every member leaves an older run it was counted in, and joins this one.
  await countInRuns(
    q,
    rows
      .filter((r) => r.run_id !== null)
      .map((row) => ({ row, count: 'unsynced' as const, reason: 'superseded' })),
    now,
  );
  const runId = randomUUID();
  await startGroupRun(q, {
    id: runId,
    groupId,
    createdBy: req.createdBy,
    startedAt: now,
    impacted: rows.length,
  });
  for (const r of rows) r.run_id = runId;
  beginChange(primary, password, rowSealer(ctx.box));
  primary.change_wanted = false;
  if (primary.job_state === 'idle') await dispatch(ctx, q, [{ row: primary, kind: 'change' }], now);
  else primary.next_change_at = now; // goes out when the job in flight is over (the pending is kept)
  await refreshAndSave(q, rows, now);
  await openGroupChange(q, group.id, {
    runId,
    pendingId: primary.pending_id,
    sealedSecret: ctx.box.seal(password, group.id, GROUP_SECRET_FIELD),
  });
  return (await loadRun(q, runId))!;
}

/** A settled change (success, failure) of a credential that is in a sync group. */
export interface SettledChange {
  row: CredentialRow;
  changeId: string | undefined;
  count: RunCount;
}

/**
 * Carries a group's change on once its primary's change settled: on success, every other member
 * gets the same password as its pending one and a change job (a busy member as soon as its job is
 * over); members that cannot take it count unsynced; one member's failure never stops the others.
 * On failure nothing else is tried: the other members count unsynced (`primary_failed`).
 * "Settled" means the primary's pending password was promoted or discarded: a failure that leaves
 * it pending (uncertain: it may be set on the target) keeps the group's change open, so the members
 * follow if a later reconcile finds the new password working.
 * Runs inside the report's transaction, after the batch's rows are saved.
 */
export async function settleGroupChanges(
  ctx: Ctx,
  q: Queryable,
  settled: SettledChange[],
  now: Date,
): Promise<void> {
  for (const s of settled) {
    if (s.row.group_id === null || s.changeId === undefined) continue;
    // The primary still holds this change's password as pending: not settled yet, whatever was counted.
    if (s.row.pending_secret !== null && s.row.pending_id === s.changeId) {
      ctx.log.info(
        { groupId: s.row.group_id, primary: s.row.id, outcome: s.count },
        'sync group: primary change still uncertain; members wait for it to settle',
      );
      continue;
    }
    // Plain read first: only the group's own pending change takes the group's lock.
    const peek = await loadGroup(q, s.row.group_id);
    if (!peek || peek.change_pending_id !== s.changeId) continue;
    const group = await loadGroup(q, s.row.group_id, true);
    if (!group || group.change_pending_id !== s.changeId || group.change_run_id === null) continue;
    const runId = group.change_run_id;
    const password = group.change_secret
      ? ctx.box.open(group.change_secret, group.id, GROUP_SECRET_FIELD)
      : null;
    const others = (await loadCredentials(q, await memberIds(q, group.id), true)).filter(
      (r) => r.id !== s.row.id,
    );
    const policy = await groupPolicy(q, group, s.row);
    const interval = (policy?.rotate_interval_s ?? 0) * 1000;
    const unsynced: RunResult[] = [];
    const work: Work[] = [];
    const success = changed(s.count) && password !== null;
    for (const o of others) {
      if (!success) {
        if (o.run_id === runId) unsynced.push({ row: o, count: 'unsynced', reason: 'primary_failed' });
      } else if (o.pending_secret !== null) {
        if (o.run_id === runId) unsynced.push({ row: o, count: 'unsynced', reason: 'change_in_flight' });
      } else if (!changeable(o)) {
        if (o.run_id === runId) unsynced.push({ row: o, count: 'unsynced', reason: 'not_changeable' });
      } else {
        beginChange(o, password, rowSealer(ctx.box));
        o.change_wanted = false;
        if (o.job_state === 'idle') work.push({ row: o, kind: 'change' });
        else o.next_change_at = now;
      }
    }
    await countInRuns(q, unsynced, now);
    await refreshAndSave(q, others, now);
    await dispatch(ctx, q, work, now);
    const next =
      interval > 0 ? new Date(now.getTime() + (success ? interval : Math.min(interval, DAY_MS))) : null;
    await closeGroupChange(q, group.id, next);
    ctx.log.info(
      { groupId: group.id, runId, primary: s.row.id, outcome: s.count, members: work.length },
      success
        ? 'sync group: primary changed, members queued'
        : 'sync group: primary failed, members left alone',
    );
  }
}

/**
 * The primary of these groups' open changes was deleted: they can never settle now, so they end
 * here (their runs finish, the other members unsynced) instead of waiting for the next change.
 */
export async function abandonGroupChanges(
  ctx: Ctx,
  q: Queryable,
  groupIds: string[],
  now: Date,
): Promise<void> {
  for (const id of groupIds) {
    const group = await loadGroup(q, id, true);
    if (group?.change_pending_id) await abandonGroupChange(ctx, q, group, now);
  }
}

/** Forgets a group change whose primary went away without a result: its run ends with the rest unsynced. */
async function abandonGroupChange(ctx: Ctx, q: Queryable, group: GroupRow, now: Date): Promise<void> {
  const runId = group.change_run_id;
  if (runId) {
    const rows = (await loadCredentials(q, await memberIds(q, group.id), true)).filter(
      (r) => r.run_id === runId,
    );
    await countInRuns(
      q,
      rows.map((row) => ({ row, count: 'unsynced' as const, reason: 'abandoned' })),
      now,
    );
    await saveCredentials(q, rows);
    // Members no longer in the group (the primary, deleted) leave nothing to wait for.
    await countRestUnsynced(q, runId);
    await finishRuns(q, [runId], now);
  }
  await forgetGroupChange(q, group.id);
  ctx.log.warn(
    { groupId: group.id, runId },
    'sync group: abandoned a change whose primary settled elsewhere',
  );
}
