import type { Db } from './db.js';

/**
 * Schema migrations, applied at start. All of them run in one transaction that first takes a
 * transaction-level advisory lock, so two replicas starting at once apply each migration once:
 * the second waits, then sees the versions already recorded.
 */
const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'backbone',
    sql: `
CREATE TABLE sites (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  enabled boolean NOT NULL DEFAULT true,
  require_approval boolean NOT NULL DEFAULT false,
  last_sync_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE enrollment_tokens (
  id uuid PRIMARY KEY,
  site_id uuid NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  uses_left int NOT NULL DEFAULT 1,
  used_at timestamptz,
  used_by uuid,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE agents (
  id uuid PRIMARY KEY,
  site_id uuid NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  name text NOT NULL,
  host text NOT NULL,
  version text NOT NULL,
  adapters text[] NOT NULL DEFAULT '{}',
  concurrency int NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  approved boolean NOT NULL DEFAULT true,
  token_hash text NOT NULL,
  revoked_at timestamptz,
  in_flight int NOT NULL DEFAULT 0,
  last_heartbeat_at timestamptz,
  enrolled_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_site ON agents (site_id);
CREATE TABLE api_tokens (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE TABLE policies (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  rules jsonb NOT NULL,
  verify_interval_s int NOT NULL DEFAULT 86400,
  rotate_interval_s int,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE targets (
  id uuid PRIMARY KEY,
  site_id uuid NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  name text NOT NULL,
  kind text NOT NULL,
  connection jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (site_id, name)
);
CREATE TABLE credentials (
  id uuid PRIMARY KEY,
  target_id uuid NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
  site_id uuid NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  username text NOT NULL,
  policy_id uuid REFERENCES policies(id),
  group_id uuid,
  sync_enabled boolean NOT NULL DEFAULT true,
  secret text NOT NULL,
  pending_secret text,
  pending_id uuid,
  pending_state text,
  status text NOT NULL,
  status_reason text,
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  job_state text NOT NULL DEFAULT 'idle',
  job_kind text,
  job_since timestamptz,
  run_id uuid,
  attempt int NOT NULL DEFAULT 0,
  last_outcome text,
  last_reason text,
  last_message text,
  last_result_at timestamptz,
  last_verified_at timestamptz,
  last_changed_at timestamptz,
  stale_at timestamptz,
  next_verify_at timestamptz,
  next_change_at timestamptz,
  verify_interval_s int NOT NULL DEFAULT 86400,
  verify_paused boolean NOT NULL DEFAULT false,
  consecutive_failures int NOT NULL DEFAULT 0,
  suspended boolean NOT NULL DEFAULT false,
  change_wanted boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (target_id, username)
);
CREATE INDEX credentials_verify_due ON credentials (next_verify_at) WHERE next_verify_at IS NOT NULL;
CREATE INDEX credentials_change_due ON credentials (next_change_at) WHERE next_change_at IS NOT NULL;
CREATE INDEX credentials_status_id ON credentials (status, id);
CREATE INDEX credentials_site_status ON credentials (site_id, status);
CREATE INDEX credentials_target ON credentials (target_id);
CREATE INDEX credentials_stale ON credentials (stale_at) WHERE status = 'in_sync';
CREATE INDEX credentials_run ON credentials (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX credentials_in_flight ON credentials (job_since) WHERE job_state <> 'idle';
CREATE TABLE secret_history (
  id uuid PRIMARY KEY,
  credential_id uuid NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
  secret text NOT NULL,
  replaced_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX secret_history_credential ON secret_history (credential_id, replaced_at DESC);
CREATE TABLE sync_runs (
  id uuid PRIMARY KEY,
  kind text NOT NULL,
  trigger text NOT NULL,
  scope jsonb NOT NULL,
  created_by text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  impacted int NOT NULL DEFAULT 0,
  success int NOT NULL DEFAULT 0,
  unsynced int NOT NULL DEFAULT 0,
  partial int NOT NULL DEFAULT 0,
  failed int NOT NULL DEFAULT 0,
  outcome text
);
CREATE INDEX sync_runs_started ON sync_runs (started_at DESC);
CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor_type text NOT NULL,
  actor_id text NOT NULL,
  action text NOT NULL,
  object_type text NOT NULL,
  object_id text,
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (id DESC);
`,
  },
  {
    version: 2,
    name: 'policies_groups_run_items',
    sql: `
ALTER TABLE policies ADD COLUMN maintenance_window jsonb;
CREATE TABLE sync_groups (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  policy_id uuid REFERENCES policies(id),
  primary_credential_id uuid REFERENCES credentials(id) ON DELETE SET NULL,
  next_change_at timestamptz,
  change_run_id uuid,
  change_pending_id uuid,
  change_secret text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_groups_change_due ON sync_groups (next_change_at) WHERE next_change_at IS NOT NULL;
ALTER TABLE credentials ADD CONSTRAINT credentials_group_fk FOREIGN KEY (group_id) REFERENCES sync_groups(id) ON DELETE SET NULL;
CREATE INDEX credentials_group ON credentials (group_id) WHERE group_id IS NOT NULL;
CREATE TABLE sync_run_items (
  id bigserial PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES sync_runs(id) ON DELETE CASCADE,
  credential_id uuid NOT NULL,
  result text NOT NULL,
  reason text,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_run_items_run ON sync_run_items (run_id, id);
`,
  },
  {
    version: 3,
    name: 'credential status history',
    sql: `
CREATE TABLE credential_status_history (
  id bigserial PRIMARY KEY,
  credential_id uuid NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
  at timestamptz NOT NULL,
  status text NOT NULL,
  reason text,
  message text
);
CREATE INDEX credential_status_history_credential ON credential_status_history (credential_id, id DESC);
CREATE INDEX credentials_username ON credentials (username, id);
`,
  },
  {
    version: 4,
    name: 'change protocol: hand-outs of pending passwords, missing jobs, discarded pendings kept',
    sql: `
ALTER TABLE credentials ADD COLUMN pending_handouts int NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN job_missing_since timestamptz;
-- Hand-outs were not recorded before this version: every pending password that exists may be set already.
UPDATE credentials SET pending_handouts = 1 WHERE pending_secret IS NOT NULL;
ALTER TABLE secret_history ADD COLUMN kind text NOT NULL DEFAULT 'retired';
`,
  },
  {
    version: 5,
    name: 'indexes for the operator surfaces at 100,000 credentials',
    // Measured with bench/explain.ts on 100,000 credentials, 500,000 audit events, 20,000 runs (docs/benchmarks.md).
    sql: `
-- Suspended by Error (summary, overview, metrics): a tiny partial index instead of a full scan.
CREATE INDEX credentials_suspended_site ON credentials (site_id) WHERE suspended;
-- The list's sorts and filters, keyset-paged on (key, id).
CREATE INDEX credentials_status_changed ON credentials (status_changed_at, id);
CREATE INDEX credentials_last_verified ON credentials ((coalesce(last_verified_at, '-infinity'::timestamptz)), id);
CREATE INDEX credentials_reason ON credentials (status_reason, id) WHERE status_reason IS NOT NULL;
CREATE INDEX targets_name ON targets (name, id);
-- Text search (ILIKE '%x%') with trigrams, where the extension can be had: PostgreSQL ships it
-- (trusted: a database owner may create it); the embedded PGlite loads it (store/db.ts). Without
-- it the search still works, by a scan.
DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')
     AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
    BEGIN
      CREATE EXTENSION pg_trgm;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'pg_trgm not created (%): text search scans', SQLERRM;
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    EXECUTE 'CREATE INDEX credentials_username_trgm ON credentials USING gin (username gin_trgm_ops)';
    EXECUTE 'CREATE INDEX targets_name_trgm ON targets USING gin (name gin_trgm_ops)';
  END IF;
END
$do$;
-- Audit log filtered by object (the credential page, every 3 s) or action, newest first.
CREATE INDEX audit_events_object ON audit_events (object_id, id DESC) WHERE object_id IS NOT NULL;
CREATE INDEX audit_events_action ON audit_events (action, id DESC);
-- Run history paged on (started_at, id); a site's latest run; a group's runs.
CREATE INDEX sync_runs_started_id ON sync_runs (started_at DESC, id DESC);
DROP INDEX sync_runs_started;
CREATE INDEX sync_runs_site ON sync_runs ((scope->>'siteId'), started_at DESC);
CREATE INDEX sync_runs_group ON sync_runs ((scope->>'groupId'), started_at DESC);
`,
  },
  {
    version: 6,
    name: 'security: enrollment token revocation, append-only audit events',
    sql: `
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at timestamptz, ADD COLUMN revoked_by text;
CREATE INDEX enrollment_tokens_site ON enrollment_tokens (site_id, created_at DESC);
-- The audit trail is append-only for every role the coordinator connects as: an UPDATE, DELETE or
-- TRUNCATE of audit_events fails. (Dropping the table or the database, as test harnesses do, and a
-- superuser disabling the trigger for a documented retention job, still work.)
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
`,
  },
  {
    version: 7,
    name: 'credential last detail code',
    sql: `
ALTER TABLE credentials ADD COLUMN last_detail_code text;
`,
  },
  {
    version: 8,
    name: 'username search on a table of its own; one redundant credentials index less',
    // Every verification rewrites its credential row (status, times, job state): PostgreSQL then
    // writes an entry in every index of the table, a GIN trigram index included (a dozen entries
    // per username). Usernames never change, so their search index lives on a table written once per
    // credential; the credentials table keeps the indexes its own queries need.
    sql: `
CREATE TABLE credential_names (
  credential_id uuid PRIMARY KEY REFERENCES credentials(id) ON DELETE CASCADE,
  username text NOT NULL
);
INSERT INTO credential_names (credential_id, username) SELECT id, username FROM credentials;
CREATE FUNCTION credential_names_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO credential_names (credential_id, username) VALUES (NEW.id, NEW.username)
    ON CONFLICT (credential_id) DO UPDATE SET username = EXCLUDED.username;
  RETURN NULL;
END;
$$;
CREATE TRIGGER credential_names_sync AFTER INSERT OR UPDATE OF username ON credentials
  FOR EACH ROW EXECUTE FUNCTION credential_names_sync();
DROP INDEX IF EXISTS credentials_username_trgm;
DO $do$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    EXECUTE 'CREATE INDEX credential_names_trgm ON credential_names USING gin (username gin_trgm_ops)';
  END IF;
END
$do$;
-- Lookups by target use the unique (target_id, username) index.
DROP INDEX credentials_target;
`,
  },
  {
    version: 9,
    name: 'every sync run ends: cancel, sites without a working agent, daily schedule entries',
    // docs/sync-runs.md. A cancelled run records who and when; a site records since when no agent
    // could take its work (the run sweep ends items that waited RUN_AGENT_WAIT_MS for one); work
    // outside runs is counted in one 'schedule' run per site, kind and UTC day, found by this index.
    sql: `
ALTER TABLE sync_runs ADD COLUMN cancelled_at timestamptz, ADD COLUMN cancelled_by text;
ALTER TABLE sites ADD COLUMN no_agent_since timestamptz;
CREATE UNIQUE INDEX sync_runs_schedule_day ON sync_runs ((scope->>'siteId'), kind, started_at)
  WHERE trigger = 'schedule';
-- The open runs (the sweep, runs in progress): few rows, so a small partial index.
CREATE INDEX sync_runs_open ON sync_runs (started_at) WHERE finished_at IS NULL;
`,
  },
  {
    version: 11,
    name: 'credential dependencies',
    // docs/adapters/dependencies.md. A credential's ordered dependencies, each with the last push of
    // the password (status, message, ran_at), the last check (check_*), and the work an operator
    // asked for that goes out with the credential's next verification (`requested`: push | check).
    sql: `
CREATE TABLE credential_dependencies (
  id uuid PRIMARY KEY,
  credential_id uuid NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
  position int NOT NULL,
  name text NOT NULL,
  kind text NOT NULL,
  definition jsonb NOT NULL,
  status text NOT NULL DEFAULT 'not_run',
  message text,
  ran_at timestamptz,
  check_status text NOT NULL DEFAULT 'not_run',
  check_message text,
  checked_at timestamptz,
  requested text,
  UNIQUE (credential_id, position)
);
`,
  },
  {
    version: 12,
    name: 'sync groups can be disabled',
    // A disabled group is not rotated (no next_change_at) and refuses a change now (409):
    // coordinator/api/sync-groups-edit.ts.
    sql: `ALTER TABLE sync_groups ADD COLUMN enabled boolean NOT NULL DEFAULT true;`,
  },
];

const LOCK_KEY = 7_340_117; // arbitrary, fixed: "password sync migrations"

export async function migrate(db: Db): Promise<number[]> {
  return db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await q.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await q.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await q.query(m.sql);
      await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}
