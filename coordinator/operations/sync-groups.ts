import { randomUUID } from 'node:crypto';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { loadCredentials, saveCredentials, type CredentialRow } from '../credentials/store.js';
import { groupPolicy, startGroupChange } from '../groups/change.js';
import {
  deleteGroupRow,
  insertGroup,
  joinGroup,
  leaveGroup,
  loadGroup,
  memberIds,
  setGroupEnabled,
  setGroupNextChange,
  updateGroupRow,
  type GroupRow,
} from '../groups/store.js';
import { nextRotation, scheduleOnAssignment } from '../policies/rotation.js';
import {
  loadPolicies,
  memberRef,
  refuseCutLength,
  requirePolicy,
  rulesForTargets,
} from '../policies/store.js';
import type { SyncRunRow } from '../runs/store.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';

/*
 * What an operator can do with sync groups, without HTTP: create, edit, enable or disable and
 * delete one, change its password now. Each is one transaction, audited.
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

/** A group locked for an edit, refused (409) while its change is out: the edit would change who gets it. */
async function idleGroup(q: Queryable, id: string): Promise<{ group: GroupRow; members: CredentialRow[] }> {
  const group = await loadGroup(q, id, true);
  if (!group) throw new SyncError('NOT_FOUND', `sync group ${id} not found`);
  const members = await loadCredentials(q, await memberIds(q, id), true);
  if (group.change_pending_id !== null || members.some((m) => m.pending_secret !== null)) {
    throw new SyncError(
      'CONFLICT',
      `sync group '${group.name}' has a change in progress: wait for it to settle (GET /sync-groups/${id})`,
    );
  }
  return { group, members };
}

/** Credentials that left a group rotate on their own again, by their own policy. */
async function release(q: Queryable, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await leaveGroup(q, ids);
  const rows = await loadCredentials(q, ids, true);
  const policies = await loadPolicies(
    q,
    rows.map((r) => r.policy_id),
  );
  const now = new Date();
  for (const row of rows)
    scheduleOnAssignment(row, row.policy_id ? (policies.get(row.policy_id) ?? null) : null, now);
  await saveCredentials(q, rows);
}

/**
 * Edits a sync group: name, policy, primary, members (the whole list; members left out rotate on
 * their own again). Refused (409) while a change is in progress; the policy must suit every member.
 */
export async function editSyncGroup(
  ctx: Ctx,
  id: string,
  patch: {
    name?: string | undefined;
    policyId?: string | null | undefined;
    primaryCredentialId?: string | undefined;
    memberCredentialIds?: string[] | undefined;
  },
  by: OperatorAct,
): Promise<GroupRow> {
  return ctx.db.tx(async (q) => {
    const { group, members } = await idleGroup(q, id);
    const current = members.map((m) => m.id);
    const primaryId = patch.primaryCredentialId ?? group.primary_credential_id;
    if (!primaryId) throw field('primaryCredentialId', 'the group has no primary (deleted): name one');
    const wanted = [...new Set([primaryId, ...(patch.memberCredentialIds ?? current)])];
    if (wanted.length < 2) throw field('memberCredentialIds', 'a group needs at least two credentials');
    const rows = await loadCredentials(q, wanted, true);
    const found = new Set(rows.map((r) => r.id));
    if (!found.has(primaryId)) throw field('primaryCredentialId', 'no such credential');
    const missing = wanted.filter((x) => !found.has(x));
    if (missing.length > 0) throw field('memberCredentialIds', `no such credential: ${missing.join(', ')}`);
    const taken = rows.filter((r) => r.group_id !== null && r.group_id !== group.id);
    if (taken.length > 0) {
      throw new SyncError(
        'CONFLICT',
        `memberCredentialIds: ${taken.map((r) => `${r.username} on ${r.target_name}`).join(', ')} already belong to another sync group`,
      );
    }
    const policyId = patch.policyId === undefined ? group.policy_id : patch.policyId;
    const primary = rows.find((r) => r.id === primaryId)!;
    const policy = policyId
      ? await requirePolicy(q, policyId, 'policyId')
      : await groupPolicy(q, { policy_id: null }, primary);
    rulesForTargets(policy, rows.map(memberRef), 'policyId');
    refuseCutLength(policy, rows.map(memberRef), 'policyId');
    const name = patch.name ?? group.name;
    const updated = await updateGroupRow(q, {
      id: group.id,
      name,
      policy_id: policyId,
      primary_credential_id: primaryId,
    });
    if (updated === 'taken') throw new SyncError('CONFLICT', `name: a sync group named '${name}' exists`);
    const added = wanted.filter((x) => !current.includes(x));
    const removed = current.filter((x) => !wanted.includes(x));
    await joinGroup(q, group.id, added);
    await release(q, removed);
    if (group.enabled)
      await setGroupNextChange(q, group.id, nextRotation(policy, primary.last_changed_at, new Date()));
    await auditOperator(q, by, 'sync_group.update', 'sync_group', group.id, {
      ...(name !== group.name ? { name: { from: group.name, to: name } } : {}),
      ...(policyId !== group.policy_id ? { policyId: { from: group.policy_id, to: policyId } } : {}),
      ...(primaryId !== group.primary_credential_id
        ? { primaryCredentialId: { from: group.primary_credential_id, to: primaryId } }
        : {}),
      added,
      removed,
    });
    return (await loadGroup(q, group.id))!;
  });
}

/** Enables a sync group (its rotation scheduled again) or disables it (not rotated, a change now refused). */
export async function setSyncGroupEnabled(
  ctx: Ctx,
  id: string,
  enabled: boolean,
  by: OperatorAct,
): Promise<GroupRow> {
  return ctx.db.tx(async (q) => {
    const group = await loadGroup(q, id, true);
    if (!group) throw new SyncError('NOT_FOUND', `sync group ${id} not found`);
    let next: Date | null = null;
    if (enabled) {
      const [primary] = group.primary_credential_id
        ? await loadCredentials(q, [group.primary_credential_id], false)
        : [];
      const policy = await groupPolicy(q, group, primary);
      next = nextRotation(policy, primary?.last_changed_at ?? null, new Date());
    }
    await setGroupEnabled(q, group.id, enabled, next);
    await auditOperator(q, by, enabled ? 'sync_group.enable' : 'sync_group.disable', 'sync_group', group.id);
    return (await loadGroup(q, group.id))!;
  });
}

/** Deletes a sync group: its members stay and rotate on their own again. Refused (409) while a change is in progress. */
export async function deleteSyncGroup(ctx: Ctx, id: string, by: OperatorAct): Promise<void> {
  await ctx.db.tx(async (q) => {
    const { group, members } = await idleGroup(q, id);
    await release(
      q,
      members.map((m) => m.id),
    );
    await deleteGroupRow(q, group.id);
    await auditOperator(q, by, 'sync_group.delete', 'sync_group', group.id, {
      name: group.name,
      memberCredentialIds: members.map((m) => m.id),
    });
  });
}
