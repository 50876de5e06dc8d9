import type { Queryable } from './db.js';
import { containsPattern, Where } from './where.js';

export interface TargetRow {
  id: string;
  site_id: string;
  name: string;
  kind: string;
  connection: Record<string, unknown>;
  created_at: Date;
}

/** A target by id (a plain read; `forUpdate`: locked), or null. */
export async function getTarget(q: Queryable, id: string, forUpdate = false): Promise<TargetRow | null> {
  const { rows } = await q.query<TargetRow>(
    `SELECT * FROM targets WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

/**
 * Replaces a target's connection if it is still `expected` (compare-and-set: of two writers only
 * one wins); returns whether it did.
 */
export async function replaceConnection(
  q: Queryable,
  id: string,
  expected: unknown,
  next: unknown,
): Promise<boolean> {
  const r = await q.query('UPDATE targets SET connection = $2 WHERE id = $1 AND connection = $3::jsonb', [
    id,
    JSON.stringify(next),
    JSON.stringify(expected),
  ]);
  return r.rowCount > 0;
}

/** A new target; false when the site has a target of that name (nothing inserted). */
export async function insertTarget(
  q: Queryable,
  t: { id: string; siteId: string; name: string; kind: string; connection: Record<string, unknown> },
): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO targets (id, site_id, name, kind, connection) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (site_id, name) DO NOTHING`,
    [t.id, t.siteId, t.name, t.kind, JSON.stringify(t.connection)],
  );
  return r.rowCount > 0;
}

/** Does another target of the site have this name? */
export async function targetNameTaken(
  q: Queryable,
  siteId: string,
  name: string,
  id: string,
): Promise<boolean> {
  const clash = await q.query('SELECT 1 FROM targets WHERE site_id = $1 AND name = $2 AND id <> $3', [
    siteId,
    name,
    id,
  ]);
  return clash.rows.length > 0;
}

/** Sets a target's name and connection; the target as it is now. */
export async function updateTarget(
  q: Queryable,
  id: string,
  name: string,
  connection: Record<string, unknown>,
): Promise<TargetRow> {
  const { rows } = await q.query<TargetRow>(
    'UPDATE targets SET name = $2, connection = $3 WHERE id = $1 RETURNING *',
    [id, name, JSON.stringify(connection)],
  );
  return rows[0]!;
}

/** Targets by name (and id), of one site or all, whose name contains a text, after a (name, id) key. */
export async function listTargets(
  q: Queryable,
  f: {
    siteId?: string | undefined;
    text?: string | undefined;
    after: [string, string] | null;
    limit: number;
  },
): Promise<TargetRow[]> {
  const where = new Where();
  if (f.siteId) where.add('site_id = $1', f.siteId);
  if (f.text) where.add('name ILIKE $1', containsPattern(f.text));
  if (f.after) where.add('(name, id) > ($1, $2::uuid)', f.after[0], f.after[1]);
  const limit = where.param(f.limit);
  const { rows } = await q.query<TargetRow>(
    `SELECT * FROM targets ${where} ORDER BY name, id LIMIT ${limit}`,
    where.params,
  );
  return rows;
}
