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
