//! The journal's schema on PostgreSQL: the same tables, columns and indexes as SQLite's
//! (`schema.rs`), in PostgreSQL's types, as numbered migrations. A journal records the
//! migrations it has taken (`schema_migrations`); a node applies the rest under an
//! advisory lock, so nodes starting together migrate once. `accord_lane` is a SQL function
//! here, the same FNV-1a as `schema::lane_of`.

use super::db::{Db, DbError, DbResult};

/// The migrations, in order; each is applied once, in its own transaction.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "the journal", INITIAL),
    (2, "duplicates found in id order", DUPLICATES_BY_ID),
    (3, "nodes and leases", NODES_AND_LEASES),
    (
        4,
        "merged records, early replies and unique values",
        RECORD_MERGES,
    ),
    (5, "linked records", RECORD_LINKS),
    (
        6,
        "statements over many rows in one round trip",
        ONE_ROUND_TRIP,
    ),
    (7, "states and outcomes set in one update", ONE_UPDATE),
    (8, "a writer's receipts stored together", RECEIPTS_TOGETHER),
    (9, "the functions' statements planned once", PLANNED_ONCE),
    (10, "the nodes' lane placement", LANE_PLACEMENT),
];

/// Each node's `[journal] lane_placement`, so that a node placing the lanes otherwise
/// than the live nodes is refused at start, as one with another lane count is: nodes that
/// disagree would hand the lanes to each other in turn. Nodes from before it placed them
/// `spread`.
const LANE_PLACEMENT: &str = "
ALTER TABLE nodes ADD COLUMN IF NOT EXISTS lane_placement TEXT NOT NULL DEFAULT 'spread';
";

/// The journal's functions plan each of their statements once per connection and keep
/// that plan. Left to choose, the plan cache planned most of them afresh at every call:
/// it keeps a statement's generic plan only if its estimated cost is near the custom
/// plans', and a custom plan, made knowing the arrays given, counts their rows where the
/// generic one guesses (a thousand for `generate_series(1, n)`).
/// Planning was a tenth of the server's CPU, and 0.7 ms of each `accord_store_many` call
/// (performance page, "The functions' statements planned once"). The generic plans are
/// the ones the functions' `SET`s already hold them to: the key's own index, the primary
/// key in a nested loop, never a scan of the whole table. `CREATE OR REPLACE FUNCTION`
/// replaces a function's settings with those it names, so a later migration that
/// redefines one of these names the setting again (the PostgreSQL test checks that every
/// function that runs statements has it).
const PLANNED_ONCE: &str = "
ALTER FUNCTION accord_store_many(TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[],
  TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], BIGINT[], TEXT[], BYTEA[], TEXT[], TEXT[], BYTEA[],
  BIGINT[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION accord_store_once(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT,
  TEXT, TEXT, BIGINT, TEXT, BYTEA, TEXT, TEXT, BYTEA, BIGINT)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION accord_outcomes(BIGINT[], TEXT[], BIGINT[], BIGINT[], TEXT[], BYTEA[], TEXT[],
  TEXT[], BIGINT[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION accord_settle(BIGINT[], TEXT[], TEXT[], TEXT[], BIGINT)
  SET plan_cache_mode = force_generic_plan;
";

/// `accord_store_many` is `accord_store_once` for a writer's batch of receipts
/// (`receipts::store_together`), in one round trip and one `INSERT`: one call and one
/// executor a receipt were a fifth of the server's time (performance page, "Receipts
/// together"). The caller gives each idempotency key at most once, so no receipt of the
/// batch is a duplicate of another; the keys' advisory locks are taken first, in one
/// order, so that two writers' batches never wait on each other in a cycle. Then, as
/// `accord_store_once`, each statement after the locks reads what other nodes committed
/// before they were granted. Returns the new rows' ids, and for each the first message's
/// id and ACK when it is a duplicate.
///
/// The lookups of a key's first message, here and in `accord_store_once` (redefined),
/// read the key's rows through the key's own index, then keep the first received: a
/// plpgsql function plans its statements once per connection, and a plan made while
/// `messages` was nearly empty is kept as it grows. Written as one query, the lookup
/// through the control id was planned as a walk of a whole index (`messages_correlation_in`,
/// which `direction = 'in'` made usable) and cost 6 to 7.5 ms a receipt by 20,000 messages
/// (performance page, "Receipts together"). So the rows are read by the columns of
/// `messages_control_keys` alone, which no other index can serve, and by those of
/// `messages_idem_rest`, whose partial predicate makes it the smallest that can; their
/// other conditions are checked after; and a scan of the whole table is ruled out
/// (`enable_seqscan`).
const RECEIPTS_TOGETHER: &str = "
CREATE OR REPLACE FUNCTION accord_store_many(
  p_locks TEXT[], p_ifaces TEXT[], p_keys TEXT[], p_key_controls TEXT[],
  p_correlations TEXT[], p_versions TEXT[], p_states TEXT[], p_types TEXT[],
  p_controls TEXT[], p_patients TEXT[], p_orders TEXT[], p_peers TEXT[], p_nows BIGINT[],
  p_ack_codes TEXT[], p_acks BYTEA[], p_reasons TEXT[], p_details TEXT[],
  p_payloads BYTEA[], p_by_controls BIGINT[],
  OUT ids BIGINT[], OUT first_ids BIGINT[], OUT first_acks BYTEA[])
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
  n INT := COALESCE(cardinality(p_ifaces), 0);
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(l, 0))
     FROM (SELECT DISTINCT l FROM UNNEST(p_locks) AS l WHERE l IS NOT NULL ORDER BY l) AS s;
  ids := ARRAY(SELECT nextval(pg_get_serial_sequence('messages', 'id'))
               FROM generate_series(1, n));
  WITH keyed AS MATERIALIZED (
    SELECT u.i, m.id, m.ack, m.interface, m.direction, m.state
      FROM generate_series(1, n) AS u(i)
      JOIN messages m ON m.control_id = p_key_controls[u.i] AND m.idem_key = p_keys[u.i]
    UNION ALL
    SELECT u.i, m.id, m.ack, m.interface, m.direction, m.state
      FROM generate_series(1, n) AS u(i)
      JOIN messages m ON m.interface = p_ifaces[u.i] AND m.idem_key = p_keys[u.i]
                     AND m.idem_by_control = 0),
  firsts AS (
    SELECT DISTINCT ON (k.i) k.i, k.id, k.ack FROM keyed k
     WHERE k.interface = p_ifaces[k.i]
       AND k.direction = 'in' AND k.state NOT IN ('rejected', 'duplicate')
     ORDER BY k.i, k.id)
  SELECT array_agg(f.id ORDER BY u.i), array_agg(f.ack ORDER BY u.i)
    INTO first_ids, first_acks
    FROM generate_series(1, n) AS u(i) LEFT JOIN firsts f ON f.i = u.i;
  INSERT INTO messages (id, correlation, interface, contract_version, direction, state,
    message_type, control_id, patient_id, idem_key, order_key, peer, received_at,
    updated_at, ack_code, ack, reason, detail, payload, idem_by_control)
  SELECT ids[i], p_correlations[i], p_ifaces[i], p_versions[i], 'in',
    CASE WHEN first_ids[i] IS NULL THEN p_states[i] ELSE 'duplicate' END,
    p_types[i], p_controls[i], p_patients[i], p_keys[i], p_orders[i], p_peers[i],
    p_nows[i], p_nows[i], p_ack_codes[i], p_acks[i],
    CASE WHEN first_ids[i] IS NULL THEN p_reasons[i] ELSE 'duplicate' END,
    CASE WHEN first_ids[i] IS NULL THEN p_details[i]
         ELSE 'same idempotency key as message ' || first_ids[i] END,
    p_payloads[i], p_by_controls[i]
  FROM generate_series(1, n) AS i
  ORDER BY i;
END
$$;
CREATE OR REPLACE FUNCTION accord_store_once(
  lock TEXT, iface TEXT, key TEXT, key_control TEXT, p_correlation TEXT, p_version TEXT,
  p_state TEXT, p_type TEXT, p_control TEXT, p_patient TEXT, p_order TEXT, p_peer TEXT,
  p_now BIGINT, p_ack_code TEXT, p_ack BYTEA, p_reason TEXT, p_detail TEXT, p_payload BYTEA,
  p_by_control BIGINT, OUT id BIGINT, OUT first_id BIGINT, OUT first_ack BYTEA)
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $$
DECLARE
  other BIGINT;
  other_ack BYTEA;
BEGIN
  IF key IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended(lock, 0));
    IF key_control IS NOT NULL THEN
      WITH keyed AS MATERIALIZED (
        SELECT m.id, m.ack, m.interface, m.direction, m.state FROM messages m
         WHERE m.control_id = key_control AND m.idem_key = key)
      SELECT k.id, k.ack INTO first_id, first_ack FROM keyed k
       WHERE k.interface = iface
         AND k.direction = 'in' AND k.state NOT IN ('rejected', 'duplicate')
       ORDER BY k.id LIMIT 1;
    END IF;
    WITH keyed AS MATERIALIZED (
      SELECT m.id, m.ack, m.direction, m.state FROM messages m
       WHERE m.interface = iface AND m.idem_key = key AND m.idem_by_control = 0)
    SELECT k.id, k.ack INTO other, other_ack FROM keyed k
     WHERE k.direction = 'in' AND k.state NOT IN ('rejected', 'duplicate')
     ORDER BY k.id LIMIT 1;
    IF other IS NOT NULL AND (first_id IS NULL OR other < first_id) THEN
      first_id := other;
      first_ack := other_ack;
    END IF;
  END IF;
  INSERT INTO messages (correlation, interface, contract_version, direction, state,
    message_type, control_id, patient_id, idem_key, order_key, peer, received_at,
    updated_at, ack_code, ack, reason, detail, payload, idem_by_control)
  VALUES (p_correlation, iface, p_version, 'in',
    CASE WHEN first_id IS NULL THEN p_state ELSE 'duplicate' END,
    p_type, p_control, p_patient, key, p_order, p_peer, p_now, p_now, p_ack_code, p_ack,
    CASE WHEN first_id IS NULL THEN p_reason ELSE 'duplicate' END,
    CASE WHEN first_id IS NULL THEN p_detail
         ELSE 'same idempotency key as message ' || first_id END,
    p_payload, p_by_control)
  RETURNING messages.id INTO id;
END
$$;
";

/// `accord_settle` and `accord_outcomes` as one `UPDATE` a call instead of a loop of
/// single-row updates: each of those started an executor that opened every index of
/// `messages` (performance page, "One update a call"). An id given twice takes its last
/// values, as the loop left it. The join is held to a nested loop over the primary key
/// (`SET` on the functions): a plpgsql function plans a statement once per connection,
/// while the table may still be small, and a plan that scans the whole table would be
/// kept ever after (`ONE_ROUND_TRIP`).
const ONE_UPDATE: &str = "
CREATE OR REPLACE FUNCTION accord_outcomes(
  ids BIGINT[], p_states TEXT[], p_attempts BIGINT[], p_next_ats BIGINT[], p_classes TEXT[],
  p_replies BYTEA[], p_reasons TEXT[], p_details TEXT[], p_ats BIGINT[]) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
  UPDATE messages m SET state = u.s, attempts = u.a, next_at = u.na, ack_code = u.c,
    ack = u.rp, reason = u.r, detail = u.d, updated_at = u.at
  FROM (SELECT DISTINCT ON (i) i, s, a, na, c, rp, r, d, at
        FROM UNNEST(ids, p_states, p_attempts, p_next_ats, p_classes, p_replies, p_reasons,
                    p_details, p_ats) WITH ORDINALITY AS x(i, s, a, na, c, rp, r, d, at, n)
        ORDER BY i, n DESC) u
  WHERE m.id = u.i;
  RETURN 0;
END
$$;
CREATE OR REPLACE FUNCTION accord_settle(
  ids BIGINT[], p_states TEXT[], p_reasons TEXT[], p_details TEXT[], p_now BIGINT)
RETURNS BIGINT
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
  UPDATE messages m SET state = u.s, reason = u.r, detail = u.d, updated_at = p_now
  FROM (SELECT DISTINCT ON (i) i, s, r, d
        FROM UNNEST(ids, p_states, p_reasons, p_details) WITH ORDINALITY AS x(i, s, r, d, n)
        ORDER BY i, n DESC) u
  WHERE m.id = u.i;
  RETURN 0;
END
$$;
";

/// Functions that do in one round trip what took one per row or per step.
///
/// `accord_store_once` is `inbound::store_once`: under the key's advisory lock (`lock`, for
/// nodes receiving the same message at once), the first message with idempotency key
/// `key` through either index (`key_control` the key's control id part), then the new row,
/// as a duplicate of that first one if there is one. A function, not one statement with
/// common table expressions: those all read the snapshot taken before the lock was
/// granted, and would miss the first copy another node committed meanwhile; each statement
/// here reads after the lock. Returns the new row's id, and the first's id and ACK.
///
/// `accord_outcomes` writes deliveries' outcomes and `accord_settle` processed messages'
/// states, a row each, in order (`pg_deferred`, `processing::settle_all`). Loops of
/// single-row updates, not one `UPDATE ... FROM UNNEST(...)`: a statement's plan is made
/// once per connection, while the table may still be small, and the join's was a scan of
/// the whole table ever after (6 ms a commit at 15,000 messages); an update by primary
/// key is found through it at any size. (Migration 7, `ONE_UPDATE`, makes each one update
/// held to that path.)
const ONE_ROUND_TRIP: &str = "
CREATE OR REPLACE FUNCTION accord_outcomes(
  ids BIGINT[], p_states TEXT[], p_attempts BIGINT[], p_next_ats BIGINT[], p_classes TEXT[],
  p_replies BYTEA[], p_reasons TEXT[], p_details TEXT[], p_ats BIGINT[]) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  FOR i IN 1 .. COALESCE(array_length(ids, 1), 0) LOOP
    UPDATE messages SET state = p_states[i], attempts = p_attempts[i],
      next_at = p_next_ats[i], ack_code = p_classes[i], ack = p_replies[i],
      reason = p_reasons[i], detail = p_details[i], updated_at = p_ats[i]
    WHERE id = ids[i];
  END LOOP;
  RETURN 0;
END
$$;
CREATE OR REPLACE FUNCTION accord_settle(
  ids BIGINT[], p_states TEXT[], p_reasons TEXT[], p_details TEXT[], p_now BIGINT)
RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  FOR i IN 1 .. COALESCE(array_length(ids, 1), 0) LOOP
    UPDATE messages SET state = p_states[i], reason = p_reasons[i], detail = p_details[i],
      updated_at = p_now
    WHERE id = ids[i];
  END LOOP;
  RETURN 0;
END
$$;
CREATE OR REPLACE FUNCTION accord_store_once(
  lock TEXT, iface TEXT, key TEXT, key_control TEXT, p_correlation TEXT, p_version TEXT,
  p_state TEXT, p_type TEXT, p_control TEXT, p_patient TEXT, p_order TEXT, p_peer TEXT,
  p_now BIGINT, p_ack_code TEXT, p_ack BYTEA, p_reason TEXT, p_detail TEXT, p_payload BYTEA,
  p_by_control BIGINT, OUT id BIGINT, OUT first_id BIGINT, OUT first_ack BYTEA)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  other BIGINT;
  other_ack BYTEA;
BEGIN
  IF key IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended(lock, 0));
    IF key_control IS NOT NULL THEN
      SELECT m.id, m.ack INTO first_id, first_ack FROM messages m
       WHERE m.control_id = key_control AND m.interface = iface AND m.idem_key = key
         AND m.direction = 'in' AND m.state NOT IN ('rejected', 'duplicate')
       ORDER BY m.id LIMIT 1;
    END IF;
    SELECT m.id, m.ack INTO other, other_ack FROM messages m
     WHERE m.interface = iface AND m.idem_key = key AND m.idem_by_control = 0
       AND m.direction = 'in' AND m.state NOT IN ('rejected', 'duplicate')
     ORDER BY m.id LIMIT 1;
    IF other IS NOT NULL AND (first_id IS NULL OR other < first_id) THEN
      first_id := other;
      first_ack := other_ack;
    END IF;
  END IF;
  INSERT INTO messages (correlation, interface, contract_version, direction, state,
    message_type, control_id, patient_id, idem_key, order_key, peer, received_at,
    updated_at, ack_code, ack, reason, detail, payload, idem_by_control)
  VALUES (p_correlation, iface, p_version, 'in',
    CASE WHEN first_id IS NULL THEN p_state ELSE 'duplicate' END,
    p_type, p_control, p_patient, key, p_order, p_peer, p_now, p_now, p_ack_code, p_ack,
    CASE WHEN first_id IS NULL THEN p_reason ELSE 'duplicate' END,
    CASE WHEN first_id IS NULL THEN p_detail
         ELSE 'same idempotency key as message ' || first_id END,
    p_payload, p_by_control)
  RETURNING messages.id INTO id;
END
$$;
";

/// Links (`link:` on an interface), as SQLite's `record_links`.
const RECORD_LINKS: &str = "
CREATE TABLE IF NOT EXISTS record_links (
  record TEXT NOT NULL,
  key TEXT NOT NULL,
  other TEXT NOT NULL,
  message BIGINT,
  linked_at BIGINT NOT NULL,
  PRIMARY KEY (record, key, other)
);
";

/// Merges (`merge:` on an interface), as SQLite's `record_merges`; replies held for their
/// flow's start (`hold early`), as its `flow_early`.
const RECORD_MERGES: &str = "
CREATE TABLE IF NOT EXISTS record_merges (
  record TEXT NOT NULL,
  retired TEXT NOT NULL,
  survivor TEXT NOT NULL,
  message BIGINT,
  merged_at BIGINT NOT NULL,
  PRIMARY KEY (record, retired)
);
CREATE INDEX IF NOT EXISTS record_merges_survivor ON record_merges (record, survivor);
CREATE TABLE IF NOT EXISTS flow_early (
  flow TEXT NOT NULL,
  key TEXT NOT NULL,
  message BIGINT NOT NULL,
  deadline BIGINT NOT NULL,
  PRIMARY KEY (flow, key, message)
);
CREATE INDEX IF NOT EXISTS flow_early_deadline ON flow_early (deadline);
CREATE TABLE IF NOT EXISTS record_values (
  record TEXT NOT NULL,
  field TEXT NOT NULL,
  value TEXT NOT NULL,
  key TEXT NOT NULL,
  PRIMARY KEY (record, field, value, key)
);
CREATE INDEX IF NOT EXISTS record_values_key ON record_values (record, field, key);
";

/// Several nodes on one journal (`journal/cluster.rs`): who they are, and the leases by
/// which one of them at a time runs each lane and each once-only task. Times are the
/// server's (`accord_now_ms`), so the nodes' clocks do not have to agree.
const NODES_AND_LEASES: &str = "
CREATE TABLE IF NOT EXISTS nodes (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  estate TEXT NOT NULL,
  version TEXT NOT NULL,
  lanes BIGINT NOT NULL,
  started_at BIGINT NOT NULL,
  seen_at BIGINT NOT NULL,
  left_at BIGINT
);
CREATE TABLE IF NOT EXISTS leases (
  name TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  taken_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_node ON leases (node);
CREATE OR REPLACE FUNCTION accord_now_ms() RETURNS BIGINT
LANGUAGE sql VOLATILE AS $$ SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT $$;
";

/// The duplicate lookups (`inbound::store_once`) ask for the first message with a key:
/// with `id` last in their indexes, PostgreSQL reads that one entry. Without it, the
/// planner walked the primary key in id order instead (SQLite is told which index to use;
/// PostgreSQL takes no hints): 1,470 buffer reads per message received at 5,000 messages.
const DUPLICATES_BY_ID: &str = "
DROP INDEX IF EXISTS messages_control_keys;
CREATE INDEX messages_control_keys ON messages (control_id, interface, idem_key, id);
DROP INDEX IF EXISTS messages_idem_rest;
CREATE INDEX messages_idem_rest ON messages (interface, idem_key, id)
  WHERE idem_key IS NOT NULL AND idem_by_control = 0;
";

/// The key of the advisory lock nodes take while migrating (any constant of our own).
const MIGRATION_LOCK: i64 = 0x6163_636f_7264;

const INITIAL: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  correlation TEXT NOT NULL,
  parent BIGINT,
  interface TEXT NOT NULL,
  contract_version TEXT NOT NULL,
  direction TEXT NOT NULL,
  state TEXT NOT NULL,
  message_type TEXT,
  control_id TEXT,
  patient_id TEXT,
  idem_key TEXT,
  order_key TEXT,
  peer TEXT,
  received_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL DEFAULT 0,
  ack_code TEXT,
  ack BYTEA,
  reason TEXT,
  detail TEXT,
  payload BYTEA NOT NULL,
  lane BIGINT NOT NULL DEFAULT 0,
  idem_by_control BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_inbox ON messages (id) WHERE direction = 'in' AND state = 'received';
CREATE INDEX IF NOT EXISTS messages_control_keys ON messages (control_id, interface, idem_key);
CREATE INDEX IF NOT EXISTS messages_patient_in ON messages (patient_id) WHERE direction = 'in';
CREATE INDEX IF NOT EXISTS messages_correlation_in ON messages (correlation) WHERE direction = 'in';
CREATE INDEX IF NOT EXISTS messages_children ON messages (parent) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_lanes ON messages (interface, lane, id, order_key, next_at)
  WHERE direction = 'out' AND state IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS messages_idem_rest ON messages (interface, idem_key)
  WHERE idem_key IS NOT NULL AND idem_by_control = 0;
CREATE INDEX IF NOT EXISTS messages_dead ON messages (interface, id) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS messages_age ON messages (interface, received_at);
CREATE INDEX IF NOT EXISTS messages_review ON messages (interface, id) WHERE state = 'review';
CREATE TABLE IF NOT EXISTS order_keys (message BIGINT NOT NULL, endpoint TEXT NOT NULL, key TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS order_keys_key ON order_keys (endpoint, key, message);
CREATE INDEX IF NOT EXISTS order_keys_message ON order_keys (message);
CREATE TABLE IF NOT EXISTS events (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  message BIGINT NOT NULL,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS events_message ON events (message);
CREATE TABLE IF NOT EXISTS flows (
  flow TEXT NOT NULL,
  key TEXT NOT NULL,
  start_message BIGINT NOT NULL,
  correlation TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  deadline BIGINT NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (flow, key)
);
CREATE INDEX IF NOT EXISTS flows_deadline ON flows (state, deadline);
CREATE TABLE IF NOT EXISTS audit (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  messages TEXT NOT NULL,
  detail TEXT
);
CREATE TABLE IF NOT EXISTS records (
  record TEXT NOT NULL,
  key TEXT NOT NULL,
  field TEXT NOT NULL,
  value TEXT NOT NULL,
  writer TEXT NOT NULL,
  message BIGINT,
  updated_at BIGINT NOT NULL,
  event_at BIGINT,
  PRIMARY KEY (record, key, field)
);
CREATE TABLE IF NOT EXISTS record_ids (
  record TEXT NOT NULL,
  id TEXT NOT NULL,
  key TEXT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (record, id)
);
CREATE INDEX IF NOT EXISTS record_ids_changes ON record_ids (version);
CREATE TABLE IF NOT EXISTS record_terms (
  scope TEXT NOT NULL,
  term TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (scope, term, id)
);
CREATE INDEX IF NOT EXISTS record_terms_id ON record_terms (scope, id);
INSERT INTO meta (key, value) VALUES ('record_ids', '1') ON CONFLICT DO NOTHING;
-- FNV-1a of the key's UTF-8 bytes, modulo the lane count: `schema::lane_of`.
CREATE OR REPLACE FUNCTION accord_lane(k TEXT, lanes BIGINT) RETURNS BIGINT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  h BIGINT := 2166136261;
  b BYTEA;
BEGIN
  IF k IS NULL THEN
    RETURN 0;
  END IF;
  b := convert_to(k, 'UTF8');
  FOR i IN 0 .. length(b) - 1 LOOP
    h := ((h # get_byte(b, i)) * 16777619) % 4294967296;
  END LOOP;
  RETURN h % GREATEST(LEAST(lanes, 1024), 1);
END
$$;
";

/// The oldest PostgreSQL the journal runs on (`server_version_num`): 12, the first with
/// `plan_cache_mode`, which a lane's read connection sets (`queue::ready_lane_reader`) and
/// the journal's functions keep (migration 9, `PLANNED_ONCE`).
const OLDEST_SERVER: i64 = 120_000;

/// Refuses a server older than [`OLDEST_SERVER`], before anything is written to it: on
/// one, every lane would fail at its first read, and go on retrying.
fn supported(version_num: i64) -> DbResult<()> {
    if version_num >= OLDEST_SERVER {
        return Ok(());
    }
    Err(DbError::Sql(format!(
        "the journal's PostgreSQL server is version {}.{}, and Accord needs 12 or later\n\
         help: upgrade the server (the runbook's \"A PostgreSQL journal\" says which versions)",
        version_num / 10_000,
        version_num % 10_000
    )))
}

/// Applies the migrations this journal has not taken.
pub(super) fn migrate(db: &Db) -> DbResult<()> {
    supported(db.query_row(
        "SELECT current_setting('server_version_num')::bigint",
        [],
        |r| r.get(0),
    )?)?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
           version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .or_else(|e| {
        // Two nodes creating it at once: one loses the race on the catalog, harmlessly.
        if e.to_string().contains("already exists") {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    for (version, name, sql) in MIGRATIONS {
        let taken = db
            .prepare("SELECT 1 FROM schema_migrations WHERE version = ?1")?
            .exists([*version])?;
        if taken {
            continue;
        }
        db.execute_batch("BEGIN")?;
        let applied = (|| {
            db.query_row(
                "SELECT pg_advisory_xact_lock(?1)::text",
                [MIGRATION_LOCK],
                |_| Ok(()),
            )?;
            // Another node may have applied it while this one waited for the lock.
            let taken = db
                .prepare("SELECT 1 FROM schema_migrations WHERE version = ?1")?
                .exists([*version])?;
            if !taken {
                db.execute_batch(sql)?;
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    super::db::params![*version, *name, crate::time::now_ms()],
                )?;
            }
            Ok(())
        })();
        match applied {
            Ok(()) => db.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = db.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_older_than_12_is_refused_with_its_version_and_a_hint() {
        let e = supported(110_022).unwrap_err().to_string();
        assert!(
            e.contains("version 11.22") && e.contains("12 or later"),
            "{e}"
        );
        assert!(e.contains("help: upgrade the server"), "{e}");
        assert!(supported(120_000).is_ok());
        assert!(supported(150_018).is_ok());
    }
}
