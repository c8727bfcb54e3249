//! The transport ceiling of the load benchmark (book: Performance, "The production under
//! load"): an MLLP relay that does only what no production can avoid. It answers each
//! message with a commit ACK as soon as it is read, and forwards the same bytes to every
//! peer through `--lanes` connections per peer, chosen by PID-3.1, each sending one
//! message at a time and waiting for its ACK. No journal, no routing, no mapping.
//!
//! `accord hl7 load` drives it exactly as it drives a production, so the production's
//! figures can be read as a share of what the same sockets and the same load tool reach
//! on the same machine, in the same session:
//!
//! ```console
//! $ cargo run --release -p accord-engine --example mllp_relay -- \
//!     --listen 127.0.0.1:16661 --peer 127.0.0.1:17001 --peer 127.0.0.1:17002 --lanes 8 &
//! $ accord hl7 load 127.0.0.1:16661 examples/trakcare-lab/samples/adt_a01.hl7 \
//!     --connections 8 --messages 40000 --patients 1000 --peer 17001 --peer 17002 --pid $!
//! ```

use accord_engine::journal;
use accord_hl7::ack::{build_ack, AckCode, AckOptions};
use accord_hl7::mllp::client::{ClientOptions, MllpClient};
use accord_hl7::mllp::codec::Frame;
use accord_hl7::mllp::server::{serve, Reply, ServerOptions};
use accord_hl7::Message;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

struct Args {
    listen: String,
    peers: Vec<String>,
    lanes: usize,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        listen: "127.0.0.1:16661".into(),
        peers: vec![],
        lanes: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => out.listen = value,
            "--peer" => out.peers.push(value),
            "--lanes" => out.lanes = value.parse().map_err(|e| format!("--lanes: {e}"))?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(out)
}

/// The lane of a message: its PID-3.1 spread as a production spreads ordering keys.
fn lane_of(message: &Message, lanes: usize) -> usize {
    let key = message.get_text("PID-3.1").ok().flatten();
    journal::lane_of(key.as_deref(), lanes as u32) as usize
}

/// One lane to one peer: sends what it is given, one message at a time, each waiting
/// for the peer's ACK.
async fn lane(peer: String, mut queue: mpsc::UnboundedReceiver<Bytes>) {
    let mut client = None;
    while let Some(message) = queue.recv().await {
        loop {
            if client.is_none() {
                match MllpClient::connect(&peer, ClientOptions::default()).await {
                    Ok(c) => client = Some(c),
                    Err(e) => {
                        eprintln!("mllp_relay: cannot connect to {peer}: {e}; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
            let c = client.as_mut().expect("connected above");
            match c.send(&message).await {
                Ok(_) => break,
                Err(e) => {
                    eprintln!("mllp_relay: {peer}: {e}; sending again");
                    client = None;
                }
            }
        }
    }
}

fn main() -> Result<(), String> {
    let args = args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let lanes: Vec<Vec<mpsc::UnboundedSender<Bytes>>> = args
            .peers
            .iter()
            .map(|peer| {
                (0..args.lanes.max(1))
                    .map(|_| {
                        let (tx, rx) = mpsc::unbounded_channel();
                        tokio::spawn(lane(peer.clone(), rx));
                        tx
                    })
                    .collect()
            })
            .collect();
        let lanes = Arc::new(lanes);
        let seq = Arc::new(AtomicU64::new(0));
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        eprintln!("mllp_relay: listening on {}", args.listen);
        serve(listener, ServerOptions::default(), move |frame, _peer| {
            let lanes = lanes.clone();
            let seq = seq.clone();
            async move {
                let Frame::Message(bytes) = frame else {
                    return Reply::Nothing;
                };
                let Ok(message) = Message::parse(&bytes) else {
                    return Reply::Nothing;
                };
                let n = lane_of(&message, lanes.first().map_or(1, Vec::len));
                for peer in lanes.iter() {
                    let _ = peer[n].send(bytes.clone());
                }
                let id = format!("R{}", seq.fetch_add(1, Ordering::Relaxed));
                let ack = build_ack(
                    &message,
                    &AckOptions {
                        code: AckCode::AA,
                        text: None,
                        errors: vec![],
                        control_id: &id,
                        timestamp: "20261202000000",
                    },
                );
                Reply::Frame(ack.into_bytes())
            }
        })
        .await
        .map_err(|e| e.to_string())
    })
}
