/**
 * Views with names beside ids (issue 15, "names, not ids"): each page of a list is named in one
 * query (store/names.ts), so the dashboard, the CLI and the exports show "alice on files-01" and
 * "site Berlin" instead of ids.
 */
import { ACTOR_TYPE_LABELS, AUDIT_ACTION_LABELS, labelOf } from '../../shared/contracts/labels.js';
import type { CredentialView, SyncRunView } from '../../shared/contracts/api.js';
import type { CredentialRow } from '../credentials/store.js';
import type { SyncRunRow } from '../runs/store.js';
import type { Queryable } from '../store/db.js';
import type { AuditRow } from '../store/audit.js';
import { lookupNames, type NameKind, type Names } from '../store/names.js';
import { BOOTSTRAP_ADMIN } from '../http/operator-auth.js';
import { credentialView, syncRunView } from './views.js';

/** An operator's name: its API token's, `bootstrap-admin` for the bootstrap admin, null for a token deleted. */
export const operatorName = (tokens: Map<string, string>, id: string): string | null =>
  tokens.get(id) ?? (id === BOOTSTRAP_ADMIN ? BOOTSTRAP_ADMIN : null);

export async function namedCredentialViews(q: Queryable, rows: CredentialRow[]): Promise<CredentialView[]> {
  const names = await lookupNames(q, {
    group: rows.map((r) => r.group_id),
    policy: rows.map((r) => r.policy_id),
    site: rows.map((r) => r.site_id),
  });
  return rows.map((r) => ({
    ...credentialView(r),
    siteName: names.site.get(r.site_id) ?? r.site_id,
    policyName: r.policy_id ? (names.policy.get(r.policy_id) ?? null) : null,
    groupName: r.group_id ? (names.group.get(r.group_id) ?? null) : null,
  }));
}

/** A run's scope in words: `site Berlin`, `target files-01`, `group web-admins`; null for everything. */
function scopeName(r: SyncRunRow, names: Names): string | null {
  const { siteId, targetId, groupId } = r.scope;
  const parts: string[] = [];
  if (siteId) parts.push(`site ${names.site.get(siteId) ?? siteId}`);
  if (targetId) parts.push(`target ${names.target.get(targetId) ?? targetId}`);
  if (groupId) parts.push(`group ${names.group.get(groupId) ?? groupId}`);
  return parts.length ? parts.join(', ') : null;
}

export async function namedRunViews(q: Queryable, rows: SyncRunRow[]): Promise<SyncRunView[]> {
  const names = await lookupNames(q, {
    site: rows.map((r) => r.scope.siteId),
    target: rows.map((r) => r.scope.targetId),
    group: rows.map((r) => r.scope.groupId),
    token: rows.flatMap((r) => [r.created_by, r.cancelled_by]),
  });
  return rows.map((r) => ({
    ...syncRunView(r),
    scopeName: scopeName(r, names),
    createdByName: names.token.get(r.created_by) ?? r.created_by,
  }));
}

/** One run with the names of its scope and of who started it (the answer of a run's actions). */
export async function namedRunView(q: Queryable, row: SyncRunRow): Promise<SyncRunView> {
  return (await namedRunViews(q, [row]))[0]!;
}

/** The kind of object an audit event's object type names (types without names are left out). */
const OBJECT_KINDS: Record<string, NameKind> = {
  site: 'site',
  target: 'target',
  agent: 'agent',
  token: 'token',
  sync_group: 'group',
  policy: 'policy',
  credential: 'credential',
  notification_channel: 'channel',
};

/** Keys of an event's details that hold an id, and the kind it names. */
const DETAIL_KINDS: Record<string, NameKind> = {
  siteId: 'site',
  targetId: 'target',
  policyId: 'policy',
  groupId: 'group',
  credentialId: 'credential',
  primaryCredentialId: 'credential',
  privilegedCredentialId: 'credential',
  agentId: 'agent',
};

export async function namedAuditViews(q: Queryable, rows: AuditRow[]) {
  const refs: Partial<Record<NameKind, string[]>> = { token: [], agent: [] };
  const detailIds = (r: AuditRow) =>
    Object.entries(r.details).flatMap(([k, v]) =>
      DETAIL_KINDS[k] && typeof v === 'string' ? [[DETAIL_KINDS[k], v] as const] : [],
    );
  for (const r of rows) {
    for (const [kind, id] of detailIds(r)) (refs[kind] ??= []).push(id);
    if (r.actor_type === 'operator') refs.token!.push(r.actor_id);
    if (r.actor_type === 'agent') refs.agent!.push(r.actor_id);
    const kind = OBJECT_KINDS[r.object_type];
    if (kind && r.object_id) (refs[kind] ??= []).push(r.object_id);
  }
  const names = await lookupNames(q, refs);
  return rows.map((r) => {
    const kind = OBJECT_KINDS[r.object_type];
    return {
      id: Number(r.id),
      at: r.at.toISOString(),
      actorType: r.actor_type,
      actorId: r.actor_id,
      actorName:
        r.actor_type === 'system'
          ? null
          : r.actor_type === 'agent'
            ? (names.agent.get(r.actor_id) ?? null)
            : operatorName(names.token, r.actor_id),
      action: r.action,
      actionLabel: labelOf(AUDIT_ACTION_LABELS, r.action)!,
      objectType: r.object_type,
      objectId: r.object_id,
      objectName: kind && r.object_id ? (names[kind].get(r.object_id) ?? null) : null,
      details: r.details,
      detailNames: Object.fromEntries(
        detailIds(r).flatMap(([kind, id]) => {
          const name = names[kind].get(id);
          return name === undefined ? [] : [[id, name]];
        }),
      ),
    };
  });
}

/** The actor type in words (the export's column). */
export const actorTypeLabel = (type: string): string => labelOf(ACTOR_TYPE_LABELS, type)!;
