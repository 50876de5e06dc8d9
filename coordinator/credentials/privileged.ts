import { targetSpec, type TargetKindSpec } from '../../shared/targets/index.js';
import { normalizeHostKey } from '../../shared/targets/workstation.js';
import type { Observed } from '../../shared/contracts/gateway.js';
import type { Queryable } from '../store/db.js';
import { loadCredentials, type CredentialRow } from './store.js';

/**
 * A privileged credential resets the passwords of a target's accounts, so its own password is
 * handed to the agent with their change jobs and sent to that target. It must therefore be "a
 * privileged credential on the same target" (issue 3): same site, a target of the same kind, the
 * same endpoint (host and port; for directories also the TLS mode and CA), and no other host identity
 * pinned (SSH host key, TLS certificate, SMB account domain SID). Otherwise an operator could name
 * anyone's credential on a target of their own and receive its password there. Checked when a
 * target is created or edited (a 400) and again at every hand-out (the job is refused).
 */

/** What the check needs of the target that names the privileged credential. */
export interface NamingTarget {
  siteId: string;
  kind: string;
  connection: Record<string, unknown>;
}

export const endpointOf = (spec: TargetKindSpec, connection: unknown): string =>
  (spec.endpoint ?? spec.host)(connection);

/** The parts of a connection that decide where its passwords go (see TargetKindSpec.routing). */
export const routingOf = (spec: TargetKindSpec, connection: unknown): string =>
  JSON.stringify(spec.routing ? spec.routing(connection) : connection);

/** Each pinned fact (host key, certificate, domain SID) that both pin must be the same. */
const samePin = (a: Observed | undefined, b: Observed | undefined): boolean =>
  (Object.keys({ ...a, ...b }) as (keyof Observed)[]).every((key) => {
    const x = a?.[key];
    const y = b?.[key];
    if (x === undefined || y === undefined) return true;
    return key === 'hostKeySha256' ? normalizeHostKey(x) === normalizeHostKey(y) : x === y;
  });

/** The privileged credential a connection names (changeVia aside: a later edit could turn it on). */
export function namedPrivileged(connection: Record<string, unknown>): string | undefined {
  const id = connection.privilegedCredentialId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Why `privileged` (the credential `id`, undefined when there is none) may not act for `target`;
 * undefined when it may. The message names ids and endpoints, never a secret.
 */
export function privilegedMismatch(
  target: NamingTarget,
  id: string,
  privileged: Pick<CredentialRow, 'site_id' | 'target_kind' | 'target_connection'> | undefined,
): string | undefined {
  if (!privileged) return `privileged credential ${id} does not exist`;
  if (privileged.site_id !== target.siteId) return `privileged credential ${id} belongs to another site`;
  if (privileged.target_kind !== target.kind) {
    return `privileged credential ${id} is on a ${privileged.target_kind} target, not a ${target.kind} one`;
  }
  const spec = targetSpec(target.kind);
  const theirs = spec.connectionSchema.safeParse(privileged.target_connection);
  if (!theirs.success) return `privileged credential ${id} is on a target with an invalid connection`;
  const ours = endpointOf(spec, target.connection);
  const where = endpointOf(spec, theirs.data);
  if (where !== ours) {
    return `privileged credential ${id} is on ${where}, not on this target's ${ours}: it must be on the same target`;
  }
  if (!samePin(spec.pinned?.(theirs.data), spec.pinned?.(target.connection))) {
    return `privileged credential ${id} is on a target that pins another host identity (host key, certificate or domain SID) than this one`;
  }
  return undefined;
}

/**
 * A target that names a privileged credential takes over what that credential's target pinned
 * (its SSH host key, TLS certificate or domain SID) when it pins nothing itself: the privileged password never goes to a host that
 * the credential's own target would refuse.
 */
export function inheritPin(
  kind: string,
  connection: Record<string, unknown>,
  privileged: Pick<CredentialRow, 'target_connection'>,
): Record<string, unknown> {
  const spec = targetSpec(kind);
  const theirs = spec.connectionSchema.safeParse(privileged.target_connection);
  const pin = theirs.success ? spec.pinned?.(theirs.data) : undefined;
  if (!pin || spec.pinned?.(connection) !== undefined) return connection;
  return (spec.pinObserved?.(connection, pin) as Record<string, unknown> | undefined) ?? connection;
}

/**
 * The privileged credential a stored credential's target acts through: parsed from its target's
 * connection (undefined when it names none, or the connection does not parse).
 */
export function privilegedIdOf(
  row: Pick<CredentialRow, 'target_kind' | 'target_connection'>,
): string | undefined {
  const spec = targetSpec(row.target_kind);
  const parsed = spec.connectionSchema.safeParse(row.target_connection);
  return parsed.success ? spec.privilegedCredentialId?.(parsed.data) : undefined;
}

/**
 * The privileged credentials `rows` act through, read without row locks, by id; with `siteId`,
 * only that site's (another site's account is never handed out: privilegedMismatch refuses it).
 */
export async function loadPrivileged(
  q: Queryable,
  rows: Iterable<Pick<CredentialRow, 'target_kind' | 'target_connection'>>,
  siteId?: string,
): Promise<Map<string, CredentialRow>> {
  const ids = new Set<string>();
  for (const row of rows) {
    const id = privilegedIdOf(row);
    if (id !== undefined) ids.add(id);
  }
  const found = await loadCredentials(q, [...ids], false);
  return new Map(found.filter((r) => siteId === undefined || r.site_id === siteId).map((r) => [r.id, r]));
}
