//! A client's TLS: the CAs it trusts for the server's certificate (given ones, or the
//! system's roots), the name that certificate must carry (by default the host it
//! connects to), and the client's own certificate for a server that asks for one.

use super::{host_of, provider, roots, tls_err, Pem, TlsError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// What a client's TLS is made of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientIdentity {
    /// CAs the server's certificate must chain to; the system's roots when absent.
    pub ca: Option<Pem>,
    /// The client's certificate chain and key, sent when the server asks.
    pub certificate: Option<(Pem, Pem)>,
    /// The name the server's certificate must carry, when it is not the host connected to.
    pub server_name: Option<String>,
}

struct Current {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

/// A client's TLS, shared by its connections; [`ClientTls::reload`] changes it for the
/// connections that follow.
#[derive(Clone)]
pub struct ClientTls {
    current: Arc<RwLock<Arc<Current>>>,
    generation: Arc<AtomicU64>,
}

/// The roots of the system's certificate store.
fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsError(
            "no CA is given and the system has no root certificates to trust".into(),
        ));
    }
    Ok(roots)
}

fn build(id: &ClientIdentity) -> Result<Current, TlsError> {
    let roots = match &id.ca {
        Some(ca) => roots(ca)?,
        None => system_roots()?,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(roots);
    let config = match &id.certificate {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.certificates()?, key.private_key()?)
            .map_err(|e| {
                TlsError(format!(
                    "the client certificate and key cannot be used together: {e}"
                ))
            })?,
        None => builder.with_no_client_auth(),
    };
    if let Some(name) = &id.server_name {
        ServerName::try_from(name.clone())
            .map_err(|_| TlsError(format!("`{name}` is not a host name or IP address")))?;
    }
    Ok(Current {
        config: Arc::new(config),
        server_name: id.server_name.clone(),
    })
}

impl ClientTls {
    pub fn new(id: &ClientIdentity) -> Result<ClientTls, TlsError> {
        Ok(ClientTls {
            current: Arc::new(RwLock::new(Arc::new(build(id)?))),
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Trusting the CA certificates in `ca_pem`.
    pub fn from_ca_pem(ca_pem: &[u8]) -> Result<ClientTls, TlsError> {
        ClientTls::new(&ClientIdentity {
            ca: Some(Pem(ca_pem.to_vec())),
            ..ClientIdentity::default()
        })
    }

    /// Uses `id` for the connections made from now on; on an error the TLS in use stays
    /// as it was.
    pub fn reload(&self, id: &ClientIdentity) -> Result<(), TlsError> {
        let next = Arc::new(build(id)?);
        if let Ok(mut current) = self.current.write() {
            *current = next;
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Counts reloads: a holder of [`ClientTls::config`] builds anew when it changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn current(&self) -> Arc<Current> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The name the server's certificate must carry, when it is not the host.
    pub fn server_name(&self) -> Option<String> {
        self.current().server_name.clone()
    }

    /// The rustls configuration, for an HTTPS connector.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.current().config.clone()
    }

    /// The client side of a handshake on `tcp` to `addr` (`host:port`): the server's
    /// certificate must chain to a trusted CA and carry the configured name, or the host.
    pub async fn connect(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TlsError> {
        let current = self.current();
        let host = current
            .server_name
            .clone()
            .unwrap_or_else(|| host_of(addr).to_string());
        let name = ServerName::try_from(host.clone())
            .map_err(|_| TlsError(format!("`{host}` is not a host name or IP address")))?;
        TlsConnector::from(current.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| TlsError(format!("TLS with {addr}: {e}")))
    }
}

/// A configuration that trusts no CA, for a connector that speaks only plain HTTP: any
/// TLS it were asked to make would fail.
pub fn trusting_nobody() -> Result<ClientConfig, TlsError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}
