//! MLLP over TCP, optionally TLS (rustls): the frame codec, a client that sends a message
//! and waits for the reply within a timeout, and a listener that serves connections with
//! an idle timeout and a frame size limit.

pub mod client;
pub mod codec;
pub mod per_address;
pub mod server;

pub use client::{ClientOptions, MllpClient};
pub use codec::{Frame, MllpCodec};
pub use server::{serve, Reply, ServerOptions};

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream: plain TCP or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Errors of the MLLP client and server, each saying what happened where.
#[derive(Debug)]
pub enum MllpError {
    Connect {
        addr: String,
        source: std::io::Error,
    },
    ConnectTimeout {
        addr: String,
    },
    Io(std::io::Error),
    /// No reply within the read timeout.
    ReplyTimeout {
        after_ms: u64,
    },
    /// The peer closed the connection before replying.
    Closed,
    /// The reply frame was over the size limit.
    ReplyTooLarge {
        size: usize,
    },
    Tls(String),
}

impl std::fmt::Display for MllpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MllpError::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            MllpError::ConnectTimeout { addr } => write!(f, "connecting to {addr} timed out"),
            MllpError::Io(e) => write!(f, "MLLP connection error: {e}"),
            MllpError::ReplyTimeout { after_ms } => write!(f, "no reply within {after_ms} ms"),
            MllpError::Closed => write!(f, "the peer closed the connection before replying"),
            MllpError::ReplyTooLarge { size } => {
                write!(f, "the reply frame of {size} bytes is over the limit")
            }
            MllpError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

impl std::error::Error for MllpError {}

#[cfg(feature = "tls")]
impl From<crate::tls::TlsError> for MllpError {
    fn from(e: crate::tls::TlsError) -> Self {
        MllpError::Tls(e.0)
    }
}

impl From<std::io::Error> for MllpError {
    fn from(e: std::io::Error) -> Self {
        MllpError::Io(e)
    }
}
