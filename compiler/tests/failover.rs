//! Three production nodes on one PostgreSQL journal (`cargo test -- failover`): senders
//! spread over the nodes, each retrying on the next node when its own does not answer, as
//! a TCP load balancer would; a node killed with `kill -9` at random moments and started
//! again, a dozen times. Every positively acknowledged message reaches WinPath, each
//! patient's messages in the order they were acknowledged, duplicates at most one per
//! lane per kill; the killed node's lanes are taken over and delivering again within 5 s
//! at p99 (from the kill to the first delivery, by another node, on a lane the killed node
//! held); `status` shows the nodes and their lanes; and a node stopped with SIGTERM gives
//! its leases up at once.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::postgres::{JournalAt, Postgres, PASSWORD};
use support::*;

/// Lanes per operation (the example's default).
const LANES: u32 = 4;
/// Patients per sender.
const KEYS: u32 = 8;
const SENDERS: u32 = 6;
const KILLS: usize = 12;

/// One node: its configuration, where it logs, its ports.
struct Node {
    name: String,
    config: PathBuf,
    store: PathBuf,
    adt_in: u16,
    admin: u16,
    child: Option<std::process::Child>,
}

impl Node {
    fn start(&mut self, bin: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.store.with_extension("log"))
            .unwrap();
        let child = Command::new(bin)
            .args(["run", "--env", "dev", "--node", &self.name, "--config"])
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if http_get(self.admin, "/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "node {} did not become ready: {}",
            self.name,
            std::fs::read_to_string(self.store.with_extension("log")).unwrap_or_default()
        );
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The example's ADT A01 for patient `mrn`, its `seq`th message (in the family name, which
/// WinPath receives).
fn adt(mrn: u32, seq: u32) -> String {
    format!(
        "MSH|^~\\&|TRAKCARE|LOTHIAN|HUB|LOTHIAN|20261122090000||ADT^A01^ADT_A01|F{mrn}-{seq}|P|2.4\r\
         EVN|A01|20261122085900\rPID|1||{mrn}^^^PAS^MR||S{seq:06}^JANE||19800101|F\rPV1|1|I\r"
    )
}

/// Sends `m` to `port` and reads the MSA code; `None` if the node did not answer.
fn try_send(port: u16, m: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write_frame(&mut s, m.as_bytes());
    read_frame(&mut s).map(|r| field(&String::from_utf8_lossy(&r), "MSA", 1))
}

/// The lane of `key` among `lanes`: FNV-1a, as the journal places it.
fn lane_of(key: &str, lanes: u32) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    h % lanes
}

/// (patient, seq) of a message WinPath received.
fn key_seq(m: &str) -> (String, u32) {
    let mrn = field(m, "PID", 3)
        .split('^')
        .next()
        .unwrap_or("")
        .to_string();
    let name = field(m, "PID", 5);
    let seq = name
        .split('^')
        .next()
        .and_then(|f| f.strip_prefix('S'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (mrn, seq)
}

/// A tiny generator, so the kills fall at moments the test does not choose.
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Waits until `peer` has every acknowledged message, checks each patient's came in
/// order (a message again only as a redelivery, at most one per lane per kill), and
/// answers how many came again. What the kills left queued drains at this machine's
/// speed, which varies: the wait fails only when nothing new arrives for 30 s (the
/// messages are stuck, not slow), or after 10 minutes.
/// `journal` says where the messages stand when some never arrive.
fn delivered_in_order(
    peer: &Peer,
    name: &str,
    acked: &[(String, u32)],
    kills: usize,
    journal: &JournalAt,
    pids: &[u32],
) -> usize {
    let t = Instant::now();
    let (mut arrived, mut moved) = (0, Instant::now());
    loop {
        let got: HashSet<(String, u32)> = peer.messages().iter().map(|m| key_seq(m)).collect();
        let missing: Vec<&(String, u32)> = acked.iter().filter(|a| !got.contains(a)).collect();
        if missing.is_empty() {
            break;
        }
        if got.len() > arrived {
            (arrived, moved) = (got.len(), Instant::now());
        }
        if moved.elapsed() >= Duration::from_secs(30) || t.elapsed() >= Duration::from_secs(600) {
            // Where the journal has them, and who holds what: the story of a stuck lane.
            let states = journal.rows(
                "SELECT interface, direction, state, CAST(COUNT(*) AS TEXT) FROM messages
                 GROUP BY interface, direction, state ORDER BY 1, 2, 3",
            );
            let leases = journal.rows(
                "SELECT name, node, CAST(expires_at - accord_now_ms() AS TEXT) FROM leases
                 ORDER BY name",
            );
            let nodes = journal.rows(
                "SELECT id, CAST(accord_now_ms() - seen_at AS TEXT),
                   COALESCE(CAST(left_at AS TEXT), '') FROM nodes ORDER BY id",
            );
            // Three looks, a fifth of a second apart: a transaction stuck, or many short ones.
            let sessions: Vec<Vec<Vec<String>>> = (0..3)
                .map(|_| {
                    std::thread::sleep(Duration::from_millis(200));
                    journal.rows(
                        "SELECT CAST(pid AS TEXT), COALESCE(state, ''), COALESCE(wait_event_type, ''),
                           COALESCE(wait_event, ''), LEFT(query, 60),
                           COALESCE(CAST(clock_timestamp() - xact_start AS TEXT), ''),
                           COALESCE(CAST(clock_timestamp() - state_change AS TEXT), '')
                         FROM pg_stat_activity WHERE datname = current_database()
                           AND state <> 'idle' ORDER BY 1",
                    )
                })
                .collect();
            let waiting = journal.rows(
                "SELECT locktype, COALESCE(CAST(objid AS TEXT), ''), mode, CAST(pid AS TEXT)
                 FROM pg_locks WHERE NOT granted",
            );
            panic!(
                "{} of {} acknowledged messages never reached {name} (nothing new for {:?}, {:?} in all), e.g. {:?}\n\
                 messages by state: {states:?}\nleases: {leases:?}\nnodes: {nodes:?}\n\
                 sessions: {sessions:#?}\nlocks waited for: {waiting:?}\n{}",
                missing.len(),
                acked.len(),
                moved.elapsed(),
                t.elapsed(),
                &missing[..missing.len().min(5)],
                backtraces(pids) + &backtraces(pids)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut last: HashMap<String, u32> = HashMap::new();
    let mut seen: HashSet<(String, u32)> = HashSet::new();
    let mut duplicates = 0;
    for m in peer.messages() {
        let (key, seq) = key_seq(&m);
        if !seen.insert((key.clone(), seq)) {
            duplicates += 1;
            continue;
        }
        let before = last.insert(key.clone(), seq).unwrap_or(0);
        assert!(
            seq > before,
            "{name}, patient {key}: message {seq} arrived after {before}"
        );
    }
    assert!(
        duplicates <= kills * LANES as usize,
        "{name}: {duplicates} duplicates for {kills} kills of nodes with {LANES} lanes each"
    );
    duplicates
}

/// Where each node's threads stand (gdb, when the machine has it): the engine's frames
/// of each thread, to tell a stuck processor from an idle one.
fn backtraces(pids: &[u32]) -> String {
    let mut out = String::new();
    for pid in pids {
        let Ok(gdb) = Command::new("gdb")
            .args([
                "-p",
                &pid.to_string(),
                "-batch",
                "-ex",
                "thread apply all bt",
            ])
            .output()
        else {
            return "(no gdb here for the nodes' backtraces)".into();
        };
        out.push_str(&format!("node pid {pid}:\n"));
        for line in String::from_utf8_lossy(&gdb.stdout).lines() {
            if line.starts_with("Thread ")
                || line.contains("accord_engine::")
                || line.contains("postgres::")
            {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn failover_three_nodes_killed_at_random_lose_nothing_and_keep_each_patients_order() {
    failover(Placement::Spread);
}

/// With `lane_placement = "with-processor"`, every lane runs on the node that processes;
/// the node killed is that one each time, so each kill moves the processor and every lane
/// at once, and the same guarantees hold.
#[test]
fn failover_with_the_lanes_on_the_processors_node_kills_it_and_loses_nothing() {
    failover(Placement::WithProcessor);
}

/// Where the nodes run the lanes (`[journal] lane_placement`), and which node each kill
/// takes.
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    /// Shared out among the nodes (the default); a random node is killed.
    Spread,
    /// All on the processor's node, which is the node killed.
    WithProcessor,
}

/// The two tests run one after the other: each measures failover times on the machine's
/// cores, which the other's nodes would share.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn failover(placement: Placement) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let with_processor = placement == Placement::WithProcessor;
    let kills_wanted = if with_processor { 6 } else { KILLS };
    let dir = fresh_dir(if with_processor {
        "failover-with-processor"
    } else {
        "failover"
    });
    let pg = Postgres::start(&dir.join("pg"));
    let bin = build("examples/trakcare-lab");
    let (winpath, pharmacy, results) = example_peers();
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|name| {
            let at = dir.join(name);
            std::fs::create_dir_all(&at).unwrap();
            let ports = [free_port(), free_port(), free_port(), free_port()];
            let config = example_config(&at, ports, [winpath.port, pharmacy.port, results.port]);
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&pg.journal_toml(&at));
            if with_processor {
                text.push_str("lane_placement = \"with-processor\"\n");
            }
            std::fs::write(&config, text).unwrap();
            Node {
                name: name.to_string(),
                config,
                store: at.join("var"),
                adt_in: ports[0],
                admin: ports[3],
                child: None,
            }
        })
        .collect();
    for n in &mut nodes {
        std::fs::create_dir_all(&n.store).unwrap();
        n.start(&bin);
    }
    let ports: Vec<u16> = nodes.iter().map(|n| n.adt_in).collect();
    let journal = JournalAt::Postgres(pg.url());

    // The senders: each its own patients, the next message of a patient only once the
    // last was acknowledged; a node that does not answer is left for the next.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (stop, acked, ports) = (stop.clone(), acked.clone(), ports.clone());
            std::thread::spawn(move || {
                let mut node = s as usize % ports.len();
                let mut seqs = vec![0u32; KEYS as usize];
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mrn = 900_000 + s * 100 + k;
                    let seq = seqs[k as usize] + 1;
                    let m = adt(mrn, seq);
                    loop {
                        match try_send(ports[node], &m).as_deref() {
                            Some("AA") => break,
                            _ => {
                                node = (node + 1) % ports.len();
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                    seqs[k as usize] = seq;
                    acked.lock().unwrap().push((mrn.to_string(), seq));
                    k = (k + 1) % KEYS;
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();

    let mut random = Random(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    eprintln!("failover: random seed {}", random.0);
    let mut failovers: Vec<Duration> = vec![];
    let mut kills = 0;
    std::thread::sleep(Duration::from_secs(2));
    // `status` shows the three nodes and their lanes.
    let status = Command::new(&bin)
        .args(["status", "--journal", &pg.url()])
        .env("ACCORD_JOURNAL_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let status = text(&status);
    assert!(status.contains("nodes (3 live of 3)"), "{status}");
    for n in ["n1", "n2", "n3"] {
        assert!(status.contains(&format!("  {n} ")), "{status}");
    }
    assert!(status.contains("adt_to_lims"), "{status}");
    while kills < kills_wanted {
        // A random moment, a random node (with the lanes on the processor's node, that
        // node, which holds every lane).
        std::thread::sleep(Duration::from_millis(1_000 + random.next(2_000)));
        let victim = if with_processor {
            let processor = journal.rows(
                "SELECT node FROM leases WHERE name = 'processor' AND expires_at > accord_now_ms()",
            );
            let holder = processor.first().map(|r| r[0].clone()).unwrap_or_default();
            let elsewhere = journal.count(&format!(
                "SELECT COUNT(*) FROM leases WHERE name LIKE 'lane/%' AND node <> '{holder}'
                   AND expires_at > accord_now_ms()"
            ));
            let lanes = journal.count(&format!(
                "SELECT COUNT(*) FROM leases WHERE name LIKE 'lane/%' AND node = '{holder}'"
            ));
            assert_eq!(elsewhere, 0, "a lane runs on a node that does not process");
            assert!(
                lanes >= 2 * LANES as i64,
                "the processor's node runs {lanes} lanes"
            );
            nodes
                .iter()
                .position(|n| holder.starts_with(&format!("{}:", n.name)))
                .expect("a node processes")
        } else {
            random.next(nodes.len() as u64) as usize
        };
        let name = nodes[victim].name.clone();
        // The lanes it holds of the two operations WinPath and the pharmacy receive from.
        let held = |op: &str| -> HashSet<u32> {
            journal
                .rows(&format!(
                    "SELECT name FROM leases WHERE node LIKE '{name}:%' AND name LIKE 'lane/{op}/%'
                       AND expires_at > accord_now_ms()"
                ))
                .into_iter()
                .filter_map(|r| r[0].rsplit('/').next().and_then(|n| n.parse().ok()))
                .collect()
        };
        let (lims, pharm) = (held("adt_to_lims"), held("adt_to_pharmacy"));
        let killed_at = Instant::now();
        nodes[victim].kill();
        kills += 1;
        if !lims.is_empty() || !pharm.is_empty() {
            // The first delivery after the kill on a lane the victim held (past what the
            // victim itself had on the wire when it died).
            let after_kill = killed_at + Duration::from_millis(50);
            let t = Instant::now();
            let first = loop {
                let after = |peer: &Peer, lanes: &HashSet<u32>| {
                    peer.timed().into_iter().find(|(at, m)| {
                        *at > after_kill && lanes.contains(&lane_of(&key_seq(m).0, LANES))
                    })
                };
                let got = [after(&winpath, &lims), after(&pharmacy, &pharm)]
                    .into_iter()
                    .flatten()
                    .map(|(at, _)| at)
                    .min();
                if let Some(at) = got {
                    break at;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "no delivery on {name}'s lanes ({lims:?}, {pharm:?}) within 30 s of its kill"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            failovers.push(first - killed_at);
        }
        nodes[victim].start(&bin);
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }

    // Everything acknowledged reaches WinPath and the pharmacy, in each patient's order.
    let acked = acked.lock().unwrap().clone();
    let mut duplicates = 0;
    for (peer, name) in [(&winpath, "WinPath"), (&pharmacy, "the pharmacy")] {
        let pids: Vec<u32> = nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(|c| c.id()))
            .collect();
        duplicates += delivered_in_order(peer, name, &acked, kills, &journal, &pids);
    }
    failovers.sort();
    let p99 = failovers[(failovers.len() * 99).div_ceil(100).saturating_sub(1)];
    eprintln!(
        "failover: {} messages acknowledged, {kills} kills, {} measured; failover times {:?}; p99 {:?}; {duplicates} duplicates",
        acked.len(),
        failovers.len(),
        failovers,
        p99
    );
    assert!(
        failovers.len() >= kills_wanted.min(10),
        "too few kills hit a node with lanes: {failovers:?}"
    );
    assert!(
        p99 < Duration::from_secs(5),
        "failover p99 {p99:?}: {failovers:?}"
    );

    // A node stopped as a service manager stops it (SIGTERM) gives its leases up at once,
    // and `status` says it stopped.
    let n1 = nodes[0].child.take().unwrap();
    let stopped = Command::new("kill")
        .args(["-TERM", &n1.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let out = n1.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "n1 did not stop cleanly: {:?}",
        out.status
    );
    let held = journal.count("SELECT COUNT(*) FROM leases WHERE node LIKE 'n1:%'");
    assert_eq!(held, 0, "n1's leases outlived it");
    let status = Command::new(&bin)
        .args(["status", "--journal", &pg.url()])
        .env("ACCORD_JOURNAL_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let status = text(&status);
    assert!(status.contains("nodes (2 live of"), "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.contains("  n1 ") && l.contains("stopped")),
        "{status}"
    );
    drop(nodes);
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
