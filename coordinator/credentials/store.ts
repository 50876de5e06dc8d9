import type { DetailCode, Reason, Status } from '../../shared/contracts/status.js';
import type { Queryable } from '../store/db.js';
import { pgArray, type ArrayElementType } from '../store/pg-array.js';

/** A credential as stored, with its target's kind and connection. Secrets stay sealed here. */
export interface CredentialRow {
  id: string;
  target_id: string;
  site_id: string;
  username: string;
  policy_id: string | null;
  group_id: string | null;
  sync_enabled: boolean;
  secret: string;
  pending_secret: string | null;
  pending_id: string | null;
  /** `uncertain`: a result left open whether the target took it (a reconcile decides); else `new`. */
  pending_state: 'new' | 'uncertain' | null;
  /**
   * Hand-outs of this pending password in change jobs whose attempt may have set it: counted in the
   * claim's transaction before the agent hears of the job, taken back only by that attempt's own
   * result when it proves nothing was sent; reset only with the pending password itself.
   */
  pending_handouts: number;
  status: Status;
  status_reason: Reason | null;
  status_changed_at: Date;
  job_state: 'idle' | 'queued' | 'active';
  job_kind: 'verify' | 'change' | 'reconcile' | null;
  job_since: Date | null;
  /** When the reconciler first found this job missing from Redis (null: present, or not looked yet). */
  job_missing_since: Date | null;
  run_id: string | null;
  attempt: number;
  last_outcome: 'ok' | 'failed' | null;
  last_reason: Reason | null;
  last_message: string | null;
  /** The detail code of the last result (shared/contracts/status.ts DETAIL_CODES), if it had one. */
  last_detail_code: DetailCode | null;
  last_result_at: Date | null;
  last_verified_at: Date | null;
  last_changed_at: Date | null;
  stale_at: Date | null;
  next_verify_at: Date | null;
  next_change_at: Date | null;
  verify_interval_s: number;
  verify_paused: boolean;
  consecutive_failures: number;
  suspended: boolean;
  change_wanted: boolean;
  created_at: Date;
  updated_at: Date;
  target_kind: string;
  target_name: string;
  target_connection: Record<string, unknown>;
}

export const CREDENTIAL_SELECT = `
SELECT c.*, t.kind AS target_kind, t.name AS target_name, t.connection AS target_connection
FROM credentials c JOIN targets t ON t.id = c.target_id`;

/**
 * What each loaded row looked like, so a save writes only the columns a transition changed (a
 * verification never re-sends the sealed secret, and narrow updates keep PostgreSQL's work small).
 */
const loaded = new WeakMap<CredentialRow, unknown[]>();

/** Remembers the rows' MUTABLE columns as they are now (in MUTABLE's order). */
function track(rows: CredentialRow[]): CredentialRow[] {
  for (const row of rows) {
    const values = new Array<unknown>(MUTABLE.length);
    for (let i = 0; i < MUTABLE.length; i++) values[i] = row[MUTABLE[i]!.col];
    loaded.set(row, values);
  }
  return rows;
}

/** The value `col` had when `row` was loaded or last saved. */
const loadedValue = (before: unknown[], col: keyof CredentialRow): unknown => before[MUTABLE_INDEX.get(col)!];

/** Rows of `CREDENTIAL_SELECT` followed by `rest` (WHERE … ORDER BY … [FOR UPDATE …]), tracked for saving. */
export async function selectCredentials(
  q: Queryable,
  rest: string,
  params: unknown[],
): Promise<CredentialRow[]> {
  const { rows } = await q.query<CredentialRow>(`${CREDENTIAL_SELECT} ${rest}`, params);
  return track(rows);
}

export async function loadCredentials(
  q: Queryable,
  ids: string[],
  forUpdate: boolean,
): Promise<CredentialRow[]> {
  if (ids.length === 0) return [];
  return selectCredentials(
    q,
    `WHERE c.id = ANY($1::uuid[]) ORDER BY c.id${forUpdate ? ' FOR UPDATE OF c' : ''}`,
    [ids],
  );
}

/**
 * Rows to read, not to save (a claim's look at the credentials of the jobs it took): not tracked,
 * which spares the hot path a copy of every row (a save of such a row would write every column).
 */
export async function readCredentials(q: Queryable, ids: string[]): Promise<CredentialRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await q.query<CredentialRow>(`${CREDENTIAL_SELECT} WHERE c.id = ANY($1::uuid[])`, [ids]);
  return rows;
}

export async function loadCredential(
  q: Queryable,
  id: string,
  forUpdate = false,
): Promise<CredentialRow | null> {
  return (await loadCredentials(q, [id], forUpdate))[0] ?? null;
}

/**
 * The columns a state transition may change, written back in one statement for a whole batch (and
 * written as they are by the bulk insert of new rows, bulk-store.ts insertCredentials).
 */
export const MUTABLE: readonly { col: keyof CredentialRow; type: ArrayElementType }[] = [
  { col: 'sync_enabled', type: 'boolean' },
  { col: 'secret', type: 'text' },
  { col: 'pending_secret', type: 'text' },
  { col: 'pending_id', type: 'uuid' },
  { col: 'pending_state', type: 'text' },
  { col: 'pending_handouts', type: 'int' },
  { col: 'status', type: 'text' },
  { col: 'status_reason', type: 'text' },
  { col: 'status_changed_at', type: 'timestamptz' },
  { col: 'job_state', type: 'text' },
  { col: 'job_kind', type: 'text' },
  { col: 'job_since', type: 'timestamptz' },
  { col: 'job_missing_since', type: 'timestamptz' },
  { col: 'run_id', type: 'uuid' },
  { col: 'attempt', type: 'int' },
  { col: 'last_outcome', type: 'text' },
  { col: 'last_reason', type: 'text' },
  { col: 'last_message', type: 'text' },
  { col: 'last_detail_code', type: 'text' },
  { col: 'last_result_at', type: 'timestamptz' },
  { col: 'last_verified_at', type: 'timestamptz' },
  { col: 'last_changed_at', type: 'timestamptz' },
  { col: 'stale_at', type: 'timestamptz' },
  { col: 'next_verify_at', type: 'timestamptz' },
  { col: 'next_change_at', type: 'timestamptz' },
  { col: 'verify_paused', type: 'boolean' },
  { col: 'consecutive_failures', type: 'int' },
  { col: 'suspended', type: 'boolean' },
  { col: 'change_wanted', type: 'boolean' },
  { col: 'updated_at', type: 'timestamptz' },
];

const MUTABLE_INDEX = new Map(MUTABLE.map((m, i) => [m.col, i]));

const same = (a: unknown, b: unknown): boolean =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

/** The columns of `row` that differ from when it was loaded (all of them for an untracked row). */
function changedColumns(row: CredentialRow): (keyof CredentialRow)[] {
  const before = loaded.get(row);
  if (!before) return MUTABLE.map((m) => m.col);
  const changed: (keyof CredentialRow)[] = [];
  for (let i = 0; i < MUTABLE.length; i++) {
    const col = MUTABLE[i]!.col;
    if (col !== 'updated_at' && !same(before[i], row[col])) changed.push(col);
  }
  return changed;
}

/** Columns the status history needs whenever the status is written. */
const STATUS_COLUMNS: (keyof CredentialRow)[] = [
  'status',
  'status_reason',
  'status_changed_at',
  'last_message',
];

/**
 * Settled statuses that differ from the credential's last recorded one go to its status history in
 * the same statement (every sub-statement sees the rows as they were before the update). Transient
 * ones (pending, being synced) are left out, so a daily verification that ends where it began adds
 * nothing.
 */
const HISTORY_CTE = `, history AS (
  INSERT INTO credential_status_history (credential_id, at, status, reason, message)
  SELECT u.id, u.status_changed_at, u.status, u.status_reason,
         CASE WHEN u.status = 'out_of_sync' THEN u.last_message END
    FROM u JOIN credentials c ON c.id = u.id
   WHERE (c.status IS DISTINCT FROM u.status OR c.status_reason IS DISTINCT FROM u.status_reason)
     AND u.status NOT IN ('pending_sync', 'being_synced')
     AND NOT EXISTS (
       SELECT 1 FROM (SELECT h.status, h.reason FROM credential_status_history h
                       WHERE h.credential_id = u.id ORDER BY h.id DESC LIMIT 1) last
        WHERE last.status = u.status AND last.reason IS NOT DISTINCT FROM u.status_reason)
)`;

const saveSql = new Map<string, string>();

function saveStatement(columns: { col: keyof CredentialRow; type: string }[]): string {
  const key = columns.map((c) => c.col).join(',');
  let sql = saveSql.get(key);
  if (!sql) {
    const withStatus = columns.some((c) => c.col === 'status');
    sql = `
WITH u AS (
  SELECT * FROM unnest($1::uuid[], ${columns.map((m, i) => `$${i + 2}::${m.type}[]`).join(', ')})
    AS u(id, ${columns.map((m) => m.col).join(', ')})
)${withStatus ? HISTORY_CTE : ''}
UPDATE credentials AS c SET ${columns.map((m) => `${m.col} = u.${m.col}`).join(', ')}
FROM u
WHERE c.id = u.id`;
    saveSql.set(key, sql);
  }
  return sql;
}

/** Rows whose last_detail_code was set for the result being saved (see setLastDetail). */
const detailSet = new WeakSet<CredentialRow>();

/** Records the detail code of the result just applied to `row` (null: it had none). */
export function setLastDetail(row: CredentialRow, code: DetailCode | null): void {
  row.last_detail_code = code;
  detailSet.add(row);
}

/**
 * A detail code belongs to the result it came with: a save that records another result or message
 * (any writer: a report, a refused change, an unreadable secret) without setting one clears it.
 */
function keepDetailWithItsResult(row: CredentialRow): void {
  const set = detailSet.has(row);
  detailSet.delete(row);
  if (set || row.last_detail_code === null) return;
  const before = loaded.get(row);
  if (!before) return;
  const moved = (['last_result_at', 'last_message', 'last_reason'] as const).some(
    (c) => !same(loadedValue(before, c), row[c]),
  );
  if (moved) row.last_detail_code = null;
}

/**
 * Writes back, in one statement, the columns any of the rows changed since they were loaded (rows
 * that changed nothing are left alone). The rows then count as loaded as they are now.
 */
export async function saveCredentials(q: Queryable, rows: CredentialRow[]): Promise<void> {
  for (const row of rows) keepDetailWithItsResult(row);
  const changed = new Set<keyof CredentialRow>();
  const dirty = rows.filter((row) => {
    const cols = changedColumns(row);
    for (const c of cols) changed.add(c);
    return cols.length > 0;
  });
  if (dirty.length === 0) return;
  if (changed.has('status') || changed.has('status_reason')) for (const c of STATUS_COLUMNS) changed.add(c);
  changed.add('updated_at');
  const columns = MUTABLE.filter((m) => changed.has(m.col));
  const params: unknown[] = [dirty.map((r) => r.id)];
  for (const m of columns)
    params.push(
      pgArray(
        dirty.map((r) => r[m.col]),
        m.type,
      ),
    );
  await q.query(saveStatement(columns), params);
  track(dirty);
}

/** Deletes a credential row (its history and run items go with it: foreign keys). */
export async function deleteCredentialRow(q: Queryable, id: string): Promise<void> {
  await q.query('DELETE FROM credentials WHERE id = $1', [id]);
}

/** A credential's verification interval without a policy (the column's default): a day. */
export const DEFAULT_VERIFY_INTERVAL_S = 86_400;

/** Sets a credential's policy and the verification interval it brings (the defaults without one). */
export async function setCredentialPolicy(
  q: Queryable,
  row: CredentialRow,
  policy: { id: string; verify_interval_s: number } | null,
): Promise<void> {
  await q.query('UPDATE credentials SET policy_id = $2, verify_interval_s = $3 WHERE id = $1', [
    row.id,
    policy?.id ?? null,
    policy?.verify_interval_s ?? DEFAULT_VERIFY_INTERVAL_S,
  ]);
  row.policy_id = policy?.id ?? null;
  row.verify_interval_s = policy?.verify_interval_s ?? DEFAULT_VERIFY_INTERVAL_S;
}

export interface NewCredential {
  id: string;
  targetId: string;
  siteId: string;
  username: string;
  policyId: string | null;
  syncEnabled: boolean;
  /** The password, sealed for the row's `secret` column. */
  sealedSecret: string;
}

/**
 * A new credential as the table's defaults make it (and `insertCredential` leaves it): status
 * `not_synced` until refreshed, never checked, no job, nothing due; its policy's verification
 * interval (else a day). The bulk path brings it to its first state in memory (due times, status,
 * first job: create-credentials-batch.ts) and inserts it once as it is (bulk-store.ts).
 */
export function newCredentialRow(
  c: NewCredential,
  target: { kind: string; name: string; connection: Record<string, unknown> },
  verifyIntervalS: number,
  now: Date,
): CredentialRow {
  return {
    id: c.id,
    target_id: c.targetId,
    site_id: c.siteId,
    username: c.username,
    policy_id: c.policyId,
    group_id: null,
    sync_enabled: c.syncEnabled,
    secret: c.sealedSecret,
    pending_secret: null,
    pending_id: null,
    pending_state: null,
    pending_handouts: 0,
    status: 'not_synced',
    status_reason: null,
    status_changed_at: now,
    job_state: 'idle',
    job_kind: null,
    job_since: null,
    job_missing_since: null,
    run_id: null,
    attempt: 0,
    last_outcome: null,
    last_reason: null,
    last_message: null,
    last_detail_code: null,
    last_result_at: null,
    last_verified_at: null,
    last_changed_at: null,
    stale_at: null,
    next_verify_at: null,
    next_change_at: null,
    verify_interval_s: verifyIntervalS,
    verify_paused: false,
    consecutive_failures: 0,
    suspended: false,
    change_wanted: false,
    created_at: now,
    updated_at: now,
    target_kind: target.kind,
    target_name: target.name,
    target_connection: target.connection,
  };
}

/**
 * Inserts a credential (status `not_synced` until its status is refreshed; the policy's verification
 * interval, else a day). Returns false when the target has a credential of that username already.
 */
export async function insertCredential(q: Queryable, c: NewCredential): Promise<boolean> {
  const inserted = await q.query(
    `INSERT INTO credentials (id, target_id, site_id, username, policy_id, sync_enabled, secret, status,
                              verify_interval_s)
     SELECT $1, $2, $3, $4, $5, $6, $7, 'not_synced', coalesce((SELECT verify_interval_s FROM policies WHERE id = $5), 86400)
     ON CONFLICT (target_id, username) DO NOTHING`,
    [c.id, c.targetId, c.siteId, c.username, c.policyId, c.syncEnabled, c.sealedSecret],
  );
  return inserted.rowCount !== 0;
}
