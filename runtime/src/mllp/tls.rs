//! TLS for MLLP with rustls: a server certificate and key from PEM, and a client that
//! trusts given CA certificates (PEM) and checks the server name.

use super::MllpError;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn tls_err(e: impl std::fmt::Display) -> MllpError {
    MllpError::Tls(e.to_string())
}

fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, MllpError> {
    rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_err)
}

/// The cryptography TLS runs on: *ring*, which builds with a C compiler alone (aws-lc-rs
/// needs CMake and more). rustls 0.23.48 marks its constructor deprecated because *ring*
/// has no post-quantum key exchange; the classical groups it offers are what HL7 peers
/// speak today, so the choice stands and the note is acknowledged here, once.
fn provider() -> Arc<tokio_rustls::rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
}

impl ServerTls {
    /// From a PEM certificate chain and a PEM private key.
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<ServerTls, MllpError> {
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &private_key[..])
            .map_err(tls_err)?
            .ok_or_else(|| MllpError::Tls("no private key in the PEM".into()))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_no_client_auth()
            .with_single_cert(certs(cert_chain)?, key)
            .map_err(tls_err)?;
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::server::TlsStream<TcpStream>, MllpError> {
        self.acceptor.accept(tcp).await.map_err(tls_err)
    }
}

#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
    /// The name the server certificate must carry; by default the host of the address.
    pub server_name: Option<String>,
}

impl ClientTls {
    /// Trusting the CA certificates in `ca_pem`.
    pub fn from_ca_pem(ca_pem: &[u8]) -> Result<ClientTls, MllpError> {
        let mut roots = RootCertStore::empty();
        for c in certs(ca_pem)? {
            roots.add(c).map_err(tls_err)?;
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name: None,
        })
    }

    pub async fn connect(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, MllpError> {
        let host = self.server_name.clone().unwrap_or_else(|| {
            addr.rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(addr)
                .trim_matches(['[', ']'])
                .to_string()
        });
        let name = ServerName::try_from(host).map_err(tls_err)?;
        self.connector.connect(name, tcp).await.map_err(tls_err)
    }
}
