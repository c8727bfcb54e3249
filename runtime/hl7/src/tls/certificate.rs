//! What a certificate says about itself: its subject, the names it is valid for, and when
//! it is valid; and whether a peer's certificate carries one of the names an endpoint
//! allows.

use super::{Pem, TlsError};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The facts of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The subject, as `CN=..., O=...`.
    pub subject: String,
    /// DNS names and IP addresses from the subject alternative names, then the subject's
    /// common names.
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl Facts {
    /// Seconds from `now` (Unix seconds) until the certificate expires; negative once it has.
    pub fn seconds_left(&self, now: i64) -> i64 {
        self.not_after - now
    }

    /// Whether the certificate is valid for `name` (a DNS name, `*.` wildcards of one
    /// label allowed in the certificate, or an IP address), ignoring case.
    pub fn is_for(&self, name: &str) -> bool {
        self.names.iter().any(|n| matches_name(n, name))
    }
}

fn matches_name(pattern: &str, name: &str) -> bool {
    if pattern.eq_ignore_ascii_case(name) {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail.eq_ignore_ascii_case(rest)),
        None => false,
    }
}

/// The facts of a DER certificate.
pub fn of_der(der: &[u8]) -> Result<Facts, TlsError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| TlsError(format!("not a readable X.509 certificate: {e}")))?;
    let mut names = vec![];
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => names.push(
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap_or_default())
                            .to_string(),
                    ),
                    16 => names.push(
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).unwrap_or_default())
                            .to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            names.push(s.to_string());
        }
    }
    Ok(Facts {
        subject: cert.subject().to_string(),
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// The facts of the first certificate in `pem` (a chain starts with the leaf).
pub fn of_pem(pem: &Pem) -> Result<Facts, TlsError> {
    let certs = pem.certificates()?;
    of_der(certs[0].as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_wildcards_match_one_label_only() {
        assert!(matches_name("*.lab.local", "winpath.lab.local"));
        assert!(!matches_name("*.lab.local", "a.b.lab.local"));
        assert!(!matches_name("*.lab.local", "lab.local"));
        assert!(matches_name("WinPath.lab.local", "winpath.LAB.local"));
    }

    #[test]
    fn tls_facts_name_the_subject_names_and_expiry() {
        let mut params = rcgen::CertificateParams::new(vec!["winpath.lab.local".into()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "WinPath results");
        params.not_after = rcgen::date_time_ymd(2030, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let facts = of_pem(&Pem(cert.pem().into_bytes())).unwrap();
        assert_eq!(
            facts.names,
            ["winpath.lab.local", "127.0.0.1", "WinPath results"]
        );
        assert!(facts.subject.contains("CN=WinPath results"), "{facts:?}");
        assert_eq!(facts.not_after, 1_893_542_400);
        assert!(facts.is_for("127.0.0.1") && !facts.is_for("pharmacy.lab.local"));
    }
}
