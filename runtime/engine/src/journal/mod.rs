//! The journal: every message and every state change, in SQLite (WAL), the embedded
//! default, or in PostgreSQL (`[journal] url`). One writer thread owns the write
//! connection (on PostgreSQL, a few, side by side: `writer.rs`); callers send it closures
//! and await their results. The writer runs every job waiting in its queue inside one
//! transaction and answers only after the commit. One failing job does not undo the others: the batch is then run again with each
//! job in a savepoint (`run_batch`), so a job may run twice and must only change the
//! database.
//!
//! Durability is per job. `write` is durable: under `sync = "full"` its caller is answered
//! only once the WAL has been fsynced (group commit: one fsync for a burst of messages).
//! `write_redoable` is for changes whose loss on power failure only makes the production
//! redo safe work: process a received message again, or send a message again with the same
//! control id (which the peer discards). Its caller is answered at the commit, which
//! survives a crash of the process (the WAL is in the operating system's cache) but not of
//! the machine. The writer connection itself runs `synchronous = NORMAL`, and the writer
//! fsyncs the WAL file itself when a batch holds a durable job; a later fsync covers every
//! earlier commit. Readers (the CLI's `status`, `messages`, `trace`, the operations' lanes)
//! open their own connections; WAL lets them read while the production writes.
//!
//! Checkpoints, which copy the WAL into the database file, are a third thread's, on a
//! connection of its own (`PASSIVE`: it neither waits for readers nor blocks the writer).
//! Made by the writer at each commit that crosses SQLite's threshold, as by default, they
//! stalled every caller waiting on that commit.
//!
//! This module owns the journal's storage, every SQL statement of the production, written
//! once for both backends against `db.rs` (connections, statements, values, rows; `pg.rs`
//! is PostgreSQL's side of it, `pg_deferred.rs` the events, notices and outcomes a
//! PostgreSQL transaction writes at its commit, `pg_schema.rs` its migrations, `store.rs` where a journal
//! lives and the connections opened on it beside the writer). `schema.rs` (tables, indexes, upgrades,
//! lanes) and `writer.rs` (the writer thread, group commit, checkpoints), and beside them
//! the storage of each part of the production: `inbound.rs` (received messages and
//! duplicates), `processing.rs` (what the processor reads and queues), `queue.rs` (the
//! operations' queues: what a lane sends next, each attempt's outcome), `flows.rs` (flow
//! waits), `records.rs` (the stored records and the steward deciding against them),
//! `facade.rs` (the FHIR facades' reads, search index and access audit), `review.rs`
//! (the review queue), `operator.rs` (dead letters, audit, operator actions), `query.rs`
//! (`status`, `messages`, `trace`), `browse.rs` (what the console's pages read), `gauges.rs` (what the gauges and SLAs read) and
//! `retention.rs` (purging); `lock.rs` (one production per SQLite journal), `cluster.rs` (the nodes
//! sharing a PostgreSQL journal, their leases and notices) and `backup.rs` (online backup,
//! restore). `tests/book.rs` checks that no SQL is written elsewhere.

pub mod backup;
pub(crate) mod browse;
mod clauses;
pub mod cluster;
pub mod db;
pub(crate) mod facade;
pub(crate) mod flows;
pub(crate) mod gauges;
pub(crate) mod inbound;
pub mod lock;
pub(crate) mod operator;
pub mod pg;
mod pg_deferred;
mod pg_driver;
mod pg_schema;
pub(crate) mod processing;
pub(crate) mod query;
pub(super) mod queue;
pub(crate) mod receipts;
pub(crate) mod records;
mod retention;
pub(crate) mod review;
mod schema;
mod store;
mod writer;

pub use retention::{purge_audit, purge_batch, Cursor, Purged, BATCH};
pub(crate) use schema::prepare;
pub use schema::{lane_of, lane_sql, set_lanes, IDEM_INDEX, SCHEMA};
pub use store::{begin_operator, open_read, open_write, OperatorTx, Store};
pub use writer::{Journal, WriterStats};

#[cfg(test)]
use rusqlite::Connection;

/// How hard a commit is pushed to disk (`journal.sync` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync at every commit: nothing acknowledged is lost on power failure.
    Full,
    /// fsync at WAL checkpoints: survives a process crash, not a power failure.
    Normal,
    /// Never fsync: for benchmarks and throwaway environments.
    Off,
}

impl SyncPolicy {
    pub fn parse(s: &str) -> Option<SyncPolicy> {
        match s {
            "full" => Some(SyncPolicy::Full),
            "normal" => Some(SyncPolicy::Normal),
            "off" => Some(SyncPolicy::Off),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct JournalError(pub String);

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "journal: {}", self.0)
    }
}

impl std::error::Error for JournalError {}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError(e.to_string())
    }
}

/// A new journal in a folder of its own under the temp dir, for unit tests: the folder
/// (remove it when done), the journal's path, and a connection with the schema (kept open
/// for the rest of the test run).
#[cfg(test)]
pub(crate) fn scratch(name: &str) -> (std::path::PathBuf, std::path::PathBuf, db::Db<'static>) {
    let dir = std::env::temp_dir().join(format!("accord-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let path = dir.join("journal.sqlite");
    let c = db::Db::Lite(Box::leak(Box::new(
        Connection::open(&path).expect("a scratch journal"),
    )));
    prepare(&c).expect("the schema");
    (dir, path, c)
}

/// An in-memory journal with the schema, for unit tests (kept open for the test run).
#[cfg(test)]
pub(crate) fn memory() -> db::Db<'static> {
    let c = db::Db::Lite(Box::leak(Box::new(
        Connection::open_in_memory().expect("an in-memory journal"),
    )));
    prepare(&c).expect("the schema");
    c
}

/// How SQLite plans `sql` with `params`, one line per step (`SEARCH m USING INDEX ...`),
/// for unit tests that check a query reads through its index.
#[cfg(test)]
pub(crate) fn query_plan(c: &db::Db, sql: &str, params: impl db::Params) -> Vec<String> {
    c.query_map(&format!("EXPLAIN QUERY PLAN {sql}"), params, |r| {
        r.get::<_, String>(3)
    })
    .expect("its plan")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(c: &db::Db, key: &str, lanes: u32) {
        c.execute(
            "INSERT INTO messages (correlation, interface, contract_version, direction, state,
               order_key, received_at, updated_at, payload, lane)
             VALUES ('c', 'lab', '1.0.0', 'out', 'queued', ?1, 0, 0, x'00', ?2)",
            db::params![key, lane_of(Some(key), lanes)],
        )
        .unwrap();
    }

    #[test]
    fn a_failing_job_leaves_no_trace_and_the_others_of_its_batch_commit() {
        let (dir, path, _c) = scratch("batch");
        let journal = Journal::open(&path, SyncPolicy::Full, 1).unwrap();
        let insert = |c: &db::Db, key: &str| {
            c.execute("INSERT INTO meta (key, value) VALUES (?1, 'x')", [key])
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (a, b, c) = rt.block_on(async {
            // Holds the writer, so the next three are queued meanwhile and run as one batch.
            let first = journal.write(|_| {
                std::thread::sleep(std::time::Duration::from_millis(100));
                Ok(())
            });
            let a = journal.write(move |c| insert(c, "a"));
            // Changes the database, then fails: its change must go, and only its.
            let b = journal.write(move |c| {
                insert(c, "b")?;
                c.execute("INSERT INTO no_such_table VALUES (1)", [])
            });
            let c = journal.write_redoable(move |c| insert(c, "c"));
            first.await.unwrap();
            (a.await, b.await, c.await)
        });
        assert_eq!(a.unwrap(), 1);
        assert!(b.unwrap_err().0.contains("no_such_table"));
        assert_eq!(c.unwrap(), 1);
        let read = open_read(&Store::Sqlite(path.clone())).unwrap();
        let keys: Vec<String> = read
            .db()
            .query_map(
                "SELECT key FROM meta WHERE value = 'x' ORDER BY key",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(keys, ["a", "c"]);
        // One transaction held all three (and perhaps the first).
        assert!(journal.stats().transactions.get() <= 2);
        drop(journal);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_new_lane_count_places_every_pending_message_again() {
        let c = memory();
        assert_eq!(set_lanes(&c, 4).unwrap(), 0);
        let keys: Vec<String> = (0..50).map(|i| format!("MRN{i}")).collect();
        for k in &keys {
            queue(&c, k, 4);
        }
        // Same count: nothing moves.
        assert_eq!(set_lanes(&c, 4).unwrap(), 0);
        // A new count: every pending message is placed under it, as new ones will be.
        assert_eq!(set_lanes(&c, 3).unwrap(), keys.len());
        let placed: Vec<(String, u32)> = c
            .query_map(
                "SELECT order_key, lane FROM messages ORDER BY id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        for (key, lane) in placed {
            assert_eq!(lane, lane_of(Some(&key), 3), "{key}");
        }
        // Operators' statements compute the same lane from `meta`.
        let by_sql: u32 = c
            .query_row(&format!("SELECT {}", lane_sql("'MRN7'")), [], |r| r.get(0))
            .unwrap();
        assert_eq!(by_sql, lane_of(Some("MRN7"), 3));
    }
}
