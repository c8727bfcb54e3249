//! The journal: every message and every state change, in SQLite (WAL). One writer thread
//! owns the write connection; callers send it closures and await their results. The writer
//! runs every job waiting in its queue inside one transaction (each in a savepoint, so one
//! failing job does not undo the others) and answers only after the commit: a caller that
//! got `Ok` knows its change is durable under the configured sync policy (group commit:
//! one fsync for a burst of messages). Readers (the CLI's `status`, `messages`, `trace`)
//! open their own connections; WAL lets them read while the production writes.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

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

type Done = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Done) + Send>;

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
  payload BLOB NOT NULL
);
-- The work queues, as partial indexes so finished messages never slow them down.
CREATE INDEX IF NOT EXISTS messages_inbox ON messages (id) WHERE direction = 'in' AND state = 'received';
CREATE INDEX IF NOT EXISTS messages_outbox ON messages (interface, id)
  WHERE direction = 'out' AND state IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS messages_control ON messages (control_id);
CREATE INDEX IF NOT EXISTS messages_patient ON messages (patient_id);
CREATE INDEX IF NOT EXISTS messages_correlation ON messages (correlation);
CREATE INDEX IF NOT EXISTS messages_parent ON messages (parent);
CREATE INDEX IF NOT EXISTS messages_idem ON messages (interface, idem_key) WHERE idem_key IS NOT NULL;
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
";

/// The write side of the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and starts its writer thread.
    pub fn open(path: &Path, sync: SyncPolicy) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| JournalError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let sync = match sync {
            SyncPolicy::Full => "FULL",
            SyncPolicy::Normal => "NORMAL",
            SyncPolicy::Off => "OFF",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        // 8 MiB of page cache: the hot pages of the queues and indexes, not the payloads.
        conn.pragma_update(None, "cache_size", -8192)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        register_lane_function(&conn)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("accord-journal".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| JournalError(e.to_string()))?;
        Ok(Journal {
            jobs: tx,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the writer's transaction; resolves after the commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, String>>();
        let job: Job = Box::new(move |conn| {
            let r = f(conn);
            let ok = r.is_ok();
            let done: Done = Box::new(move |commit| {
                let _ = tx.send(commit.and(r.map_err(|e| e.to_string())));
            });
            (ok, done)
        });
        self.jobs
            .send(job)
            .map_err(|_| JournalError("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| JournalError("the writer has stopped".into()))?
            .map_err(JournalError)
    }
}

fn writer(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut dones = Vec::with_capacity(jobs.len());
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        for job in jobs {
            if begun.is_err() {
                let (_, done) = job(&conn);
                dones.push(done);
                continue;
            }
            let _ = conn.execute_batch("SAVEPOINT job");
            let (ok, done) = job(&conn);
            if !ok {
                let _ = conn.execute_batch("ROLLBACK TO job");
            }
            let _ = conn.execute_batch("RELEASE job");
            dones.push(done);
        }
        let result = begun
            .and_then(|_| conn.execute_batch("COMMIT"))
            .map_err(|e| e.to_string());
        if result.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for done in dones {
            done(result.clone());
        }
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
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// A read-only connection for queries (`status`, `messages`, `trace`).
pub fn open_read(path: &Path) -> Result<Connection, JournalError> {
    if !path.exists() {
        return Err(JournalError(format!(
            "no journal at {} (has the production run with this store?)",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}
