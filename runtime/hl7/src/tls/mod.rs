//! TLS with rustls (TLS 1.2 and 1.3 only): a listener's side ([`ServerTls`]: its
//! certificate, and under mutual TLS the CA its clients' certificates must come from and
//! the names they may carry) and a client's side ([`ClientTls`]: the CAs it trusts, or the
//! system's roots, the name the server must carry, and its own certificate when the peer
//! asks for one). Both can be given new certificates while in use ([`ServerTls::reload`],
//! [`ClientTls::reload`]); connections already open keep theirs. [`certificate`] reads
//! what a certificate says about itself (names, expiry) for checks and metrics.
//!
//! Certificates, keys and CA bundles are PEM, given inline or as the path of a PEM file
//! ([`Pem::load`]), so a setting can hold either a file name or a secret's content.

pub mod certificate;
mod client;
mod server;

pub use client::{trusting_nobody, ClientIdentity, ClientTls};
pub use server::{ServerIdentity, ServerTls};

use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS material could not be used, or a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn tls_err(e: impl std::fmt::Display) -> TlsError {
    TlsError(e.to_string())
}

/// PEM text: certificates, a private key or a CA bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem(pub Vec<u8>);

/// A key's PEM is never printed.
impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pem({} bytes)", self.0.len())
    }
}

impl Pem {
    /// A setting's value: PEM text itself (it starts with `-----BEGIN`), or the path of a
    /// file holding it.
    pub fn load(value: &str) -> Result<Pem, TlsError> {
        if value.trim_start().starts_with("-----BEGIN") {
            return Ok(Pem(value.as_bytes().to_vec()));
        }
        std::fs::read(value)
            .map(Pem)
            .map_err(|e| TlsError(format!("cannot read `{value}`: {e}")))
    }

    /// The certificates in it, in order; an error when there are none.
    pub fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs = rustls_pemfile::certs(&mut &self.0[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(tls_err)?;
        if certs.is_empty() {
            return Err(TlsError("no certificate in the PEM".into()));
        }
        Ok(certs)
    }

    /// The first private key in it.
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        rustls_pemfile::private_key(&mut &self.0[..])
            .map_err(tls_err)?
            .ok_or_else(|| TlsError("no private key in the PEM".into()))
    }
}

/// The cryptography TLS runs on: *ring*, which builds with a C compiler alone (aws-lc-rs
/// needs CMake and more). rustls 0.23.48 marks its constructor deprecated because *ring*
/// has no post-quantum key exchange; the classical groups it offers are what HL7 peers
/// speak today, so the choice stands and the note is acknowledged here, once.
fn provider() -> Arc<tokio_rustls::rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

/// A root store of the certificates in `ca`.
fn roots(ca: &Pem) -> Result<tokio_rustls::rustls::RootCertStore, TlsError> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for c in ca.certificates()? {
        roots
            .add(c)
            .map_err(|e| TlsError(format!("a CA certificate cannot be used: {e}")))?;
    }
    Ok(roots)
}

/// The host part of `host:port` (brackets of an IPv6 address removed).
pub fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(addr)
        .trim_matches(['[', ']'])
}
