//! Crashes under load, with real processes and sockets: four senders push 20,000 ADT
//! messages while the production is killed with SIGKILL at five random moments and
//! restarted on the same journal. Everything acknowledged must reach the lab, each
//! patient's updates in order, with at most one duplicate per lane and kill. A test binary
//! of its own, so the other end-to-end tests' timings do not share the machine with it.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;

/// A sender over MLLP that survives the production dying: it reconnects and sends the
/// unacknowledged message again (same control id), and returns the control ids that got
/// a positive ACK, in the order they were sent.
fn push_until_acked(port: u16, messages: Vec<String>) -> Vec<String> {
    let mut acked = vec![];
    let mut conn: Option<TcpStream> = None;
    for m in messages {
        let control = field(&m, "MSH", 10);
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{control} was never acknowledged"
            );
            if conn.is_none() {
                match TcpStream::connect(("127.0.0.1", port)) {
                    Ok(s) => {
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        conn = Some(s);
                    }
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
            }
            let s = conn.as_mut().unwrap();
            let mut framed = vec![0x0b];
            framed.extend_from_slice(m.as_bytes());
            framed.extend_from_slice(&[0x1c, 0x0d]);
            let reply = s.write_all(&framed).ok().and_then(|_| read_frame(s));
            match reply.map(|r| String::from_utf8_lossy(&r).into_owned()) {
                Some(ack) if ack.contains(&format!("MSA|AA|{control}")) => {
                    acked.push(control.clone());
                    break;
                }
                _ => {
                    // No reply (the production died) or not positive: send it again.
                    conn = None;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
    acked
}

fn adt(patient: u32, seq: u32) -> String {
    format!(
        "MSH|^~\\&|PAS|H|HUB|H|20261122090000||ADT^A08^ADT_A01|P{patient}S{seq}|P|2.5.1\r\
         EVN|A08|20261122090000\rPID|1||{patient}^^^PAS^MR||DOE^JANE||19800101|F\rPV1|1|I|W{seq}\r"
    )
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_keeps_each_patients_order() {
    let bin = build("compiler/tests/production/crash");
    // The lab's deliveries run in four lanes by patient, each with its own connection.
    const LANES: usize = 4;
    let lab = Peer::start(|_, _| "CA");
    let (hub, admin) = (free_port(), free_port());
    let dir = fresh_dir("e2e-crash");
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[journal]\nsync = \"full\"\n\
             [limits]\nlanes = {LANES}\n\
             [endpoints.hub_in]\nport = {hub}\n[endpoints.lab_out]\nport = {}\n",
            lab.port
        ),
    )
    .unwrap();
    let store = dir.join("var");
    let mut prod = start(&bin, &config, &store, admin);

    // Four senders, ten patients each, 500 updates per patient: 20,000 messages.
    const CONNECTIONS: u32 = 4;
    const PATIENTS: u32 = 10;
    const UPDATES: u32 = 500;
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let messages: Vec<String> = (0..UPDATES)
                .flat_map(|seq| (0..PATIENTS).map(move |p| adt(c * PATIENTS + p + 1, seq)))
                .collect();
            std::thread::spawn(move || push_until_acked(hub, messages))
        })
        .collect();

    // Five SIGKILLs at moments drawn from the clock, each followed by a restart on the
    // same journal and ports.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut kills = 0;
    while kills < 5 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(300 + (seed >> 33) % 1200));
        prod.child.kill().unwrap();
        prod.child.wait().unwrap();
        kills += 1;
        prod = start(&bin, &config, &store, admin);
    }
    let acked: Vec<String> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    assert_eq!(acked.len(), (CONNECTIONS * PATIENTS * UPDATES) as usize);

    // Everything acknowledged reaches the lab.
    let deadline = Instant::now() + Duration::from_secs(300);
    let got = loop {
        let got = lab.messages();
        let seen: std::collections::HashSet<String> =
            got.iter().map(|m| field(m, "MSH", 10)).collect();
        if acked.iter().all(|c| seen.contains(c)) {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged messages never reached the lab (after {kills} kills): {}",
            acked.iter().filter(|c| !seen.contains(*c)).count(),
            std::fs::read_to_string(store.with_extension("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    // Each patient's updates arrive in the order they were sent; a duplicate is a message
    // sent again after a crash, with the same control id: at most one per lane and crash
    // (a lane records each delivery before it sends the next).
    let mut first_seen = std::collections::HashSet::new();
    let mut last_seq: std::collections::HashMap<String, u32> = Default::default();
    let mut duplicates = 0;
    for m in &got {
        let control = field(m, "MSH", 10);
        if !first_seen.insert(control.clone()) {
            duplicates += 1;
            continue;
        }
        let (patient, seq) = control[1..].split_once('S').unwrap();
        let seq: u32 = seq.parse().unwrap();
        if let Some(prev) = last_seq.insert(patient.to_string(), seq) {
            assert!(
                seq == prev + 1,
                "patient {patient}: update {seq} arrived after {prev}"
            );
        }
    }
    eprintln!(
        "{} messages acknowledged and delivered in order across {kills} SIGKILLs; {duplicates} duplicate(s) at the lab",
        acked.len()
    );
    assert!(
        duplicates <= kills * LANES,
        "{duplicates} duplicates at the lab after {kills} kills"
    );
    drop(prod);
}
