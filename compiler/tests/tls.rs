//! TLS as the contract says, against an independent peer (Python's `ssl`, OpenSSL) with
//! certificates made here (rcgen): a TLS MLLP listener, one under mutual TLS limited to a
//! named sender, an MLLP operation to a lab that asks for the hub's client certificate,
//! and an HTTPS operation that carries its bearer token. Plaintext, untrusted CAs, missing
//! or misnamed client certificates, stalled handshakes and a storm of half-open
//! connections are refused without journalling anything or stopping the listener;
//! `check-config` refuses what TLS cannot work with; `SIGHUP` swaps certificates while
//! messages flow, losing none. `cargo test -- tls` selects these tests.

mod support;

use rcgen::KeyPair;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::pki::Ca;
use support::*;

/// The certificates of one test: the hospital CA (hub, lab, PAS, an intruder), and a
/// rogue CA with its own "PAS".
fn pki(dir: &Path) -> Ca {
    let ca = Ca::new(dir, "hospital");
    ca.issue(dir, "hub", &["localhost", "127.0.0.1"], 365, 1);
    ca.issue(dir, "lab", &["localhost", "127.0.0.1"], 365, 2);
    ca.issue(dir, "pas", &["pas.hospital.test"], 365, 3);
    ca.issue(dir, "intruder", &["intruder.test"], 365, 4);
    Ca::new(dir, "rogue").issue(dir, "rogue-pas", &["pas.hospital.test"], 365, 5);
    // The hub's SMART Backend Services key (EC P-384, for ES384).
    let smart = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    std::fs::write(dir.join("smart.key"), smart.serialize_pem()).unwrap();
    std::fs::write(dir.join("smart.pub"), smart.public_key_pem()).unwrap();
    ca
}

fn python() -> Command {
    let mut c = Command::new("python3");
    c.arg(root().join("tests/tools/tls_peer.py"));
    c
}

/// A Python peer (`lab` or `https`) started on `port`, recording into `record`.
struct PyPeer {
    child: Child,
    record: PathBuf,
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PyPeer {
    fn start(dir: &Path, kind: &str, port: u16, extra: &[&str]) -> PyPeer {
        let record = dir.join(format!("{kind}-record.jsonl"));
        let mut cmd = python();
        cmd.args([kind, "--port", &port.to_string()])
            .arg("--cert")
            .arg(dir.join("lab.pem"))
            .arg("--key")
            .arg(dir.join("lab.key"))
            .arg("--record")
            .arg(&record);
        if kind == "lab" {
            cmd.arg("--client-ca").arg(dir.join("hospital-ca.pem"));
        }
        cmd.args(extra);
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY", "the python {kind} peer did not start");
        PyPeer { child, record }
    }

    fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The records of requests to `path` (all of them for the lab).
    fn at(&self, path: &str) -> Vec<serde_json::Value> {
        let all = self.records();
        all.into_iter()
            .filter(|r| r["path"].is_null() || r["path"] == path)
            .collect()
    }

    fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        self.wait_for_at("", n)
    }

    /// Waits until `n` requests to `path` answered 200 (or 20 s passed); all requests to it.
    fn wait_for_at(&self, path: &str, n: usize) -> Vec<serde_json::Value> {
        let start = Instant::now();
        let done = |rs: &[serde_json::Value]| {
            rs.iter()
                .filter(|r| r["status"].is_null() || r["status"] == 200)
                .count()
                >= n
        };
        while !done(&self.at(path)) && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.at(path)
    }
}

fn adt(control: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|H|HUB|H|20261205090000||ADT^A08^ADT_A01|{control}|P|2.5.1\r\
         EVN|A08|20261205090000\rPID|1||{control}^^^PAS^MR||DOE^JANE||19800101|F\rPV1|1|I|W1\r"
    )
}

/// Message files for `controls`, in `dir`.
fn messages(dir: &Path, controls: &[String]) -> Vec<PathBuf> {
    controls
        .iter()
        .map(|c| {
            let p = dir.join(format!("{c}.hl7"));
            std::fs::write(&p, adt(c)).unwrap();
            p
        })
        .collect()
}

/// Sends over TLS with the Python client: its output lines (MSA-1s, CLOSED, TLS-ERROR).
fn py_send(dir: &Path, port: u16, ca: &str, client: Option<&str>, files: &[PathBuf]) -> String {
    let mut cmd = python();
    cmd.args(["send", "--port", &port.to_string(), "--show-peer", "--ca"])
        .arg(dir.join(ca));
    if let Some(c) = client {
        cmd.arg("--cert")
            .arg(dir.join(format!("{c}.pem")))
            .arg("--key")
            .arg(dir.join(format!("{c}.key")));
    }
    text(&cmd.args(files).output().unwrap())
}

struct Setup {
    dir: PathBuf,
    ca: Ca,
    bin: PathBuf,
    config: PathBuf,
    production: Production,
    hub: u16,
    mtls: u16,
    admin: u16,
    lab: PyPeer,
    portal: PyPeer,
    portal_port: u16,
}

fn config_text(dir: &Path, hub: u16, mtls: u16, lab: u16, portal: &str, admin: u16) -> String {
    let p = |f: &str| dir.join(f).display().to_string();
    format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
         [settings]\nHUB_CERT = \"{}\"\nSENDER_CA = \"{}\"\nLAB_CA = \"{}\"\nHUB_CLIENT_CERT = \"{}\"\nPORTAL_URL = \"{portal}/hook\"\n\
         PORTAL_OAUTH_URL = \"{portal}/oauth\"\nPORTAL_SMART_URL = \"{portal}/smart\"\nPORTAL_BASIC_URL = \"{portal}/basic\"\nPORTAL_TOKEN_URL = \"{portal}/token\"\n\
         [secrets]\nHUB_KEY = {{ file = \"{}\" }}\nHUB_CLIENT_KEY = \"{}\"\nPORTAL_TOKEN = \"portal-token-0123456789\"\nPORTAL_PASSWORD = \"portal-password-0123456789\"\n\
         PORTAL_CLIENT_SECRET = \"client-secret-0123456789\"\nPORTAL_SIGNING_KEY = \"{}\"\n\
         [endpoints.hub_in]\nport = {hub}\n[endpoints.hub_mtls]\nport = {mtls}\n[endpoints.lab_out]\nport = {lab}\n",
        p("hub.pem"),
        p("hospital-ca.pem"),
        p("hospital-ca.pem"),
        p("hub.pem"),
        p("hub.key"),
        p("hub.key"),
        p("smart.key"),
    )
}

fn setup(name: &str) -> Setup {
    setup_with(name, &[])
}

/// A production and its peers; `https` are the HTTPS peer's options.
fn setup_with(name: &str, https: &[&str]) -> Setup {
    let bin = build("compiler/tests/production/tls");
    let dir = fresh_dir(name);
    let ca = pki(&dir);
    let (hub, mtls, lab_port, portal_port, admin) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let lab = PyPeer::start(&dir, "lab", lab_port, &[]);
    let portal = PyPeer::start(&dir, "https", portal_port, https);
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        config_text(
            &dir,
            hub,
            mtls,
            lab_port,
            &format!("https://127.0.0.1:{portal_port}"),
            admin,
        ),
    )
    .unwrap();
    let production = start(&bin, &config, &dir.join("store"), admin);
    Setup {
        dir,
        ca,
        bin,
        config,
        production,
        hub,
        mtls,
        admin,
        lab,
        portal,
        portal_port,
    }
}

fn metric(admin: u16, prefix: &str) -> f64 {
    http_get(admin, "/metrics")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn controls(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn tls_services_and_operations_speak_tls_and_plaintext_gets_nothing() {
    let s = setup("tls-e2e");
    // A client that trusts the hospital CA: acknowledged, then delivered to the lab over
    // TLS with the hub's client certificate, and to the portal over HTTPS with its token.
    let files = messages(&s.dir, &controls("TLS", 3));
    let out = py_send(&s.dir, s.hub, "hospital-ca.pem", None, &files);
    assert_eq!(out.matches("\nAA").count(), 3, "{out}");
    let lab = s.lab.wait_for(3);
    assert_eq!(lab.len(), 3, "{lab:?}");
    assert!(lab.iter().all(|r| r["peer"] == "localhost"), "{lab:?}");
    let portal = s.portal.wait_for_at("/hook", 3);
    assert_eq!(portal.len(), 3, "{portal:?}");
    for r in &portal {
        assert_eq!(r["authorization"], "Bearer portal-token-0123456789");
        assert!(r["body"].as_str().unwrap().starts_with("MSH|"), "{r}");
    }
    // The older webhook gets HTTP basic authentication with the user and its password.
    let basic = s.portal.wait_for_at("/basic", 3);
    assert_eq!(basic.len(), 3, "{basic:?}");
    for r in &basic {
        assert_eq!(
            r["authorization"],
            "Basic YWNjb3JkLWh1Yjpwb3J0YWwtcGFzc3dvcmQtMDEyMzQ1Njc4OQ=="
        );
    }

    // Plaintext MLLP to the TLS listener: no reply, nothing journalled.
    let mut plain = TcpStream::connect(("127.0.0.1", s.hub)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write_frame(&mut plain, adt("PLAIN1").as_bytes());
    assert_eq!(read_frame(&mut plain), None, "plaintext got a reply");

    // A client that trusts another CA refuses the hub's certificate.
    let out = py_send(&s.dir, s.hub, "rogue-ca.pem", None, &files[..1]);
    assert!(out.contains("TLS-ERROR"), "{out}");

    // Handshakes that never finish: one stalled after a record header, and a storm of
    // half-open connections. The listener keeps serving.
    let mut stalled = TcpStream::connect(("127.0.0.1", s.hub)).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    let storm: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", s.hub)).ok())
        .collect();
    let files = messages(&s.dir, &controls("AFTER", 1));
    let out = py_send(&s.dir, s.hub, "hospital-ca.pem", None, &files);
    assert!(out.trim_end().ends_with("AA"), "{out}");
    drop(storm);
    drop(stalled);

    // Exactly the four TLS messages were received; the refusals were counted.
    assert_eq!(
        metric(
            s.admin,
            "accord_messages_received_total{interface=\"adt_in\"}"
        ),
        4.0
    );
    let refused = metric(
        s.admin,
        "accord_tls_handshakes_refused_total{endpoint=\"hub_in\"}",
    );
    assert!(refused >= 2.0, "refused {refused}");
    let journal = rusqlite::Connection::open(s.dir.join("store/journal.sqlite")).unwrap();
    let stored: i64 = journal
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE direction = 'in' AND control_id LIKE 'PLAIN%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 0);
    // The certificates in use and their expiry are on /metrics.
    let left = metric(
        s.admin,
        "accord_tls_certificate_expiry_seconds{endpoint=\"hub_in\",certificate=\"server\"",
    );
    assert!(left > 360.0 * 86_400.0 && left < 366.0 * 86_400.0, "{left}");
    drop(s.production);
}

#[test]
fn tls_mutual_tls_admits_only_the_named_sender_from_the_senders_ca() {
    let s = setup("tls-mutual");
    let files = messages(&s.dir, &controls("MTLS", 1));
    for (client, why) in [
        (None, "no client certificate"),
        (Some("rogue-pas"), "a certificate from another CA"),
        (Some("intruder"), "a certificate for another name"),
    ] {
        let out = py_send(&s.dir, s.mtls, "hospital-ca.pem", client, &files);
        assert!(
            !out.contains("\nAA") && (out.contains("TLS-ERROR") || out.contains("CLOSED")),
            "{why}: {out}"
        );
    }
    let out = py_send(&s.dir, s.mtls, "hospital-ca.pem", Some("pas"), &files);
    assert!(out.trim_end().ends_with("AA"), "{out}");
    let lab = s.lab.wait_for(1);
    assert_eq!(lab.len(), 1, "{lab:?}");
    assert_eq!(
        metric(
            s.admin,
            "accord_messages_received_total{interface=\"adt_mtls_in\"}"
        ),
        1.0
    );
    let refused = metric(
        s.admin,
        "accord_tls_handshakes_refused_total{endpoint=\"hub_mtls\"}",
    );
    assert_eq!(
        refused,
        3.0,
        "{}",
        http_get(s.admin, "/metrics").unwrap_or_default()
    );
    let log = std::fs::read_to_string(s.dir.join("store.log")).unwrap();
    // One line per client address and minute says why; the rest are counted.
    assert!(
        log.contains("TLS handshake refused: peer sent no certificates"),
        "{log}"
    );
}

#[test]
fn tls_sighup_swaps_certificates_while_messages_flow_and_loses_none() {
    let s = setup("tls-reload");
    let pid = s.production.child.id().to_string();
    let mut sent = vec![];
    let mut serials = vec![];
    for round in 0..6 {
        if round == 3 {
            // The hub's certificate is renewed (serial 77, expiring in 10 days) and the
            // production told with SIGHUP: loaded without a restart, and alerted on
            // because it expires soon.
            s.ca.issue(&s.dir, "hub", &["localhost", "127.0.0.1"], 10, 77);
            // The portal's bearer token is rotated in the same reload, once the first
            // rounds reached the portal with the old one.
            assert_eq!(s.portal.wait_for_at("/hook", 30).len(), 30);
            let config = std::fs::read_to_string(&s.config).unwrap();
            let rotated = config.replace("portal-token-0123456789", "portal-token-rotated-4567");
            assert_ne!(config, rotated);
            std::fs::write(&s.config, rotated).unwrap();
            let o = Command::new("kill").args(["-HUP", &pid]).output().unwrap();
            assert!(o.status.success());
            std::thread::sleep(Duration::from_millis(500));
        }
        let batch = controls(&format!("R{round}N"), 10);
        let files = messages(&s.dir, &batch);
        let out = py_send(&s.dir, s.hub, "hospital-ca.pem", None, &files);
        assert_eq!(out.matches("\nAA").count(), 10, "round {round}: {out}");
        serials.push(
            out.lines()
                .find(|l| l.starts_with("PEER-SERIAL"))
                .unwrap_or_default()
                .to_string(),
        );
        sent.extend(batch);
    }
    assert_ne!(serials[0], serials[5], "{serials:?}");
    assert!(serials[5].contains("PEER-SERIAL: 4D"), "{serials:?}");
    assert_eq!(serials[0], serials[2], "{serials:?}");
    let lab = s.lab.wait_for(sent.len());
    let mut got: Vec<String> = lab
        .iter()
        .map(|r| field(r["message"].as_str().unwrap(), "MSH", 10))
        .collect();
    got.sort();
    got.dedup();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(got, want, "every message reaches the lab once");
    let left = metric(
        s.admin,
        "accord_tls_certificate_expiry_seconds{endpoint=\"hub_in\",certificate=\"server\"",
    );
    assert!(left <= 10.0 * 86_400.0 && left > 9.0 * 86_400.0, "{left}");
    assert!(
        metric(
            s.admin,
            "accord_alerts_total{target=\"certificate:hub_in\"}"
        ) >= 1.0
    );
    let log = std::fs::read_to_string(s.dir.join("store.log")).unwrap();
    assert!(
        log.contains("SIGHUP: certificates, keys, CAs and credentials reloaded"),
        "{log}"
    );
    // Deliveries before the reload carried the old token, those sent after it the new.
    let hook = s.portal.wait_for_at("/hook", sent.len());
    let token_of = |round: usize| -> Vec<String> {
        let mut tokens: Vec<String> = hook
            .iter()
            .filter(|r| {
                r["body"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("|R{round}N"))
            })
            .map(|r| r["authorization"].as_str().unwrap_or("").to_string())
            .collect();
        tokens.dedup();
        tokens
    };
    for round in 0..3 {
        assert_eq!(
            token_of(round),
            ["Bearer portal-token-0123456789"],
            "round {round}"
        );
    }
    for round in 4..6 {
        assert_eq!(
            token_of(round),
            ["Bearer portal-token-rotated-4567"],
            "round {round}"
        );
    }
    assert!(!log.contains("portal-token"), "a token reached the log");
}

/// OAuth2 client credentials, with a client secret and as SMART Backend Services (a JWT
/// signed ES384): one token for as long as the server takes it; when the server refuses a
/// token (401), one new token and the same message again, delivered once.
#[test]
fn credentials_oauth_tokens_are_asked_for_kept_and_renewed_once_on_401() {
    let s = setup_with("tls-oauth", &["--revoke-after", "2"]);
    let controls = controls("OAUTH", 3);
    let files = messages(&s.dir, &controls);
    let out = py_send(&s.dir, s.hub, "hospital-ca.pem", None, &files);
    assert_eq!(out.matches("\nAA").count(), 3, "{out}");
    let public = std::fs::read(s.dir.join("smart.pub")).unwrap();
    for (path, client) in [("/oauth", "accord-hub"), ("/smart", "accord-hub-smart")] {
        let calls = s.portal.wait_for_at(path, 3);
        let statuses: Vec<i64> = calls
            .iter()
            .map(|r| r["status"].as_i64().unwrap())
            .collect();
        assert_eq!(statuses, [200, 200, 401, 200], "{path}: {calls:#?}");
        let delivered: Vec<String> = calls
            .iter()
            .filter(|r| r["status"] == 200)
            .map(|r| field(r["body"].as_str().unwrap(), "MSH", 10))
            .collect();
        assert_eq!(delivered, controls, "{path}: each message once, in order");
        // The 401 was for the revoked token; the retry carried the new one.
        assert_eq!(calls[2]["authorization"], calls[0]["authorization"]);
        assert_ne!(calls[3]["authorization"], calls[2]["authorization"]);
        // Two token requests by this client, each as its kind of client authentication.
        let tokens: Vec<serde_json::Value> = s
            .portal
            .at("/token")
            .into_iter()
            .filter(|r| {
                let body = r["body"].as_str().unwrap_or_default();
                match path {
                    "/oauth" => !body.contains("client_assertion"),
                    _ => body.contains("client_assertion"),
                }
            })
            .collect();
        assert_eq!(tokens.len(), 2, "{path}: {tokens:#?}");
        for t in &tokens {
            let body = t["body"].as_str().unwrap();
            assert!(body.starts_with("grant_type=client_credentials"), "{body}");
            if path == "/oauth" {
                assert!(body.contains("scope=system%2FPatient.cruds"), "{body}");
                // client_id:client_secret, as HTTP basic authentication.
                assert_eq!(
                    t["authorization"],
                    "Basic YWNjb3JkLWh1YjpjbGllbnQtc2VjcmV0LTAxMjM0NTY3ODk="
                );
                continue;
            }
            assert!(t["authorization"].is_null(), "{t}");
            assert!(
                body.contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"),
                "{body}"
            );
            let jwt = body.split("client_assertion=").nth(1).unwrap();
            let header = jsonwebtoken::decode_header(jwt).unwrap();
            assert_eq!(header.alg, jsonwebtoken::Algorithm::ES384);
            assert_eq!(header.kid.as_deref(), Some("hub-2026"));
            let token_url = format!("https://127.0.0.1:{}/token", s.portal_port);
            let mut check = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES384);
            check.set_audience(&[&token_url]);
            check.set_issuer(&[client]);
            let claims = jsonwebtoken::decode::<serde_json::Value>(
                jwt,
                &jsonwebtoken::DecodingKey::from_ec_pem(&public).unwrap(),
                &check,
            )
            .unwrap()
            .claims;
            assert_eq!(claims["sub"], client);
            assert!(claims["jti"].is_string());
        }
    }
    let log = std::fs::read_to_string(s.dir.join("store.log")).unwrap();
    assert!(
        !log.contains("client-secret-0123456789") && !log.contains("tok-"),
        "{log}"
    );
}

/// The endpoint's `timeout` closes a silent connection, and its `max_frame` refuses a
/// bigger frame, though `[limits]` would allow both.
#[test]
fn endpoint_timeout_and_max_frame_hold_on_the_listener() {
    let s = setup("tls-limits");
    let files = messages(&s.dir, &controls("IDLE", 1));
    let mut cmd = python();
    cmd.args(["send", "--idle", "5", "--port", &s.hub.to_string(), "--ca"])
        .arg(s.dir.join("hospital-ca.pem"))
        .args(&files);
    let out = text(&cmd.output().unwrap());
    assert!(
        !out.contains("AA") && (out.contains("CLOSED") || out.contains("TLS-ERROR")),
        "a connection silent for 5 s outlived the endpoint's 3 s timeout: {out}"
    );
    let big = s.dir.join("big.hl7");
    let mut message = adt("BIG1");
    message.push_str(&format!("NTE|1||{}\r", "x".repeat(100_000)));
    std::fs::write(&big, message).unwrap();
    let out = py_send(&s.dir, s.hub, "hospital-ca.pem", None, &[big]);
    assert!(out.trim_end().ends_with("AR"), "{out}");
    let journal = rusqlite::Connection::open(s.dir.join("store/journal.sqlite")).unwrap();
    let reason: String = journal
        .query_row(
            "SELECT reason FROM messages WHERE direction = 'in' AND state = 'rejected'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "frame");
    assert_eq!(
        metric(
            s.admin,
            "accord_messages_received_total{interface=\"adt_in\"}"
        ),
        0.0
    );
}

/// `check-config` output for a configuration that differs from the working one by `edit`.
fn check_with(s: &Setup, edit: impl Fn(String) -> String) -> (bool, String) {
    let text_ = edit(std::fs::read_to_string(&s.config).unwrap());
    let config = s.dir.join("edited.toml");
    std::fs::write(&config, text_).unwrap();
    let o = Command::new(&s.bin)
        .args(["check-config", "--env", "dev", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    (o.status.success(), text(&o))
}

#[test]
fn tls_check_config_refuses_what_tls_cannot_work_with() {
    let s = setup("tls-check");
    let (ok, out) = check_with(&s, |t| t);
    assert!(ok, "{out}");
    assert!(!out.contains("BEGIN"), "no PEM is printed: {out}");
    // The PAS names its certificates; the plain TLS listener it also sends to cannot
    // check them, and says so.
    assert!(
        out.contains("endpoint `hub_in`")
            && out.contains("certificate_names (pas.hospital.test) are not checked there"),
        "{out}"
    );
    assert!(!out.contains("endpoint `hub_mtls`"), "{out}");
    let dir = s.dir.display().to_string();
    let ca = Ca::new(&s.dir, "other");
    ca.issue(&s.dir, "expired", &["localhost"], -1, 9);
    ca.issue(&s.dir, "soon", &["localhost"], 5, 10);
    for (edit, expect) in [
        (
            ("hub.pem\"\nSENDER", "missing.pem\"\nSENDER"),
            "cannot read",
        ),
        (("hub.pem\"\nSENDER", "expired.pem\"\nSENDER"), "expired on"),
        (
            ("HUB_KEY = { file = \"", "HUB_KEY = { file = \"/nonexistent"),
            "cannot read",
        ),
        (("https://127.0.0.1", "http://127.0.0.1"), "is not https"),
        (
            ("HUB_CLIENT_KEY = \"", "HUB_CLIENT_KEY = \"/nonexistent"),
            "cannot read",
        ),
    ] {
        let (ok, out) = check_with(&s, |t| t.replacen(edit.0, edit.1, 1));
        assert!(!ok, "{edit:?} was accepted: {out}");
        assert!(out.contains(expect), "{edit:?}: {out}");
    }
    // The hub's key does not belong to another certificate.
    let (ok, out) = check_with(&s, |t| {
        t.replacen(
            &format!("{dir}/hub.pem\"\nSENDER"),
            &format!("{dir}/soon.pem\"\nSENDER"),
            1,
        )
    });
    assert!(!ok && out.contains("cannot be used together"), "{out}");
    // A certificate close to its expiry is a warning, not a refusal.
    std::fs::copy(s.dir.join("soon.key"), s.dir.join("soon-own.key")).unwrap();
    let (ok, out) = check_with(&s, |t| {
        t.replacen("hub.pem\"\nSENDER", "soon.pem\"\nSENDER", 1)
            .replacen(
                &format!("HUB_KEY = {{ file = \"{dir}/hub.key\" }}"),
                &format!("HUB_KEY = {{ file = \"{dir}/soon-own.key\" }}"),
                1,
            )
    });
    assert!(ok, "{out}");
    assert!(
        out.contains("warning") && out.contains("expires on"),
        "{out}"
    );
    // The admin listener's certificate needs its key.
    let (ok, out) = check_with(&s, |t| {
        t.replacen(
            "[admin]\n",
            &format!("[admin]\ncertificate = \"{dir}/hub.pem\"\n"),
            1,
        )
    });
    assert!(!ok && out.contains("[admin]"), "{out}");
}
