import {
  CreateSyncGroupBody,
  GroupChangeBody,
  listOf,
  SerialPageQuery,
  SyncGroupView,
  SyncRunItemView,
  SyncRunView,
} from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import {
  lastGroupRuns,
  listGroups,
  loadGroup,
  membersOf,
  runItems,
  runItemsOf,
  runItemView,
  type GroupRow,
} from '../groups/store.js';
import { changeGroupNow, createSyncGroup } from '../operations/sync-groups.js';
import { loadRun } from '../runs/store.js';
import type { Queryable } from '../store/db.js';
import { requireAdminToChoose } from './credentials.js';
import { namedRunView, namedRunViews } from './named.js';

/**
 * Groups as the API shows them: members (primary first), statuses, last run with its items. Three
 * queries for any number of groups (members, last runs, their items), not two per group.
 */
async function groupViews(q: Queryable, groups: GroupRow[]): Promise<SyncGroupView[]> {
  const ids = groups.map((g) => g.id);
  const rows = await membersOf(q, ids);
  const runs = await lastGroupRuns(q, ids);
  const runViews = new Map((await namedRunViews(q, [...runs.values()])).map((v) => [v.id, v]));
  const items = await runItemsOf(
    q,
    [...runs.values()].map((r) => r.id),
  );
  return groups.map((g) => {
    const members = rows.filter((r) => r.group_id === g.id);
    const run = runs.get(g.id);
    return {
      id: g.id,
      name: g.name,
      policyId: g.policy_id,
      primaryCredentialId: g.primary_credential_id,
      members: members
        .map((r) => ({
          credentialId: r.id,
          username: r.username,
          targetId: r.target_id,
          targetName: r.target_name,
          primary: r.id === g.primary_credential_id,
          status: r.status,
          statusReason: r.status_reason,
          changePending: r.pending_secret !== null,
          lastChangedAt: r.last_changed_at?.toISOString() ?? null,
        }))
        .sort((a, b) => Number(b.primary) - Number(a.primary)),
      changeInProgress: g.change_pending_id !== null || members.some((r) => r.pending_secret !== null),
      enabled: g.enabled,
      nextChangeAt: g.next_change_at?.toISOString() ?? null,
      lastRun: run ? { ...runViews.get(run.id)!, items: (items.get(run.id) ?? []).map(runItemView) } : null,
      createdAt: g.created_at.toISOString(),
    };
  });
}

export async function groupView(q: Queryable, g: GroupRow): Promise<SyncGroupView> {
  return (await groupViews(q, [g]))[0]!;
}

/**
 * Sync groups: several credentials sharing one password; the primary (authentication) credential
 * is changed first (coordinator/groups/change.ts). A credential belongs to at most one group.
 */
export function registerSyncGroupRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/sync-groups',
    conflict: 'a sync group with this name exists, or a member already belongs to one',
    summary:
      'Create a sync group (one password for several credentials; its policy must suit every member target)',
    tag: 'sync-groups',
    // Membership decides where the group's password goes (every member's target receives it): an
    // operator could otherwise add a target of their own and receive the primary's new password.
    auth: 'admin',
    body: CreateSyncGroupBody,
    response: { status: 201, schema: SyncGroupView },
    handler: async ({ body }, req) => groupView(ctx.db, await createSyncGroup(ctx, body, actOf(req))),
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sync-groups',
    summary: 'List sync groups with their members and last run',
    tag: 'sync-groups',
    auth: 'viewer',
    response: { status: 200, schema: listOf(SyncGroupView) },
    handler: async () => ({ items: await groupViews(ctx.db, await listGroups(ctx.db)), nextCursor: null }),
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sync-groups/:id',
    summary: 'A sync group: members (primary first), statuses, last run with per-member results',
    tag: 'sync-groups',
    auth: 'viewer',
    params: IdParams,
    response: { status: 200, schema: SyncGroupView },
    handler: async ({ params }) => {
      const g = await loadGroup(ctx.db, params.id);
      if (!g) throw new SyncError('NOT_FOUND', `sync group ${params.id} not found`);
      return groupView(ctx.db, g);
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/sync-groups/:id/change',
    conflict:
      'the group is disabled, a change of the group or of a member is in progress, it has no primary, or its primary cannot be changed now (sync disabled, suspended, no change step)',
    summary:
      'Change the group password now: the primary first, then every other member (a sync run; choosing it needs admin)',
    tag: 'sync-groups',
    auth: 'operator',
    params: IdParams,
    body: GroupChangeBody,
    response: { status: 202, schema: SyncRunView },
    handler: async ({ params, body }, req) => {
      requireAdminToChoose(req, body.password);
      return namedRunView(ctx.db, await changeGroupNow(ctx, params.id, body.password, actOf(req)));
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sync-runs/:id/items',
    summary: "A sync run's per-credential results, in the order they came, in pages (cursor)",
    tag: 'sync-runs',
    auth: 'viewer',
    params: IdParams,
    query: SerialPageQuery,
    response: { status: 200, schema: listOf(SyncRunItemView) },
    handler: async ({ params, query }) => {
      if (!(await loadRun(ctx.db, params.id)))
        throw new SyncError('NOT_FOUND', `sync run ${params.id} not found`);
      const after = query.cursor === undefined ? null : Number(query.cursor);
      const items = await runItems(ctx.db, params.id, { after, limit: query.limit + 1 });
      const page = items.slice(0, query.limit);
      return {
        items: page.map(runItemView),
        nextCursor: items.length > query.limit ? String(page.at(-1)!.id) : null,
      };
    },
  });
}
