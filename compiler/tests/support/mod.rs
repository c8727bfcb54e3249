//! What the end-to-end tests of productions share: building an estate with `accord
//! build` into the shared target, starting its binary and waiting until it is ready,
//! MLLP framing over std TCP, and `Peer`, a downstream system that records what it
//! receives and answers with the code the test picks.
#![allow(dead_code)]

pub mod pki;
pub mod postgres;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("generated")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
    .replace('\r', "\n")
}

/// A port nothing listens on, never the same twice in one test process (the kernel may
/// hand a just-closed ephemeral port out again, and a test that takes three ports in a
/// row would then give two endpoints one port).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Reads one MLLP frame (VT ... FS CR).
pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = vec![];
    let mut byte = [0u8; 1];
    loop {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        match byte[0] {
            0x0b => buf.clear(),
            0x1c => {
                let _ = s.read(&mut byte);
                return Some(buf);
            }
            b => buf.push(b),
        }
    }
}

pub fn write_frame(s: &mut TcpStream, m: &[u8]) {
    let mut f = vec![0x0b];
    f.extend_from_slice(m);
    f.extend_from_slice(&[0x1c, 0x0d]);
    let _ = s.write_all(&f);
}

pub fn field(msg: &str, seg: &str, n: usize) -> String {
    msg.split(['\r', '\n'])
        .map(|l| l.trim_start_matches(|c: char| c.is_control()))
        .find(|l| l.starts_with(seg))
        .and_then(|l| l.split('|').nth(if seg == "MSH" { n - 1 } else { n }))
        .unwrap_or("")
        .to_string()
}

/// A downstream system: records every message and answers with the code `reply` picks.
pub struct Peer {
    pub port: u16,
    /// Each message with when it arrived.
    got: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Peer {
    pub fn start(reply: fn(&str, usize) -> &'static str) -> Peer {
        Peer::start_on(0, reply)
    }

    /// A peer on a port chosen beforehand (0: any), e.g. one that comes up late.
    pub fn start_on(port: u16, reply: fn(&str, usize) -> &'static str) -> Peer {
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = l.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let g = got.clone();
        // How often each control id arrived (the reply may depend on it).
        let counts: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut s) = conn else { continue };
                let (g, c) = (g.clone(), counts.clone());
                std::thread::spawn(move || {
                    while let Some(frame) = read_frame(&mut s) {
                        let m = String::from_utf8_lossy(&frame).into_owned();
                        let seen = {
                            let (mut v, mut counts) = (g.lock().unwrap(), c.lock().unwrap());
                            v.push((Instant::now(), m.clone()));
                            let n = counts.entry(field(&m, "MSH", 10)).or_insert(0);
                            *n += 1;
                            *n
                        };
                        let code = reply(&m, seen);
                        let ack = format!(
                            "MSH|^~\\&|PEER|PEER|HUB|HUB|20261122000000||ACK|P{}|P|2.4\rMSA|{code}|{}\r",
                            seen,
                            field(&m, "MSH", 10)
                        );
                        write_frame(&mut s, ack.as_bytes());
                    }
                });
            }
        });
        Peer { port, got }
    }

    /// The patients (PID-3.1) of what it received, in order.
    pub fn patients(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| {
                field(m, "PID", 3)
                    .split('^')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    pub fn messages(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// What it received, each message with when it arrived.
    pub fn timed(&self) -> Vec<(Instant, String)> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` messages arrived (or 30 s passed) and returns them.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        while self.messages().len() < n && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.messages()
    }
}

pub fn http_get(port: u16, path: &str) -> Option<String> {
    http_get_with(port, path, "")
}

/// `GET path` with `headers` (each line ending in `\r\n`) besides Host and Connection.
pub fn http_get_with(port: u16, path: &str, headers: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

pub struct Production {
    pub child: Child,
}

impl Drop for Production {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(bin: &Path, config: &Path, store: &Path, admin: u16) -> Production {
    let mut child = Command::new(bin)
        .args(["run", "--env", "dev", "--config"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(store.with_extension("log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if http_get(admin, "/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            return Production { child };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "the production did not become ready: {}",
        std::fs::read_to_string(store.with_extension("log")).unwrap_or_default()
    );
}

pub fn accord_send(port: u16, file: &Path) -> String {
    text(
        &Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["hl7", "send", &format!("127.0.0.1:{port}")])
            .arg(file)
            .output()
            .unwrap(),
    )
}

/// Builds the estate at `estate` (relative to the repository) and returns its binary.
pub fn build(estate: &str) -> PathBuf {
    let o = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["build", estate])
        .current_dir(root())
        .env("CARGO_TARGET_DIR", target())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // Generated crates carry no `#![deny(warnings)]`; the tests hold them to it.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !stderr.contains(") generated "),
        "the generated crate has warnings:\n{stderr}"
    );
    let bin = root().join(String::from_utf8_lossy(&o.stdout).trim());
    assert!(bin.exists(), "{}", bin.display());
    bin
}

pub fn sample(name: &str) -> String {
    std::fs::read_to_string(root().join("examples/trakcare-lab/samples").join(name)).unwrap()
}

/// An empty folder for one test's files under the shared target, named for the test and
/// this process.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = target().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Python of `target/fhir-venv` (`fhir.resources`, `requests`, `PyJWT`), made by
/// `.ci/run`; `$ACCORD_FHIR_PYTHON` overrides it.
pub fn fhir_python() -> String {
    std::env::var("ACCORD_FHIR_PYTHON").unwrap_or_else(|_| {
        root()
            .join("target/fhir-venv/bin/python")
            .to_string_lossy()
            .into()
    })
}

/// Validates FHIR R4 JSON files with Python `fhir.resources` (R4 models, no one here wrote
/// it), installed by `.ci/run` in `target/fhir-venv` (`$ACCORD_FHIR_PYTHON` overrides).
/// Returns whether all are valid, and the validator's report (a line per file).
pub fn fhir_validate(files: &[PathBuf]) -> (bool, String) {
    let o = Command::new(fhir_python())
        .arg(root().join("tests/tools/fhir_validate.py"))
        .args(files)
        .output()
        .expect("the FHIR validator's Python runs (bash .ci/run makes target/fhir-venv)");
    (o.status.success(), text(&o))
}

/// Sends `m` over MLLP on a new connection and returns the reply's MSA-1 (empty when
/// there is no reply within 10 s).
pub fn send_msa(port: u16, m: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write_frame(&mut s, m.as_bytes());
    read_frame(&mut s)
        .map(|r| field(&String::from_utf8_lossy(&r), "MSA", 1))
        .unwrap_or_default()
}

/// Waits (at most 15 s) until the SQLite journal stores `n` distinct records of type `record`.
pub fn wait_for_records(journal: &Path, record: &str, n: i64) {
    postgres::JournalAt::Sqlite(journal.to_path_buf()).wait_for_records(record, n)
}

/// The example estate's three peers, accepting everything: WinPath (AA), the pharmacy
/// (CA) and TrakCare's results listener (AA), in `example_config`'s order.
pub fn example_peers() -> (Peer, Peer, Peer) {
    (
        Peer::start(|_, _| "AA"),
        Peer::start(|_, _| "CA"),
        Peer::start(|_, _| "AA"),
    )
}

/// Runs `run` on `config` and `store`, which must be refused before the production
/// listens (exit code 2); what it said.
pub fn refused_run(bin: &Path, config: &Path, store: &Path) -> String {
    let o = Command::new(bin)
        .args(["run", "--env", "dev", "--config"])
        .arg(config)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    out
}

/// The example estate's `dev` configuration with every endpoint on loopback: the
/// production listens on `adt_in`, `lab_in`, `mpi_in` and `admin`, and sends to the peers
/// on these ports (WinPath, the pharmacy, TrakCare's results listener).
pub fn example_config(
    dir: &Path,
    [adt_in, lab_in, mpi_in, admin]: [u16; 4],
    [winpath, pharmacy, results]: [u16; 3],
) -> std::path::PathBuf {
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
             [endpoints.hub_trakcare_in]\nhost = \"127.0.0.1\"\nport = {adt_in}\n\
             [endpoints.hub_winpath_in]\nhost = \"127.0.0.1\"\nport = {lab_in}\n\
             [endpoints.mpi_feed]\nhost = \"127.0.0.1\"\nport = {mpi_in}\n\
             [endpoints.winpath_mllp]\nhost = \"127.0.0.1\"\nport = {}\n\
             [endpoints.pharmacy_mllp]\nhost = \"127.0.0.1\"\nport = {}\n\
             [endpoints.trakcare_results]\nhost = \"127.0.0.1\"\nport = {}\n\
             [endpoints.archive_dir]\npath = \"{}\"\n",
            winpath,
            pharmacy,
            results,
            dir.join("archive").display()
        ),
    )
    .unwrap();
    config
}

/// An HTTP endpoint on loopback that takes webhook posts (alerts) and keeps their bodies.
pub struct Webhook {
    pub port: u16,
    got: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let g = got.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(s) = conn else { continue };
                let g = g.clone();
                std::thread::spawn(move || serve_posts(s, &g));
            }
        });
        Webhook { port, got }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The JSON bodies posted so far.
    pub fn posts(&self) -> Vec<serde_json::Value> {
        self.got.lock().unwrap().clone()
    }
}

/// Reads HTTP/1.1 requests off one connection (keep-alive), answering each `200`.
fn serve_posts(s: TcpStream, got: &Mutex<Vec<serde_json::Value>>) {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
    let mut out = s;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        // The request line, then headers up to the blank line.
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(v) = serde_json::from_slice(&body) {
            got.lock().unwrap().push(v);
        }
        let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    }
}

/// A real SMTP server on loopback (Python's aiosmtpd, installed by `.ci/run`) that prints
/// every message it takes; stopped when dropped.
pub struct MailSink {
    pub port: u16,
    child: Child,
    out: PathBuf,
}

impl MailSink {
    /// A server that takes mail in the clear.
    pub fn start(dir: &Path) -> MailSink {
        MailSink::spawn(dir, &[])
    }

    /// A server that takes mail only after STARTTLS, with a certificate for 127.0.0.1
    /// issued by `ca`.
    pub fn start_tls(dir: &Path, ca: &pki::Ca) -> MailSink {
        let cert = ca.issue(dir, "mail", &["127.0.0.1"], 30, 7);
        let key = cert.with_extension("key");
        MailSink::spawn(
            dir,
            &[
                "--tlscert".as_ref(),
                cert.as_os_str(),
                "--tlskey".as_ref(),
                key.as_os_str(),
            ],
        )
    }

    fn spawn(dir: &Path, tls: &[&std::ffi::OsStr]) -> MailSink {
        let port = free_port();
        let out = dir.join("mail.txt");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n"])
            .args(tls)
            .arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (bash .ci/run installs it)");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        MailSink { port, child, out }
    }

    /// Every message received so far, as aiosmtpd printed them.
    pub fn messages(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .split("---------- MESSAGE FOLLOWS ----------")
            .filter(|m| m.contains("END MESSAGE"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
