import { randomUUID } from 'node:crypto';
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
import { actorOf, audit } from '../http/actor.js';
import { IdParams, type Routes } from '../http/routes.js';
import { groupPolicy, startGroupChange } from '../groups/change.js';
import {
  lastGroupRuns,
  loadGroup,
  runItems,
  runItemsOf,
  runItemView,
  type GroupRow,
} from '../groups/store.js';
import { nextRotation } from '../policies/rotation.js';
import { memberRef, refuseCutLength, requirePolicy, rulesForTargets } from '../policies/store.js';
import { CREDENTIAL_SELECT, loadCredentials, type CredentialRow } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import { requireAdminToChoose } from './credentials.js';
import { syncRunView } from './views.js';
import type { SyncRunRow } from '../runs/store.js';

/**
 * Groups as the API shows them: members (primary first), statuses, last run with its items. Three
 * queries for any number of groups (members, last runs, their items), not two per group.
 */
async function groupViews(q: Queryable, groups: GroupRow[]): Promise<SyncGroupView[]> {
  const ids = groups.map((g) => g.id);
  const { rows } = await q.query<CredentialRow>(
    `${CREDENTIAL_SELECT} WHERE c.group_id = ANY($1::uuid[]) ORDER BY c.id`,
    [ids],
  );
  const runs = await lastGroupRuns(q, ids);
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
      lastRun: run ? { ...syncRunView(run), items: (items.get(run.id) ?? []).map(runItemView) } : null,
      createdAt: g.created_at.toISOString(),
    };
  });
}

export async function groupView(q: Queryable, g: GroupRow): Promise<SyncGroupView> {
  return (await groupViews(q, [g]))[0]!;
}

const field = (name: string, message: string) =>
  new SyncError('VALIDATION_FAILED', `${name}: ${message}`, { issues: [{ field: name, message }] });

/**
 * Sync groups: several credentials sharing one password; the primary (authentication) credential
 * is changed first (coordinator/groups/change.ts). A credential belongs to at most one group.
 */
export function registerSyncGroupRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'POST',
    url: '/api/v1/sync-groups',
    summary:
      'Create a sync group (one password for several credentials; its policy must suit every member target)',
    tag: 'sync-groups',
    // Membership decides where the group's password goes (every member's target receives it): an
    // operator could otherwise add a target of their own and receive the primary's new password.
    auth: 'admin',
    body: CreateSyncGroupBody,
    response: { status: 201, schema: SyncGroupView },
    handler: async ({ body }, req) => {
      const id = randomUUID();
      return ctx.db.tx(async (q) => {
        const now = new Date();
        const ids = [...new Set([body.primaryCredentialId, ...body.memberCredentialIds])];
        if (ids.length < 2) throw field('memberCredentialIds', 'a group needs at least two credentials');
        const rows = await loadCredentials(q, ids, true);
        const found = new Set(rows.map((r) => r.id));
        if (!found.has(body.primaryCredentialId)) throw field('primaryCredentialId', 'no such credential');
        const missing = ids.filter((x) => !found.has(x));
        if (missing.length > 0)
          throw field('memberCredentialIds', `no such credential: ${missing.join(', ')}`);
        const taken = rows.filter((r) => r.group_id !== null);
        if (taken.length > 0) {
          throw new SyncError(
            'CONFLICT',
            `memberCredentialIds: ${taken.map((r) => r.id).join(', ')} already belong to a sync group`,
          );
        }
        const primary = rows.find((r) => r.id === body.primaryCredentialId)!;
        const policy = body.policyId
          ? await requirePolicy(q, body.policyId, 'policyId')
          : await groupPolicy(q, { policy_id: null }, primary);
        // One password for every member: the policy must suit every member's target.
        const refs = rows.map(memberRef);
        rulesForTargets(policy, refs, 'policyId');
        refuseCutLength(policy, refs, 'policyId');
        const inserted = await q.query(
          `INSERT INTO sync_groups (id, name, policy_id, primary_credential_id, next_change_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
          [
            id,
            body.name,
            body.policyId ?? null,
            primary.id,
            nextRotation(policy, null, now)?.toISOString() ?? null,
          ],
        );
        if (inserted.rowCount === 0)
          throw new SyncError('CONFLICT', `name: a sync group named '${body.name}' exists`);
        // The group rotates its members together: their own schedules stop (a pending change still settles).
        await q.query(
          `UPDATE credentials SET group_id = $1,
                  next_change_at = CASE WHEN pending_secret IS NULL AND NOT change_wanted THEN NULL ELSE next_change_at END
            WHERE id = ANY($2::uuid[])`,
          [id, ids],
        );
        await audit(q, req, 'sync_group.create', 'sync_group', id, {
          name: body.name,
          primaryCredentialId: primary.id,
          memberCredentialIds: ids,
          policyId: body.policyId ?? null,
        });
        return groupView(q, (await loadGroup(q, id))!);
      });
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sync-groups',
    summary: 'List sync groups with their members and last run',
    tag: 'sync-groups',
    auth: 'viewer',
    response: { status: 200, schema: listOf(SyncGroupView) },
    handler: async () => {
      const { rows } = await ctx.db.query<GroupRow>('SELECT * FROM sync_groups ORDER BY name LIMIT 1000');
      return { items: await groupViews(ctx.db, rows), nextCursor: null };
    },
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
    summary:
      'Change the group password now: the primary first, then every other member (a sync run; choosing it needs admin)',
    tag: 'sync-groups',
    auth: 'operator',
    params: IdParams,
    body: GroupChangeBody,
    response: { status: 202, schema: SyncRunView },
    handler: async ({ params, body }, req) => {
      requireAdminToChoose(req, body.password);
      const run = await ctx.db.tx(async (q) => {
        const run = await startGroupChange(ctx, q, params.id, {
          createdBy: actorOf(req).id,
          ...(body.password === undefined ? {} : { password: body.password }),
        });
        await audit(q, req, 'sync_group.change', 'sync_group', params.id, {
          runId: run.id,
          given: body.password !== undefined,
        });
        return run;
      });
      ctx.kickScheduler();
      return syncRunView(run);
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
      const { rows } = await ctx.db.query<SyncRunRow>('SELECT id FROM sync_runs WHERE id = $1', [params.id]);
      if (!rows[0]) throw new SyncError('NOT_FOUND', `sync run ${params.id} not found`);
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
