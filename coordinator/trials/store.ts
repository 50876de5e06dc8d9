import type { Queryable } from '../store/db.js';

/*
 * The SQL of login trials (docs/api.md "Login trials"): an operator's unsaved web login workflow,
 * tried once by an agent of the target's site with the stored password of one credential.
 */

export type TrialState = 'queued' | 'running' | 'done' | 'failed';

/** A `login_trials` row. */
export interface TrialRow {
  id: string;
  target_id: string;
  credential_id: string;
  site_id: string;
  workflow: Record<string, unknown>;
  state: TrialState;
  outcome: 'ok' | 'failed' | null;
  reason: string | null;
  detail: string | null;
  created_by: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/** How long a trial may stay queued or running before it fails with reason `timeout`. */
export const TRIAL_TIMEOUT_MS = 5 * 60_000;
/** How long a trial is kept (then deleted with the reconciler's round). */
export const TRIAL_KEEP_MS = 86_400_000;

export async function insertTrial(
  q: Queryable,
  t: Pick<TrialRow, 'id' | 'target_id' | 'credential_id' | 'site_id' | 'workflow' | 'created_by'>,
): Promise<TrialRow> {
  const { rows } = await q.query<TrialRow>(
    `INSERT INTO login_trials (id, target_id, credential_id, site_id, workflow, state, created_by)
     VALUES ($1, $2, $3, $4, $5, 'queued', $6) RETURNING *`,
    [t.id, t.target_id, t.credential_id, t.site_id, JSON.stringify(t.workflow), t.created_by],
  );
  return rows[0]!;
}

export async function getTrial(q: Queryable, targetId: string, id: string): Promise<TrialRow | null> {
  const { rows } = await q.query<TrialRow>('SELECT * FROM login_trials WHERE id = $1 AND target_id = $2', [
    id,
    targetId,
  ]);
  return rows[0] ?? null;
}

export async function loadTrials(q: Queryable, ids: string[]): Promise<Map<string, TrialRow>> {
  if (ids.length === 0) return new Map();
  const { rows } = await q.query<TrialRow>('SELECT * FROM login_trials WHERE id = ANY($1::uuid[])', [ids]);
  return new Map(rows.map((r) => [r.id, r]));
}

/** Claimed by an agent: running (again, when its job went back to the queue). */
export async function markTrialsRunning(q: Queryable, ids: string[], now: Date): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    `UPDATE login_trials SET state = 'running', started_at = $2
      WHERE id = ANY($1::uuid[]) AND state IN ('queued', 'running')`,
    [ids, now],
  );
}

/**
 * Ends a trial still queued or running: `done` with the agent's outcome, or `failed` (it could not
 * run). Returns whether it was still open.
 */
export async function finishTrial(
  q: Queryable,
  id: string,
  end: {
    state: 'done' | 'failed';
    outcome: 'ok' | 'failed' | null;
    reason: string | null;
    detail: string | null;
  },
  now: Date,
): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE login_trials SET state = $2, outcome = $3, reason = $4, detail = $5, finished_at = $6
      WHERE id = $1 AND state IN ('queued', 'running')`,
    [id, end.state, end.outcome, end.reason, end.detail, now],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Trials queued or running longer than TRIAL_TIMEOUT_MS fail with reason `timeout`; trials older
 * than TRIAL_KEEP_MS are deleted. Returns how many of each.
 */
export async function expireTrials(q: Queryable, now: Date): Promise<{ timedOut: number; deleted: number }> {
  const timedOut = await q.query(
    `UPDATE login_trials SET state = 'failed', reason = 'timeout', finished_at = $1,
            detail = 'no agent of the site finished it in time'
      WHERE state IN ('queued', 'running') AND created_at < $2`,
    [now, new Date(now.getTime() - TRIAL_TIMEOUT_MS)],
  );
  const deleted = await q.query('DELETE FROM login_trials WHERE created_at < $1', [
    new Date(now.getTime() - TRIAL_KEEP_MS),
  ]);
  return { timedOut: timedOut.rowCount ?? 0, deleted: deleted.rowCount ?? 0 };
}
