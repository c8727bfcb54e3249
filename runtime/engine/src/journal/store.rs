//! Where the journal lives ([`Store`]: a SQLite file, the embedded default, or a
//! PostgreSQL database that several nodes share), and the connections opened on it
//! outside the writer: readers for queries and the operations' lanes ([`open_read`]), and
//! operator actions' transactions ([`begin_operator`]).

use super::db::{Conn, Db};
use super::pg::{self, PgTarget};
use super::JournalError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The journal's location.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(PathBuf),
    Postgres(Arc<PgTarget>),
}

impl Store {
    /// A `--journal` argument: a PostgreSQL URL (`postgres://...`) or a SQLite file's path.
    /// A URL's password, when it has none, comes from `ACCORD_JOURNAL_PASSWORD`.
    pub fn parse(s: &str) -> Result<Store, JournalError> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            let password = std::env::var("ACCORD_JOURNAL_PASSWORD").ok();
            Ok(Store::Postgres(Arc::new(PgTarget::from_url(
                s,
                password.as_deref(),
                None,
            )?)))
        } else {
            Ok(Store::Sqlite(PathBuf::from(s)))
        }
    }

    /// The SQLite file, for what only the embedded store has (backup, the lock).
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Store::Sqlite(p) => Some(p),
            Store::Postgres(_) => None,
        }
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Sqlite(p) => write!(f, "{}", p.display()),
            Store::Postgres(t) => write!(f, "{t}"),
        }
    }
}

fn missing(path: &Path) -> JournalError {
    JournalError(format!(
        "no journal at {} (has the production run with this store?)",
        path.display()
    ))
}

/// A connection for queries (`status`, `messages`, `trace`, the lanes' choices): read-only
/// on SQLite.
pub fn open_read(store: &Store) -> Result<Conn, JournalError> {
    match store {
        Store::Sqlite(path) => {
            if !path.exists() {
                return Err(missing(path));
            }
            // No mutex of its own, as rusqlite opens the writer's: a connection is used by
            // one thread at a time (it is `Send`, not `Sync`), and the serialized mode's
            // locking cost every read of the lanes and the processor a mutex round trip.
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.set_prepared_statement_cache_capacity(super::writer::STATEMENT_CACHE);
            Ok(Conn::Lite(conn))
        }
        Store::Postgres(t) => Ok(Conn::Pg(Box::new(pg::connect(t)?))),
    }
}

/// A connection for operator actions on a journal that a running production may be
/// writing: waits for the production's writer rather than failing.
pub fn open_write(store: &Store) -> Result<Conn, JournalError> {
    match store {
        Store::Sqlite(path) => {
            if !path.exists() {
                return Err(missing(path));
            }
            let conn = Connection::open(path)?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            conn.set_prepared_statement_cache_capacity(super::writer::STATEMENT_CACHE);
            super::prepare(&Db::Lite(&conn))?;
            Ok(Conn::Lite(conn))
        }
        Store::Postgres(t) => {
            let conn = pg::connect(t)?;
            super::prepare(&Db::Pg(&conn))?;
            Ok(Conn::Pg(Box::new(conn)))
        }
    }
}

/// An operator action's transaction: committed by [`OperatorTx::commit`], rolled back if
/// dropped before.
pub struct OperatorTx {
    conn: Conn,
    open: bool,
}

/// Opens a connection for an operator action and begins its transaction. On SQLite it
/// takes the write lock at its start: a deferred one starts as a reader and, when the
/// running production's writer commits before it writes, cannot be upgraded (SQLite
/// answers "database is locked" at once, without the busy timeout); taking the lock first
/// waits for the writer instead.
pub fn begin_operator(store: &Store) -> Result<OperatorTx, JournalError> {
    let conn = open_write(store)?;
    conn.db().execute_batch(match conn {
        Conn::Lite(_) => "BEGIN IMMEDIATE",
        Conn::Pg(_) => "BEGIN",
    })?;
    Ok(OperatorTx { conn, open: true })
}

impl OperatorTx {
    pub fn db(&self) -> Db<'_> {
        self.conn.db()
    }

    pub fn commit(mut self) -> Result<(), JournalError> {
        self.open = false;
        Ok(self.conn.db().execute_batch("COMMIT")?)
    }
}

impl Drop for OperatorTx {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.db().execute_batch("ROLLBACK");
        }
    }
}
