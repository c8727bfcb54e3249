//! The PostgreSQL side of [`super::db`]: a connection with its statement cache
//! ([`PgConn`]), the journal's `?N` parameters as PostgreSQL's `$N`, and the conversions
//! between the journal's five kinds of value and PostgreSQL's column types.

use super::db::{Cell, DbError, DbResult, Param, ToParam};
use super::pg_deferred::{Deferred, Event, Held, Outcome, FLUSH, UPDATE_OUTCOMES};
use super::JournalError;
use postgres::config::SslMode;
use postgres::types::{IsNull, ToSql, Type};
use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A PostgreSQL journal: the server, database and role to connect as, and how to trust
/// the server's certificate when the connection asks for TLS (`sslmode=require`).
/// Writers per node unless `[journal] writers` says otherwise: a transaction's time on
/// PostgreSQL is mostly round trips, so writers side by side multiply what a node commits
/// (performance page).
pub const DEFAULT_WRITERS: usize = 4;

pub struct PgTarget {
    config: postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    /// PEM file of the CA that signed the server's certificate; the system roots if none.
    ca: Option<PathBuf>,
    /// Transactions a node commits side by side (`[journal] writers`).
    pub writers: usize,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgTarget {
    /// A target from a `postgres://user@host:port/db?sslmode=...` URL, with the password
    /// (from a secret) when the URL has none.
    pub fn from_url(
        url: &str,
        password: Option<&str>,
        ca: Option<PathBuf>,
    ) -> Result<PgTarget, JournalError> {
        let mut config: postgres::Config = url.parse().map_err(|e| {
            JournalError(format!(
                "the journal URL is not a PostgreSQL connection string ({e}); write postgres://USER@HOST:PORT/DATABASE"
            ))
        })?;
        if config.get_password().is_none() {
            if let Some(p) = password {
                config.password(p);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("accord");
        }
        config.connect_timeout(Duration::from_secs(5));
        let shown = match url.split_once('@') {
            Some((scheme_user, rest)) => match scheme_user.rsplit_once(':') {
                Some((head, _)) if head.contains("//") && !head.ends_with('/') => {
                    format!("{head}:***@{rest}")
                }
                _ => url.to_string(),
            },
            None => url.to_string(),
        };
        Ok(PgTarget {
            config,
            shown,
            ca,
            writers: DEFAULT_WRITERS,
        })
    }
}

/// Opens a connection to the journal's server, over TLS unless `sslmode=disable`.
pub fn connect(t: &PgTarget) -> Result<PgConn, JournalError> {
    let client = match t.config.get_ssl_mode() {
        SslMode::Disable => blocking(|| t.config.connect(postgres::NoTls)),
        _ => {
            let tls = tls(t)?;
            blocking(|| t.config.connect(tls))
        }
    }
    .map_err(|e| {
        JournalError(format!(
            "cannot connect to the journal at {t}: {}",
            DbError::from(e)
        ))
    })?;
    Ok(PgConn::new(client))
}

/// The TLS connector: the server's certificate verified against the target's CA, or the
/// system's roots.
fn tls(t: &PgTarget) -> Result<tokio_postgres_rustls::MakeRustlsConnect, JournalError> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    match &t.ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                JournalError(format!(
                    "cannot read the journal's CA {}: {e}",
                    path.display()
                ))
            })?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| {
                    JournalError(format!("the journal's CA {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    JournalError(format!("the journal's CA {}: {e}", path.display()))
                })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| JournalError(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A PostgreSQL connection and the statements it has prepared, by their journal SQL.
pub struct PgConn {
    /// `None` only while the connection is dropped.
    client: RefCell<Option<postgres::Client>>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
    /// The open transaction's events and notices, written at its commit.
    deferred: RefCell<Deferred>,
}

impl PgConn {
    pub fn new(client: postgres::Client) -> PgConn {
        PgConn {
            client: RefCell::new(Some(client)),
            statements: RefCell::new(HashMap::new()),
            deferred: RefCell::default(),
        }
    }

    /// Holds an event on a message for the open transaction's commit; false outside a
    /// transaction (the caller writes it at once).
    pub(super) fn defer_event(&self, e: Event) -> bool {
        self.deferred.borrow_mut().event(e)
    }

    /// Holds a notice to the other nodes for the open transaction's commit; false
    /// outside a transaction.
    pub(super) fn defer_notice(&self, payload: &str) -> bool {
        self.deferred.borrow_mut().notice(payload)
    }

    /// Holds a delivery's outcome for the open transaction's commit, or its next other
    /// statement; false outside a transaction.
    pub(super) fn defer_outcome(&self, o: Outcome) -> bool {
        self.deferred.borrow_mut().outcome(o)
    }

    /// Writes what a transaction held back, just before its commit, in one statement.
    fn flush(&self, held: Held) -> DbResult<()> {
        let st = self.prepare(FLUSH)?;
        let o = OutcomeColumns::of(&held.outcomes);
        let mut messages = Vec::with_capacity(held.events.len());
        let mut ats = Vec::with_capacity(held.events.len());
        let mut kinds = Vec::with_capacity(held.events.len());
        let mut details = Vec::with_capacity(held.events.len());
        for e in held.events {
            messages.push(e.message);
            ats.push(e.at);
            kinds.push(e.kind);
            details.push(e.detail);
        }
        let channel = super::cluster::CHANNEL;
        let mut params = o.params().to_vec();
        params.extend::<[&(dyn ToSql + Sync); 6]>([
            &messages,
            &ats,
            &kinds,
            &details,
            &channel,
            &held.notices,
        ]);
        self.with(|c| c.execute(&st, &params))?;
        Ok(())
    }

    /// Writes the outcomes held, if any, before a statement that could read them.
    fn before_statement(&self) -> DbResult<()> {
        let taken = self.deferred.borrow_mut().take_outcomes();
        if taken.is_empty() {
            return Ok(());
        }
        let written = self.prepare(UPDATE_OUTCOMES).and_then(|st| {
            let o = OutcomeColumns::of(&taken);
            self.with(|c| c.execute(&st, &o.params()))
        });
        let mut deferred = self.deferred.borrow_mut();
        match written {
            Ok(_) => {
                deferred.outcomes_written();
                Ok(())
            }
            Err(e) => {
                deferred.outcomes_unwritten(taken);
                Err(e)
            }
        }
    }

    /// The statement for `sql`, prepared once per connection.
    pub(super) fn prepare(&self, sql: &str) -> DbResult<postgres::Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.with(|c| c.prepare(&postgres_sql(sql))).map_err(|e| {
            let start: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            let start: String = start.chars().take(120).collect();
            DbError::Sql(format!("{e} (in `{start}`)"))
        })?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// Runs `sql` with PostgreSQL's own parameters (arrays, for statements over many rows
    /// at once); how many rows it changed.
    pub(super) fn execute_native(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> DbResult<u64> {
        self.before_statement()?;
        let st = self.prepare(sql)?;
        self.with(|c| c.execute(&st, params))
    }

    /// The rows of `sql` with PostgreSQL's own parameters.
    pub(super) fn query_native(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> DbResult<Vec<postgres::Row>> {
        self.before_statement()?;
        let st = self.prepare(sql)?;
        self.with(|c| c.query(&st, params))
    }

    pub(super) fn execute(
        &self,
        s: &postgres::Statement,
        params: &[&dyn ToParam],
    ) -> DbResult<usize> {
        self.before_statement()?;
        let bound: Vec<PgParam> = params.iter().map(|p| PgParam(p.param())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.with(|c| c.execute(s, &refs))? as usize)
    }

    pub(super) fn query(
        &self,
        s: &postgres::Statement,
        params: &[&dyn ToParam],
    ) -> DbResult<Vec<postgres::Row>> {
        self.before_statement()?;
        let bound: Vec<PgParam> = params.iter().map(|p| PgParam(p.param())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.with(|c| c.query(s, &refs))
    }

    /// Runs statements without parameters; a transaction's control statements also
    /// commit, keep or drop what it held back (`pg_deferred`).
    pub(super) fn batch(&self, sql: &str) -> DbResult<()> {
        // A savepoint must not hold an earlier job's outcomes, or rolling back to it would
        // undo them on the server: they are written before it is set.
        if super::pg_deferred::writes_held_first(sql) {
            self.before_statement()?;
        }
        let mut deferred = self.deferred.borrow_mut();
        deferred.control(
            sql,
            |sql| self.with(|c| c.batch_execute(sql)),
            |held| self.flush(held),
        )
    }

    /// The payloads of the notifications this connection `LISTEN`s for, waiting up to
    /// `wait` for the first; those that follow at once come too.
    pub fn notifications(&self, wait: std::time::Duration) -> DbResult<Vec<String>> {
        use postgres::fallible_iterator::FallibleIterator;
        self.with(|c| {
            let mut out = vec![];
            let mut notifications = c.notifications();
            let first = notifications.timeout_iter(wait).next()?;
            if let Some(n) = first {
                out.push(n.payload().to_string());
                let mut rest = notifications.iter();
                while let Some(n) = rest.next()? {
                    out.push(n.payload().to_string());
                }
            }
            Ok(out)
        })
    }

    /// Whether the connection to the server is gone (the writer then opens another).
    pub fn is_closed(&self) -> bool {
        self.client
            .borrow()
            .as_ref()
            .is_none_or(postgres::Client::is_closed)
    }

    /// Runs a call on the client (see [`blocking`]).
    fn with<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> DbResult<T> {
        let mut client = self.client.borrow_mut();
        let c = client
            .as_mut()
            .ok_or_else(|| DbError::Sql("the journal connection is closed".into()))?;
        Ok(blocking(|| f(c))?)
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing the connection blocks on its own runtime, as every call does.
        if let Some(client) = self.client.get_mut().take() {
            blocking(move || drop(client));
        }
    }
}

/// Outcomes as the columns `UPDATE_OUTCOMES` and `FLUSH` take.
#[derive(Default)]
struct OutcomeColumns<'a> {
    ids: Vec<i64>,
    states: Vec<&'a str>,
    attempts: Vec<i64>,
    next_ats: Vec<i64>,
    classes: Vec<&'a str>,
    replies: Vec<Option<&'a [u8]>>,
    reasons: Vec<Option<&'a str>>,
    details: Vec<Option<&'a str>>,
    ats: Vec<i64>,
}

impl<'a> OutcomeColumns<'a> {
    fn of(outcomes: &'a [Outcome]) -> OutcomeColumns<'a> {
        let mut c = OutcomeColumns::default();
        for o in outcomes {
            c.ids.push(o.id);
            c.states.push(&o.state);
            c.attempts.push(o.attempts);
            c.next_ats.push(o.next_at);
            c.classes.push(&o.class);
            c.replies.push(o.reply.as_deref());
            c.reasons.push(o.reason.as_deref());
            c.details.push(o.detail.as_deref());
            c.ats.push(o.at);
        }
        c
    }

    /// The columns as the statements' parameters `$1` to `$9`.
    fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        [
            &self.ids,
            &self.states,
            &self.attempts,
            &self.next_ats,
            &self.classes,
            &self.replies,
            &self.reasons,
            &self.details,
            &self.ats,
        ]
    }
}

/// Runs `f`, which blocks on the PostgreSQL client's own runtime: from a thread of the
/// production's (multi-threaded) runtime, through `block_in_place`, which moves that
/// thread's other tasks elsewhere meanwhile (a runtime cannot be blocked on inside
/// another). The writer and the blocking pool's threads call it directly.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A journal statement as PostgreSQL takes it: `$N` parameters, and SQLite's index hints
/// (`INDEXED BY name`, which PostgreSQL's planner has no use for) left out.
fn postgres_sql(sql: &str) -> String {
    let mut out = dollar_params(sql);
    while let Some(at) = out.find(" INDEXED BY ") {
        let rest = &out[at + " INDEXED BY ".len()..];
        let name = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        out.replace_range(at..at + " INDEXED BY ".len() + name, "");
    }
    out
}

/// The journal's `?N` (and bare `?`, numbered as SQLite numbers it: one past the highest
/// so far) parameters as PostgreSQL's `$N`, leaving quoted text alone.
fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quoted = false;
    let mut highest = 0_u32;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                quoted = !quoted;
                out.push(ch);
            }
            '?' if !quoted => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits.parse().unwrap_or(highest + 1);
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(ch),
        }
    }
    out
}

/// Column `i` of a PostgreSQL row as one of the journal's kinds of value.
pub(super) fn cell(r: &postgres::Row, i: usize) -> DbResult<Cell<'_>> {
    let ty = r
        .columns()
        .get(i)
        .ok_or_else(|| DbError::Sql(format!("no column {i}")))?
        .type_()
        .clone();
    let cell = match ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Cell::Int),
        Type::INT4 => r
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Cell::Int(i64::from(v))),
        Type::INT2 => r
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Cell::Int(i64::from(v))),
        Type::BOOL => r
            .try_get::<_, Option<bool>>(i)?
            .map(|v| Cell::Int(i64::from(v))),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Cell::Real),
        Type::FLOAT4 => r
            .try_get::<_, Option<f32>>(i)?
            .map(|v| Cell::Real(f64::from(v))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            r.try_get::<_, Option<&str>>(i)?.map(Cell::Text)
        }
        Type::BYTEA => r.try_get::<_, Option<&[u8]>>(i)?.map(Cell::Blob),
        other => {
            return Err(DbError::Sql(format!(
                "column {} is of type {other}, which the journal does not read (cast it to bigint or text)",
                r.columns()[i].name()
            )))
        }
    };
    Ok(cell.unwrap_or(Cell::Null))
}

/// A parameter as PostgreSQL binds it: converted to the type the server inferred for it.
#[derive(Debug)]
struct PgParam<'a>(Param<'a>);

impl ToSql for PgParam<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let text = matches!(
            *ty,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
        );
        match self.0 {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                _ if text => i.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound as {ty}").into()),
            },
            Param::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ if text => f.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("a number cannot be bound as {ty}").into()),
            },
            Param::Text(s) => match *ty {
                _ if text => s.to_sql(ty, out),
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                _ => Err(format!("text cannot be bound as {ty}").into()),
            },
            Param::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ if text => std::str::from_utf8(b)?.to_sql(ty, out),
                _ => Err(format!("bytes cannot be bound as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::dollar_params;

    #[test]
    fn index_hints_are_left_out_for_postgres() {
        assert_eq!(
            super::postgres_sql(
                "SELECT id FROM messages INDEXED BY messages_idem_rest\n WHERE a = ?1"
            ),
            "SELECT id FROM messages\n WHERE a = $1"
        );
    }

    #[test]
    fn parameters_are_numbered_for_postgres_outside_quoted_text() {
        assert_eq!(
            dollar_params("SELECT ?1, ?2, '?x' WHERE a = ?1 AND b = ?"),
            "SELECT $1, $2, '?x' WHERE a = $1 AND b = $3"
        );
        assert_eq!(dollar_params("a = ? AND b = ?"), "a = $1 AND b = $2");
    }
}
