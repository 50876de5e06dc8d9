import { randomUUID } from 'node:crypto';
import type {
  DependencyDefinition,
  DependencyKind,
  DependencyMode,
  DependencyResult,
  DependencyStatus,
  DependencyView,
} from '../../shared/contracts/dependencies.js';
import type { Queryable } from '../store/db.js';

/** A credential's dependency as stored (`credential_dependencies`, migration 11). No secret. */
export interface DependencyRow {
  id: string;
  credential_id: string;
  position: number;
  name: string;
  kind: DependencyKind;
  definition: DependencyDefinition;
  status: DependencyStatus;
  message: string | null;
  ran_at: Date | null;
  check_status: DependencyStatus;
  check_message: string | null;
  checked_at: Date | null;
  requested: DependencyMode | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const dependencyView = (d: DependencyRow): DependencyView => ({
  id: d.id,
  position: d.position,
  name: d.name,
  kind: d.kind,
  definition: d.definition as unknown as Record<string, unknown>,
  status: d.status,
  message: d.message,
  ranAt: iso(d.ran_at),
  checkStatus: d.check_status,
  checkMessage: d.check_message,
  checkedAt: iso(d.checked_at),
  requested: d.requested,
});

/** The dependencies of these credentials, in order (`requestedOnly`: those with work asked of them). */
export async function loadDependencies(
  q: Queryable,
  credentialIds: string[],
  requestedOnly = false,
): Promise<DependencyRow[]> {
  if (credentialIds.length === 0) return [];
  const { rows } = await q.query<DependencyRow>(
    `SELECT * FROM credential_dependencies WHERE credential_id = ANY($1::uuid[])
       ${requestedOnly ? 'AND requested IS NOT NULL' : ''} ORDER BY credential_id, position`,
    [credentialIds],
  );
  return rows;
}

/**
 * Replaces a credential's dependencies by `definitions`, in that order. A dependency whose
 * definition is unchanged keeps its id and its last results.
 */
export async function replaceDependencies(
  q: Queryable,
  credentialId: string,
  definitions: DependencyDefinition[],
): Promise<void> {
  const before = await loadDependencies(q, [credentialId]);
  const kept = new Map(before.map((d) => [canonical(d.definition), d]));
  await q.query('DELETE FROM credential_dependencies WHERE credential_id = $1', [credentialId]);
  if (definitions.length === 0) return;
  const rows = definitions.map((definition, position) => {
    const old = kept.get(canonical(definition));
    if (old) kept.delete(canonical(definition));
    return { ...(old ?? fresh()), id: old?.id ?? randomUUID(), position, definition };
  });
  await q.query(
    `INSERT INTO credential_dependencies
       (id, credential_id, position, name, kind, definition, status, message, ran_at,
        check_status, check_message, checked_at, requested)
     SELECT u.id, $2, u.position, u.name, u.kind, u.definition, u.status, u.message, u.ran_at,
            u.check_status, u.check_message, u.checked_at, u.requested
       FROM unnest($1::uuid[], $3::int[], $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::text[],
                   $9::timestamptz[], $10::text[], $11::text[], $12::timestamptz[], $13::text[])
         AS u(id, position, name, kind, definition, status, message, ran_at, check_status,
              check_message, checked_at, requested)`,
    [
      rows.map((r) => r.id),
      credentialId,
      rows.map((r) => r.position),
      rows.map((r) => r.definition.name),
      rows.map((r) => r.definition.kind),
      rows.map((r) => JSON.stringify(r.definition)),
      rows.map((r) => r.status),
      rows.map((r) => r.message),
      rows.map((r) => iso(r.ran_at)),
      rows.map((r) => r.check_status),
      rows.map((r) => r.check_message),
      rows.map((r) => iso(r.checked_at)),
      rows.map((r) => r.requested),
    ],
  );
}

/** JSON with object keys sorted (jsonb keeps its own key order). */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

const fresh = (): Omit<
  DependencyRow,
  'id' | 'credential_id' | 'position' | 'name' | 'kind' | 'definition'
> => ({
  status: 'not_run',
  message: null,
  ran_at: null,
  check_status: 'not_run',
  check_message: null,
  checked_at: null,
  requested: null,
});

/**
 * Asks `mode` of a credential's dependencies (all of them, or `ids`): it goes out with the
 * credential's next verification. Returns the dependencies asked.
 */
export async function requestDependencies(
  q: Queryable,
  credentialId: string,
  mode: DependencyMode,
  ids?: string[],
): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `UPDATE credential_dependencies SET requested = $2
      WHERE credential_id = $1 AND ($3::uuid[] IS NULL OR id = ANY($3::uuid[])) RETURNING id`,
    [credentialId, mode, ids ?? null],
  );
  return rows.map((r) => r.id);
}

/**
 * Records what an agent (or the coordinator, for `credential` dependencies) found. Only the
 * credential's own dependencies are touched; whatever was asked of one is done once it has a result.
 */
export async function recordDependencyResults(
  q: Queryable,
  credentialId: string,
  results: DependencyResult[],
  now: Date,
): Promise<void> {
  if (results.length === 0) return;
  const push = results.filter((r) => r.mode === 'push');
  const check = results.filter((r) => r.mode === 'check');
  const columns = {
    push: ['status', 'message', 'ran_at'],
    check: ['check_status', 'check_message', 'checked_at'],
  };
  for (const [mode, list] of [
    ['push', push],
    ['check', check],
  ] as const) {
    if (list.length === 0) continue;
    const [status, message, at] = columns[mode];
    await q.query(
      `UPDATE credential_dependencies d SET ${status} = u.status, ${message} = u.message, ${at} = $5,
              requested = CASE WHEN d.requested = $6 THEN NULL ELSE d.requested END
         FROM unnest($2::uuid[], $3::text[], $4::text[]) AS u(id, status, message)
        WHERE d.id = u.id AND d.credential_id = $1`,
      [
        credentialId,
        list.map((r) => r.id),
        list.map((r) => r.status),
        list.map((r) => r.message ?? null),
        now.toISOString(),
        mode,
      ],
    );
  }
}

/** Takes back what was asked of dependencies that went out and got no result (the job ended otherwise). */
export async function clearRequests(q: Queryable, credentialId: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    'UPDATE credential_dependencies SET requested = NULL WHERE credential_id = $1 AND id = ANY($2::uuid[])',
    [credentialId, ids],
  );
}

/**
 * Of the credentials `starts`, those whose chain (their `credential` dependencies, theirs in turn)
 * reaches `owner`: a dependency on one of them would close a cycle in which each change starts the
 * next for ever. The walk stops at the owner (its own dependencies are the ones being replaced).
 */
export async function chainsBackTo(q: Queryable, owner: string, starts: string[]): Promise<Set<string>> {
  if (starts.length === 0) return new Set();
  const { rows } = await q.query<{ start: string }>(
    `WITH RECURSIVE reach(start, id) AS (
       SELECT s, s FROM unnest($1::uuid[]) AS s
       UNION
       SELECT r.start, (d.definition->>'credentialId')::uuid
         FROM reach r JOIN credential_dependencies d ON d.credential_id = r.id
        WHERE d.kind = 'credential' AND d.credential_id <> $2
     )
     SELECT DISTINCT start FROM reach WHERE id = $2`,
    [starts, owner],
  );
  return new Set(rows.map((r) => r.start));
}
