//! The journal's writer: one thread owns the write connection, runs every job waiting in
//! its queue in one transaction (`run_batch`), fsyncs the WAL when a batch holds a durable
//! job, and answers each caller after the commit; a checkpointer thread of its own copies
//! the WAL into the database. On PostgreSQL, `[journal] writers` threads take turns at the queue,
//! each committing its batch on its own connection, side by side. See the module above for the durability contract.

use super::db::{Db, DbResult, Dialect};
use super::inbound::Stored;
use super::pg::{self, PgConn, PgTarget};
use super::receipts::{store_together, Receipt};
use super::schema::{prepare, set_lanes};
use super::store::Store;
use super::{JournalError, SyncPolicy};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use rusqlite::Connection;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

/// A job as the writer sees it: run in its transaction (again, if the fast path failed),
/// then answered.
trait Work: Send {
    /// Runs the job; false if it failed, and its changes must be undone.
    fn run(&mut self, conn: &Db) -> bool;
    /// Answers the caller with the job's last result, once the transaction is settled.
    fn answer(self: Box<Self>, commit: Result<(), String>);
    /// The received message the job stores, which the writer may store together with
    /// the batch's others (`receipts::store_together`).
    fn receipt(&mut self) -> Option<&mut Receipt> {
        None
    }
}

/// A received message's job (`Journal::receive`).
struct Receiving {
    receipt: Receipt,
    result: Option<Result<Stored, String>>,
    reply: tokio::sync::oneshot::Sender<Result<Stored, String>>,
}

impl Work for Receiving {
    fn run(&mut self, conn: &Db) -> bool {
        let r = self.receipt.store(conn).map_err(|e| e.to_string());
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn answer(self: Box<Self>, commit: Result<(), String>) {
        let result = self
            .result
            .unwrap_or_else(|| Err("the journal did not store the message".into()));
        let _ = self.reply.send(commit.and(result));
    }

    fn receipt(&mut self) -> Option<&mut Receipt> {
        Some(&mut self.receipt)
    }
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
    F: FnMut(&Db) -> DbResult<T> + Send,
{
    fn run(&mut self, conn: &Db) -> bool {
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
/// how many fsyncs it made, how many round trips to a PostgreSQL server its transactions
/// took, and how long each transaction took from its first job to its answers. Jobs per
/// transaction is how well group commit groups.
#[derive(Clone)]
pub struct WriterStats {
    pub jobs: Counter,
    pub transactions: Counter,
    pub fsyncs: Counter,
    pub round_trips: Counter,
    pub jobs_per_transaction: Histogram,
    pub transaction_seconds: Histogram,
}

impl Default for WriterStats {
    fn default() -> Self {
        WriterStats {
            jobs: Counter::default(),
            transactions: Counter::default(),
            fsyncs: Counter::default(),
            round_trips: Counter::default(),
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

/// Statements a SQLite connection keeps prepared. Every journal statement goes through
/// the cache (`Db::prepare_cached`); rusqlite's default of 16 is fewer than the writer's
/// hot statements, and a statement evicted is parsed again at its next use.
pub(super) const STATEMENT_CACHE: usize = 256;

/// The most jobs committed together.
const MAX_BATCH: usize = 1024;

/// The write side of the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    jobs: mpsc::Sender<Job>,
    store: Store,
    stats: WriterStats,
    /// This production's hold on a SQLite journal, for as long as any clone lives.
    _lock: Option<std::sync::Arc<super::lock::StoreLock>>,
}

/// The writer's connection and what its backend needs besides.
enum Backend {
    /// SQLite: the WAL to fsync for durable jobs (under `sync = "full"`).
    Lite {
        conn: Connection,
        wal_path: PathBuf,
        wal: Option<std::fs::File>,
        fsync: bool,
    },
    /// PostgreSQL: its commit is durable as the server's `synchronous_commit` says; a
    /// connection lost is opened again before the next batch.
    Pg {
        conn: Option<Box<PgConn>>,
        target: std::sync::Arc<PgTarget>,
    },
}

impl Journal {
    /// Opens (creating if needed) the journal and starts its writer thread. A SQLite
    /// journal is refused while another production holds it (see [`super::lock`]); a
    /// PostgreSQL journal is shared by the estate's nodes (`crate::cluster`), which are
    /// admitted before this.
    pub fn open_store(
        store: &Store,
        sync: SyncPolicy,
        lanes: u32,
    ) -> Result<Journal, JournalError> {
        match store {
            Store::Sqlite(path) => Journal::open(path, sync, lanes),
            Store::Postgres(target) => {
                let conn = pg::connect(target)?;
                prepare(&Db::Pg(&conn))?;
                set_lanes(&Db::Pg(&conn), lanes)?;
                let backend = Backend::Pg {
                    conn: Some(Box::new(conn)),
                    target: target.clone(),
                };
                Journal::start(store.clone(), backend, None, None)
            }
        }
    }

    /// Opens (creating if needed) the SQLite journal at `path` and starts its writer
    /// thread. Refused while another production holds it (see [`super::lock`]).
    pub fn open(path: &Path, sync: SyncPolicy, lanes: u32) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| JournalError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock = std::sync::Arc::new(super::lock::acquire(path, "a production")?);
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
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Checkpoints (copying the WAL into the database, and its fsync) are the
        // checkpointer thread's; the writer makes one itself only if the WAL outgrows this
        // many pages (16 MiB), which a checkpointer keeping up never lets happen.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        prepare(&Db::Lite(&conn))?;
        set_lanes(&Db::Lite(&conn), lanes)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let checkpoints = Connection::open(path)?;
        checkpoints.busy_timeout(std::time::Duration::from_secs(10))?;
        // A checkpoint fsyncs (the WAL before copying, the database after) as the policy says.
        checkpoints.pragma_update(None, "synchronous", level)?;
        let backend = Backend::Lite {
            conn,
            wal_path: PathBuf::from(wal),
            wal: None,
            fsync: sync == SyncPolicy::Full,
        };
        Journal::start(
            Store::Sqlite(path.to_path_buf()),
            backend,
            Some(checkpoints),
            Some(lock),
        )
    }

    /// Starts the writer thread (and a SQLite journal's checkpointer).
    fn start(
        store: Store,
        backend: Backend,
        checkpoints: Option<Connection>,
        lock: Option<std::sync::Arc<super::lock::StoreLock>>,
    ) -> Result<Journal, JournalError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let stats = WriterStats::default();
        // The checkpointer ends when the writer does: the writer holds this sender.
        let (alive, writer_gone) = mpsc::channel::<()>();
        if let Some(checkpoints) = checkpoints {
            std::thread::Builder::new()
                .name("accord-checkpoint".into())
                .spawn(move || checkpointer(checkpoints, writer_gone))
                .map_err(|e| JournalError(e.to_string()))?;
        }
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        // PostgreSQL takes transactions side by side: more writers, each on a connection
        // of its own, so one batch's round trips do not wait for another's.
        let mut backends = vec![backend];
        if let Some(Backend::Pg { target, .. }) = backends.first() {
            let target = target.clone();
            for _ in 1..target.writers {
                backends.push(Backend::Pg {
                    conn: None,
                    target: target.clone(),
                });
            }
        }
        let mut alive = Some(alive);
        for (n, backend) in backends.into_iter().enumerate() {
            let counted = stats.clone();
            let rx = rx.clone();
            // The checkpointer ends with the first writer; its last commit is made under
            // the lock too.
            let alive = alive.take();
            let held = lock.clone();
            std::thread::Builder::new()
                .name(format!("accord-journal-{n}"))
                .spawn(move || {
                    writer(backend, &rx, counted);
                    drop(alive);
                    drop(held);
                })
                .map_err(|e| JournalError(e.to_string()))?;
        }
        Ok(Journal {
            jobs: tx,
            store,
            stats,
            _lock: lock,
        })
    }

    /// Where the journal lives, for the readers beside the writer.
    pub fn store(&self) -> &Store {
        &self.store
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
        F: FnMut(&Db) -> DbResult<T> + Send + 'static,
    {
        self.submit(true, f)
    }

    /// Runs `f` in the writer's transaction; resolves at the commit, before any fsync.
    /// Only for changes the production can safely redo if a power failure loses them.
    /// Queued when called, as [`Journal::write`].
    pub fn write_redoable<T, F>(&self, f: F) -> impl Future<Output = Result<T, JournalError>>
    where
        T: Send + 'static,
        F: FnMut(&Db) -> DbResult<T> + Send + 'static,
    {
        self.submit(false, f)
    }

    /// Stores a received message once (`receipts`); resolves once it is durable. Queued
    /// when called, as [`Journal::write`]; the writer stores a batch's receipts together.
    pub fn receive(&self, receipt: Receipt) -> impl Future<Output = Result<Stored, JournalError>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let work = Box::new(Receiving {
            receipt,
            result: None,
            reply,
        });
        self.queue(true, work, rx)
    }

    fn submit<T, F>(&self, durable: bool, f: F) -> impl Future<Output = Result<T, JournalError>>
    where
        T: Send + 'static,
        F: FnMut(&Db) -> DbResult<T> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel::<Result<T, String>>();
        let work = Box::new(Pending {
            f,
            result: None,
            reply,
        });
        self.queue(durable, work, rx)
    }

    /// Queues `work` for the writer; resolves with what it answers on `rx`.
    fn queue<T>(
        &self,
        durable: bool,
        work: Box<dyn Work>,
        rx: tokio::sync::oneshot::Receiver<Result<T, String>>,
    ) -> impl Future<Output = Result<T, JournalError>> {
        let sent = self.jobs.send(Job { durable, work });
        async move {
            sent.map_err(|_| JournalError("the writer has stopped".into()))?;
            rx.await
                .map_err(|_| JournalError("the writer has stopped".into()))?
                .map_err(JournalError)
        }
    }
}

/// The next batch: the first job waiting (waited for), and every other waiting, up to
/// `MAX_BATCH`. Writers take turns at the queue.
fn next_batch(rx: &std::sync::Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let rx = rx.lock().ok()?;
    let mut jobs = vec![rx.recv().ok()?];
    while jobs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    Some(jobs)
}

fn writer(mut backend: Backend, rx: &std::sync::Mutex<mpsc::Receiver<Job>>, stats: WriterStats) {
    while let Some(mut jobs) = next_batch(rx) {
        let started = Instant::now();
        stats.jobs.inc_by(jobs.len() as u64);
        stats.transactions.inc();
        stats.jobs_per_transaction.observe(jobs.len() as f64);
        let result = match &mut backend {
            Backend::Lite { conn, .. } => run_batch(&Db::Lite(conn), &mut jobs),
            Backend::Pg { conn, target } => run_pg_batch(conn, target, &mut jobs, &stats),
        };
        let ran = started.elapsed();
        let count = jobs.len();
        let mut fsync_took = std::time::Duration::ZERO;
        let mut after_sync = vec![];
        let fsync = matches!(backend, Backend::Lite { fsync: true, .. });
        for job in jobs {
            if job.durable && fsync {
                after_sync.push(job.work);
            } else {
                job.work.answer(result.clone());
            }
        }
        if let (false, Backend::Lite { wal, wal_path, .. }) = (after_sync.is_empty(), &mut backend)
        {
            let syncing = Instant::now();
            let synced = result.clone().and_then(|_| sync_wal(wal, wal_path));
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

/// Runs a batch on PostgreSQL, connecting again first if the connection was lost. A batch
/// that cannot reach the server fails as a whole: its callers answer their senders
/// negatively (they send again) and nothing was committed.
fn run_pg_batch(
    conn: &mut Option<Box<PgConn>>,
    target: &PgTarget,
    jobs: &mut [Job],
    stats: &WriterStats,
) -> Result<(), String> {
    let c = match conn.take().filter(|c| !c.is_closed()) {
        Some(c) => conn.insert(c),
        None => {
            let fresh = pg::connect(target).map_err(|e| e.0)?;
            tracing::info!(journal = %target, "connected to the journal again");
            conn.insert(Box::new(fresh))
        }
    };
    let trips = c.round_trips();
    let result = run_batch(&Db::Pg(c), jobs);
    stats.round_trips.inc_by(c.round_trips() - trips);
    if result.is_err() && c.is_closed() {
        tracing::warn!(journal = %target, "lost the connection to the journal");
        *conn = None;
    }
    result
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
fn run_batch(conn: &Db, jobs: &mut [Job]) -> Result<(), String> {
    let begin = |conn: &Db| {
        conn.execute_batch(match conn.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        })
        .map_err(|e| e.to_string())
    };
    begin(conn)?;
    // On PostgreSQL the batch's receipts are stored first, in one call; each job then
    // finishes its own. Should that call fail, every job runs alone, as after any failure.
    let mut receipts: Vec<&mut Receipt> =
        jobs.iter_mut().filter_map(|j| j.work.receipt()).collect();
    let together = store_together(conn, &mut receipts)
        .map_err(|e| tracing::warn!(error = %e, "storing a batch's receipts together failed"))
        .is_ok();
    if !together || !jobs.iter_mut().all(|job| job.work.run(conn)) {
        let _ = conn.execute_batch("ROLLBACK");
        // What the call stored was rolled back with the rest.
        for receipt in jobs.iter_mut().filter_map(|j| j.work.receipt()) {
            receipt.forget();
        }
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

/// Runs a transaction control statement through the connection's statement cache.
fn run_cached(conn: &Db, sql: &str) -> DbResult<()> {
    conn.control(sql)
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
