//! `accord hl7 load`: drives a running production over MLLP and reports its throughput,
//! counted as IRIS counts it (messages in + messages out per second), and the latency of
//! its ACKs. Several connections each send the sample with a unique control id (MSH-10) and
//! wait for each ACK; optional peers (`--peer PORT`) stand in for the downstream systems,
//! ACK everything and count what the production delivers to them.

use accord_runtime::hl7::ack::{build_ack, AckCode, AckOptions};
use accord_runtime::hl7::builder::MessageBuilder;
use accord_runtime::hl7::{Message, Path};
use accord_runtime::mllp::client::{ClientOptions, MllpClient};
use accord_runtime::mllp::codec::Frame;
use accord_runtime::mllp::server::{serve, Reply, ServerOptions};
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
}

fn with_control_id(template: &Message, id: &str) -> Vec<u8> {
    let mut b = MessageBuilder::from_message(template);
    if let Ok(p) = Path::parse("MSH-10") {
        let _ = b.set(&p, id);
    }
    b.serialize()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
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
    if Message::parse(&bytes).is_err() {
        eprintln!("error: `{}` is not an HL7 v2 message", o.file.display());
        return ExitCode::from(2);
    }
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
            tokio::spawn(serve(
                listener,
                ServerOptions::default(),
                move |frame, _| {
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
                },
            ));
        }
        let per_conn = o.messages.div_ceil(o.connections.max(1));
        let start = Instant::now();
        let mut tasks = vec![];
        for c in 0..o.connections.max(1) {
            let (addr, bytes) = (o.addr.to_string(), bytes.clone());
            let run = format!(
                "{:x}",
                start.elapsed().as_nanos() ^ std::process::id() as u128
            );
            tasks.push(tokio::spawn(async move {
                let template = Message::parse(&bytes).map_err(|e| e.to_string())?;
                let payloads: Vec<Vec<u8>> = (0..per_conn)
                    .map(|i| with_control_id(&template, &format!("L{run}-{c}-{i}")))
                    .collect();
                let mut client = MllpClient::connect(&addr, ClientOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let mut latencies = Vec::with_capacity(per_conn);
                let mut positive = 0usize;
                for p in &payloads {
                    let t = Instant::now();
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
        if positive == n {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    })
}
