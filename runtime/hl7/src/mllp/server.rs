//! The MLLP listener: accepts connections (optionally TLS), reads frames with an idle
//! timeout, hands each message to the handler and writes its reply. Oversized frames are
//! answered by the handler too (it gets the frame's head), so a sender is never left
//! waiting; a broken connection ends only that connection. At most `max_connections` are
//! served at once: one more is closed as soon as it is accepted, so a storm of
//! connections cannot exhaust memory or file descriptors, and a failed `accept` (out of
//! descriptors) pauses the listener instead of stopping it; and at most
//! `max_per_address` from one client address, so one client cannot take every slot.
//! `on_event` lets the caller count and log connections.

use super::codec::{Frame, MllpCodec};
use super::{MllpError, Stream};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

#[derive(Clone)]
pub struct ServerOptions {
    /// A connection with no frame for this long is closed.
    pub idle_timeout: Duration,
    pub max_frame: usize,
    /// Connections served at once; more are closed on arrival.
    pub max_connections: usize,
    /// Connections served at once from one client address; more are closed on arrival.
    pub max_per_address: usize,
    /// A TLS client must finish its handshake within this.
    pub handshake_timeout: Duration,
    /// Told of every connection opened, closed or refused.
    pub on_event: Option<Arc<dyn Fn(ConnectionEvent) + Send + Sync>>,
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ServerTls>,
}

/// What happened to a connection, for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    Opened(SocketAddr),
    Closed(SocketAddr),
    /// Closed on arrival: `max_connections` were already open.
    Refused(SocketAddr),
    /// Closed on arrival: its address already held `max_per_address` connections.
    RefusedAddress(SocketAddr),
    /// Closed before any frame was read: the TLS handshake failed or did not finish in
    /// time (a plaintext client, an untrusted or missing client certificate...).
    TlsRefused(SocketAddr, String),
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            idle_timeout: Duration::from_secs(300),
            max_frame: 16 << 20,
            max_connections: 256,
            max_per_address: 64,
            handshake_timeout: Duration::from_secs(10),
            on_event: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// What the handler received.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Write this frame back.
    Frame(Vec<u8>),
    /// Write nothing (`--reply none`, or `ack: never`).
    Nothing,
}

/// Serves connections on `listener` until the task is dropped. `handler` gets each frame
/// (a message, or an oversized frame's head) and the peer's address.
pub async fn serve<H, F>(
    listener: TcpListener,
    opts: ServerOptions,
    handler: H,
) -> Result<(), MllpError>
where
    H: Fn(Frame, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send,
{
    let handler = Arc::new(handler);
    let permits = Arc::new(tokio::sync::Semaphore::new(opts.max_connections.max(1)));
    let addresses = super::per_address::PerAddress::new(opts.max_per_address);
    let tell = |e: ConnectionEvent| {
        if let Some(f) = &opts.on_event {
            f(e)
        }
    };
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) if is_fatal(&e) => return Err(e.into()),
            Err(_) => {
                // Out of descriptors or a connection reset before it was accepted: wait
                // for connections to close rather than spin or stop listening.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = addresses.enter(peer.ip()) else {
            drop(tcp);
            tell(ConnectionEvent::RefusedAddress(peer));
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(tcp);
            tell(ConnectionEvent::Refused(peer));
            continue;
        };
        tell(ConnectionEvent::Opened(peer));
        let _ = tcp.set_nodelay(true);
        let handler = handler.clone();
        let opts = opts.clone();
        tokio::spawn(async move {
            serve_connection(tcp, peer, &opts, handler.as_ref()).await;
            drop(permit);
            drop(slot);
            if let Some(f) = &opts.on_event {
                f(ConnectionEvent::Closed(peer));
            }
        });
    }
}

/// Errors of `accept` that mean the listener itself is gone.
fn is_fatal(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::NotConnected
    )
}

async fn serve_connection<H, F>(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    opts: &ServerOptions,
    handler: &H,
) where
    H: Fn(Frame, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send,
{
    #[cfg(feature = "tls")]
    let stream: Box<dyn Stream> = match &opts.tls {
        Some(tls) => match tokio::time::timeout(opts.handshake_timeout, tls.accept(tcp)).await {
            Ok(Ok(s)) => Box::new(s),
            refused => {
                let why = match refused {
                    Ok(Err(e)) => e.to_string(),
                    _ => "the TLS handshake did not finish in time".to_string(),
                };
                if let Some(f) = &opts.on_event {
                    f(ConnectionEvent::TlsRefused(peer, why));
                }
                return;
            }
        },
        None => Box::new(tcp),
    };
    #[cfg(not(feature = "tls"))]
    let stream: Box<dyn Stream> = Box::new(tcp);
    let mut framed = Framed::new(stream, MllpCodec::new(opts.max_frame));
    loop {
        let frame = match tokio::time::timeout(opts.idle_timeout, framed.next()).await {
            Err(_) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(f))) => f,
        };
        if let Reply::Frame(bytes) = handler(frame, peer).await {
            // A client that stops reading must not hold the connection forever.
            match tokio::time::timeout(opts.idle_timeout, framed.send(bytes.as_slice())).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
    }
}

/// The message bytes of a frame, when it is not oversized.
pub fn message_bytes(frame: &Frame) -> Option<&Bytes> {
    match frame {
        Frame::Message(b) => Some(b),
        Frame::Oversized { .. } => None,
    }
}
