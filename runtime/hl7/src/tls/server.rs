//! A listener's TLS: its certificate and key, and under mutual TLS the CA every client
//! certificate must chain to and, optionally, the names one of which it must carry. A
//! client without a certificate, with one from another CA, or with one for another name
//! is refused during or right after the handshake, before any byte of its reaches the
//! listener's handler.

use super::{certificate, provider, roots, tls_err, Pem, TlsError};
use std::sync::{Arc, RwLock};
use tokio::net::TcpStream;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// What a listener's TLS is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// The certificate chain, leaf first.
    pub certificate: Pem,
    pub private_key: Pem,
    /// Mutual TLS: client certificates must chain to one of these.
    pub client_ca: Option<Pem>,
    /// Mutual TLS: the client certificate must be valid for one of these names (any name
    /// when empty).
    pub client_names: Vec<String>,
}

struct Current {
    acceptor: TlsAcceptor,
    client_names: Vec<String>,
}

/// A listener's TLS, shared by its connections; [`ServerTls::reload`] changes it for the
/// connections that follow.
#[derive(Clone)]
pub struct ServerTls {
    current: Arc<RwLock<Arc<Current>>>,
}

fn build(id: &ServerIdentity) -> Result<Current, TlsError> {
    let certs = id.certificate.certificates()?;
    let key = id.private_key.private_key()?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = match &id.client_ca {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                    .build()
                    .map_err(|e| TlsError(format!("the client CA cannot be used: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| {
        TlsError(format!(
            "the certificate and key cannot be used together: {e}"
        ))
    })?;
    Ok(Current {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        client_names: id.client_names.clone(),
    })
}

impl ServerTls {
    pub fn new(id: &ServerIdentity) -> Result<ServerTls, TlsError> {
        Ok(ServerTls {
            current: Arc::new(RwLock::new(Arc::new(build(id)?))),
        })
    }

    /// From a PEM certificate chain and a PEM private key, without client certificates.
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<ServerTls, TlsError> {
        ServerTls::new(&ServerIdentity {
            certificate: Pem(cert_chain.to_vec()),
            private_key: Pem(private_key.to_vec()),
            client_ca: None,
            client_names: vec![],
        })
    }

    /// Uses `id` for the connections accepted from now on; on an error the TLS in use
    /// stays as it was.
    pub fn reload(&self, id: &ServerIdentity) -> Result<(), TlsError> {
        let next = Arc::new(build(id)?);
        if let Ok(mut current) = self.current.write() {
            *current = next;
        }
        Ok(())
    }

    fn current(&self) -> Arc<Current> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The server side of a handshake on `tcp`, and under mutual TLS the check of the
    /// client certificate's names.
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::server::TlsStream<TcpStream>, TlsError> {
        let current = self.current();
        let stream = current.acceptor.accept(tcp).await.map_err(tls_err)?;
        if !current.client_names.is_empty() {
            let (_, conn) = stream.get_ref();
            let leaf = conn
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or_else(|| TlsError("the client sent no certificate".into()))?;
            let facts = certificate::of_der(leaf.as_ref())?;
            if !current.client_names.iter().any(|n| facts.is_for(n)) {
                return Err(TlsError(format!(
                    "the client certificate ({}) is for none of the names this endpoint accepts ({})",
                    facts.subject,
                    current.client_names.join(", ")
                )));
            }
        }
        Ok(stream)
    }
}
