//! `accord hl7 ...`: the tools an analyst reaches for when testing an interface: read a
//! value, inspect a message with field names, validate it, build its ACK, send messages
//! over MLLP and print the ACKs, and listen as a peer that prints what it receives.

use accord_hl7::ack::{build_ack, AckCode, AckOptions, ErrDetail, Severity};
use accord_hl7::batch::Batch;
use accord_hl7::dict;
use accord_hl7::mllp::{serve, ClientOptions, Frame, MllpClient, Reply, ServerOptions};
use accord_hl7::{Message, ParseError, Path};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand)]
pub enum Hl7Command {
    /// Print the unescaped value at PATH: exit 0 when present (even empty), 1 when absent,
    /// 2 when the message cannot be parsed.
    Get { file: PathBuf, path: String },
    /// Print the message as a tree with field names from the HL7 v2 dictionary.
    Inspect {
        file: PathBuf,
        #[arg(long, default_value = "human")]
        format: String,
    },
    /// Validate against the HL7 v2 dictionary (structure, required fields, repetitions)
    /// and optionally a profile of an estate (`--profile examples/trakcare-lab:trakcare_adt`).
    Validate {
        file: PathBuf,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        profile: Option<String>,
    },
    /// Print the acknowledgement of a message.
    Ack {
        file: PathBuf,
        #[arg(long, default_value = "AA")]
        code: String,
        #[arg(long)]
        text: Option<String>,
        /// Add an ERR segment with this HL7 table 0357 code.
        #[arg(long)]
        error_code: Option<u16>,
    },
    /// Send every message of the files over MLLP and print each ACK.
    Send {
        /// HOST:PORT
        addr: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Seconds to wait for each ACK.
        #[arg(long, default_value = "30")]
        timeout: u64,
        /// Connect with TLS, trusting the CA certificates in this PEM file.
        #[arg(long)]
        tls_ca: Option<PathBuf>,
    },
    /// Drive a running production: several connections send FILE with unique control ids,
    /// spread over --patients PID-3 values, flat out or paced with --rate;
    /// reports msg/s in (and out, with --peer) and ACK latency percentiles.
    Load {
        /// HOST:PORT of the production's inbound service; several, comma-separated (the
        /// nodes of one estate), and the connections are spread over them in turn.
        addr: String,
        file: PathBuf,
        #[arg(long, default_value = "4")]
        connections: usize,
        #[arg(long, default_value = "10000")]
        messages: usize,
        /// Stand in for a downstream system on this loopback port: ACK and count (repeatable).
        #[arg(long)]
        peer: Vec<u16>,
        /// Seconds to wait for the peers to go quiet after the last ACK.
        #[arg(long, default_value = "2")]
        drain: u64,
        /// Spread the messages over this many patients (PID-3), so ordering keys vary.
        #[arg(long, default_value = "1000")]
        patients: usize,
        /// Pace the sending at this many messages per second in total (default: flat out).
        #[arg(long)]
        rate: Option<u64>,
        /// Report the peak memory (RSS) of this process, e.g. the production's.
        #[arg(long)]
        pid: Option<u32>,
        /// Connect with TLS, trusting the CA certificates in this PEM file.
        #[arg(long)]
        tls_ca: Option<PathBuf>,
        /// The peers listen with TLS, with this certificate chain (PEM)...
        #[arg(long, requires = "peer_key")]
        peer_cert: Option<PathBuf>,
        /// ...and this private key (PEM).
        #[arg(long, requires = "peer_cert")]
        peer_key: Option<PathBuf>,
        /// First open this many connections one after another and report what each cost.
        #[arg(long, default_value = "0")]
        handshakes: usize,
    },
    /// Listen for MLLP on PORT, print what arrives, reply with an ACK.
    Listen {
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// AA, AE, AR, or none (no reply).
        #[arg(long, default_value = "AA")]
        reply: String,
        /// Exit after this many messages.
        #[arg(long)]
        count: Option<usize>,
    },
}

pub fn run(cmd: Hl7Command) -> ExitCode {
    match cmd {
        Hl7Command::Get { file, path } => get(&file, &path),
        Hl7Command::Inspect { file, format } => inspect(&file, &format),
        Hl7Command::Validate {
            file,
            version,
            profile,
        } => super::hl7_validate::validate(&file, version.as_deref(), profile.as_deref()),
        Hl7Command::Ack {
            file,
            code,
            text,
            error_code,
        } => ack(&file, &code, text.as_deref(), error_code),
        Hl7Command::Send {
            addr,
            files,
            timeout,
            tls_ca,
        } => send(&addr, &files, timeout, tls_ca.as_deref()),
        Hl7Command::Listen {
            port,
            host,
            reply,
            count,
        } => listen(&host, port, &reply, count),
        Hl7Command::Load {
            addr,
            file,
            connections,
            messages,
            peer,
            drain,
            patients,
            rate,
            pid,
            tls_ca,
            peer_cert,
            peer_key,
            handshakes,
        } => {
            let tls = match tls_ca.as_deref().map(client_tls).transpose() {
                Ok(t) => t,
                Err(code) => return code,
            };
            let peer_tls = match (peer_cert.as_deref(), peer_key.as_deref()) {
                (Some(cert), Some(key)) => match server_tls(cert, key) {
                    Ok(t) => Some(t),
                    Err(code) => return code,
                },
                _ => None,
            };
            super::hl7_load::load(&super::hl7_load::LoadOptions {
                addr: &addr,
                file: &file,
                connections,
                messages,
                peers: &peer,
                drain: Duration::from_secs(drain),
                patients,
                rate,
                pid,
                tls,
                peer_tls,
                handshakes,
            })
        }
    }
}

/// A TLS client trusting the CA certificates in `ca` (PEM).
fn client_tls(ca: &std::path::Path) -> Result<accord_hl7::tls::ClientTls, ExitCode> {
    let pem = read(ca)?;
    accord_hl7::tls::ClientTls::from_ca_pem(&pem).map_err(|e| fail(2, &e.to_string()))
}

/// A TLS listener's identity from a certificate chain and its key (PEM files).
fn server_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<accord_hl7::tls::ServerTls, ExitCode> {
    let (cert, key) = (read(cert)?, read(key)?);
    accord_hl7::tls::ServerTls::from_pem(&cert, &key).map_err(|e| fail(2, &e.to_string()))
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(code)
}

pub(super) fn read(file: &std::path::Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(file).map_err(|e| fail(2, &format!("cannot read `{}`: {e}", file.display())))
}

/// 1-based line and column of a byte offset, counting CR and LF as line ends.
pub(super) fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
    let col = before
        .iter()
        .rev()
        .take_while(|&&b| b != b'\n' && b != b'\r')
        .count()
        + 1;
    (line, col)
}

/// A parse error as `file:line:col: error: ... (hint)`.
pub(super) fn parse_error(file: &std::path::Path, bytes: &[u8], e: &ParseError) -> String {
    let (line, col) = line_col(bytes, e.offset);
    format!(
        "{}:{line}:{col}: {e}\n  = help: {}",
        file.display(),
        e.hint()
    )
}

/// Every message of a file (one, a batch, or a concatenation).
pub(super) fn messages<'a>(
    file: &std::path::Path,
    bytes: &'a [u8],
) -> Result<Vec<Message<'a>>, ExitCode> {
    match Batch::parse(bytes) {
        Ok(b) if !b.messages.is_empty() => Ok(b.messages),
        Ok(_) => Err(fail(2, &format!("{}: no MSH segment", file.display()))),
        Err(e) => Err(fail(2, &parse_error(file, bytes, &e))),
    }
}

/// Reads a file, splits it into messages, and hands both to `f`; read and parse failures
/// become exit code 2 with a located message.
pub(super) fn with_messages(
    file: &std::path::Path,
    f: impl FnOnce(&[u8], &[Message]) -> ExitCode,
) -> ExitCode {
    let bytes = match read(file) {
        Ok(b) => b,
        Err(code) => return code,
    };
    match messages(file, &bytes) {
        Ok(msgs) => f(&bytes, &msgs),
        Err(code) => code,
    }
}

fn get(file: &std::path::Path, path: &str) -> ExitCode {
    let path = match Path::parse(path) {
        Ok(p) => p,
        Err(e) => return fail(2, &format!("{e} ({})", e.hint())),
    };
    with_messages(file, |bytes, msgs| {
        let m = &msgs[0];
        match m.get(&path) {
            Err(e) => fail(2, &parse_error(file, bytes, &e)),
            Ok(None) => {
                let why = match m.segment(&path.segment, path.occurrence.unwrap_or(1)) {
                    None => format!("the message has no {}", path.segment),
                    Some(s) => format!("{} has {} fields", path.segment, s.field_count()),
                };
                eprintln!("{path} is absent: {why}");
                ExitCode::from(1)
            }
            Ok(Some(v)) if v.is_null() => {
                super::emit("\"\"\n");
                ExitCode::SUCCESS
            }
            Ok(Some(v)) => match v.text_at(v.offset_in(m.bytes())) {
                Ok(t) => {
                    super::emit(&format!("{t}\n"));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(2, &parse_error(file, bytes, &e)),
            },
        }
    })
}

fn dictionary_for(m: &Message) -> Option<&'static dict::Dictionary> {
    m.version()
        .and_then(dict::dictionary)
        .or_else(|| dict::dictionary("2.5.1"))
}

fn inspect(file: &std::path::Path, format: &str) -> ExitCode {
    with_messages(file, |_bytes, msgs| {
        let mut json = vec![];
        let mut text_out = String::new();
        for m in msgs {
            let d = dictionary_for(m);
            for s in m.segments() {
                let mut fields = vec![];
                if format != "json" {
                    text_out.push_str(&format!("{} (segment {})\n", s.id(), s.index() + 1));
                }
                for n in 1..=s.field_count() {
                    let Some(f) = s.field(n) else { continue };
                    if f.is_empty() {
                        continue;
                    }
                    let def = d.and_then(|d| d.field(s.id(), n));
                    let (name, dt) = def.map(|f| (f.name, f.datatype)).unwrap_or(("", ""));
                    let comps = d.and_then(|d| d.components(dt));
                    let text = f
                        .text()
                        .map(|t| t.into_owned())
                        .unwrap_or_else(|_| String::from_utf8_lossy(f.raw()).into_owned());
                    let mut components = vec![];
                    for (ri, rep) in f.repetitions().enumerate() {
                        for (ci, comp) in rep.components().enumerate() {
                            if comp.is_empty() || rep.components().count() < 2 {
                                continue;
                            }
                            let cname = comps
                                .and_then(|c| c.iter().find(|x| x.position == ci + 1))
                                .map(|x| x.name)
                                .unwrap_or("");
                            let ctext = comp.text().map(|t| t.into_owned()).unwrap_or_default();
                            components.push(serde_json::json!({"repetition": ri + 1, "component": ci + 1, "name": cname, "value": ctext}));
                        }
                    }
                    if format == "json" {
                        fields.push(serde_json::json!({"field": n, "name": name, "datatype": dt, "value": text, "components": components}));
                    } else {
                        let label = if name.is_empty() {
                            String::new()
                        } else {
                            format!(" {name} ({dt})")
                        };
                        text_out.push_str(&format!("  {}-{n}{label}: {text}\n", s.id()));
                        for c in &components {
                            let rep = if f.repetitions().count() > 1 {
                                format!("[{}]", c["repetition"])
                            } else {
                                String::new()
                            };
                            text_out.push_str(&format!(
                                "    {}-{n}{rep}.{} {}: {}\n",
                                s.id(),
                                c["component"],
                                c["name"].as_str().unwrap_or(""),
                                c["value"].as_str().unwrap_or("")
                            ));
                        }
                    }
                }
                if format == "json" {
                    json.push(serde_json::json!({"segment": s.id(), "index": s.index() + 1, "fields": fields}));
                }
            }
        }
        if format == "json" {
            text_out = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
        }
        super::emit(&text_out);
        ExitCode::SUCCESS
    })
}

fn now_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = super::today::today().replace('-', "");
    let rem = secs % 86_400;
    format!("{day}{:02}{:02}{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

fn ack_text(m: &Message, code: AckCode, text: Option<&str>, error_code: Option<u16>) -> String {
    let errors = error_code
        .map(|c| {
            vec![ErrDetail {
                code: c,
                severity: Severity::Error,
                location: None,
                message: text.unwrap_or(dict_error(c)).to_string(),
            }]
        })
        .unwrap_or_default();
    let control = format!("ACK{}", m.control_id().unwrap_or(""));
    build_ack(
        m,
        &AckOptions {
            code,
            text,
            errors,
            control_id: &control,
            timestamp: &now_stamp(),
        },
    )
}

fn dict_error(code: u16) -> &'static str {
    accord_hl7::ack::error_code_text(code)
}

fn ack(
    file: &std::path::Path,
    code: &str,
    text: Option<&str>,
    error_code: Option<u16>,
) -> ExitCode {
    let Some(code) = AckCode::parse(code) else {
        return fail(
            2,
            &format!("`{code}` is not an ACK code: use AA, AE, AR, CA, CE or CR"),
        );
    };
    with_messages(file, |_bytes, msgs| {
        for m in msgs {
            super::emit(&ack_text(m, code, text, error_code).replace('\r', "\n"));
        }
        ExitCode::SUCCESS
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the async runtime: {e}"))
}

fn send(addr: &str, files: &[PathBuf], timeout: u64, tls_ca: Option<&std::path::Path>) -> ExitCode {
    let mut payloads = vec![];
    for f in files {
        let bytes = match read(f) {
            Ok(b) => b,
            Err(c) => return c,
        };
        let msgs = match messages(f, &bytes) {
            Ok(m) => m,
            Err(c) => return c,
        };
        payloads.extend(msgs.iter().map(|m| m.to_normalized()));
    }
    let mut opts = ClientOptions {
        read_timeout: Duration::from_secs(timeout),
        ..ClientOptions::default()
    };
    if let Some(ca) = tls_ca {
        match client_tls(ca) {
            Ok(t) => opts.tls = Some(t),
            Err(code) => return code,
        }
    }
    runtime().block_on(async move {
        let mut client = match MllpClient::connect(addr, opts).await {
            Ok(c) => c,
            Err(e) => return fail(2, &e.to_string()),
        };
        let mut negative = 0;
        for p in &payloads {
            match client.send(p).await {
                Ok(reply) => {
                    super::emit(&format!(
                        "{}\n",
                        String::from_utf8_lossy(&reply)
                            .trim_end()
                            .replace('\r', "\n")
                    ));
                    let code = Message::parse(&reply)
                        .ok()
                        .and_then(|m| m.get_text("MSA-1").ok().flatten());
                    if !matches!(code.as_deref(), Some("AA" | "CA")) {
                        negative += 1;
                    }
                }
                Err(e) => return fail(2, &e.to_string()),
            }
        }
        eprintln!(
            "sent {} message(s), {} not accepted",
            payloads.len(),
            negative
        );
        if negative > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn listen(host: &str, port: u16, reply: &str, count: Option<usize>) -> ExitCode {
    let code = match reply.to_ascii_lowercase().as_str() {
        "none" => None,
        other => match AckCode::parse(other) {
            Some(c) => Some(c),
            None => {
                return fail(
                    2,
                    &format!("`{reply}` is not a reply: use AA, AE, AR or none"),
                )
            }
        },
    };
    let addr = format!("{host}:{port}");
    runtime().block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => return fail(2, &format!("cannot listen on {addr}: {e}")),
        };
        eprintln!(
            "listening on {}",
            listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
        );
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let server = serve(listener, ServerOptions::default(), move |frame, peer| {
            let done = done_tx.clone();
            async move {
                let reply = match &frame {
                    Frame::Message(bytes) => {
                        super::emit(&format!(
                            "# from {peer}\n{}\n",
                            String::from_utf8_lossy(bytes)
                                .trim_end()
                                .replace('\r', "\n")
                        ));
                        match (code, Message::parse(bytes)) {
                            (None, _) => Reply::Nothing,
                            (Some(c), Ok(m)) => {
                                Reply::Frame(ack_text(&m, c, None, None).into_bytes())
                            }
                            (Some(_), Err(e)) => {
                                eprintln!("# unparseable message from {peer}: {e}");
                                Reply::Nothing
                            }
                        }
                    }
                    Frame::Oversized { size, .. } => {
                        eprintln!("# oversized frame of {size} bytes from {peer}");
                        Reply::Nothing
                    }
                };
                let _ = done.send(());
                reply
            }
        });
        let mut seen = 0usize;
        tokio::select! {
            r = server => if let Err(e) = r { return fail(2, &e.to_string()) },
            _ = async {
                while done_rx.recv().await.is_some() {
                    seen += 1;
                    if count.is_some_and(|c| seen >= c) {
                        // Let the last reply reach the sender before exiting.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        break;
                    }
                }
            } => {}
        }
        ExitCode::SUCCESS
    })
}
