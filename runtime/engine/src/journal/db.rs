//! One SQL interface over the journal's two backends, SQLite (the embedded default) and
//! PostgreSQL (several nodes, one journal): a connection ([`Db`]), its statements, their
//! parameters ([`ToParam`], [`params!`]) and rows ([`Row`], [`FromCol`]), and one error
//! type ([`DbError`]). The journal's statements are written once, in the SQL both accept
//! (`?N` parameters, `ON CONFLICT`, `RETURNING`); [`Db::dialect`] tells the few that differ.
//! Values cross as five kinds (null, integer, real, text, blob), SQLite's own, and each
//! backend converts them to and from its column types: PostgreSQL's strict typing is met
//! here, once, not at every statement.

use super::pg::PgConn;
use std::error::Error;

/// Which SQL a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection to the journal, inside whatever transaction its owner opened.
#[derive(Clone, Copy)]
pub enum Db<'c> {
    Lite(&'c rusqlite::Connection),
    Pg(&'c PgConn),
}

/// An open connection of either backend.
pub enum Conn {
    Lite(rusqlite::Connection),
    Pg(Box<PgConn>),
}

impl Conn {
    pub fn db(&self) -> Db<'_> {
        match self {
            Conn::Lite(c) => Db::Lite(c),
            Conn::Pg(c) => Db::Pg(c),
        }
    }
}

/// Why a statement failed.
#[derive(Debug)]
pub enum DbError {
    /// `query_row` found no row.
    NoRows,
    /// The database refused the statement, or a value did not convert.
    Sql(String),
    /// A job refused its own work (a stale read, say); the writer undoes it.
    Refused(Box<dyn Error + Send + Sync>),
}

pub type DbResult<T> = Result<T, DbError>;

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::NoRows => f.write_str("no row found"),
            DbError::Sql(s) => f.write_str(s),
            DbError::Refused(e) => write!(f, "{e}"),
        }
    }
}

impl Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => DbError::NoRows,
            e => DbError::Sql(e.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's message, with its detail when it gave one.
        match e.as_db_error() {
            Some(d) => DbError::Sql(match d.detail() {
                Some(detail) => format!("{}: {detail}", d.message()),
                None => d.message().to_string(),
            }),
            // The client's own errors keep their cause apart (a TLS handshake's says which
            // certificate check failed).
            None => {
                let mut text = e.to_string();
                let mut cause = e.source();
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                DbError::Sql(text)
            }
        }
    }
}

impl From<DbError> for super::JournalError {
    fn from(e: DbError) -> Self {
        super::JournalError(e.to_string())
    }
}

/// `query_row`'s "no row" as `None`.
pub trait OptionalExtension<T> {
    fn optional(self) -> DbResult<Option<T>>;
}

impl<T> OptionalExtension<T> for DbResult<T> {
    fn optional(self) -> DbResult<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A parameter's value as both backends bind it.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What can be bound to a statement's parameter.
pub trait ToParam {
    fn param(&self) -> Param<'_>;
}

macro_rules! int_params {
    ($($t:ty),*) => {$(
        impl ToParam for $t {
            fn param(&self) -> Param<'_> {
                Param::Int(*self as i64)
            }
        }
    )*};
}
int_params!(i64, i32, u32, u16, u8, usize, u64);

impl ToParam for bool {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}

impl ToParam for f64 {
    fn param(&self) -> Param<'_> {
        Param::Real(*self)
    }
}

impl ToParam for str {
    fn param(&self) -> Param<'_> {
        Param::Text(self)
    }
}

impl ToParam for String {
    fn param(&self) -> Param<'_> {
        Param::Text(self)
    }
}

impl ToParam for [u8] {
    fn param(&self) -> Param<'_> {
        Param::Blob(self)
    }
}

impl ToParam for Vec<u8> {
    fn param(&self) -> Param<'_> {
        Param::Blob(self)
    }
}

impl<T: ToParam + ?Sized> ToParam for &T {
    fn param(&self) -> Param<'_> {
        (**self).param()
    }
}

impl<T: ToParam> ToParam for Option<T> {
    fn param(&self) -> Param<'_> {
        match self {
            Some(v) => v.param(),
            None => Param::Null,
        }
    }
}

/// An owned value, for parameter lists built at run time (`messages`' filters).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl ToParam for Value {
    fn param(&self) -> Param<'_> {
        match self {
            Value::Null => Param::Null,
            Value::Int(i) => Param::Int(*i),
            Value::Real(f) => Param::Real(*f),
            Value::Text(s) => Param::Text(s),
            Value::Blob(b) => Param::Blob(b),
        }
    }
}

/// A statement's parameters: `params![a, b]`, an array `[a]`, `[]`, or a slice of values.
pub trait Params {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToParam]) -> R) -> R;
}

impl Params for [&dyn ToParam; 0] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToParam]) -> R) -> R {
        f(&[])
    }
}

impl<T: ToParam> Params for &[T] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToParam]) -> R) -> R {
        let all: Vec<&dyn ToParam> = self.iter().map(|p| p as &dyn ToParam).collect();
        f(&all)
    }
}

impl<T: ToParam> Params for &Vec<T> {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToParam]) -> R) -> R {
        self.as_slice().with(f)
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToParam> Params for [T; $n] {
            fn with<R>(&self, f: impl FnOnce(&[&dyn ToParam]) -> R) -> R {
                f(&self.each_ref().map(|p| p as &dyn ToParam))
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20);

/// A parameter list of mixed types, as `rusqlite::params!`.
#[macro_export]
macro_rules! journal_params {
    () => { [] as [&dyn $crate::journal::db::ToParam; 0] };
    ($($p:expr),+ $(,)?) => { [$(&$p as &dyn $crate::journal::db::ToParam),+] };
}
pub use crate::journal_params as params;

/// A column's value as read, before it is converted to the caller's type.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'r> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'r str),
    Blob(&'r [u8]),
}

/// A type a column converts to.
pub trait FromCol: Sized {
    fn from_cell(c: Cell<'_>) -> DbResult<Self>;
}

fn mismatch<T>(c: Cell<'_>, want: &str) -> DbResult<T> {
    Err(DbError::Sql(format!("a column holds {c:?}, not {want}")))
}

impl FromCol for i64 {
    fn from_cell(c: Cell<'_>) -> DbResult<Self> {
        match c {
            Cell::Int(i) => Ok(i),
            Cell::Text(s) => s.parse().or_else(|_| mismatch(c, "an integer")),
            _ => mismatch(c, "an integer"),
        }
    }
}

macro_rules! int_cols {
    ($($t:ty),*) => {$(
        impl FromCol for $t {
            fn from_cell(c: Cell<'_>) -> DbResult<Self> {
                let i = i64::from_cell(c)?;
                <$t>::try_from(i).or_else(|_| mismatch(c, stringify!($t)))
            }
        }
    )*};
}
int_cols!(i32, u32, u64, usize, u16, u8);

impl FromCol for bool {
    fn from_cell(c: Cell<'_>) -> DbResult<Self> {
        Ok(i64::from_cell(c)? != 0)
    }
}

impl FromCol for f64 {
    fn from_cell(c: Cell<'_>) -> DbResult<Self> {
        match c {
            Cell::Real(f) => Ok(f),
            Cell::Int(i) => Ok(i as f64),
            _ => mismatch(c, "a number"),
        }
    }
}

impl FromCol for String {
    fn from_cell(c: Cell<'_>) -> DbResult<Self> {
        match c {
            Cell::Text(s) => Ok(s.to_string()),
            Cell::Int(i) => Ok(i.to_string()),
            Cell::Blob(b) => String::from_utf8(b.to_vec()).or_else(|_| mismatch(c, "text")),
            _ => mismatch(c, "text"),
        }
    }
}

impl FromCol for Vec<u8> {
    fn from_cell(c: Cell<'_>) -> DbResult<Self> {
        match c {
            Cell::Blob(b) => Ok(b.to_vec()),
            Cell::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => mismatch(c, "bytes"),
        }
    }
}

impl<T: FromCol> FromCol for Option<T> {
    fn from_cell(c: Cell<'_>) -> DbResult<Self> {
        match c {
            Cell::Null => Ok(None),
            c => T::from_cell(c).map(Some),
        }
    }
}

impl FromCol for Value {
    fn from_cell(c: Cell<'_>) -> DbResult<Self> {
        Ok(match c {
            Cell::Null => Value::Null,
            Cell::Int(i) => Value::Int(i),
            Cell::Real(f) => Value::Real(f),
            Cell::Text(s) => Value::Text(s.to_string()),
            Cell::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

/// A row of a result.
pub enum Row<'r> {
    Lite(&'r rusqlite::Row<'r>),
    Pg(&'r tokio_postgres::Row),
}

/// A column's place in a row (its position; rows are read by position).
pub trait ColIndex {
    fn index(self) -> usize;
}

impl ColIndex for usize {
    fn index(self) -> usize {
        self
    }
}

impl<'r> Row<'r> {
    /// Column `i` as text borrowed from the row, without a copy.
    pub fn get_str(&self, i: usize) -> DbResult<Option<&'r str>> {
        match self {
            Row::Lite(r) => Ok(r
                .get_ref(i)?
                .as_str_or_null()
                .map_err(rusqlite::Error::from)?),
            Row::Pg(r) => Ok(r.try_get::<_, Option<&str>>(i)?),
        }
    }

    /// The value of column `i`, converted.
    pub fn get<I: ColIndex, T: FromCol>(&self, i: I) -> DbResult<T> {
        let i = i.index();
        match self {
            Row::Lite(r) => {
                use rusqlite::types::ValueRef;
                let cell = match r.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(i) => Cell::Int(i),
                    ValueRef::Real(f) => Cell::Real(f),
                    ValueRef::Text(t) => Cell::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| DbError::Sql(format!("column {i}: {e}")))?,
                    ),
                    ValueRef::Blob(b) => Cell::Blob(b),
                };
                T::from_cell(cell)
            }
            Row::Pg(r) => T::from_cell(super::pg::cell(r, i)?),
        }
    }
}

/// A prepared statement.
pub enum Stmt<'c> {
    Lite(rusqlite::CachedStatement<'c>),
    Pg(&'c PgConn, tokio_postgres::Statement),
}

impl Stmt<'_> {
    /// Runs a statement that returns no rows; how many rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> DbResult<usize> {
        params.with(|ps| match self {
            Stmt::Lite(s) => Ok(s.execute(rusqlite::params_from_iter(ps.iter().map(Lite)))?),
            Stmt::Pg(c, s) => c.execute(s, ps),
        })
    }

    /// Every row, each converted by `f`.
    pub fn query_map<P: Params, T>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row) -> DbResult<T>,
    ) -> DbResult<std::vec::IntoIter<DbResult<T>>> {
        params.with(|ps| {
            let mut out = vec![];
            match self {
                Stmt::Lite(s) => {
                    let mut rows = s.query(rusqlite::params_from_iter(ps.iter().map(Lite)))?;
                    while let Some(r) = rows.next()? {
                        out.push(f(&Row::Lite(r)));
                    }
                }
                Stmt::Pg(c, s) => {
                    for r in c.query(s, ps)? {
                        out.push(f(&Row::Pg(&r)));
                    }
                }
            }
            Ok(out.into_iter())
        })
    }

    /// Calls `f` with each row in turn until it answers false. SQLite steps through the
    /// rows as `f` asks for them (and `f` may run other statements meanwhile); PostgreSQL
    /// reads them all first, so a statement that may stop early should say `LIMIT`.
    pub fn for_each<P: Params>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row) -> DbResult<bool>,
    ) -> DbResult<()> {
        params.with(|ps| {
            match self {
                Stmt::Lite(s) => {
                    let mut rows = s.query(rusqlite::params_from_iter(ps.iter().map(Lite)))?;
                    while let Some(r) = rows.next()? {
                        if !f(&Row::Lite(r))? {
                            break;
                        }
                    }
                }
                Stmt::Pg(c, s) => {
                    for r in c.query(s, ps)? {
                        if !f(&Row::Pg(&r))? {
                            break;
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// The first row, converted by `f`; `DbError::NoRows` when there is none.
    pub fn query_row<P: Params, T>(
        &mut self,
        params: P,
        f: impl FnOnce(&Row) -> DbResult<T>,
    ) -> DbResult<T> {
        params.with(|ps| match self {
            Stmt::Lite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(ps.iter().map(Lite)))?;
                match rows.next()? {
                    Some(r) => f(&Row::Lite(r)),
                    None => Err(DbError::NoRows),
                }
            }
            Stmt::Pg(c, s) => match c.query(s, ps)?.first() {
                Some(r) => f(&Row::Pg(r)),
                None => Err(DbError::NoRows),
            },
        })
    }

    /// Whether the statement returns a row.
    pub fn exists<P: Params>(&mut self, params: P) -> DbResult<bool> {
        self.query_row(params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }
}

impl<'c> Db<'c> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Lite(_) => Dialect::Sqlite,
            Db::Pg(_) => Dialect::Postgres,
        }
    }

    /// Prepares `sql` through the connection's statement cache.
    pub fn prepare_cached(&self, sql: &str) -> DbResult<Stmt<'c>> {
        match *self {
            Db::Lite(c) => Ok(Stmt::Lite(c.prepare_cached(sql)?)),
            Db::Pg(c) => Ok(Stmt::Pg(c, c.prepare(sql)?)),
        }
    }

    /// As [`Db::prepare_cached`]: both backends keep their statements.
    pub fn prepare(&self, sql: &str) -> DbResult<Stmt<'c>> {
        self.prepare_cached(sql)
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> DbResult<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    pub fn query_row<P: Params, T>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row) -> DbResult<T>,
    ) -> DbResult<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs an `INSERT` (without `RETURNING`) and answers the new row's `id`;
    /// `DbError::NoRows` if it inserted nothing. SQLite reads the id from the connection
    /// (its `RETURNING` runs the statement into a temporary table first, which cost the
    /// writer a tenth of its time under load); PostgreSQL asks for it with `RETURNING id`.
    pub fn insert<P: Params>(&self, sql: &str, params: P) -> DbResult<i64> {
        match *self {
            Db::Lite(c) => {
                if self.prepare_cached(sql)?.execute(params)? == 0 {
                    return Err(DbError::NoRows);
                }
                Ok(c.last_insert_rowid())
            }
            Db::Pg(_) => self.query_row(&format!("{sql} RETURNING id"), params, |r| r.get(0)),
        }
    }

    /// Every row of `sql`, each converted by `f`.
    pub fn query_map<P: Params, T>(
        &self,
        sql: &str,
        params: P,
        f: impl FnMut(&Row) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        self.prepare_cached(sql)?.query_map(params, f)?.collect()
    }

    /// Runs a transaction control statement (`SAVEPOINT x`, `RELEASE x`, ...): cached on
    /// SQLite, where parsing it at every job cost the writer a tenth of its time; a simple
    /// query on PostgreSQL.
    pub fn control(&self, sql: &str) -> DbResult<()> {
        match self {
            Db::Lite(c) => c
                .prepare_cached(sql)?
                .execute([])
                .map(|_| ())
                .map_err(Into::into),
            Db::Pg(c) => c.batch(sql),
        }
    }

    /// Runs statements without parameters or results, separated by `;`.
    pub fn execute_batch(&self, sql: &str) -> DbResult<()> {
        match self {
            Db::Lite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(c) => c.batch(sql),
        }
    }
}

/// A parameter as SQLite binds it.
struct Lite<'a>(&'a &'a dyn ToParam);

impl rusqlite::ToSql for Lite<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self.0.param() {
            Param::Null => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(i),
            Param::Real(f) => ValueRef::Real(f),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cross_sqlite_as_they_were_bound() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let db = Db::Lite(&c);
        db.execute_batch("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, n TEXT)")
            .unwrap();
        let none: Option<String> = None;
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
            params![7_u32, "seven", b"\x07".to_vec(), none],
        )
        .unwrap();
        let row: (u32, String, Vec<u8>, Option<String>) = db
            .query_row("SELECT i, s, b, n FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(row, (7, "seven".into(), vec![7], None));
        let missing = db
            .query_row("SELECT i FROM t WHERE i = ?1", [8], |r| r.get::<_, i64>(0))
            .optional()
            .unwrap();
        assert_eq!(missing, None);
        let listed = db
            .query_map("SELECT s FROM t WHERE i = ?1", &vec![Value::Int(7)], |r| {
                r.get::<_, String>(0)
            })
            .unwrap();
        assert_eq!(listed, ["seven"]);
    }
}
