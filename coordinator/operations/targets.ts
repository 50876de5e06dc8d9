import { randomUUID } from 'node:crypto';
import { SyncError } from '../../shared/errors.js';
import { capabilitiesOf, parseConnection, targetSpec } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { inheritPin, namedPrivileged, privilegedMismatch, routingOf } from '../credentials/privileged.js';
import { refreshTargetStatuses } from '../credentials/refresh.js';
import { loadCredential } from '../credentials/store.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { getSite } from '../store/sites.js';
import { getTarget, insertTarget, targetNameTaken, updateTarget, type TargetRow } from '../store/targets.js';

/*
 * What an operator can do to a target, without HTTP: create it, edit it (the delete:
 * delete-site-or-target.ts). Each is one transaction, audited.
 */

/**
 * A connection that names a privileged credential must name one on the same target (same site,
 * kind and endpoint: credentials/privileged.ts), else a 400 naming the field. Returns the connection
 * to store: it takes over the privileged credential's pinned host key when it pins none.
 */
async function checkPrivileged(
  q: Queryable,
  siteId: string,
  kind: string,
  connection: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const id = namedPrivileged(connection);
  if (id === undefined) return connection;
  const row = await loadCredential(q, id);
  const problem = privilegedMismatch({ siteId, kind, connection }, id, row ?? undefined);
  if (problem !== undefined) {
    throw new SyncError('VALIDATION_FAILED', `connection.privilegedCredentialId: ${problem}`, {
      issues: [{ field: 'connection.privilegedCredentialId', message: problem }],
    });
  }
  return inheritPin(kind, connection, row!);
}

/** Connection fields shown in the audit trail when they change (ids and addresses, never a secret). */
const AUDITED_FIELDS = [
  'host',
  'port',
  'baseUrl',
  'driver',
  'hostKeySha256',
  'changeVia',
  'privilegedCredentialId',
  'flavour',
  'domain',
  'baseDn',
  'userDnTemplate',
  'accountDomainSid',
  'protection',
] as const;

/** The connection merged with a patch: a key set to null is removed. */
function merged(stored: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out = { ...stored };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return out;
}

/** A new target of a site with its kind-specific connection (400 for an unknown site, 409 for a name taken). */
export async function createTarget(
  ctx: Ctx,
  input: { siteId: string; name: string; kind: string; connection: unknown },
  by: OperatorAct,
): Promise<string> {
  const parsed = parseConnection(input.kind, input.connection);
  if (!(await getSite(ctx.db, input.siteId))) {
    throw new SyncError('VALIDATION_FAILED', `siteId: site ${input.siteId} not found`, {
      issues: [{ field: 'siteId', message: 'no such site' }],
    });
  }
  const id = randomUUID();
  await ctx.db.tx(async (q) => {
    const connection = await checkPrivileged(q, input.siteId, input.kind, parsed);
    const inserted = await insertTarget(q, {
      id,
      siteId: input.siteId,
      name: input.name,
      kind: input.kind,
      connection,
    });
    if (!inserted) throw new SyncError('CONFLICT', `name: the site has a target named '${input.name}'`);
    await auditOperator(q, by, 'target.create', 'target', id, {
      siteId: input.siteId,
      kind: input.kind,
      ...(namedPrivileged(connection) ? { privilegedCredentialId: namedPrivileged(connection) } : {}),
    });
  });
  return id;
}

/**
 * Edits a target: its name, connection fields (merged; null removes). Changing where its passwords
 * go (host, port, URLs, TLS, privileged account) is refused (403) unless `mayReroute` (an admin
 * decision). When what the target can do changed, its credentials' statuses follow.
 */
export async function editTarget(
  ctx: Ctx,
  id: string,
  patch: { name?: string | undefined; connection?: Record<string, unknown> | undefined },
  mayReroute: boolean,
  by: OperatorAct,
): Promise<TargetRow> {
  return ctx.db.tx(async (q) => {
    const before = await getTarget(q, id, true);
    if (!before) throw new SyncError('NOT_FOUND', `target ${id} not found`);
    const spec = targetSpec(before.kind);
    let connection = before.connection;
    if (patch.connection !== undefined) {
      connection = parseConnection(before.kind, merged(before.connection, patch.connection));
    }
    // A new host, port, URL, TLS setting or privileged account sends the target's passwords (its
    // credentials' and, with a privileged account, that one's) somewhere else: an admin decision.
    const stored = spec.connectionSchema.safeParse(before.connection);
    const rerouted =
      routingOf(spec, stored.success ? stored.data : before.connection) !== routingOf(spec, connection);
    if (rerouted && !mayReroute) {
      throw new SyncError(
        'FORBIDDEN',
        'changing where this target sends passwords (host, port, URLs, TLS, privileged account) needs the admin role',
      );
    }
    if (patch.connection !== undefined) {
      connection = await checkPrivileged(q, before.site_id, before.kind, connection);
    }
    const name = patch.name ?? before.name;
    if (name !== before.name && (await targetNameTaken(q, before.site_id, name, before.id))) {
      throw new SyncError('CONFLICT', `name: the site has a target named '${name}'`);
    }
    const after = await updateTarget(q, before.id, name, connection);
    const fields: Record<string, { from: unknown; to: unknown }> = {};
    for (const key of AUDITED_FIELDS) {
      const from = before.connection[key] ?? null;
      const to = connection[key] ?? null;
      if (from !== to) fields[key] = { from, to };
    }
    await auditOperator(q, by, 'target.update', 'target', before.id, {
      siteId: before.site_id,
      kind: before.kind,
      ...(name !== before.name ? { name: { from: before.name, to: name } } : {}),
      changedKeys: Object.keys(connection)
        .concat(Object.keys(before.connection))
        .filter((k, i, all) => all.indexOf(k) === i)
        .filter((k) => JSON.stringify(before.connection[k]) !== JSON.stringify(connection[k]))
        .sort(),
      fields,
      rerouted,
    });
    // What the target can do may have changed (a change workflow now sets {{newPassword}}…).
    const caps = (c: unknown) => JSON.stringify(capabilitiesOf(before.kind, c));
    if (caps(before.connection) !== caps(connection)) await refreshTargetStatuses(q, before);
    return after;
  });
}
