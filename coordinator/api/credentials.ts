import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  ChangeBody,
  CreateCredentialBody,
  CredentialListQuery,
  CredentialView,
  DeleteQuery,
  listOf,
  PasswordHistoryQuery,
  PasswordHistoryView,
  PatchCredentialBody,
} from '../../shared/contracts/api.js';
import { StatusSchema } from '../../shared/contracts/status.js';
import { SyncError } from '../../shared/errors.js';
import { capabilitiesOf } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { containsPattern, Where } from '../store/where.js';
import type { FastifyRequest } from 'fastify';
import { actorOf, audit } from '../http/actor.js';
import {
  badCursor,
  decodeCursor,
  encodeCursor,
  TimeKey,
  timeKeyParam,
  timeKeySql,
  UuidKey,
} from '../http/cursor.js';
import { hasRole } from '../http/operator-auth.js';
import { IdParams, type Routes } from '../http/routes.js';
import { constraintsOf, passwordProblems } from '../policies/constraints.js';
import { scheduleOnAssignment } from '../policies/rotation.js';
import { getPolicy, requirePolicy, rulesForTargets } from '../policies/store.js';
import { abandonGroupChanges, groupChangesLedBy } from '../groups/change.js';
import { leaveRuns } from '../results/runs.js';
import { beginChange, resumeByOperator, settlePendingSoon } from '../credentials/transitions.js';
import { dispatch } from '../scheduler/dispatch.js';
import { revealHistory } from '../credentials/history.js';
import { rowSealer } from '../credentials/sealing.js';
import { refreshAndSave } from '../credentials/refresh.js';
import { loadCredential, type CredentialRow } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import { credentialView } from './views.js';

/** Past this many targets matching a search, the target side of it is a join (one scan) instead of a list of ids. */
const MAX_SEARCH_TARGETS = 1000;

/** The list's rows: a credential with its target, and the sort key of the page's order. */
const LIST_SELECT = (keySql: string) => `
SELECT c.*, t.kind AS target_kind, t.name AS target_name, t.connection AS target_connection, ${keySql} AS sort_key
FROM credentials c JOIN targets t ON t.id = c.target_id`;

/** The default order's cursor: the last id alone (as before sorting existed). */
const encodeIdCursor = (id: string) => Buffer.from(id).toString('base64url');
function decodeIdCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!UuidKey.safeParse(id).success) throw badCursor();
  return id;
}

interface ListSort {
  /** The ORDER BY expression (an index matches it: migrations v5). */
  expr: string;
  /** The sort key as text, computed in SQL (exact: timestamps to the microsecond). */
  keySql: string;
  /** The cursor's key read back, as SQL of parameter $n. */
  param: (n: number) => string;
  /** What a cursor's key must look like. */
  key: z.ZodType<string>;
  desc: boolean;
}

const text = (expr: string): Omit<ListSort, 'desc'> => ({
  expr,
  keySql: `${expr}::text`,
  param: (n) => `$${n}::text`,
  key: z.string().max(1024),
});
const time = (expr: string): Omit<ListSort, 'desc'> => ({
  expr,
  keySql: timeKeySql(expr),
  param: timeKeyParam,
  key: TimeKey,
});

const SORT_KEYS: Record<string, Omit<ListSort, 'desc'>> = {
  id: { expr: 'c.id', keySql: 'c.id::text', param: (n) => `$${n}::uuid`, key: UuidKey },
  username: text('c.username'),
  target: text('t.name'),
  status: text('c.status'),
  statusChangedAt: time('c.status_changed_at'),
  lastVerifiedAt: time("coalesce(c.last_verified_at, '-infinity'::timestamptz)"),
};

function listSort(sort: string): ListSort {
  const desc = sort.startsWith('-');
  return { ...SORT_KEYS[desc ? sort.slice(1) : sort]!, desc };
}

/**
 * Keyset paging for a sort: the cursor carries the last row's sort key (rendered by PostgreSQL)
 * and id. Sorted by id ascending (the default) the cursor is the id alone.
 */
const plainOrder = (s: ListSort) => s.expr === 'c.id' && !s.desc;
const encodeListCursor = (s: ListSort, row: CredentialRow & { sort_key: string }) =>
  plainOrder(s) ? encodeIdCursor(row.id) : encodeCursor([row.sort_key, row.id]);
function decodeListCursor(s: ListSort, cursor: string): { key: string; id: string } {
  if (plainOrder(s)) {
    const id = decodeIdCursor(cursor);
    return { key: id, id };
  }
  const [key, id] = decodeCursor(cursor, z.tuple([s.key, UuidKey]));
  return { key, id };
}

async function lockCredential(q: Queryable, id: string): Promise<CredentialRow> {
  const row = await loadCredential(q, id, true);
  if (!row) throw new SyncError('NOT_FOUND', `credential ${id} not found`);
  return row;
}

/**
 * Whoever chooses the new password knows it: choosing one is as good as a reveal, so it needs the
 * role that may reveal (admin). An operator may still ask for a change; the password is then
 * generated from the policy and nobody sees it without the audited reveal.
 */
export function requireAdminToChoose(req: FastifyRequest, password: string | undefined): void {
  if (password !== undefined && !hasRole(actorOf(req), 'admin')) {
    throw new SyncError(
      'FORBIDDEN',
      'choosing the new password needs the admin role (whoever chooses it knows it); leave it out to have one generated',
    );
  }
}

export function registerCredentialRoutes(ctx: Ctx, routes: Routes): void {
  const save = (q: Queryable, row: CredentialRow, now: Date) => refreshAndSave(q, [row], now);

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials',
    summary: 'Create a credential (its password is stored encrypted; a first verification is queued)',
    tag: 'credentials',
    auth: 'operator',
    body: CreateCredentialBody,
    response: { status: 201, schema: z.object({ id: z.uuid(), status: StatusSchema }) },
    handler: async ({ body }, req) => {
      const id = randomUUID();
      const row = await ctx.db.tx(async (q) => {
        const target = await q.query<{ site_id: string; name: string; kind: string; connection: unknown }>(
          'SELECT site_id, name, kind, connection FROM targets WHERE id = $1',
          [body.targetId],
        );
        if (!target.rows[0]) {
          throw new SyncError('VALIDATION_FAILED', `targetId: target ${body.targetId} not found`, {
            issues: [{ field: 'targetId', message: 'no such target' }],
          });
        }
        // A policy must suit the target: some password satisfies both (else a 400 naming policyId).
        const policy = body.policyId ? await requirePolicy(q, body.policyId, 'policyId') : null;
        if (policy) rulesForTargets(policy, [target.rows[0]], 'policyId');
        const inserted = await q.query(
          `INSERT INTO credentials (id, target_id, site_id, username, policy_id, sync_enabled, secret, status,
                                    verify_interval_s)
           SELECT $1, $2, $3, $4, $5, $6, $7, 'not_synced', coalesce((SELECT verify_interval_s FROM policies WHERE id = $5), 86400)
           ON CONFLICT (target_id, username) DO NOTHING`,
          [
            id,
            body.targetId,
            target.rows[0].site_id,
            body.username,
            body.policyId ?? null,
            body.syncEnabled,
            ctx.box.seal(body.password, id, 'secret'),
          ],
        );
        if (inserted.rowCount === 0) {
          throw new SyncError('CONFLICT', `username: the target has a credential for '${body.username}'`);
        }
        const row = (await lockCredential(q, id))!;
        const now = new Date();
        scheduleOnAssignment(row, policy, now);
        await save(q, row, now);
        const verifiable =
          row.status !== 'not_synced' &&
          row.status !== 'unsyncable' &&
          capabilitiesOf(row.target_kind, row.target_connection).verify;
        // The first verification: its job reaches the queue once this row is committed (dispatch).
        if (verifiable) await dispatch(ctx, q, [{ row, kind: 'verify' }], now);
        await audit(q, req, 'credential.create', 'credential', id, {
          targetId: body.targetId,
          username: body.username,
        });
        return row;
      });
      ctx.log.info({ credentialId: id, status: row.status }, 'credential created');
      return { id, status: row.status };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/credentials',
    summary: 'List credentials, filtered, in pages (cursor)',
    tag: 'credentials',
    auth: 'viewer',
    query: CredentialListQuery,
    response: { status: 200, schema: listOf(CredentialView) },
    handler: async ({ query }) => {
      const where = new Where();
      if (query.status) where.add('c.status = $1', query.status);
      if (query.reason) where.add('c.status_reason = $1', query.reason);
      if (query.siteId) where.add('c.site_id = $1', query.siteId);
      if (query.targetId) where.add('c.target_id = $1', query.targetId);
      if (query.groupId) where.add('c.group_id = $1', query.groupId);
      if (query.suspended) where.add('c.suspended = $1', query.suspended === 'true');
      if (query.jobState) where.add('c.job_state = $1', query.jobState);
      if (query.q) {
        const pattern = containsPattern(query.q);
        // The targets whose name matches first, then credentials by username (the trigram index of
        // credential_names) or by those target ids (the (target_id, username) index): an OR across
        // the join would scan every credential.
        const targets = await ctx.db.query<{ id: string }>(
          'SELECT id FROM targets WHERE name ILIKE $1 LIMIT $2',
          [pattern, MAX_SEARCH_TARGETS + 1],
        );
        const byName = 'c.id IN (SELECT credential_id FROM credential_names WHERE username ILIKE $1)';
        if (targets.rows.length > MAX_SEARCH_TARGETS) where.add(`(${byName} OR t.name ILIKE $1)`, pattern);
        else if (targets.rows.length > 0) {
          where.add(
            `(${byName} OR c.target_id = ANY($2::uuid[]))`,
            pattern,
            targets.rows.map((r) => r.id),
          );
        } else where.add(byName, pattern);
      }
      const sort = listSort(query.sort);
      if (query.cursor) {
        const after = decodeListCursor(sort, query.cursor);
        const op = sort.desc ? '<' : '>';
        if (sort.expr === 'c.id') where.add(`c.id ${op} $1::uuid`, after.id);
        else where.add(`(${sort.expr}, c.id) ${op} (${sort.param(1)}, $2::uuid)`, after.key, after.id);
      }
      const limit = where.param(query.limit + 1);
      const dir = sort.desc ? 'DESC' : 'ASC';
      const { rows } = await ctx.db.query<CredentialRow & { sort_key: string }>(
        `${LIST_SELECT(sort.keySql)} ${where}
          ORDER BY ${sort.expr === 'c.id' ? '' : `${sort.expr} ${dir}, `}c.id ${dir} LIMIT ${limit}`,
        where.params,
      );
      const page = rows.slice(0, query.limit);
      return {
        items: page.map(credentialView),
        nextCursor: rows.length > query.limit ? encodeListCursor(sort, page.at(-1)!) : null,
      };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/:id',
    summary: 'Get a credential (never its password)',
    tag: 'credentials',
    auth: 'viewer',
    params: IdParams,
    response: { status: 200, schema: CredentialView },
    handler: async ({ params }) => {
      const row = await loadCredential(ctx.db, params.id);
      if (!row) throw new SyncError('NOT_FOUND', `credential ${params.id} not found`);
      return credentialView(row);
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/:id/password',
    summary: 'Reveal the stored password (admin; audited)',
    tag: 'credentials',
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: z.object({ password: z.string() }) },
    handler: async ({ params }, req) => {
      const row = await loadCredential(ctx.db, params.id);
      if (!row) throw new SyncError('NOT_FOUND', `credential ${params.id} not found`);
      const password = ctx.box.open(row.secret, row.id, 'secret');
      await audit(ctx.db, req, 'credential.reveal', 'credential', row.id);
      return { password };
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/:id/password-history',
    summary:
      'Reveal the earlier passwords kept sealed: ones a change replaced, and new ones discarded after they were handed out (admin; audited)',
    tag: 'credentials',
    auth: 'admin',
    params: IdParams,
    query: PasswordHistoryQuery,
    response: { status: 200, schema: PasswordHistoryView },
    handler: async ({ params, query }, req) => {
      const row = await loadCredential(ctx.db, params.id);
      if (!row) throw new SyncError('NOT_FOUND', `credential ${params.id} not found`);
      const items = await revealHistory(ctx.db, ctx.box, row.id, query.limit);
      await audit(ctx.db, req, 'credential.reveal_history', 'credential', row.id, { entries: items.length });
      return { items };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/verify',
    summary: 'Sync now: verify the stored password on the target at once',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    response: { status: 202, schema: z.object({ id: z.uuid(), status: StatusSchema }) },
    handler: async ({ params }, req) => {
      const row = await ctx.db.tx(async (q) => {
        const row = await lockCredential(q, params.id);
        const now = new Date();
        // An operator asking resumes what waits for an operator.
        resumeByOperator(row, 'verify', now);
        if (row.job_state === 'idle' && row.sync_enabled && row.status !== 'unsyncable') {
          await dispatch(ctx, q, [{ row, kind: 'verify' }], now);
        } else {
          await save(q, row, now);
        }
        await audit(q, req, 'credential.verify', 'credential', row.id);
        return row;
      });
      return { id: row.id, status: row.status };
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/change',
    summary: 'Change the password now (generated from the policy; choosing it needs admin)',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    body: ChangeBody,
    response: { status: 202, schema: z.object({ id: z.uuid(), status: StatusSchema }) },
    handler: async ({ params, body }, req) => {
      requireAdminToChoose(req, body.password);
      const row = await ctx.db.tx(async (q) => {
        const row = await lockCredential(q, params.id);
        const now = new Date();
        if (!row.sync_enabled) throw new SyncError('CONFLICT', 'sync is disabled for this credential');
        if (row.pending_secret && body.password) {
          throw new SyncError('CONFLICT', 'a change is already in flight; wait for it to settle');
        }
        if (row.group_id !== null) {
          throw new SyncError(
            'CONFLICT',
            `member of sync group ${row.group_id}: its members share one password; change the group`,
          );
        }
        if (body.password !== undefined) await checkGivenPassword(q, row, body.password);
        const caps = capabilitiesOf(row.target_kind, row.target_connection);
        // Asking for a change resumes a suspended credential: its count of errors starts again.
        resumeByOperator(row, 'change', now);
        if (!caps.change || !caps.changeConfigured) {
          row.change_wanted = true;
          await save(q, row, now);
        } else if (row.job_state !== 'idle') {
          // Busy: the change is due now and goes out as soon as the job in flight is over (asked for:
          // no maintenance window holds it).
          row.next_change_at = now;
          row.change_wanted = true;
          // A given password is stored as pending now (sealed), so it is the one sent.
          if (body.password !== undefined) beginChange(row, body.password, rowSealer(ctx.box));
          await save(q, row, now);
        } else {
          await dispatch(
            ctx,
            q,
            [{ row, kind: 'change', ...(body.password ? { password: body.password } : {}) }],
            now,
          );
        }
        await audit(q, req, 'credential.change', 'credential', row.id, {
          given: body.password !== undefined,
        });
        return row;
      });
      if (row.next_change_at) ctx.kickScheduler();
      return { id: row.id, status: row.status };
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/api/v1/credentials/:id',
    summary: 'Delete a credential (refused while a change is in flight unless force=true)',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    query: DeleteQuery,
    response: { status: 200, schema: z.object({ id: z.uuid(), deleted: z.literal(true) }) },
    handler: async ({ params, query }, req) => {
      const force = query.force === 'true';
      await ctx.db.tx(async (q) => {
        const row = await lockCredential(q, params.id);
        const changing =
          row.pending_secret !== null || (row.job_state !== 'idle' && row.job_kind !== 'verify');
        if (changing && !force) {
          throw new SyncError(
            'CONFLICT',
            'a password change is in flight: its outcome would be lost; use force=true to delete anyway',
          );
        }
        // Its run gets no result from it any more: counted unsynced now, so the run can finish; and
        // so can a sync group change it was the primary of (ended once it is gone).
        const now = new Date();
        const led = await groupChangesLedBy(q, row.id);
        await leaveRuns(q, [row], 'deleted', now);
        await q.query('DELETE FROM credentials WHERE id = $1', [row.id]);
        await abandonGroupChanges(ctx, q, led, now);
        await audit(q, req, force ? 'credential.force_delete' : 'credential.delete', 'credential', row.id, {
          changeInFlight: changing,
        });
      });
      return { id: params.id, deleted: true as const };
    },
  });

  for (const enabled of [true, false]) {
    routes.add({
      method: 'POST',
      url: `/api/v1/credentials/:id/${enabled ? 'enable' : 'disable'}`,
      summary: `${enabled ? 'Enable' : 'Disable'} sync for a credential`,
      tag: 'credentials',
      auth: 'operator',
      params: IdParams,
      response: { status: 200, schema: CredentialView },
      handler: async ({ params }, req) => {
        const row = await ctx.db.tx(async (q) => {
          const row = await lockCredential(q, params.id);
          const now = new Date();
          row.sync_enabled = enabled;
          if (enabled) settlePendingSoon(row, now);
          if (enabled && row.job_state === 'idle') {
            await dispatch(ctx, q, [{ row, kind: 'verify' }], now);
          } else {
            if (!enabled) {
              row.next_verify_at = null;
              await leaveRunsWhenOff(q, row, now);
            }
            await save(q, row, now);
          }
          await audit(q, req, enabled ? 'credential.enable' : 'credential.disable', 'credential', row.id);
          return row;
        });
        return credentialView(row);
      },
    });
  }

  routes.add({
    method: 'PATCH',
    url: '/api/v1/credentials/:id',
    summary: "Set a credential's policy (it must suit the target) or sync flag",
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    body: PatchCredentialBody,
    response: { status: 200, schema: CredentialView },
    handler: async ({ params, body }, req) => {
      const row = await ctx.db.tx(async (q) => {
        const row = await lockCredential(q, params.id);
        const now = new Date();
        if (body.policyId !== undefined) {
          const policy = body.policyId === null ? null : await requirePolicy(q, body.policyId, 'policyId');
          if (policy) {
            rulesForTargets(
              policy,
              [{ name: row.target_name, kind: row.target_kind, connection: row.target_connection }],
              'policyId',
            );
          }
          await q.query('UPDATE credentials SET policy_id = $2, verify_interval_s = $3 WHERE id = $1', [
            row.id,
            policy?.id ?? null,
            policy?.verify_interval_s ?? 86_400,
          ]);
          row.policy_id = policy?.id ?? null;
          row.verify_interval_s = policy?.verify_interval_s ?? 86_400;
          // The new verification interval counts from the last verification.
          if (row.last_verified_at) {
            row.stale_at = new Date(row.last_verified_at.getTime() + row.verify_interval_s * 1000);
            if (row.next_verify_at && row.next_verify_at > row.stale_at) row.next_verify_at = row.stale_at;
          }
          scheduleOnAssignment(row, policy, now);
        }
        if (body.syncEnabled !== undefined && body.syncEnabled !== row.sync_enabled) {
          row.sync_enabled = body.syncEnabled;
          if (!body.syncEnabled) {
            row.next_verify_at = null;
            await leaveRunsWhenOff(q, row, now);
          } else {
            settlePendingSoon(row, now);
            if (row.job_state === 'idle') row.next_verify_at = now;
          }
        }
        await save(q, row, now);
        await audit(q, req, 'credential.update', 'credential', row.id, {
          ...(body.policyId === undefined ? {} : { policyId: body.policyId }),
          ...(body.syncEnabled === undefined ? {} : { syncEnabled: body.syncEnabled }),
        });
        return row;
      });
      if (row.next_verify_at || row.next_change_at) ctx.kickScheduler();
      return credentialView(row);
    },
  });

  routes.add({
    method: 'POST',
    url: '/api/v1/credentials/:id/resume',
    summary: 'Resume a credential suspended after repeated errors (verified at once, schedule restored)',
    tag: 'credentials',
    auth: 'operator',
    params: IdParams,
    response: { status: 200, schema: CredentialView },
    handler: async ({ params }, req) => {
      const row = await ctx.db.tx(async (q) => {
        const row = await lockCredential(q, params.id);
        const now = new Date();
        const was = row.suspended;
        resumeByOperator(row, 'resume', now);
        if (row.next_change_at === null && row.policy_id !== null) {
          scheduleOnAssignment(row, await getPolicy(q, row.policy_id), now);
        }
        if (row.job_state === 'idle' && row.sync_enabled && row.status !== 'unsyncable') {
          await dispatch(ctx, q, [{ row, kind: 'verify' }], now);
        } else {
          await save(q, row, now);
        }
        await audit(q, req, 'credential.resume', 'credential', row.id, { wasSuspended: was });
        return row;
      });
      return credentialView(row);
    },
  });
}

/**
 * Sync turned off: the credential's run gets no result from it unless a job already runs on an agent
 * (that result still counts). Idle or queued (the claim will skip the job), it leaves the run now.
 */
async function leaveRunsWhenOff(q: Queryable, row: CredentialRow, now: Date): Promise<void> {
  if (row.job_state !== 'active') await leaveRuns(q, [row], 'sync_disabled', now);
}

/** A password an operator gives must suit the credential's policy (if any) and its target's limits. */
async function checkGivenPassword(q: Queryable, row: CredentialRow, password: string): Promise<void> {
  const policy = row.policy_id ? await getPolicy(q, row.policy_id) : null;
  const problems = passwordProblems(password, policy?.rules ?? null, [
    constraintsOf(row.target_kind, row.target_connection),
  ]);
  if (problems.length === 0) return;
  const message = `does not suit the ${policy ? `policy '${policy.name}' or the ` : ''}target: ${problems.join('; ')}`;
  throw new SyncError('VALIDATION_FAILED', `password: ${message}`, {
    issues: [{ field: 'password', message }],
  });
}
