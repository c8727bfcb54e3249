//! The PostgreSQL side of [`super::db`]: a connection with its statement cache
//! ([`PgConn`]), which sends a transaction's `BEGIN` with its first statement and its
//! held writes with its `COMMIT`; the journal's `?N` parameters as PostgreSQL's `$N`; and
//! the conversions between the journal's five kinds of value and PostgreSQL's column types.

use super::db::{Cell, DbError, DbResult, Param, ToParam};
use super::pg_deferred::{self, Control, Deferred, Event, Held, Outcome, FLUSH, UPDATE_OUTCOMES};
use super::pg_driver::{self, Driver};
use super::JournalError;
use std::cell::{Cell as StdCell, RefCell};
use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::Statement;

/// A PostgreSQL journal: the server, database and role to connect as, and how to trust
/// the server's certificate when the connection asks for TLS (`sslmode=require`).
/// Writers per node unless `[journal] writers` says otherwise: a transaction's time on
/// PostgreSQL is mostly round trips, so writers side by side multiply what a node commits
/// (performance page).
pub const DEFAULT_WRITERS: usize = 4;

pub struct PgTarget {
    config: tokio_postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    /// PEM file of the CA that signed the server's certificate; the system roots if none.
    ca: Option<PathBuf>,
    /// Transactions a node commits side by side (`[journal] writers`).
    pub writers: usize,
    /// The operations' lanes all run on the node that holds the processor's lease
    /// (`[journal] lane_placement = "with-processor"`), not shared out among the nodes.
    pub lanes_with_processor: bool,
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
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
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
            lanes_with_processor: false,
        })
    }
}

/// Opens a connection to the journal's server, over TLS unless `sslmode=disable`.
pub fn connect(t: &PgTarget) -> Result<PgConn, JournalError> {
    let (client, driver) = match t.config.get_ssl_mode() {
        SslMode::Disable => blocking(|| pg_driver::connect(&t.config, tokio_postgres::NoTls)),
        _ => {
            let tls = tls(t)?;
            blocking(|| pg_driver::connect(&t.config, tls))
        }
    }
    .map_err(|e| JournalError(format!("cannot connect to the journal at {t}: {e}")))?;
    Ok(PgConn::new(client, driver))
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
///
/// A round trip to the server costs both sides more CPU than most of the journal's
/// statements do, so a transaction's control statements travel with its work: `BEGIN` is
/// held until the transaction's first statement and sent with it, and the writes held
/// for the commit (`pg_deferred`) are sent with the `COMMIT`. A transaction of one
/// statement is two round trips instead of four. The requests of a round trip are sent
/// together and answered in order; the first error among them is the call's.
pub struct PgConn {
    client: tokio_postgres::Client,
    /// `None` only while the connection is dropped.
    driver: RefCell<Option<Driver>>,
    statements: RefCell<HashMap<String, Statement>>,
    /// The open transaction's events, notices and outcomes, written at its commit.
    deferred: RefCell<Deferred>,
    /// The `BEGIN` of a transaction nothing has been sent in yet.
    begin: RefCell<Option<String>>,
    /// Round trips made for statements, not counting their preparation (once each per
    /// connection); `accord_journal_round_trips_total` counts the writer's.
    trips: StdCell<u64>,
}

/// A commit's held writes, as `FLUSH` takes them.
struct Flush {
    statement: Statement,
    held: Held,
}

impl PgConn {
    fn new(client: tokio_postgres::Client, driver: Driver) -> PgConn {
        PgConn {
            client,
            driver: RefCell::new(Some(driver)),
            statements: RefCell::new(HashMap::new()),
            deferred: RefCell::default(),
            begin: RefCell::new(None),
            trips: StdCell::new(0),
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

    /// The statement for `sql`, prepared once per connection.
    pub(super) fn prepare(&self, sql: &str) -> DbResult<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = self
            .block_on_uncounted(self.client.prepare(&postgres_sql(sql)))
            .and_then(|r| r.map_err(DbError::from))
            .map_err(|e| {
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
        let st = self.prepare(sql)?;
        self.statement(self.client.execute(&st, params))
    }

    /// The rows of `sql` with PostgreSQL's own parameters.
    pub(super) fn query_native(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> DbResult<Vec<tokio_postgres::Row>> {
        let st = self.prepare(sql)?;
        self.statement(self.client.query(&st, params))
    }

    pub(super) fn execute(&self, s: &Statement, params: &[&dyn ToParam]) -> DbResult<usize> {
        bound(params, |ps| {
            Ok(self.statement(self.client.execute(s, ps))? as usize)
        })
    }

    pub(super) fn query(
        &self,
        s: &Statement,
        params: &[&dyn ToParam],
    ) -> DbResult<Vec<tokio_postgres::Row>> {
        bound(params, |ps| self.statement(self.client.query(s, ps)))
    }

    /// The rows of `sql`, a statement that reads no delivery (`direction = 'out'`): the
    /// outcomes held stay held for the commit, where they cost no statement of their own.
    /// Receipts are most of a writer's statements, and outcomes written before each were
    /// 9,300 statements for 20,000 messages (performance page).
    pub(super) fn query_beside_outcomes(
        &self,
        sql: &str,
        params: &[&dyn ToParam],
    ) -> DbResult<Vec<tokio_postgres::Row>> {
        let st = self.prepare(sql)?;
        bound(params, |ps| {
            self.round_trip(&[], None, self.client.query(&st, ps)).1
        })
    }

    /// [`PgConn::query_beside_outcomes`] with PostgreSQL's own parameters (arrays).
    pub(super) fn query_native_beside_outcomes(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> DbResult<Vec<tokio_postgres::Row>> {
        let st = self.prepare(sql)?;
        self.round_trip(&[], None, self.client.query(&st, params)).1
    }

    /// Runs a statement that could read what the transaction holds: the outcomes held
    /// are written in the same round trip, before it.
    fn statement<T>(
        &self,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> DbResult<T> {
        let taken = self.deferred.borrow_mut().take_outcomes();
        let (outcomes, result) = self.round_trip(&taken, None, request);
        self.settle_outcomes(taken, outcomes);
        result
    }

    /// Whether outcomes taken to be written were: the savepoints no longer hold them, or
    /// they are held again.
    fn settle_outcomes(&self, taken: Vec<Outcome>, written: DbResult<()>) {
        if taken.is_empty() {
            return;
        }
        let mut deferred = self.deferred.borrow_mut();
        match written {
            Ok(()) => deferred.outcomes_written(),
            Err(_) => deferred.outcomes_unwritten(taken),
        }
    }

    /// Runs statements without parameters; a transaction's control statements also
    /// commit, keep or drop what it held back (`pg_deferred`).
    pub(super) fn batch(&self, sql: &str) -> DbResult<()> {
        // A savepoint must not hold an earlier job's outcomes, or rolling back to it would
        // undo them on the server: they are written before it is set.
        let taken = if pg_deferred::writes_held_first(sql) {
            self.deferred.borrow_mut().take_outcomes()
        } else {
            vec![]
        };
        let mut outcomes = Ok(());
        let result = self
            .deferred
            .borrow_mut()
            .control(sql, |sql, held| match Control::of(sql) {
                Some(Control::Begin) => {
                    *self.begin.borrow_mut() = Some(sql.to_string());
                    Ok(())
                }
                // Nothing was sent since the `BEGIN`: there is nothing to end.
                Some(Control::Rollback) if self.begin.borrow_mut().take().is_some() => Ok(()),
                Some(Control::Commit)
                    if held.is_empty() && self.begin.borrow_mut().take().is_some() =>
                {
                    Ok(())
                }
                Some(Control::Commit) if !held.is_empty() => {
                    let flush = Flush {
                        statement: self.prepare(FLUSH)?,
                        held,
                    };
                    self.round_trip(&[], Some(&flush), self.client.batch_execute(sql))
                        .1
                }
                _ => {
                    let (written, result) =
                        self.round_trip(&taken, None, self.client.batch_execute(sql));
                    outcomes = written;
                    result
                }
            });
        self.settle_outcomes(taken, outcomes);
        result
    }

    /// One round trip: the transaction's `BEGIN` if it is still held, the `outcomes`
    /// given, the commit's held writes (`flush`), then `request`, sent together. Whether
    /// the outcomes were written, and the call's result: the first error of the requests.
    fn round_trip<T>(
        &self,
        outcomes: &[Outcome],
        flush: Option<&Flush>,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> (DbResult<()>, DbResult<T>) {
        let update = match outcomes {
            [] => None,
            _ => match self.prepare(UPDATE_OUTCOMES) {
                Ok(st) => Some(st),
                Err(e) => return (Err(copy(&e)), Err(e)),
            },
        };
        // Taken only now that it is sent: a `BEGIN` dropped unsent would leave what
        // follows outside the transaction.
        let begin = self.begin.borrow_mut().take();
        let columns = OutcomeColumns::of(outcomes);
        let outcome_params = columns.params();
        let flush_columns = flush.map(|f| FlushColumns::of(&f.held));
        let flush_params = flush_columns.as_ref().map(FlushColumns::params);
        let client = &self.client;
        let begin_sent = async {
            match &begin {
                Some(sql) => client.batch_execute(sql).await,
                None => Ok(()),
            }
        };
        let outcomes_sent = async {
            match &update {
                Some(st) => client.execute(st, &outcome_params).await.map(drop),
                None => Ok(()),
            }
        };
        let flush_sent = async {
            match (flush, &flush_params) {
                (Some(f), Some(params)) => client.execute(&f.statement, params).await.map(drop),
                _ => Ok(()),
            }
        };
        // `join4` polls its futures in order: each sends its request when first polled,
        // so they leave in this order, and the connection writes them together.
        let joined = futures_util::future::join4(begin_sent, outcomes_sent, flush_sent, request);
        match self.block_on(joined) {
            Ok((begun, written, flushed, result)) => {
                let written = begun.and(written).map_err(DbError::from);
                let result = match (&written, flushed) {
                    (Err(e), _) => Err(copy(e)),
                    (Ok(()), Err(e)) => Err(e.into()),
                    (Ok(()), Ok(())) => result.map_err(DbError::from),
                };
                (written, result)
            }
            Err(e) => (Err(copy(&e)), Err(e)),
        }
    }

    /// The payloads of the notifications this connection `LISTEN`s for, waiting up to
    /// `wait` for the first; those that follow at once come too.
    pub fn notifications(&self, wait: std::time::Duration) -> DbResult<Vec<String>> {
        let mut driver = self.driver.borrow_mut();
        let d = driver.as_mut().ok_or_else(closed)?;
        blocking(|| d.notifications(wait))
    }

    /// Whether the connection to the server is gone (the writer then opens another).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed() || self.driver.borrow().as_ref().is_none_or(Driver::is_closed)
    }

    /// Round trips this connection has made to the server for statements.
    pub fn round_trips(&self) -> u64 {
        self.trips.get()
    }

    /// Runs the client's requests (see [`blocking`]), counted as a round trip.
    fn block_on<F: Future>(&self, future: F) -> DbResult<F::Output> {
        self.trips.set(self.trips.get() + 1);
        self.block_on_uncounted(future)
    }

    fn block_on_uncounted<F: Future>(&self, future: F) -> DbResult<F::Output> {
        let mut driver = self.driver.borrow_mut();
        let d = driver.as_mut().ok_or_else(closed)?;
        blocking(|| d.block_on(future))
    }
}

/// Calls `f` with `params` bound as PostgreSQL takes them.
fn bound<R>(params: &[&dyn ToParam], f: impl FnOnce(&[&(dyn ToSql + Sync)]) -> R) -> R {
    let bound: Vec<PgParam> = params.iter().map(|p| PgParam(p.param())).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    f(&refs)
}

/// The same error again, for a second result it is also the cause of.
fn copy(e: &DbError) -> DbError {
    DbError::Sql(e.to_string())
}

fn closed() -> DbError {
    DbError::Sql("the journal connection is closed".into())
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // The connection's runtime is dropped outside the production's, as every call
        // blocks on it.
        if let Some(driver) = self.driver.get_mut().take() {
            blocking(move || drop(driver));
        }
    }
}

/// A commit's held events and notices as `FLUSH` takes them (its outcomes too).
struct FlushColumns<'a> {
    outcomes: OutcomeColumns<'a>,
    messages: Vec<i64>,
    ats: Vec<i64>,
    kinds: Vec<&'a str>,
    details: Vec<Option<&'a str>>,
    channel: &'static str,
    notices: &'a [String],
}

impl<'a> FlushColumns<'a> {
    fn of(held: &'a Held) -> FlushColumns<'a> {
        FlushColumns {
            outcomes: OutcomeColumns::of(&held.outcomes),
            messages: held.events.iter().map(|e| e.message).collect(),
            ats: held.events.iter().map(|e| e.at).collect(),
            kinds: held.events.iter().map(|e| e.kind.as_str()).collect(),
            details: held.events.iter().map(|e| e.detail.as_deref()).collect(),
            channel: super::cluster::CHANNEL,
            notices: &held.notices,
        }
    }

    /// `$1` to `$15`.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params = self.outcomes.params().to_vec();
        params.extend::<[&(dyn ToSql + Sync); 6]>([
            &self.messages,
            &self.ats,
            &self.kinds,
            &self.details,
            &self.channel,
            &self.notices,
        ]);
        params
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
pub(super) fn cell(r: &tokio_postgres::Row, i: usize) -> DbResult<Cell<'_>> {
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

    tokio_postgres::types::to_sql_checked!();
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
