import type { Queryable } from './db.js';

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
