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
    version: 10,
    name: 'alerts: events outbox written by triggers, notification channels and deliveries',
    // docs/alerts.md. Events are written by triggers in the transaction of the fact that causes them
    // (a credential's settled status, a change's result, a suspension, an agent marked offline or
    // heartbeating again, a site without a working agent, a run finished or overdue): they commit or
    // roll back with it. coordinator/alerts/ turns them into alerts and delivers those.
    sql: `
ALTER TABLE agents ADD COLUMN offline_since timestamptz;
ALTER TABLE sync_runs ADD COLUMN overdue_at timestamptz;
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  type text NOT NULL,
  site_id uuid,
  subject_type text NOT NULL,
  subject_id text,
  data jsonb NOT NULL DEFAULT '{}',
  dispatched_at timestamptz,
  disposition text,
  digested_at timestamptz
);
CREATE INDEX events_undispatched ON events (id) WHERE dispatched_at IS NULL;
CREATE INDEX events_muted ON events (id) WHERE disposition = 'muted' AND digested_at IS NULL;
CREATE INDEX events_subject ON events (subject_id, at) WHERE subject_type = 'credential';
CREATE TABLE alert_keys (
  key text PRIMARY KEY,
  last_event_at timestamptz NOT NULL
);
CREATE TABLE notification_channels (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  kind text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  config jsonb NOT NULL,
  secret text,
  event_types text[] NOT NULL DEFAULT '{}',
  site_ids uuid[] NOT NULL DEFAULT '{}',
  statuses text[] NOT NULL DEFAULT '{}',
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE notification_deliveries (
  id uuid PRIMARY KEY,
  channel_id uuid NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
  alert_id text NOT NULL,
  alert_type text NOT NULL,
  body jsonb NOT NULL,
  state text NOT NULL DEFAULT 'pending',
  attempts int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_token text,
  lease_until timestamptz,
  last_status int,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  UNIQUE (channel_id, alert_id)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
  WHERE state IN ('pending', 'retrying');
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, created_at DESC, id DESC);

-- A settled status recorded in the history (credentials/store.ts writes it only when it differs
-- from the last one): out_of_sync, agent_disabled, unsyncable; in_sync only after one of those.
CREATE FUNCTION events_credential_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  prev text;
  c record;
BEGIN
  IF NEW.status NOT IN ('out_of_sync', 'agent_disabled', 'unsyncable', 'in_sync') THEN RETURN NULL; END IF;
  IF NEW.status = 'in_sync' THEN
    SELECT h.status INTO prev FROM credential_status_history h
     WHERE h.credential_id = NEW.credential_id AND h.id < NEW.id ORDER BY h.id DESC LIMIT 1;
    IF prev IS NULL OR prev NOT IN ('out_of_sync', 'agent_disabled', 'unsyncable') THEN RETURN NULL; END IF;
  END IF;
  SELECT cr.site_id, cr.username, t.name AS target INTO c
    FROM credentials cr JOIN targets t ON t.id = cr.target_id WHERE cr.id = NEW.credential_id;
  INSERT INTO events (type, site_id, subject_type, subject_id, data)
  VALUES ('credential.' || NEW.status, c.site_id, 'credential', NEW.credential_id::text,
          jsonb_build_object('status', NEW.status, 'reason', NEW.reason, 'username', c.username,
                             'target', c.target));
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_credential_status AFTER INSERT ON credential_status_history
  FOR EACH ROW EXECUTE FUNCTION events_credential_status();

-- A change's result (a change or reconcile job ending: set, failed, outcome unknown) and a suspension.
CREATE FUNCTION events_credential_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  d jsonb;
BEGIN
  d := jsonb_build_object('status', NEW.status, 'username', NEW.username,
                          'target', (SELECT name FROM targets WHERE id = NEW.target_id));
  IF NEW.last_changed_at IS DISTINCT FROM OLD.last_changed_at AND NEW.last_changed_at IS NOT NULL THEN
    INSERT INTO events (type, site_id, subject_type, subject_id, data)
    VALUES ('credential.change_succeeded', NEW.site_id, 'credential', NEW.id::text, d);
  ELSIF OLD.job_kind IN ('change', 'reconcile') AND NEW.last_outcome = 'failed'
        AND NEW.last_result_at IS DISTINCT FROM OLD.last_result_at THEN
    INSERT INTO events (type, site_id, subject_type, subject_id, data)
    VALUES (CASE WHEN NEW.last_reason = 'change_outcome_unknown' THEN 'credential.change_outcome_unknown'
                 ELSE 'credential.change_failed' END,
            NEW.site_id, 'credential', NEW.id::text, d || jsonb_build_object('reason', NEW.last_reason));
  END IF;
  IF NEW.suspended AND NOT OLD.suspended THEN
    INSERT INTO events (type, site_id, subject_type, subject_id, data)
    VALUES ('credential.suspended', NEW.site_id, 'credential', NEW.id::text,
            d || jsonb_build_object('reason', NEW.last_reason, 'failures', NEW.consecutive_failures));
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_credential_row AFTER UPDATE ON credentials FOR EACH ROW
  WHEN (NEW.last_changed_at IS DISTINCT FROM OLD.last_changed_at
        OR (NEW.suspended AND NOT OLD.suspended)
        OR (OLD.job_kind IN ('change', 'reconcile') AND NEW.last_outcome = 'failed'
            AND NEW.last_result_at IS DISTINCT FROM OLD.last_result_at))
  EXECUTE FUNCTION events_credential_row();

-- A heartbeat of an agent marked offline (coordinator/alerts/watch.ts marks it) brings it back.
CREATE FUNCTION agents_heartbeat_online() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.offline_since := NULL;
  RETURN NEW;
END;
$$;
CREATE TRIGGER agents_heartbeat_online BEFORE UPDATE OF last_heartbeat_at ON agents FOR EACH ROW
  WHEN (OLD.offline_since IS NOT NULL AND NEW.last_heartbeat_at IS DISTINCT FROM OLD.last_heartbeat_at)
  EXECUTE FUNCTION agents_heartbeat_online();
CREATE FUNCTION events_agent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  d jsonb;
BEGIN
  d := jsonb_build_object('name', NEW.name, 'host', NEW.host, 'version', NEW.version,
                          'lastHeartbeatAt', NEW.last_heartbeat_at);
  IF TG_OP = 'INSERT' THEN
    IF NOT NEW.approved THEN
      INSERT INTO events (type, site_id, subject_type, subject_id, data)
      VALUES ('agent.awaiting_approval', NEW.site_id, 'agent', NEW.id::text, d);
    END IF;
  ELSIF NEW.offline_since IS NOT NULL AND OLD.offline_since IS NULL THEN
    INSERT INTO events (type, site_id, subject_type, subject_id, data)
    VALUES ('agent.offline', NEW.site_id, 'agent', NEW.id::text, d);
  ELSIF NEW.offline_since IS NULL AND OLD.offline_since IS NOT NULL AND NEW.revoked_at IS NULL THEN
    INSERT INTO events (type, site_id, subject_type, subject_id, data)
    VALUES ('agent.online', NEW.site_id, 'agent', NEW.id::text, d);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_agent_insert AFTER INSERT ON agents FOR EACH ROW EXECUTE FUNCTION events_agent();
-- No column list: the heartbeat's BEFORE trigger clears offline_since without naming it.
CREATE TRIGGER events_agent_offline AFTER UPDATE ON agents FOR EACH ROW
  WHEN (OLD.offline_since IS DISTINCT FROM NEW.offline_since) EXECUTE FUNCTION events_agent();

-- The run sweep records since when a site has no agent able to take its work (sites.no_agent_since):
-- an event for an enabled site that has agents (a new site without any is not an incident).
CREATE FUNCTION events_site() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT NEW.enabled OR NOT EXISTS (SELECT 1 FROM agents WHERE site_id = NEW.id AND revoked_at IS NULL) THEN
    RETURN NULL;
  END IF;
  INSERT INTO events (type, site_id, subject_type, subject_id, data)
  VALUES (CASE WHEN NEW.no_agent_since IS NULL THEN 'site.agent_restored' ELSE 'site.no_working_agent' END,
          NEW.id, 'site', NEW.id::text, jsonb_build_object('name', NEW.name, 'since', OLD.no_agent_since));
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_site AFTER UPDATE OF no_agent_since ON sites FOR EACH ROW
  WHEN ((OLD.no_agent_since IS NULL) <> (NEW.no_agent_since IS NULL)) EXECUTE FUNCTION events_site();

-- A sync run finished (the daily schedule runs aside) or marked overdue (alerts/watch.ts).
CREATE FUNCTION events_run() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  d jsonb;
BEGIN
  d := jsonb_build_object('kind', NEW.kind, 'trigger', NEW.trigger, 'outcome', NEW.outcome,
                          'impacted', NEW.impacted, 'success', NEW.success, 'failed', NEW.failed,
                          'unsynced', NEW.unsynced, 'partial', NEW.partial, 'startedAt', NEW.started_at);
  INSERT INTO events (type, site_id, subject_type, subject_id, data)
  VALUES (CASE WHEN NEW.finished_at IS NOT NULL AND OLD.finished_at IS NULL THEN 'run.finished' ELSE 'run.overdue' END,
          CASE WHEN NEW.scope->>'siteId' ~ '^[0-9a-f-]{36}$' THEN (NEW.scope->>'siteId')::uuid END,
          'run', NEW.id::text, d);
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_run AFTER UPDATE OF finished_at, overdue_at ON sync_runs FOR EACH ROW
  WHEN (NEW.trigger <> 'schedule' AND ((OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
        OR (OLD.overdue_at IS NULL AND NEW.overdue_at IS NOT NULL AND NEW.finished_at IS NULL)))
  EXECUTE FUNCTION events_run();
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
  {
    version: 13,
    name: "a report batch adds to its runs' counters at commit",
    // Every report batch of a run adds to the same sync_runs row, whose lock is held to the commit:
    // added in the middle of the batch's transaction, the other agents' batches waited for the rest
    // of it, round trips to the coordinator included (docs/benchmarks.md). A batch inserts its counts
    // here instead (coordinator/runs/count.ts countInRuns); the deferred trigger adds them to the run,
    // finishes it when complete (as finishRuns), and deletes the row, inside the committing
    // transaction, after its last statement: the run's row is locked for the commit alone.
    sql: `
CREATE TABLE sync_run_tallies (
  id bigserial PRIMARY KEY,
  run_id uuid NOT NULL,
  success int NOT NULL,
  partial int NOT NULL,
  failed int NOT NULL,
  unsynced int NOT NULL,
  at timestamptz NOT NULL
);
CREATE FUNCTION sync_run_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Every expression reads r: the row as locked (another batch's count included once it committed).
  UPDATE sync_runs r
     SET success = r.success + NEW.success, partial = r.partial + NEW.partial,
         failed = r.failed + NEW.failed, unsynced = r.unsynced + NEW.unsynced,
         finished_at = CASE WHEN r.finished_at IS NULL
                             AND r.success + NEW.success + r.partial + NEW.partial + r.failed + NEW.failed
                                 + r.unsynced + NEW.unsynced >= r.impacted
                            THEN NEW.at ELSE r.finished_at END,
         outcome = CASE WHEN r.finished_at IS NOT NULL
                          OR r.success + NEW.success + r.partial + NEW.partial + r.failed + NEW.failed
                             + r.unsynced + NEW.unsynced < r.impacted THEN r.outcome
                        WHEN r.failed + NEW.failed + r.unsynced + NEW.unsynced + r.partial + NEW.partial = 0
                          THEN 'success'
                        WHEN r.success + NEW.success + r.partial + NEW.partial = 0 THEN 'failure'
                        ELSE 'partial' END
   WHERE r.id = NEW.run_id;
  DELETE FROM sync_run_tallies WHERE id = NEW.id;
  RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER sync_run_tallies_apply AFTER INSERT ON sync_run_tallies
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sync_run_tallies_apply();
`,
  },
  {
    version: 15,
    name: 'events are pruned by age',
    // The alerting deletes events older than ALERT_EVENT_RETENTION_MS once dispatched (and digested
    // when held back): coordinator/alerts/store.ts pruneEvents.
    sql: `CREATE INDEX events_at ON events (at);`,
  },
  {
    version: 16,
    name: 'credentials by site in id order',
    // A site's credentials in keyset pages by id (the credential list filtered by site, its export,
    // the compliance report: coordinator/api/exports.ts): a range of this index per page, where the
    // (site_id, status) index made each page read and sort every credential of the site.
    sql: `CREATE INDEX credentials_site_id ON credentials (site_id, id);`,
  },
  {
    version: 17,
    name: 'credential list: problems first',
    // The `problems` sort of GET /credentials (the dashboard's default), keyset-paged on (rank, id):
    // the expression is PROBLEM_RANK_SQL of coordinator/credentials/list-filter.ts, written out.
    sql: `CREATE INDEX credentials_problems ON credentials ((array_position(ARRAY['out_of_sync', 'unsyncable', 'change_not_configured', 'agent_disabled', 'not_synced', 'pending_sync', 'being_synced', 'in_sync']::text[], status)), id);`,
  },
  {
    version: 18,
    name: 'login trials',
    // An operator trying an unsaved web login workflow (coordinator/trials/): the workflow waits here
    // for the agent's claim (the job in Redis names the credential only); rows go after a day
    // (coordinator/trials/store.ts expireTrials, run with the reconciler).
    sql: `CREATE TABLE login_trials (
  id uuid PRIMARY KEY,
  target_id uuid NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  credential_id uuid NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
  site_id uuid NOT NULL,
  workflow jsonb NOT NULL,
  state text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
  outcome text CHECK (outcome IN ('ok', 'failed')),
  reason text,
  detail text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX login_trials_created_at ON login_trials (created_at);`,
  },
  {
    version: 19,
    name: 'credential names: one insert per statement',
    // A bulk insert of credentials (coordinator/credentials/bulk-store.ts insertCredentials) wrote
    // each row's credential_names entry in a trigger call of its own (a plpgsql statement per row,
    // about half the insert's time, docs/bulk-onboarding.md); a statement-level trigger with the
    // inserted rows as a transition table writes them all in one statement. A change of username
    // keeps the row trigger (a transition table cannot go with a column list).
    sql: `
DROP TRIGGER credential_names_sync ON credentials;
CREATE FUNCTION credential_names_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO credential_names (credential_id, username)
    SELECT id, username FROM inserted_credentials
    ON CONFLICT (credential_id) DO UPDATE SET username = EXCLUDED.username;
  RETURN NULL;
END;
$$;
CREATE TRIGGER credential_names_insert AFTER INSERT ON credentials
  REFERENCING NEW TABLE AS inserted_credentials
  FOR EACH STATEMENT EXECUTE FUNCTION credential_names_insert();
CREATE TRIGGER credential_names_sync AFTER UPDATE OF username ON credentials
  FOR EACH ROW EXECUTE FUNCTION credential_names_sync();
`,
  },
  {
    version: 21,
    name: 'a sync run marks its credentials in chunks',
    // POST /sync-runs used to mark every credential of its scope in one statement: a million rows
    // took minutes, held their row locks all that time and kept the request open. A run now marks
    // RUN_MARK_CHUNK credentials a transaction in id order (coordinator/runs/marking.ts):
    // `marking_after` is the last id marked (the nil uuid before the first chunk, NULL once every
    // credential is marked), `marking_before` the run's start (credentials created later are not in
    // it), `marked` how many credentials the chunks saw (the run's exact `impacted` once marking
    // ends). A run still marking never finishes: the deferred tally trigger of migration 13 gets
    // that condition too.
    sql: `
ALTER TABLE sync_runs ADD COLUMN marking_after uuid, ADD COLUMN marking_before timestamptz,
  ADD COLUMN marked int NOT NULL DEFAULT 0;
CREATE INDEX sync_runs_marking ON sync_runs (started_at) WHERE marking_after IS NOT NULL;
CREATE OR REPLACE FUNCTION sync_run_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Every expression reads r: the row as locked (another batch's count included once it committed).
  UPDATE sync_runs r
     SET success = r.success + NEW.success, partial = r.partial + NEW.partial,
         failed = r.failed + NEW.failed, unsynced = r.unsynced + NEW.unsynced,
         finished_at = CASE WHEN r.finished_at IS NULL AND r.marking_after IS NULL
                             AND r.success + NEW.success + r.partial + NEW.partial + r.failed + NEW.failed
                                 + r.unsynced + NEW.unsynced >= r.impacted
                            THEN NEW.at ELSE r.finished_at END,
         outcome = CASE WHEN r.finished_at IS NOT NULL OR r.marking_after IS NOT NULL
                          OR r.success + NEW.success + r.partial + NEW.partial + r.failed + NEW.failed
                             + r.unsynced + NEW.unsynced < r.impacted THEN r.outcome
                        WHEN r.failed + NEW.failed + r.unsynced + NEW.unsynced + r.partial + NEW.partial = 0
                          THEN 'success'
                        WHEN r.success + NEW.success + r.partial + NEW.partial = 0 THEN 'failure'
                        ELSE 'partial' END
   WHERE r.id = NEW.run_id;
  DELETE FROM sync_run_tallies WHERE id = NEW.id;
  RETURN NULL;
END;
$$;
`,
  },
  {
    version: 22,
    name: 'run items without a foreign key',
    // Every result of a run inserts its item here (coordinator/runs/count.ts), a report batch's in one
    // statement; the foreign key made each row check its run and lock the run's row FOR KEY SHARE,
    // the one row every agent's batch of the run shares (and updates at commit: migration 13), so the
    // locks of concurrent batches became multixacts. Runs are never deleted, and an item's run is
    // always its credential's current run, so the check bought nothing (docs/benchmarks.md).
    sql: `ALTER TABLE sync_run_items DROP CONSTRAINT sync_run_items_run_id_fkey;`,
  },
  {
    version: 23,
    name: 'in-flight credentials by id',
    // The reconciler pages through the credentials with work queued or running in id order
    // (coordinator/credentials/in-flight.ts); with the index on job_since alone every page read and
    // sorted all of them: during a run of 1,000,000 each page of 1,000 took 109 ms and the passes
    // half of PostgreSQL's time (docs/benchmarks.md). In id order with job_since beside it, a page
    // reads its own rows.
    sql: `CREATE INDEX credentials_in_flight_id ON credentials (id, job_since) WHERE job_state <> 'idle';
DROP INDEX credentials_in_flight;`,
  },
  {
    version: 24,
    name: 'site outages reported once',
    // site.agent_restored followed any end of sites.no_agent_since, also of a new site's wait for its
    // first agent (never reported as site.no_working_agent): a "restored" nobody was told was lost,
    // which then muted the real one as a repeat. The run sweep now says when an outage is reported
    // (coordinator/runs/sweep.ts: an enabled site whose agents are all disabled, revoked, waiting
    // for approval or offline) and when it ends; each event follows that flag.
    sql: `ALTER TABLE sites ADD COLUMN no_agent_reported boolean NOT NULL DEFAULT false;
UPDATE sites s SET no_agent_reported = true
 WHERE s.no_agent_since IS NOT NULL AND s.enabled
   AND EXISTS (SELECT 1 FROM agents a WHERE a.site_id = s.id AND a.revoked_at IS NULL);
DROP TRIGGER events_site ON sites;
CREATE OR REPLACE FUNCTION events_site() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, site_id, subject_type, subject_id, data)
  VALUES (CASE WHEN NEW.no_agent_reported THEN 'site.no_working_agent' ELSE 'site.agent_restored' END,
          NEW.id, 'site', NEW.id::text,
          jsonb_build_object('name', NEW.name, 'since', coalesce(OLD.no_agent_since, NEW.no_agent_since)));
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_site AFTER UPDATE OF no_agent_reported ON sites FOR EACH ROW
  WHEN (OLD.no_agent_reported <> NEW.no_agent_reported) EXECUTE FUNCTION events_site();`,
  },
];

const LOCK_KEY = 7_340_117; // arbitrary, fixed: "password sync migrations"

/** Statements of a migration may take long on a large table (an index built over a million rows). */
const MIGRATION_QUERY_TIMEOUT_MS = 3_600_000;

export async function migrate(db: Db): Promise<number[]> {
  return db.tx(
    async (q) => {
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
    },
    { queryTimeoutMs: MIGRATION_QUERY_TIMEOUT_MS },
  );
}
