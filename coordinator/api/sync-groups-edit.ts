import { z } from 'zod';
import { listOf, PageQuery, SyncGroupView, SyncRunView } from '../../shared/contracts/api.js';
import { DeletedView, PatchSyncGroupBody } from '../../shared/contracts/admin.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { loadCredentials, saveCredentials, type CredentialRow } from '../credentials/store.js';
import { groupPolicy } from '../groups/change.js';
import {
  deleteGroupRow,
  groupRuns,
  joinGroup,
  leaveGroup,
  loadGroup,
  memberIds,
  setGroupEnabled,
  setGroupNextChange,
  updateGroupRow,
  type GroupRow,
} from '../groups/store.js';
import { audit } from '../http/actor.js';
import { decodeCursor, encodeCursor, TimeKey, UuidKey } from '../http/cursor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { nextRotation, scheduleOnAssignment } from '../policies/rotation.js';
import {
  loadPolicies,
  memberRef,
  refuseCutLength,
  requirePolicy,
  rulesForTargets,
} from '../policies/store.js';
import type { Queryable } from '../store/db.js';
import { groupView } from './sync-groups.js';
import { syncRunView } from './views.js';

const field = (name: string, message: string) =>
  new SyncError('VALIDATION_FAILED', `${name}: ${message}`, { issues: [{ field: name, message }] });

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

/** Editing, disabling, deleting sync groups (admin: membership decides where the password goes), and their history. */
export function registerSyncGroupEditRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'PATCH',
    url: '/api/v1/sync-groups/:id',
    summary:
      'Edit a sync group: name, policy, primary, members (the whole list; members left out rotate on their own again). Refused (409) while a change is in progress',
    tag: 'sync-groups',
    auth: 'admin',
    params: IdParams,
    body: PatchSyncGroupBody,
    response: { status: 200, schema: SyncGroupView },
    handler: async ({ params, body }, req) =>
      ctx.db.tx(async (q) => {
        const { group, members } = await idleGroup(q, params.id);
        const current = members.map((m) => m.id);
        const primaryId = body.primaryCredentialId ?? group.primary_credential_id;
        if (!primaryId) throw field('primaryCredentialId', 'the group has no primary (deleted): name one');
        const wanted = [...new Set([primaryId, ...(body.memberCredentialIds ?? current)])];
        if (wanted.length < 2) throw field('memberCredentialIds', 'a group needs at least two credentials');
        const rows = await loadCredentials(q, wanted, true);
        const found = new Set(rows.map((r) => r.id));
        if (!found.has(primaryId)) throw field('primaryCredentialId', 'no such credential');
        const missing = wanted.filter((x) => !found.has(x));
        if (missing.length > 0)
          throw field('memberCredentialIds', `no such credential: ${missing.join(', ')}`);
        const taken = rows.filter((r) => r.group_id !== null && r.group_id !== group.id);
        if (taken.length > 0) {
          throw new SyncError(
            'CONFLICT',
            `memberCredentialIds: ${taken.map((r) => `${r.username} on ${r.target_name}`).join(', ')} already belong to another sync group`,
          );
        }
        const policyId = body.policyId === undefined ? group.policy_id : body.policyId;
        const primary = rows.find((r) => r.id === primaryId)!;
        const policy = policyId
          ? await requirePolicy(q, policyId, 'policyId')
          : await groupPolicy(q, { policy_id: null }, primary);
        rulesForTargets(policy, rows.map(memberRef), 'policyId');
        refuseCutLength(policy, rows.map(memberRef), 'policyId');
        const name = body.name ?? group.name;
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
        await audit(q, req, 'sync_group.update', 'sync_group', group.id, {
          ...(name !== group.name ? { name: { from: group.name, to: name } } : {}),
          ...(policyId !== group.policy_id ? { policyId: { from: group.policy_id, to: policyId } } : {}),
          ...(primaryId !== group.primary_credential_id
            ? { primaryCredentialId: { from: group.primary_credential_id, to: primaryId } }
            : {}),
          added,
          removed,
        });
        return groupView(q, (await loadGroup(q, group.id))!);
      }),
  });

  for (const enabled of [true, false]) {
    routes.add({
      method: 'POST',
      url: `/api/v1/sync-groups/:id/${enabled ? 'enable' : 'disable'}`,
      summary: enabled
        ? 'Enable a sync group: its rotation is scheduled again'
        : 'Disable a sync group: not rotated, and a change now is refused (409) until enabled; a change already out settles',
      tag: 'sync-groups',
      auth: 'admin',
      params: IdParams,
      response: { status: 200, schema: SyncGroupView },
      handler: async ({ params }, req) =>
        ctx.db.tx(async (q) => {
          const group = await loadGroup(q, params.id, true);
          if (!group) throw new SyncError('NOT_FOUND', `sync group ${params.id} not found`);
          let next: Date | null = null;
          if (enabled) {
            const [primary] = group.primary_credential_id
              ? await loadCredentials(q, [group.primary_credential_id], false)
              : [];
            const policy = await groupPolicy(q, group, primary);
            next = nextRotation(policy, primary?.last_changed_at ?? null, new Date());
          }
          await setGroupEnabled(q, group.id, enabled, next);
          await audit(q, req, enabled ? 'sync_group.enable' : 'sync_group.disable', 'sync_group', group.id);
          return groupView(q, (await loadGroup(q, group.id))!);
        }),
    });
  }

  routes.add({
    method: 'DELETE',
    url: '/api/v1/sync-groups/:id',
    summary:
      'Delete a sync group: its members stay and rotate on their own again. Refused (409) while a change is in progress',
    tag: 'sync-groups',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: DeletedView },
    handler: async ({ params }, req) =>
      ctx.db.tx(async (q) => {
        const { group, members } = await idleGroup(q, params.id);
        await release(
          q,
          members.map((m) => m.id),
        );
        await deleteGroupRow(q, group.id);
        await audit(q, req, 'sync_group.delete', 'sync_group', group.id, {
          name: group.name,
          memberCredentialIds: members.map((m) => m.id),
        });
        return { id: group.id, deleted: true as const };
      }),
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sync-groups/:id/runs',
    summary:
      "A sync group's history: its change runs and the runs started over it, newest first, in pages (cursor)",
    tag: 'sync-groups',
    auth: 'viewer',
    params: IdParams,
    query: PageQuery,
    response: { status: 200, schema: listOf(SyncRunView) },
    handler: async ({ params, query }) => {
      if (!(await loadGroup(ctx.db, params.id)))
        throw new SyncError('NOT_FOUND', `sync group ${params.id} not found`);
      const after = query.cursor ? decodeCursor(query.cursor, z.tuple([TimeKey, UuidKey])) : null;
      const rows = await groupRuns(ctx.db, params.id, after, query.limit + 1);
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: page.map(syncRunView),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.sort_key, last.id]) : null,
      };
    },
  });
}
