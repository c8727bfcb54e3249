//! The MLLP listener: accepts connections (optionally TLS), reads frames with an idle
//! timeout, hands each message to the handler and writes its reply. Oversized frames are
//! answered by the handler too (it gets the frame's head), so a sender is never left
//! waiting; a broken connection ends only that connection.

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
    #[cfg(feature = "tls")]
    pub tls: Option<super::tls::ServerTls>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            idle_timeout: Duration::from_secs(300),
            max_frame: 16 << 20,
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
    loop {
        let (tcp, peer) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let handler = handler.clone();
        let opts = opts.clone();
        tokio::spawn(async move {
            #[cfg(feature = "tls")]
            let stream: Box<dyn Stream> = match &opts.tls {
                Some(tls) => match tls.accept(tcp).await {
                    Ok(s) => Box::new(s),
                    Err(_) => return,
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
                    if framed.send(bytes.as_slice()).await.is_err() {
                        break;
                    }
                }
            }
        });
    }
}

/// The message bytes of a frame, when it is not oversized.
pub fn message_bytes(frame: &Frame) -> Option<&Bytes> {
    match frame {
        Frame::Message(b) => Some(b),
        Frame::Oversized { .. } => None,
    }
}
