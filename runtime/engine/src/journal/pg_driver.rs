//! A PostgreSQL connection driven from a blocking thread: the asynchronous client's
//! connection, with a runtime of its own to run it on, as the `postgres` crate keeps
//! them, so that a journal thread can block on a call. Unlike that crate's client, a call
//! here may be several requests sent together (`PgConn`'s pipelined round trips): the
//! server reads them at once and answers them in order. The notifications a `LISTEN`ing
//! connection receives are kept until asked for.

use super::db::{DbError, DbResult};
use futures_util::Stream;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio_postgres::{AsyncMessage, Error};

/// The connection's side of a client: the messages it reads from the server (answers go
/// to the client's requests; notices and notifications come out here).
type Messages = Pin<Box<dyn Stream<Item = Result<AsyncMessage, Error>> + Send>>;

pub(super) struct Driver {
    runtime: tokio::runtime::Runtime,
    connection: Messages,
    notifications: VecDeque<String>,
    /// The server closed the connection.
    closed: bool,
}

/// A connection as a stream of the messages that are not answers.
struct ConnectionStream<S, T>(tokio_postgres::Connection<S, T>);

impl<S, T> Stream for ConnectionStream<S, T>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    type Item = Result<AsyncMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_message(cx)
    }
}

/// Connects with `config` over `tls`: the client, and the driver its calls block on.
pub(super) fn connect<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> DbResult<(tokio_postgres::Client, Driver)>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + 'static + Send,
    T::TlsConnect: Send,
    T::Stream: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DbError::Sql(format!("cannot start the connection's runtime: {e}")))?;
    let (client, connection) = runtime.block_on(config.connect(tls))?;
    let driver = Driver {
        runtime,
        connection: Box::pin(ConnectionStream(connection)),
        notifications: VecDeque::new(),
        closed: false,
    };
    Ok((client, driver))
}

impl Driver {
    /// Runs `future` (the client's requests) to its end, reading the connection meanwhile.
    pub(super) fn block_on<F: Future>(&mut self, future: F) -> DbResult<F::Output> {
        let mut future = pin!(future);
        self.drive(|cx, _, closed| match future.as_mut().poll(cx) {
            Poll::Ready(out) => Poll::Ready(Ok(out)),
            // The client's requests end with an error of their own once the connection
            // is gone; this is for a future that is not a request.
            Poll::Pending if closed => Poll::Ready(Err(closed_error())),
            Poll::Pending => Poll::Pending,
        })
    }

    /// Whether the server has closed the connection.
    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    /// The payloads of the notifications received, waiting up to `wait` for the first
    /// when none is kept; those that arrived with it come too.
    pub(super) fn notifications(&mut self, wait: Duration) -> DbResult<Vec<String>> {
        // Made on the first step, inside the runtime whose timer it needs.
        let mut timeout: Option<Pin<Box<tokio::time::Sleep>>> = None;
        self.drive(|cx, kept, closed| {
            let timeout = timeout.get_or_insert_with(|| Box::pin(tokio::time::sleep(wait)));
            if !kept.is_empty() || timeout.as_mut().poll(cx).is_ready() {
                Poll::Ready(Ok(()))
            } else if closed {
                Poll::Ready(Err(closed_error()))
            } else {
                Poll::Pending
            }
        })?;
        Ok(self.notifications.drain(..).collect())
    }

    /// Runs the connection's runtime until `step` is ready, reading the connection before
    /// each step; `step` sees the notifications kept and whether the connection closed.
    fn drive<T>(
        &mut self,
        mut step: impl FnMut(&mut Context<'_>, &VecDeque<String>, bool) -> Poll<DbResult<T>>,
    ) -> DbResult<T> {
        let Driver {
            runtime,
            connection,
            notifications,
            closed,
        } = self;
        runtime.block_on(std::future::poll_fn(|cx| {
            read(connection, notifications, closed, cx)?;
            step(cx, notifications, *closed)
        }))
    }
}

/// Reads what the connection has for now: answers go to their requests, notifications
/// are kept, and the server's notices logged.
fn read(
    connection: &mut Messages,
    notifications: &mut VecDeque<String>,
    closed: &mut bool,
    cx: &mut Context<'_>,
) -> DbResult<()> {
    while !*closed {
        match connection.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                notifications.push_back(n.payload().to_string());
            }
            Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => {
                tracing::debug!(notice = %notice.message(), "journal server notice");
            }
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(e))) => return Err(e.into()),
            Poll::Ready(None) => *closed = true,
            Poll::Pending => break,
        }
    }
    Ok(())
}

fn closed_error() -> DbError {
    DbError::Sql("the connection to the journal's server is closed".into())
}
