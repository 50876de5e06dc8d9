import { randomUUID } from 'node:crypto';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { loadCredentials } from '../credentials/store.js';
import { groupPolicy, startGroupChange } from '../groups/change.js';
import { insertGroup, joinGroup, loadGroup, type GroupRow } from '../groups/store.js';
import { nextRotation } from '../policies/rotation.js';
import { memberRef, refuseCutLength, requirePolicy, rulesForTargets } from '../policies/store.js';
import type { SyncRunRow } from '../runs/store.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';

/*
 * What an operator can do with sync groups, without HTTP: create one, change its password now
 * (editing and deleting: api/sync-groups-edit.ts). Each is one transaction, audited.
 */

const field = (name: string, message: string) =>
  new SyncError('VALIDATION_FAILED', `${name}: ${message}`, { issues: [{ field: name, message }] });

/**
 * A new sync group of at least two credentials that belong to no group yet; its policy (given, else
 * the primary's) must suit every member's target. The members' own schedules stop.
 */
export async function createSyncGroup(
  ctx: Ctx,
  input: {
    name: string;
    primaryCredentialId: string;
    memberCredentialIds: string[];
    policyId?: string | undefined;
  },
  by: OperatorAct,
): Promise<GroupRow> {
  const id = randomUUID();
  return ctx.db.tx(async (q) => {
    const now = new Date();
    const ids = [...new Set([input.primaryCredentialId, ...input.memberCredentialIds])];
    if (ids.length < 2) throw field('memberCredentialIds', 'a group needs at least two credentials');
    const rows = await loadCredentials(q, ids, true);
    const found = new Set(rows.map((r) => r.id));
    if (!found.has(input.primaryCredentialId)) throw field('primaryCredentialId', 'no such credential');
    const missing = ids.filter((x) => !found.has(x));
    if (missing.length > 0) throw field('memberCredentialIds', `no such credential: ${missing.join(', ')}`);
    const taken = rows.filter((r) => r.group_id !== null);
    if (taken.length > 0) {
      throw new SyncError(
        'CONFLICT',
        `memberCredentialIds: ${taken.map((r) => r.id).join(', ')} already belong to a sync group`,
      );
    }
    const primary = rows.find((r) => r.id === input.primaryCredentialId)!;
    const policy = input.policyId
      ? await requirePolicy(q, input.policyId, 'policyId')
      : await groupPolicy(q, { policy_id: null }, primary);
    // One password for every member: the policy must suit every member's target.
    const refs = rows.map(memberRef);
    rulesForTargets(policy, refs, 'policyId');
    refuseCutLength(policy, refs, 'policyId');
    const inserted = await insertGroup(q, {
      id,
      name: input.name,
      policy_id: input.policyId ?? null,
      primary_credential_id: primary.id,
      next_change_at: nextRotation(policy, null, now),
    });
    if (!inserted) throw new SyncError('CONFLICT', `name: a sync group named '${input.name}' exists`);
    // The group rotates its members together: their own schedules stop (a pending change still settles).
    await joinGroup(q, id, ids);
    await auditOperator(q, by, 'sync_group.create', 'sync_group', id, {
      name: input.name,
      primaryCredentialId: primary.id,
      memberCredentialIds: ids,
      policyId: input.policyId ?? null,
    });
    return (await loadGroup(q, id))!;
  });
}

/** Changes the group password now: the primary first, then every other member (a sync run). */
export async function changeGroupNow(
  ctx: Ctx,
  id: string,
  password: string | undefined,
  by: OperatorAct,
): Promise<SyncRunRow> {
  const run = await ctx.db.tx(async (q) => {
    const run = await startGroupChange(ctx, q, id, {
      createdBy: by.operatorId,
      ...(password === undefined ? {} : { password }),
    });
    await auditOperator(q, by, 'sync_group.change', 'sync_group', id, {
      runId: run.id,
      given: password !== undefined,
    });
    return run;
  });
  ctx.kickScheduler();
  return run;
}
