//! The journal's schema: its tables and indexes (`SCHEMA`), the upgrades a journal
//! written by an earlier version takes when it is opened (`prepare`), and the operation
//! lanes the schema encodes (`lane_of`, the SQL function `accord_lane`, `set_lanes`).

use super::db::{params, Db, DbResult};
use rusqlite::Connection;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  correlation TEXT NOT NULL,
  parent INTEGER,
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
  received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0,
  ack_code TEXT,
  ack BLOB,
  reason TEXT,
  detail TEXT,
  payload BLOB NOT NULL,
  lane INTEGER NOT NULL DEFAULT 0,
  idem_by_control INTEGER NOT NULL DEFAULT 0
);
-- The work queues, as partial indexes so finished messages never slow them down.
CREATE INDEX IF NOT EXISTS messages_inbox ON messages (id) WHERE direction = 'in' AND state = 'received';
-- (The outbox, per interface and lane, is created by `prepare` once `lane` exists.)
DROP INDEX IF EXISTS messages_outbox;
-- Control ids, for `trace`; with the interface and idempotency key, so a duplicate whose
-- key holds its control id is found here exactly (see `IDEM_INDEX`), however many
-- messages share the control id.
DROP INDEX IF EXISTS messages_control;
CREATE INDEX IF NOT EXISTS messages_control_keys ON messages (control_id, interface, idem_key);
-- Patients are looked up through the messages received (see `query::messages`): a
-- delivery's parent is the message it came from, with the same patient. An index over
-- every row costs a random page write per delivery, the most expensive write under load.
DROP INDEX IF EXISTS messages_patient;
CREATE INDEX IF NOT EXISTS messages_patient_in ON messages (patient_id) WHERE direction = 'in';
-- Correlation ids are looked up through the messages received (see `query::trace`): every
-- other row (a delivery, a stored record) is a child of one, with its correlation id. An
-- index over every row cost a page write per delivery.
DROP INDEX IF EXISTS messages_correlation;
CREATE INDEX IF NOT EXISTS messages_correlation_in ON messages (correlation) WHERE direction = 'in';
-- The rows made from each message (deliveries, stored records, replays), found by
-- `parent = ?`. Received messages have none, so they are left out: one index write less
-- per message received.
DROP INDEX IF EXISTS messages_parent;
CREATE INDEX IF NOT EXISTS messages_children ON messages (parent) WHERE parent IS NOT NULL;
-- (Idempotency keys are indexed by `prepare` once `idem_by_control` exists.)
-- The further ordering keys of deliveries (`ordering: per PID-3.1, MRG-1.1`: an A40's
-- retired patient); a delivery's first key is `messages.order_key`. A delivery waits while
-- an earlier one to the same endpoint with any of its keys is pending.
CREATE TABLE IF NOT EXISTS order_keys (message INTEGER NOT NULL, endpoint TEXT NOT NULL, key TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS order_keys_key ON order_keys (endpoint, key, message);
CREATE INDEX IF NOT EXISTS order_keys_message ON order_keys (message);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  message INTEGER NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS events_message ON events (message);
CREATE TABLE IF NOT EXISTS flows (
  flow TEXT NOT NULL,
  key TEXT NOT NULL,
  start_message INTEGER NOT NULL,
  correlation TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (flow, key)
);
CREATE INDEX IF NOT EXISTS flows_deadline ON flows (state, deadline);
-- Replies that arrived before their flow's start (`hold early within D`): each held
-- delivery (state `held`), the wait it is for, and when it stops waiting.
CREATE TABLE IF NOT EXISTS flow_early (
  flow TEXT NOT NULL,
  key TEXT NOT NULL,
  message INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  PRIMARY KEY (flow, key, message)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS flow_early_deadline ON flow_early (deadline);
-- What operators did (resend, edit, discard, replay): who, when, to which messages, why.
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  messages TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS messages_dead ON messages (interface, id) WHERE state = 'dead';
-- Retention purges each interface's oldest messages through this index.
CREATE INDEX IF NOT EXISTS messages_age ON messages (interface, received_at);
-- The stored copy of each record the ownership matrix governs, one row per field: its
-- value (JSON), the system that wrote it and the message that carried it.
CREATE TABLE IF NOT EXISTS records (
  record TEXT NOT NULL,
  key TEXT NOT NULL,
  field TEXT NOT NULL,
  value TEXT NOT NULL,
  writer TEXT NOT NULL,
  message INTEGER,
  updated_at INTEGER NOT NULL,
  -- The event time (seconds) of the write, for fields ordered by one (`newest by`).
  event_at INTEGER,
  PRIMARY KEY (record, key, field)
) WITHOUT ROWID;
-- The FHIR id of each stored record (what a facade reads it by), and its change number:
-- the highest number of the journal's record changes when it last changed.
CREATE TABLE IF NOT EXISTS record_ids (
  record TEXT NOT NULL,
  id TEXT NOT NULL,
  key TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (record, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_ids_changes ON record_ids (version);
-- Merges (`merge:` on an interface): each retired key of a record and the key it was
-- merged into, by which message. A retired key has one survivor; a survivor may itself be
-- retired later, and the chain is followed.
CREATE TABLE IF NOT EXISTS record_merges (
  record TEXT NOT NULL,
  retired TEXT NOT NULL,
  survivor TEXT NOT NULL,
  message INTEGER,
  merged_at INTEGER NOT NULL,
  PRIMARY KEY (record, retired)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_merges_survivor ON record_merges (record, survivor);
-- Links (`link:` on an interface): two stored records of one person that both stay, one
-- row each way, with the message (an ADT^A24) that linked them; an ADT^A37 deletes both.
CREATE TABLE IF NOT EXISTS record_links (
  record TEXT NOT NULL,
  key TEXT NOT NULL,
  other TEXT NOT NULL,
  message INTEGER,
  linked_at INTEGER NOT NULL,
  PRIMARY KEY (record, key, other)
) WITHOUT ROWID;
-- The stored values of `unique` fields, by value: which records hold it.
CREATE TABLE IF NOT EXISTS record_values (
  record TEXT NOT NULL,
  field TEXT NOT NULL,
  value TEXT NOT NULL,
  key TEXT NOT NULL,
  PRIMARY KEY (record, field, value, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_values_key ON record_values (record, field, key);
-- A facade's search index (scope `interface/Resource`): the terms each served resource is
-- found by (`patient:ID`, `identifier:VALUE`, `identifier:SYSTEM|VALUE`), as of the change
-- number in meta `terms:SCOPE`.
CREATE TABLE IF NOT EXISTS record_terms (
  scope TEXT NOT NULL,
  term TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (scope, term, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_terms_id ON record_terms (scope, id);
-- Messages held for review by the matrix, per queue.
CREATE INDEX IF NOT EXISTS messages_review ON messages (interface, id) WHERE state = 'review';
";

/// The outbox of each operation lane, covering what a lane chooses on (key, retry time),
/// so choosing the next message reads no table rows.
const LANE_INDEX: &str = "
CREATE INDEX IF NOT EXISTS messages_lanes ON messages (interface, lane, id, order_key, next_at)
  WHERE direction = 'out' AND state IN ('queued', 'retrying');
";

/// The idempotency keys that `messages_control_keys` cannot find. A received message whose
/// contract's key holds its control id (`idempotency: MSH-4, MSH-10`, the usual key) is
/// marked `idem_by_control`: an earlier message with the same key has the same control
/// id, so `journal::inbound::store_once` finds it through the control-id index, and indexing the
/// key too would cost a second page per message in no useful order (a sixth of each
/// transaction's pages under load). Every other key (`ORC-2`, a created resource's id,
/// a row written before the mark) is indexed here.
pub const IDEM_INDEX: &str = "
DROP INDEX IF EXISTS messages_idem;
CREATE INDEX IF NOT EXISTS messages_idem_rest ON messages (interface, idem_key)
  WHERE idem_key IS NOT NULL AND idem_by_control = 0;
";

/// The lane of an outbound row whose ordering key is the SQL expression `key`, for
/// statements that queue outside the production (operators): under the lane count the
/// production last started with, from `meta`.
pub fn lane_sql(key: &str) -> String {
    format!("accord_lane({key}, COALESCE((SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'lanes'), 1))")
}

/// Creates or upgrades the schema and makes `accord_lane` known to the connection.
pub(crate) fn prepare(db: &Db) -> DbResult<()> {
    match db {
        Db::Lite(conn) => prepare_sqlite(conn),
        Db::Pg(_) => super::pg_schema::migrate(db),
    }
}

/// Creates or upgrades a SQLite journal (journals written before lanes get the `lane`
/// column, those written before it the `idem_by_control` mark, and stored records their
/// `event_at`) and registers `accord_lane`.
fn prepare_sqlite(conn: &Connection) -> DbResult<()> {
    conn.execute_batch(SCHEMA)?;
    let has_lane: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'lane'")?
        .exists([])?;
    if !has_lane {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN lane INTEGER NOT NULL DEFAULT 0")?;
        // Every pending row must be placed again.
        conn.execute("DELETE FROM meta WHERE key = 'lanes'", [])?;
    }
    conn.execute_batch(LANE_INDEX)?;
    let has_mark: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'idem_by_control'")?
        .exists([])?;
    if !has_mark {
        // Rows from before the mark stay in the idempotency index, where they always were.
        conn.execute_batch(
            "ALTER TABLE messages ADD COLUMN idem_by_control INTEGER NOT NULL DEFAULT 0",
        )?;
    }
    conn.execute_batch(IDEM_INDEX)?;
    let has_event_at: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('records') WHERE name = 'event_at'")?
        .exists([])?;
    if !has_event_at {
        // Values stored before have no event time: the next write is not ordered against them.
        conn.execute_batch("ALTER TABLE records ADD COLUMN event_at INTEGER")?;
    }
    register_lane_function(conn)?;
    index_stored_records(&Db::Lite(conn))
}

/// Journals written before `record_ids` get a row (change numbers 1, 2, ...) for every
/// record they store, once.
pub(super) fn index_stored_records(conn: &Db) -> DbResult<()> {
    let done = conn
        .prepare("SELECT 1 FROM meta WHERE key = 'record_ids'")?
        .exists([])?;
    if done {
        return Ok(());
    }
    let keys: Vec<(String, String)> = conn
        .prepare("SELECT DISTINCT record, key FROM records")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<DbResult<_>>()?;
    // One transaction (a savepoint works inside the caller's, too).
    conn.execute_batch("SAVEPOINT record_ids")?;
    // Change numbers are distinct: the search indexes catch up in chunks by them.
    for (n, (record, key)) in keys.into_iter().enumerate() {
        conn.execute(
            "INSERT INTO record_ids (record, id, key, version) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![
                record,
                accord_runtime::fhir::write::id_of_key(&record, &key),
                key,
                n as i64 + 1
            ],
        )?;
    }
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('record_ids', '1') ON CONFLICT DO NOTHING",
        [],
    )?;
    conn.execute_batch("RELEASE record_ids")
}

/// Records the lane count this production runs with; when it differs from the last run's,
/// places every pending outbound message in its lane under the new count.
pub fn set_lanes(conn: &Db, lanes: u32) -> DbResult<usize> {
    let last: Option<i64> = conn
        .query_row(
            "SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'lanes'",
            [],
            |r| r.get(0),
        )
        .ok();
    if last == Some(i64::from(lanes)) {
        return Ok(0);
    }
    let moved = conn.execute(
        "UPDATE messages SET lane = accord_lane(order_key, ?1)
         WHERE direction = 'out' AND state IN ('queued', 'retrying')",
        [lanes],
    )?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('lanes', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [lanes.to_string()],
    )?;
    Ok(moved)
}

/// The lane of an ordering key among `lanes`: FNV-1a of the key, so a key always takes
/// the same lane (a message without a key takes lane 0).
pub fn lane_of(key: Option<&str>, lanes: u32) -> u32 {
    let Some(key) = key else { return 0 };
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % lanes.max(1)
}

/// `accord_lane(order_key, lanes)` in SQL, for the operations' lane queries.
fn register_lane_function(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "accord_lane",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let key: Option<String> = ctx.get(0)?;
            let lanes: i64 = ctx.get(1)?;
            Ok(i64::from(lane_of(
                key.as_deref(),
                lanes.clamp(1, 1024) as u32,
            )))
        },
    )
}
