//! `accord hl7 load`: drives a running production over MLLP and reports its throughput,
//! counted as IRIS counts it (messages in + messages out per second), and the latency of
//! its ACKs. Several connections each send the sample with a unique control id (MSH-10) and
//! wait for each ACK; optional peers (`--peer PORT`) stand in for the downstream systems,
//! ACK everything and count what the production delivers to them. Messages are spread over
//! `--patients` PID-3 values so the production's per-key lanes all work; `--rate` paces the
//! sending (latency is then measured from each message's scheduled time, so a stall is not
//! hidden by the sender waiting it out); `--pid` reports the production's peak RSS.
//! `--tls-ca` speaks TLS to the service and `--peer-cert`/`--peer-key` make the peers TLS
//! listeners, so the same run measures a production whose contract says `tls: required`;
//! `--handshakes N` first opens N connections one after another and reports what a new
//! connection costs (TCP, and the TLS handshake when on). Several addresses, comma-separated,
//! spread the connections over the nodes of one estate.

use accord_hl7::ack::{build_ack, AckCode, AckOptions};
use accord_hl7::builder::MessageBuilder;
use accord_hl7::mllp::client::{ClientOptions, MllpClient};
use accord_hl7::mllp::codec::Frame;
use accord_hl7::mllp::server::{serve, Reply, ServerOptions};
use accord_hl7::{Message, Path};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct LoadOptions<'a> {
    pub addr: &'a str,
    pub file: &'a std::path::Path,
    pub connections: usize,
    pub messages: usize,
    pub peers: &'a [u16],
    /// How long to wait, after the last ACK, for the peers to receive what is still queued.
    pub drain: Duration,
    /// How many distinct patients (PID-3) the messages are spread over.
    pub patients: usize,
    /// Messages per second in total across the connections; `None` sends flat out.
    pub rate: Option<u64>,
    /// A process whose peak RSS is reported at the end.
    pub pid: Option<u32>,
    /// TLS to the service, trusting the CA the caller gave.
    pub tls: Option<accord_hl7::tls::ClientTls>,
    /// TLS on the peers' listeners.
    pub peer_tls: Option<accord_hl7::tls::ServerTls>,
    /// New connections opened (and closed) one after another before the run, timed.
    pub handshakes: usize,
}

/// Opens `n` connections one after another, each until its first byte could be sent (the
/// TLS handshake done, when on), and returns how long each took.
async fn time_connections(
    addr: &str,
    opts: &ClientOptions,
    n: usize,
) -> Result<Vec<Duration>, String> {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let client = MllpClient::connect(addr, opts.clone())
            .await
            .map_err(|e| e.to_string())?;
        took.push(t.elapsed());
        drop(client);
    }
    took.sort();
    Ok(took)
}

/// The template with its own control id and, if it has a PID segment, patient.
fn personalise(template: &Message, id: &str, patient: Option<&str>) -> Vec<u8> {
    let mut b = MessageBuilder::from_message(template);
    if let Ok(p) = Path::parse("MSH-10") {
        let _ = b.set(&p, id);
    }
    if let (Some(patient), Ok(p)) = (patient, Path::parse("PID-3.1")) {
        let _ = b.set(&p, patient);
    }
    b.serialize()
}

/// The messages each connection sends: the template with a unique control id and, when
/// it has a PID segment, PID-3.1 spread over `patients` identifiers.
fn payloads(
    template: &Message,
    run: &str,
    connections: usize,
    per_conn: usize,
    patients: usize,
) -> Vec<Vec<Vec<u8>>> {
    let has_pid = template.segment("PID", 1).is_some();
    (0..connections)
        .map(|c| {
            (0..per_conn)
                .map(|i| {
                    let n = i * connections + c;
                    let patient = has_pid.then(|| format!("LP{:06}", n % patients));
                    personalise(template, &format!("L{run}-{c}-{i}"), patient.as_deref())
                })
                .collect()
        })
        .collect()
}

/// Peak and current resident memory of a process, from `/proc/PID/status` (Linux).
fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((kib("VmHWM:")?, kib("VmRSS:")?))
}

/// The value at fraction `p` (0.5 for the median) of `sorted`; zero when it is empty.
pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn load(o: &LoadOptions) -> ExitCode {
    let bytes = match super::hl7::read(o.file) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let template = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(_) => {
            eprintln!("error: `{}` is not an HL7 v2 message", o.file.display());
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        let delivered = Arc::new(AtomicU64::new(0));
        for port in o.peers {
            let listener = match tokio::net::TcpListener::bind(("127.0.0.1", *port)).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: cannot listen on peer port {port}: {e}");
                    return ExitCode::from(2);
                }
            };
            let count = delivered.clone();
            let peer_options = ServerOptions {
                tls: o.peer_tls.clone(),
                ..ServerOptions::default()
            };
            tokio::spawn(serve(listener, peer_options, move |frame, _| {
                let count = count.clone();
                async move {
                    let Frame::Message(b) = frame else {
                        return Reply::Nothing;
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    match Message::parse(&b) {
                        Ok(m) => Reply::Frame(
                            build_ack(
                                &m,
                                &AckOptions {
                                    code: AckCode::AA,
                                    text: None,
                                    errors: vec![],
                                    control_id: "LOADPEER",
                                    timestamp: "20261122000000",
                                },
                            )
                            .into_bytes(),
                        ),
                        Err(_) => Reply::Nothing,
                    }
                }
            }));
        }
        let client_options = ClientOptions {
            tls: o.tls.clone(),
            ..ClientOptions::default()
        };
        if o.handshakes > 0 {
            let first = o.addr.split(',').next().unwrap_or(o.addr).trim();
            match time_connections(first, &client_options, o.handshakes).await {
                Ok(took) => {
                    let mean = took.iter().sum::<Duration>() / took.len() as u32;
                    println!(
                        "new connection ({}): mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms over {}",
                        if o.tls.is_some() {
                            "TCP + TLS handshake"
                        } else {
                            "TCP"
                        },
                        mean.as_secs_f64() * 1e3,
                        percentile(&took, 0.50).as_secs_f64() * 1e3,
                        percentile(&took, 0.99).as_secs_f64() * 1e3,
                        took.len()
                    );
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        let connections = o.connections.max(1);
        let per_conn = o.messages.div_ceil(connections);
        let patients = o.patients.max(1);
        // Six hex digits that differ per run keep control ids unique and short (profiles
        // often cap MSH-10 at 20 characters).
        let run = format!(
            "{:06x}",
            (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                ^ std::process::id() as u128)
                & 0xff_ffff
        );
        // Every payload is built before the clock starts.
        let per_connection = payloads(&template, &run, connections, per_conn, patients);
        // Each connection's share of the rate: one message every `interval`.
        let interval = o
            .rate
            .filter(|r| *r > 0)
            .map(|r| Duration::from_secs_f64(connections as f64 / r as f64));
        let start = Instant::now();
        let mut tasks = vec![];
        let addrs: Vec<&str> = o.addr.split(',').map(str::trim).collect();
        for (c, payloads) in per_connection.into_iter().enumerate() {
            let addr = addrs[c % addrs.len()].to_string();
            let client_options = client_options.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = MllpClient::connect(&addr, client_options)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut latencies = Vec::with_capacity(payloads.len());
                let mut positive = 0usize;
                let began = tokio::time::Instant::now();
                for (i, p) in payloads.iter().enumerate() {
                    let t = match interval {
                        Some(every) => {
                            let due = began + every * i as u32;
                            tokio::time::sleep_until(due).await;
                            due.into_std()
                        }
                        None => Instant::now(),
                    };
                    let ack = client.send(p).await.map_err(|e| e.to_string())?;
                    latencies.push(t.elapsed());
                    if Message::parse(&ack)
                        .ok()
                        .and_then(|m| m.get_text("MSA-1").ok().flatten())
                        .is_some_and(|c| c == "AA" || c == "CA")
                    {
                        positive += 1;
                    }
                }
                Ok::<_, String>((latencies, positive))
            }));
        }
        let mut latencies = vec![];
        let mut positive = 0;
        for t in tasks {
            match t.await {
                Ok(Ok((l, p))) => {
                    latencies.extend(l);
                    positive += p;
                }
                Ok(Err(e)) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        let sent_in = start.elapsed();
        // Let the production deliver what it queued, until the peers stop receiving.
        let mut last = delivered.load(Ordering::Relaxed);
        let mut quiet = Instant::now();
        while !o.peers.is_empty() && quiet.elapsed() < o.drain {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = delivered.load(Ordering::Relaxed);
            if now != last {
                last = now;
                quiet = Instant::now();
            }
        }
        let out = delivered.load(Ordering::Relaxed);
        let total = if o.peers.is_empty() {
            sent_in
        } else {
            sent_in.max(quiet - start)
        };
        let total = total.max(Duration::from_millis(1));
        latencies.sort();
        let n = latencies.len();
        println!(
            "sent {n} message(s) over {} connection(s): {positive} positive ACK(s)",
            o.connections
        );
        println!("in:    {:>10.0} msg/s", n as f64 / sent_in.as_secs_f64());
        if !o.peers.is_empty() {
            println!(
                "out:   {:>10.0} msg/s ({out} delivered to the peers)",
                out as f64 / total.as_secs_f64()
            );
            println!(
                "total: {:>10.0} msg/s (in + out)",
                (n as u64 + out) as f64 / total.as_secs_f64()
            );
        }
        println!(
            "ACK latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
        if let Some(pid) = o.pid {
            match memory_of(pid) {
                Some((peak, now)) => println!(
                    "memory of process {pid}: peak RSS {:.1} MiB, now {:.1} MiB",
                    peak as f64 / 1024.0,
                    now as f64 / 1024.0
                ),
                None => eprintln!("warning: cannot read the memory of process {pid}"),
            }
        }
        if positive == n {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patients_spread_over_pid_3_and_control_ids_stay_unique() {
        let text = "MSH|^~\\&|A|B|C|D|20261122||ADT^A01|X|P|2.4\rPID|1||100001^^^TRAK^MR~943^^^NHS^NH||DOE\r";
        let template = Message::parse(text.as_bytes()).unwrap();
        let all: Vec<Vec<u8>> = payloads(&template, "abc123", 3, 4, 5)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(all.len(), 12);
        let read = |b: &[u8], p: &str| {
            let m = Message::parse(b).unwrap();
            m.get(&Path::parse(p).unwrap())
                .unwrap()
                .map(|v| v.text().unwrap().into_owned())
                .unwrap_or_default()
        };
        let ids: std::collections::HashSet<String> =
            all.iter().map(|b| read(b, "PID-3.1")).collect();
        assert_eq!(ids.len(), 5, "{ids:?}");
        assert!(ids.contains("LP000004"));
        // The rest of PID-3 (type MR, the NHS repetition) is kept.
        assert_eq!(read(&all[0], "PID-3[1].5"), "MR");
        assert_eq!(read(&all[0], "PID-3[2].1"), "943");
        let controls: std::collections::HashSet<String> =
            all.iter().map(|b| read(b, "MSH-10")).collect();
        assert_eq!(controls.len(), 12);
    }
}
