//! The journal: every message and every state change, in SQLite (WAL). One writer thread
//! owns the write connection; callers send it closures and await their results. The writer
//! runs every job waiting in its queue inside one transaction and answers only after the
//! commit. One failing job does not undo the others: the batch is then run again with each
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

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use rusqlite::{Connection, OpenFlags};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

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

/// A job as the writer sees it: run in its transaction (again, if the fast path failed),
/// then answered.
trait Work: Send {
    /// Runs the job; false if it failed, and its changes must be undone.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller with the job's last result, once the transaction is settled.
    fn answer(self: Box<Self>, commit: Result<(), String>);
}

/// A caller's job and the channel its result goes back on.
struct Pending<T, F> {
    f: F,
    result: Option<Result<T, String>>,
    reply: tokio::sync::oneshot::Sender<Result<T, String>>,
}

impl<T, F> Work for Pending<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let r = (self.f)(conn).map_err(|e| e.to_string());
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn answer(self: Box<Self>, commit: Result<(), String>) {
        let result = self
            .result
            .unwrap_or_else(|| Err("the journal did not run the change".into()));
        let _ = self.reply.send(commit.and(result));
    }
}

struct Job {
    /// Answer only after the WAL is on disk (under `sync = "full"`).
    durable: bool,
    work: Box<dyn Work>,
}

/// What the writer did, for `/metrics`: how many jobs it ran, in how many transactions,
/// how many fsyncs it made, and how long each transaction took from its first job to its
/// answers. Jobs per transaction is how well group commit groups.
#[derive(Clone)]
pub struct WriterStats {
    pub jobs: Counter,
    pub transactions: Counter,
    pub fsyncs: Counter,
    pub jobs_per_transaction: Histogram,
    pub transaction_seconds: Histogram,
}

impl Default for WriterStats {
    fn default() -> Self {
        WriterStats {
            jobs: Counter::default(),
            transactions: Counter::default(),
            fsyncs: Counter::default(),
            jobs_per_transaction: Histogram::new([
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ]),
            transaction_seconds: Histogram::new([
                0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                1.0,
            ]),
        }
    }
}

/// The most jobs committed together.
const MAX_BATCH: usize = 1024;

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
/// id, so `inbound::store_once` finds it through the control-id index, and indexing the
/// key too would cost a second page per message in no useful order (a sixth of each
/// transaction's pages under load). Every other key (`ORC-2`, a created resource's id,
/// a row written before the mark) is indexed here.
const IDEM_INDEX: &str = "
DROP INDEX IF EXISTS messages_idem;
CREATE INDEX IF NOT EXISTS messages_idem_rest ON messages (interface, idem_key)
  WHERE idem_key IS NOT NULL AND idem_by_control = 0;
";

/// The lane of an outbound row whose ordering key is the SQL expression `key`, for
/// statements that queue outside the production (operators): under the lane count the
/// production last started with, from `meta`.
pub fn lane_sql(key: &str) -> String {
    format!("accord_lane({key}, COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'lanes'), 1))")
}

/// Creates or upgrades the schema (journals written before lanes get the `lane` column,
/// and those written before it the `idem_by_control` mark) and registers `accord_lane`.
pub(crate) fn prepare(conn: &Connection) -> rusqlite::Result<()> {
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
    register_lane_function(conn)?;
    index_stored_records(conn)
}

/// Journals written before `record_ids` get a row (change numbers 1, 2, ...) for every
/// record they store, once.
fn index_stored_records(conn: &Connection) -> rusqlite::Result<()> {
    let done = conn
        .prepare("SELECT 1 FROM meta WHERE key = 'record_ids'")?
        .exists([])?;
    if done {
        return Ok(());
    }
    let keys: Vec<(String, String)> = conn
        .prepare("SELECT DISTINCT record, key FROM records")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // One transaction (a savepoint works inside the caller's, too).
    conn.execute_batch("SAVEPOINT record_ids")?;
    // Change numbers are distinct: the search indexes catch up in chunks by them.
    for (n, (record, key)) in keys.into_iter().enumerate() {
        conn.execute(
            "INSERT OR IGNORE INTO record_ids (record, id, key, version) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                record,
                crate::fhir::write::id_of_key(&record, &key),
                key,
                n as i64 + 1
            ],
        )?;
    }
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('record_ids', '1')",
        [],
    )?;
    conn.execute_batch("RELEASE record_ids")
}

/// Records the lane count this production runs with; when it differs from the last run's,
/// places every pending outbound message in its lane under the new count.
pub fn set_lanes(conn: &Connection, lanes: u32) -> rusqlite::Result<usize> {
    let last: Option<i64> = conn
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'lanes'",
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

/// The write side of the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
    stats: WriterStats,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and starts its writer thread.
    pub fn open(path: &Path, sync: SyncPolicy, lanes: u32) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| JournalError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Under `full`, the writer fsyncs the WAL itself for durable jobs (see `writer`).
        let level = match sync {
            SyncPolicy::Full | SyncPolicy::Normal => "NORMAL",
            SyncPolicy::Off => "OFF",
        };
        conn.pragma_update(None, "synchronous", level)?;
        // 2 MiB of page cache: the hot pages of the queues and indexes, not the payloads.
        // SQLite scans the whole cache at every commit that split a B-tree page (the split
        // parks a page under the lock page's number, past the end of the file), so a larger
        // cache costs each commit more than its hits save: 8 MiB was 6% of the writer's
        // time and 6 MiB of resident memory, for no throughput (performance page).
        conn.pragma_update(None, "cache_size", -2048)?;
        // Each job's savepoint keeps its undo in memory, never in a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Checkpoints (copying the WAL into the database, and its fsync) are the
        // checkpointer thread's; the writer makes one itself only if the WAL outgrows this
        // many pages (16 MiB), which a checkpointer keeping up never lets happen.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        prepare(&conn)?;
        set_lanes(&conn, lanes)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let stats = WriterStats::default();
        let checkpoints = Connection::open(path)?;
        checkpoints.busy_timeout(std::time::Duration::from_secs(10))?;
        // A checkpoint fsyncs (the WAL before copying, the database after) as the policy says.
        checkpoints.pragma_update(None, "synchronous", level)?;
        // The checkpointer ends when the writer does: the writer holds this sender.
        let (alive, writer_gone) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("accord-checkpoint".into())
            .spawn(move || checkpointer(checkpoints, writer_gone))
            .map_err(|e| JournalError(e.to_string()))?;
        let counted = stats.clone();
        std::thread::Builder::new()
            .name("accord-journal".into())
            .spawn(move || {
                writer(conn, rx, wal, sync == SyncPolicy::Full, counted);
                drop(alive);
            })
            .map_err(|e| JournalError(e.to_string()))?;
        Ok(Journal {
            jobs: tx,
            path: path.to_path_buf(),
            stats,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's counters, shared with it.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Runs `f` in the writer's transaction; resolves once the change is durable. `f` may
    /// run twice (see `run_batch`): it must change nothing but the database.
    ///
    /// The job is queued when this is called, not when the future is first polled: a
    /// caller may queue several and await them together, and the writer groups them.
    pub fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T, JournalError>>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(true, f)
    }

    /// Runs `f` in the writer's transaction; resolves at the commit, before any fsync.
    /// Only for changes the production can safely redo if a power failure loses them.
    /// Queued when called, as [`Journal::write`].
    pub fn write_redoable<T, F>(&self, f: F) -> impl Future<Output = Result<T, JournalError>>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(false, f)
    }

    fn submit<T, F>(&self, durable: bool, f: F) -> impl Future<Output = Result<T, JournalError>>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel::<Result<T, String>>();
        let work = Box::new(Pending {
            f,
            result: None,
            reply,
        });
        let sent = self.jobs.send(Job { durable, work });
        async move {
            sent.map_err(|_| JournalError("the writer has stopped".into()))?;
            rx.await
                .map_err(|_| JournalError("the writer has stopped".into()))?
                .map_err(JournalError)
        }
    }
}

fn writer(
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    wal_path: PathBuf,
    fsync: bool,
    stats: WriterStats,
) {
    // Opened after the first commit (the WAL file exists from then on); SQLite truncates
    // it but never unlinks it while this connection is open.
    let mut wal: Option<std::fs::File> = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        stats.jobs.inc_by(jobs.len() as u64);
        stats.transactions.inc();
        stats.jobs_per_transaction.observe(jobs.len() as f64);
        let result = run_batch(&conn, &mut jobs);
        let ran = started.elapsed();
        let count = jobs.len();
        let mut fsync_took = std::time::Duration::ZERO;
        let mut after_sync = vec![];
        for job in jobs {
            if job.durable && fsync {
                after_sync.push(job.work);
            } else {
                job.work.answer(result.clone());
            }
        }
        if !after_sync.is_empty() {
            let syncing = Instant::now();
            let synced = result.clone().and_then(|_| sync_wal(&mut wal, &wal_path));
            fsync_took = syncing.elapsed();
            stats.fsyncs.inc();
            for work in after_sync {
                work.answer(synced.clone());
            }
        }
        let took = started.elapsed();
        stats.transaction_seconds.observe(took.as_secs_f64());
        if took >= SLOW_TRANSACTION {
            // Every caller of the batch waited this long: worth a line for whoever looks
            // at an ACK latency spike.
            tracing::warn!(
                jobs = count,
                run_ms = ran.as_millis() as u64,
                fsync_ms = fsync_took.as_millis() as u64,
                "slow journal transaction"
            );
        }
    }
}

/// A transaction that holds its callers this long is logged.
const SLOW_TRANSACTION: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs a batch of jobs in one transaction and commits it.
///
/// The fast path runs them one after another. A job that fails must leave no trace, so
/// then the transaction is rolled back and run again with each job in a savepoint of its
/// own, rolled back alone if it fails again. Savepoints on every job cost the writer a
/// tenth of its time under load (each first change of a page in a savepoint copies the
/// page), and jobs almost never fail.
fn run_batch(conn: &Connection, jobs: &mut [Job]) -> Result<(), String> {
    let begin = |conn: &Connection| {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| e.to_string())
    };
    begin(conn)?;
    if !jobs.iter_mut().all(|job| job.work.run(conn)) {
        let _ = conn.execute_batch("ROLLBACK");
        begin(conn)?;
        for job in jobs.iter_mut() {
            // Prepared once: parsing these three statements for every job cost the writer
            // about a tenth of its time under load.
            let _ = run_cached(conn, "SAVEPOINT job");
            if !job.work.run(conn) {
                let _ = run_cached(conn, "ROLLBACK TO job");
            }
            let _ = run_cached(conn, "RELEASE job");
        }
    }
    let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if committed.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    committed
}

/// The WAL size, in pages, at which the writer checkpoints itself (the checkpointer is
/// behind).
const WRITER_CHECKPOINT_PAGES: i64 = 4_000;

/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies committed pages from the WAL into the database on a connection of its own, off
/// the writer's thread, without waiting for readers or blocking the writer (`PASSIVE`).
/// Once a checkpoint has copied everything, the writer's next transaction starts the WAL
/// over, so it stays small. Ends when the writer has stopped.
fn checkpointer(conn: Connection, writer_gone: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = writer_gone.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "journal checkpoint");
        }
    }
}

/// Runs a statement without parameters or rows through the connection's statement cache.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute([])
}

/// fsyncs the WAL file: every commit so far is then on disk.
fn sync_wal(wal: &mut Option<std::fs::File>, path: &Path) -> Result<(), String> {
    if wal.is_none() {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(f) => *wal = Some(f),
            // Nothing was ever written: nothing to make durable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
        }
    }
    match wal.as_ref().map(|f| f.sync_data()) {
        Some(Err(e)) => {
            *wal = None;
            Err(format!("cannot fsync {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
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

/// A connection for operator actions on a journal that a running production may be
/// writing: waits for the production's writer rather than failing.
pub fn open_write(path: &Path) -> Result<Connection, JournalError> {
    if !path.exists() {
        return Err(JournalError(format!(
            "no journal at {} (has the production run with this store?)",
            path.display()
        )));
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    prepare(&conn)?;
    Ok(conn)
}

/// An operator action's transaction, which takes the write lock at its start. A deferred
/// one starts as a reader and, when the running production's writer commits before it
/// writes, cannot be upgraded: SQLite answers "database is locked" at once, without the
/// busy timeout. Taking the lock first waits for the writer instead.
pub fn begin_operator(c: &mut Connection) -> Result<rusqlite::Transaction<'_>, JournalError> {
    Ok(c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
}

/// A read-only connection for queries (`status`, `messages`, `trace`).
pub fn open_read(path: &Path) -> Result<Connection, JournalError> {
    if !path.exists() {
        return Err(JournalError(format!(
            "no journal at {} (has the production run with this store?)",
            path.display()
        )));
    }
    // No mutex of its own, as rusqlite opens the writer's: a connection is used by one
    // thread at a time (it is `Send`, not `Sync`), and the serialized mode's locking cost
    // every read of the lanes and the processor a mutex round trip.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// A new journal in a folder of its own under the temp dir, for unit tests: the folder
/// (remove it when done), the journal's path, and a connection with the schema.
#[cfg(test)]
pub(crate) fn scratch(name: &str) -> (PathBuf, PathBuf, Connection) {
    let dir = std::env::temp_dir().join(format!("accord-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let path = dir.join("journal.sqlite");
    let c = Connection::open(&path).expect("a scratch journal");
    prepare(&c).expect("the schema");
    (dir, path, c)
}

/// How SQLite plans `sql` with `params`, one line per step (`SEARCH m USING INDEX ...`),
/// for unit tests that check a query reads through its index.
#[cfg(test)]
pub(crate) fn query_plan(c: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
    c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("a query to plan")
        .query_map(params, |r| r.get::<_, String>(3))
        .expect("its plan")
        .collect::<rusqlite::Result<_>>()
        .expect("its plan's steps")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(c: &Connection, key: &str, lanes: u32) {
        c.execute(
            "INSERT INTO messages (correlation, interface, contract_version, direction, state,
               order_key, received_at, updated_at, payload, lane)
             VALUES ('c', 'lab', '1.0.0', 'out', 'queued', ?1, 0, 0, x'00', ?2)",
            rusqlite::params![key, lane_of(Some(key), lanes)],
        )
        .unwrap();
    }

    #[test]
    fn a_failing_job_leaves_no_trace_and_the_others_of_its_batch_commit() {
        let (dir, path, _c) = scratch("batch");
        let journal = Journal::open(&path, SyncPolicy::Full, 1).unwrap();
        let insert = |c: &Connection, key: &str| {
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
        let read = open_read(&path).unwrap();
        let keys: Vec<String> = read
            .prepare("SELECT key FROM meta WHERE value = 'x' ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(keys, ["a", "c"]);
        // One transaction held all three (and perhaps the first).
        assert!(journal.stats().transactions.get() <= 2);
        drop(journal);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_new_lane_count_places_every_pending_message_again() {
        let c = Connection::open_in_memory().unwrap();
        prepare(&c).unwrap();
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
            .prepare("SELECT order_key, lane FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
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
