//! A certificate authority for the tests (rcgen): a CA of the test's own that issues
//! server and client certificates into the test's folder.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use std::path::{Path, PathBuf};

/// A CA that signs certificates into `dir`.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(format!("{name}-ca.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}-ca.key")), key.serialize_pem()).unwrap();
        Ca { cert, key }
    }

    /// Writes `NAME.pem` and `NAME.key` for `names`, valid until `days` from now (or
    /// already expired when negative), with serial `serial`.
    pub fn issue(&self, dir: &Path, file: &str, names: &[&str], days: i64, serial: u64) -> PathBuf {
        let mut params = CertificateParams::new(
            names
                .iter()
                .filter(|n| n.parse::<std::net::IpAddr>().is_err())
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        for n in names {
            if let Ok(ip) = n.parse() {
                params.subject_alt_names.push(SanType::IpAddress(ip));
            }
        }
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(30);
        params.not_after = now + time::Duration::days(days);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let pem = dir.join(format!("{file}.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
        pem
    }
}
