//! The MLLP client: connect (with a timeout, optionally over TLS), send a message, and
//! wait for the reply frame within the read timeout.

use super::codec::{Frame, MllpCodec};
use super::{MllpError, Stream};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

#[derive(Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_frame: usize,
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ClientTls>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_frame: 16 << 20,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

pub struct MllpClient {
    framed: Framed<Box<dyn Stream>, MllpCodec>,
    read_timeout: Duration,
}

impl MllpClient {
    pub async fn connect(addr: &str, opts: ClientOptions) -> Result<MllpClient, MllpError> {
        let tcp = match tokio::time::timeout(opts.connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(MllpError::ConnectTimeout {
                    addr: addr.to_string(),
                })
            }
            Ok(Err(source)) => {
                return Err(MllpError::Connect {
                    addr: addr.to_string(),
                    source,
                })
            }
            Ok(Ok(s)) => s,
        };
        tcp.set_nodelay(true)?;
        #[cfg(feature = "tls")]
        let stream: Box<dyn Stream> = match &opts.tls {
            Some(tls) => {
                match tokio::time::timeout(opts.connect_timeout, tls.connect(addr, tcp)).await {
                    Ok(s) => Box::new(s?),
                    Err(_) => {
                        return Err(MllpError::Tls(format!(
                            "the TLS handshake with {addr} did not finish within {} ms",
                            opts.connect_timeout.as_millis()
                        )))
                    }
                }
            }
            None => Box::new(tcp),
        };
        #[cfg(not(feature = "tls"))]
        let stream: Box<dyn Stream> = Box::new(tcp);
        Ok(MllpClient {
            framed: Framed::new(stream, MllpCodec::new(opts.max_frame)),
            read_timeout: opts.read_timeout,
        })
    }

    /// Sends one message and returns the reply frame.
    pub async fn send(&mut self, message: &[u8]) -> Result<Bytes, MllpError> {
        self.framed.send(message).await?;
        match tokio::time::timeout(self.read_timeout, self.framed.next()).await {
            Err(_) => Err(MllpError::ReplyTimeout {
                after_ms: self.read_timeout.as_millis() as u64,
            }),
            Ok(None) => Err(MllpError::Closed),
            Ok(Some(Err(e))) => Err(MllpError::Io(e)),
            Ok(Some(Ok(Frame::Message(b)))) => Ok(b),
            Ok(Some(Ok(Frame::Oversized { size, .. }))) => Err(MllpError::ReplyTooLarge { size }),
        }
    }

    /// Sends without waiting for a reply (for `ack: never` peers).
    pub async fn send_only(&mut self, message: &[u8]) -> Result<(), MllpError> {
        Ok(self.framed.send(message).await?)
    }
}
