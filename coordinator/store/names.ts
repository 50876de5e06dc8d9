import type { Queryable } from './db.js';

/** The kinds of object an id may name, as `lookupNames` resolves them. */
export type NameKind = 'site' | 'target' | 'agent' | 'token' | 'group' | 'policy' | 'credential' | 'channel';

/** Names by kind and id; an id without a row (deleted, or not an id) is missing. */
export type Names = Record<NameKind, Map<string, string>>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Each kind's table and the name it shows (a credential: `user on target`). */
const SOURCES: Record<NameKind, string> = {
  site: 'SELECT id, name FROM sites',
  target: 'SELECT id, name FROM targets',
  agent: 'SELECT id, name FROM agents',
  token: 'SELECT id, name FROM api_tokens',
  group: 'SELECT id, name FROM sync_groups',
  policy: 'SELECT id, name FROM policies',
  channel: 'SELECT id, name FROM notification_channels',
  credential:
    "SELECT c.id, c.username || ' on ' || t.name AS name FROM credentials c JOIN targets t ON t.id = c.target_id",
};

/**
 * The names of the objects these ids stand for (issue 15, "names, not ids"), in one query (each
 * kind through its primary key). Ids that are not UUIDs (the bootstrap admin, a system actor) are
 * left out, never an error.
 */
export async function lookupNames(
  q: Queryable,
  refs: Partial<Record<NameKind, Iterable<string | null | undefined>>>,
): Promise<Names> {
  const names = Object.fromEntries(Object.keys(SOURCES).map((k) => [k, new Map<string, string>()])) as Names;
  const parts: string[] = [];
  const params: string[][] = [];
  for (const [kind, ids] of Object.entries(refs) as [NameKind, Iterable<string | null | undefined>][]) {
    const wanted = [...new Set([...ids].filter((id): id is string => !!id && UUID.test(id)))];
    if (wanted.length === 0) continue;
    params.push(wanted);
    const source = SOURCES[kind];
    const alias = kind === 'credential' ? 'c.id' : 'id';
    parts.push(
      `SELECT '${kind}' AS kind, x.id::text AS id, x.name FROM (${source} WHERE ${alias} = ANY($${params.length}::uuid[])) x`,
    );
  }
  if (parts.length === 0) return names;
  const { rows } = await q.query<{ kind: NameKind; id: string; name: string }>(
    parts.join(' UNION ALL '),
    params,
  );
  for (const r of rows) names[r.kind].set(r.id, r.name);
  return names;
}
