//! The production end to end, with real processes and real sockets: `accord build` the
//! example estate, start its binary with a configuration that points every endpoint at
//! loopback ports, start the downstream systems (WinPath, the pharmacy, TrakCare's results
//! listener) as MLLP peers written here over std TCP, and send the example messages from
//! python-hl7's `mllp_send` and from `accord hl7 send`. Then assert what the peers received,
//! the ACKs the senders got, the NACKs for broken input, the journal (`status`, `trace`),
//! the metrics, and that a SIGKILL loses nothing that was acknowledged. The crash test under
//! load is `crash.rs`, a binary of its own so its load does not skew these timings.

mod support;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn the_example_production_moves_real_messages_and_loses_nothing() {
    let bin = build("examples/trakcare-lab");

    // WinPath answers AE the first time it sees patient 100002, then AA; everyone else AA.
    let winpath = Peer::start(|m, seen| {
        if field(m, "PID", 3).starts_with("100002") && seen == 1 {
            "AE"
        } else {
            "AA"
        }
    });
    let pharmacy = Peer::start(|_, _| "CA");
    let results = Peer::start(|_, _| "AA");
    let (adt_in, lab_in, mpi_in, admin) = (free_port(), free_port(), free_port(), free_port());
    let dir = fresh_dir("e2e");
    let config = example_config(
        &dir,
        [adt_in, lab_in, mpi_in, admin],
        [winpath.port, pharmacy.port, results.port],
    );
    let store = dir.join("var");

    // In prod the hub's TrakCare listener and WinPath's endpoint say `tls: required`:
    // without the certificate, key and CA they need, the configuration is refused and
    // the production does not start, never in plaintext.
    let prod_config = dir.join("prod.toml");
    std::fs::write(
        &prod_config,
        "[settings]\nARCHIVE_DIR = \"/tmp\"\nHUB_TRAKCARE_PORT = 1\nHUB_WINPATH_PORT = 2\n\
         MPI_HOST = \"mpi\"\nMPI_PORT = 3\nPHARMACY_HOST = \"pharmacy\"\nPHARMACY_PORT = 4\n\
         TRAKCARE_HOST = \"trak\"\nTRAKCARE_RESULTS_PORT = 5\nWINPATH_HOST = \"winpath\"\n\
         WINPATH_PORT = 6\nHUB_CERT = \"/nonexistent/hub.pem\"\nTRUST_CA = \"/nonexistent/ca.pem\"\n\
         HUB_CLIENT_CERT = \"/nonexistent/client.pem\"\n\
         [secrets]\nHUB_KEY = { env = \"E2E_HUB_KEY\" }\nHUB_CLIENT_KEY = \"/nonexistent/client.key\"\n",
    )
    .unwrap();
    // A secret is read from where the configuration says: its variable is not set yet.
    let o = Command::new(&bin)
        .args(["check-config", "--env", "prod", "--config"])
        .arg(&prod_config)
        .env_remove("E2E_HUB_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("E2E_HUB_KEY") && text(&o).contains("HUB_KEY"),
        "{}",
        text(&o)
    );
    std::env::set_var("E2E_HUB_KEY", "/nonexistent/hub.key");
    let o = Command::new(&bin)
        .args(["check-config", "--env", "prod", "--config"])
        .arg(&prod_config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("endpoint `winpath_mllp`")
            && text(&o).contains("endpoint `hub_trakcare_in`")
            && text(&o).contains("cannot read `/nonexistent/ca.pem`"),
        "{}",
        text(&o)
    );
    let o = Command::new(&bin)
        .args(["run", "--env", "prod", "--config"])
        .arg(&prod_config)
        .arg("--store")
        .arg(dir.join("prod-store"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!dir.join("prod-store/journal.sqlite").exists());

    let prod = start(&bin, &config, &store, admin);

    // 1. python-hl7's mllp_send, an outside client: A01 gets a commit ACK.
    let o = Command::new("mllp_send")
        .args(["--port", &adt_in.to_string(), "--loose", "--file"])
        .arg(root().join("examples/trakcare-lab/samples/adt_a01.hl7"))
        .arg("127.0.0.1")
        .output()
        .expect("mllp_send from python-hl7 (bash .ci/run installs it)");
    let first_ack = text(&o);
    assert!(first_ack.contains("MSA|AA|MSG00001"), "{first_ack}");

    // 2. The same message again: a duplicate, answered with the very same ACK.
    let file = |name: &str, content: String| {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    };
    let again = accord_send(
        adt_in,
        &root().join("examples/trakcare-lab/samples/adt_a01.hl7"),
    );
    assert_eq!(
        field(&again.replace('\n', "\r"), "MSH", 10),
        field(&first_ack.replace('\n', "\r"), "MSH", 10),
        "{again}"
    );

    // 3. An A08 update: published to WinPath (AE, then AA on retry) and the pharmacy.
    let a08 = sample("adt_a01.hl7")
        .replace("ADT^A01^ADT_A01", "ADT^A08^ADT_A01")
        .replace("EVN|A01", "EVN|A08")
        .replace("100001^^^TRAK", "100002^^^TRAK")
        .replace("MSG00001", "MSG00011");
    assert!(accord_send(adt_in, &file("a08.hl7", a08)).contains("MSA|AA|MSG00011"));

    // 4. A code-set mismatch (sex Q): accepted, then dead-lettered by the mapping.
    assert!(accord_send(
        adt_in,
        &root().join("examples/trakcare-lab/samples/adt_a01_bad_sex.hl7")
    )
    .contains("MSA|AA|MSG00002"));

    // 5. A profile violation (no PID-3): AR with an ERR naming the field, kept as rejected.
    let no_mrn = sample("adt_a01.hl7")
        .replace("100001^^^TRAK^MR~9434765919^^^NHS^NH", "")
        .replace("MSG00001", "MSG00013");
    let nack = accord_send(adt_in, &file("no_mrn.hl7", no_mrn));
    assert!(nack.contains("MSA|AR|MSG00013"), "{nack}");
    assert!(
        nack.contains("ERR|PID^1^3") && nack.contains("PID-3"),
        "{nack}"
    );

    // 5b. An order on the retired feed (OML^O21, `orders_v1_in`): AR saying it is retired.
    let oml =
        "MSH|^~\\&|TRAKCARE|LOTHIAN|HUB|LOTHIAN|20261102101500||OML^O21^OML_O21|MSG00014|P|2.4\r\
               PID|1||100001^^^TRAK^MR||EVERYWOMAN^EVE\r";
    let nack = accord_send(adt_in, &file("oml.hl7", oml.to_string()));
    assert!(
        nack.contains("MSA|AR|MSG00014") && nack.contains("retired"),
        "{nack}"
    );

    // 6. Bytes that are not HL7, on a raw socket: AR, the connection stays usable.
    let mut raw = TcpStream::connect(("127.0.0.1", adt_in)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write_frame(&mut raw, b"this is not HL7\r");
    let reply = String::from_utf8(read_frame(&mut raw).unwrap()).unwrap();
    assert!(
        reply.contains("MSA|AR|") && reply.contains("ERR|"),
        "{reply}"
    );
    write_frame(&mut raw, sample("adt_a40.hl7").as_bytes());
    let reply = String::from_utf8(read_frame(&mut raw).unwrap()).unwrap();
    assert!(reply.contains("MSA|AA|MSG00003"), "{reply}");

    // 7. A result from WinPath to TrakCare, on the other listener.
    assert!(accord_send(
        lab_in,
        &root().join("examples/trakcare-lab/samples/oru_r01.hl7")
    )
    .contains("MSA|AA|LAB0001"));

    // What the peers received: mapped, with headers completed by the engine.
    let lims = winpath.wait_for(4); // A01, A08 (AE), A08 again (AA), A40
    let types: Vec<String> = lims.iter().map(|m| field(m, "MSH", 9)).collect();
    let of = |lims: &[String], mrn: &str| -> Vec<String> {
        lims.iter()
            .filter(|m| {
                field(m, "PID", 3).starts_with(mrn) && !field(m, "MSH", 9).starts_with("ADT^A40")
            })
            .cloned()
            .collect()
    };
    assert!(types.iter().any(|t| t.starts_with("ADT^A40")), "{types:?}");
    let a01 = &of(&lims, "100001")[0];
    assert!(field(a01, "PID", 3).starts_with("100001"), "{a01}");
    assert_eq!(field(a01, "MSH", 3), "TRAKCARE", "{a01}");
    assert!(field(a01, "MSH", 10).starts_with("AC"), "{a01}");
    // Each control id is made of the journal id of the message received and the hop.
    for m in &lims {
        let id = field(m, "MSH", 10);
        let parts = id.strip_prefix("AC").and_then(|s| s.split_once('.'));
        let Some((parent, hop)) = parts else {
            panic!("control id {id}")
        };
        assert!(
            parent.parse::<u64>().is_ok_and(|p| p > 0) && hop.parse::<u32>().is_ok(),
            "control id {id}"
        );
    }
    let a08s = of(&lims, "100002");
    assert_eq!(
        a08s.len(),
        2,
        "the update is sent twice (AE, then AA): {lims:?}"
    );
    assert_eq!(
        field(&a08s[0], "MSH", 10),
        field(&a08s[1], "MSH", 10),
        "a retry keeps its control id"
    );
    assert!(
        lims.iter().all(|m| !m.contains("MSG00002")),
        "the bad code must not reach WinPath"
    );
    let pharm = pharmacy.wait_for(2);
    assert_eq!(pharm.len(), 2, "{pharm:?}");
    let res = results.wait_for(1);
    assert!(field(&res[0], "MSH", 9).starts_with("ORU^R01"), "{res:?}");
    // `OBX-1 <- index()`: each observation's set id is its place, from 1.
    let set_ids: Vec<&str> = res[0]
        .split(['\r', '\n'])
        .filter(|l| l.starts_with("OBX"))
        .filter_map(|l| l.split('|').nth(1))
        .collect();
    assert!(set_ids.len() >= 2, "{res:?}");
    let places: Vec<String> = (1..=set_ids.len()).map(|n| n.to_string()).collect();
    assert_eq!(set_ids, places, "{res:?}");

    // The journal, through the production binary's own commands.
    let journal = store.join("journal.sqlite");
    let status = |bin: &Path| -> serde_json::Value {
        let o = Command::new(bin)
            .args(["status", "--json", "--journal"])
            .arg(&journal)
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)))
    };
    let row = |s: &serde_json::Value, iface: &str| {
        s["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["interface"] == iface)
            .cloned()
            .unwrap_or_else(|| panic!("no {iface} in {s}"))
    };
    let settled = Instant::now();
    let mut before = status(&bin);
    while row(&before, "adt_to_lims")["sent"].as_i64() != Some(2)
        && settled.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
        before = status(&bin);
    }
    let adt = row(&before, "trakcare_adt_in");
    assert_eq!(
        (
            adt["received"].as_i64(),
            adt["rejected"].as_i64(),
            adt["duplicates"].as_i64()
        ),
        (Some(4), Some(1), Some(1)),
        "{before}"
    );
    let lims_row = row(&before, "adt_to_lims");
    assert_eq!(
        (lims_row["sent"].as_i64(), lims_row["dead"].as_i64()),
        (Some(2), Some(1)),
        "{before}"
    );
    let o = Command::new(&bin)
        .args(["trace", "MSG00002", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert!(
        text(&o).contains("reason map") && text(&o).contains("trakcare_sex"),
        "{}",
        text(&o)
    );
    let o = Command::new(&bin)
        .args(["messages", "--state", "rejected", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert!(
        text(&o).contains("MSG00013") && text(&o).contains("parse"),
        "{}",
        text(&o)
    );

    let metrics = http_get(admin, "/metrics").unwrap();
    assert!(
        metrics.contains("accord_messages_received_total{interface=\"trakcare_adt_in\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "accord_acks_total{interface=\"adt_to_lims\",direction=\"received\",code=\"AE\"} 1"
        ),
        "{metrics}"
    );

    // SIGKILL, restart on the same store: everything acknowledged is still there and the
    // production carries on.
    drop(prod);
    let prod = start(&bin, &config, &store, admin);
    let after = status(&bin);
    assert_eq!(row(&after, "trakcare_adt_in"), adt, "{after}");
    let a03 = sample("adt_a01.hl7")
        .replace("ADT^A01^ADT_A01", "ADT^A08^ADT_A01")
        .replace("100001^^^TRAK", "100003^^^TRAK")
        .replace("MSG00001", "MSG00021");
    assert!(accord_send(adt_in, &file("a08b.hl7", a03)).contains("MSA|AA|MSG00021"));
    let lims = winpath.wait_for(5);
    assert_eq!(of(&lims, "100003").len(), 1, "{lims:?}");
    drop(prod);
}

fn order(control: &str, order: &str, action: &str) -> String {
    format!(
        "MSH|^~\\&|HIS|H|HUB|H|20261122090000||ORM^O01^ORM_O01|{control}|P|2.4\rPID|1||200001^^^HIS^MR||DOE^JANE\rORC|{action}|{order}\rOBR|1|{order}||FBC^Full blood count\r"
    )
}

#[test]
fn application_acks_wait_for_the_lab_and_flows_time_out() {
    let bin = build("compiler/tests/production/app-ack");
    // The lab accepts ORD1, rejects ORD3 and answers AE to ORD2 every time.
    let lab = Peer::start(|m, _| match field(m, "ORC", 2).as_str() {
        "ORD2" => "AE",
        "ORD3" => "AR",
        _ => "AA",
    });
    let (hub, admin) = (free_port(), free_port());
    let dir = fresh_dir("e2e-app-ack");
    let drop_dir = dir.join("drop");
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[endpoints.hub_in]\nport = {hub}\n\
             [endpoints.lab_out]\nport = {}\n[endpoints.drop]\npath = \"{}\"\n\
             [endpoints.inbox]\npath = \"{}\"\n[endpoints.desk]\npath = \"{}\"\n",
            lab.port,
            drop_dir.display(),
            dir.join("inbox").display(),
            dir.join("desk").display()
        ),
    )
    .unwrap();
    let store = dir.join("var");
    let prod = start(&bin, &config, &store, admin);
    let send = |name: &str, content: String| {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        accord_send(hub, &p)
    };

    // Accepted by the lab: AA, and a copy is written to the drop folder.
    let ack = send("ord1.hl7", order("C1", "ORD1", "NW"));
    assert!(ack.contains("MSA|AA|C1"), "{ack}");
    let copies: Vec<_> = std::fs::read_dir(&drop_dir).unwrap().flatten().collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(std::fs::read_to_string(copies[0].path())
        .unwrap()
        .contains("ORD1"));

    // The result for ORD1 ends its wait (sent at once: the flow allows 3 s).
    let result = "MSH|^~\\&|LAB|L|HUB|H|20261122091000||ORU^R01^ORU_R01|R1|P|2.4\rPID|1||200001^^^HIS^MR\rORC|RE|ORD1\rOBR|1|ORD1||FBC\rOBX|1|NM|HB||135|g/L|||||F\r";
    assert!(send("r1.hl7", result.to_string()).contains("MSA|AA|R1"));
    // The flow's `on reply`: the results desk gets the result, and its alert is raised.
    let desk = dir.join("desk");
    let deadline = Instant::now() + Duration::from_secs(10);
    let notices = loop {
        let found: Vec<_> = std::fs::read_dir(&desk)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(std::fs::read_to_string(&notices[0])
        .unwrap()
        .contains("ORC|RE|ORD1"));
    assert!(http_get(admin, "/metrics")
        .unwrap()
        .contains("accord_alerts_total{target=\"results-desk\"} 1"));

    // AE from the lab, retried once after a second, then dead-lettered: the sender gets AE.
    let started = Instant::now();
    let ack = send("ord2.hl7", order("C2", "ORD2", "NW"));
    assert!(ack.contains("MSA|AE|C2"), "{ack}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the retry waits its backoff"
    );
    assert_eq!(
        lab.messages().iter().filter(|m| m.contains("ORD2")).count(),
        2
    );

    // AR from the lab: dead letter at once, AE to the sender.
    let ack = send("ord3.hl7", order("C3", "ORD3", "NW"));
    assert!(ack.contains("MSA|AE|C3"), "{ack}");

    // A cancel reaches the lab and ends the order's wait (`cancel when ORC-1 == "CA"`):
    // it never times out, `on cancel` raises its alert, and a result after it goes to the
    // HIS as routed, noted as late.
    let ack = send("ord4.hl7", order("C4", "ORD4", "NW"));
    assert!(ack.contains("MSA|AA|C4"), "{ack}");
    let ack = send("ord4ca.hl7", order("C4CA", "ORD4", "CA"));
    assert!(ack.contains("MSA|AA|C4CA"), "{ack}");
    let to_lab: Vec<String> = lab
        .messages()
        .into_iter()
        .filter(|m| m.contains("ORD4"))
        .map(|m| field(&m, "ORC", 1))
        .collect();
    assert_eq!(to_lab, ["NW", "CA"]);
    let late = result.replace("ORD1", "ORD4").replace("|R1|", "|R4|");
    assert!(send("r4.hl7", late).contains("MSA|AA|R4"));
    // A cancel for an order nobody placed is sent as routed, and cancels nothing.
    let ack = send("ord5.hl7", order("C5", "ORD5", "CA"));
    assert!(ack.contains("MSA|AA|C5"), "{ack}");

    // A result before its order (`hold early within 2s`) waits for it: nothing is filed
    // until ORD6 is ordered; then it is, the flow completes at once and `on reply` runs.
    // A result for an order that never comes is dead-lettered when its time is up.
    let early = result.replace("ORD1", "ORD6").replace("|R1|", "|R6|");
    assert!(send("r6.hl7", early).contains("MSA|AA|R6"));
    let never = result.replace("ORD1", "ORD7").replace("|R1|", "|R7|");
    assert!(send("r7.hl7", never).contains("MSA|AA|R7"));
    let filed = |order: &str| {
        std::fs::read_dir(&drop_dir)
            .unwrap()
            .flatten()
            .filter(|e| {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                text.contains("ORU^R01") && text.contains(order)
            })
            .count()
    };
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(filed("ORD6"), 0, "the result waits for its order");
    let ack = send("ord6.hl7", order("C6", "ORD6", "NW"));
    assert!(ack.contains("MSA|AA|C6"), "{ack}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while filed("ORD6") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(filed("ORD6"), 1, "released by its order");

    // ORD2 and ORD3 time out after 3 s (ORD1's wait was ended by its result, above).
    let journal = store.join("journal.sqlite");
    let deadline = Instant::now() + Duration::from_secs(15);
    let flows = loop {
        let o = Command::new(&bin)
            .args(["status", "--json", "--journal"])
            .arg(&journal)
            .output()
            .unwrap();
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let count = |state: &str| {
            s["flows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["state"] == state)
                .and_then(|f| f["count"].as_i64())
                .unwrap_or(0)
        };
        let counts = (
            count("completed"),
            count("dead"),
            count("waiting"),
            count("cancelled"),
            count("held"),
        );
        if counts == (2, 2, 0, 1, 0) || Instant::now() > deadline {
            break counts;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(flows, (2, 2, 0, 1, 0));
    assert_eq!(
        filed("ORD7"),
        0,
        "a result whose order never came is not filed"
    );
    // A timed-out or cancelled wait never ran `on reply`; ORD1's and ORD6's did.
    assert_eq!(std::fs::read_dir(&desk).unwrap().count(), 2);
    let metrics = http_get(admin, "/metrics").unwrap();
    assert!(
        metrics.contains("accord_alerts_total{target=\"order-desk\"} 1"),
        "{metrics}"
    );
    let trace = |id: &str| {
        let o = Command::new(&bin)
            .args(["trace", id, "--journal"])
            .arg(&journal)
            .output()
            .unwrap();
        text(&o)
    };
    let cancelled = trace("C4CA");
    assert!(cancelled.contains("flow-cancelled"), "{cancelled}");
    let late = trace("R4");
    assert!(late.contains("its wait was cancelled"), "{late}");
    let nothing = trace("C5");
    assert!(nothing.contains("no wait to cancel"), "{nothing}");
    let released = trace("C6");
    assert!(
        released.contains("its reply had come first and was held"),
        "{released}"
    );
    let (ok, out) = operate(
        &bin,
        &journal,
        &[
            "dead-letters",
            "list",
            "--interface",
            "results_to_his",
            "--reason",
            "timeout",
            "--json",
        ],
    );
    assert!(ok, "{out}");
    let expired: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(expired.as_array().unwrap().len(), 1, "{out}");
    assert!(out.contains("no start of the wait for key ORD7"), "{out}");
    // One from ORD2's dead letter, two from the flow timeouts.
    assert!(
        metrics.contains("accord_alerts_total{target=\"oncall\"} 3"),
        "{metrics}"
    );
    let o = Command::new(&bin)
        .args(["trace", "C2", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    let trace = text(&o);
    assert!(
        trace.contains("retrying")
            && trace.contains("reason nack")
            && trace.contains("flow-timeout"),
        "{trace}"
    );
    operators_work_the_dead_letter_and_replay(&bin, &journal, &dir, &lab);
    drop(prod);
}

/// Runs the production binary on the journal and returns (success, output).
fn operate(bin: &Path, journal: &Path, args: &[&str]) -> (bool, String) {
    let o = Command::new(bin)
        .args(args)
        .arg("--journal")
        .arg(journal)
        .output()
        .unwrap();
    (o.status.success(), text(&o))
}

/// ORD2 (AE) and ORD3 (AR) are in the dead letter: an operator corrects and resends
/// one, resends the other as it is (rejected again), discards it, and replays ORD1.
fn operators_work_the_dead_letter_and_replay(bin: &Path, journal: &Path, dir: &Path, lab: &Peer) {
    let (ok, out) = operate(
        bin,
        journal,
        &[
            "dead-letters",
            "list",
            "--interface",
            "orders_to_lab",
            "--json",
        ],
    );
    assert!(ok, "{out}");
    let dead: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id_of = |order: &str| -> String {
        let payloads = dead.as_array().unwrap();
        let found = payloads.iter().find(|d| {
            let (_, shown) = operate(
                bin,
                journal,
                &["dead-letters", "show", &d["id"].to_string()],
            );
            shown.contains(&format!("ORC|NW|{order}"))
        });
        found.map(|d| d["id"].to_string()).unwrap_or_default()
    };
    assert_eq!(dead.as_array().unwrap().len(), 2, "{out}");
    assert!(
        dead.as_array()
            .unwrap()
            .iter()
            .all(|d| d["reason"] == "nack"),
        "{out}"
    );
    let (ord2, ord3) = (id_of("ORD2"), id_of("ORD3"));
    let (_, shown) = operate(bin, journal, &["dead-letters", "show", &ord2]);
    assert!(
        shown.contains("reason nack") && shown.contains("MSA|AE") && shown.contains("history:"),
        "{shown}"
    );

    // An edit must say why, and must parse; nothing changes otherwise.
    let edited = dir.join("ord2-edited.hl7");
    let original = shown
        .split("message:\n")
        .nth(1)
        .and_then(|m| m.split("last reply:").next())
        .unwrap()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\r");
    std::fs::write(&edited, original.replace("ORD2", "ORD2A")).unwrap();
    let (ok, out) = operate(
        bin,
        journal,
        &[
            "dead-letters",
            "resend",
            &ord2,
            "--edit",
            edited.to_str().unwrap(),
        ],
    );
    assert!(!ok && out.contains("--why"), "{out}");
    std::fs::write(dir.join("junk.hl7"), "not hl7").unwrap();
    let junk = dir.join("junk.hl7");
    let (ok, out) = operate(
        bin,
        journal,
        &[
            "dead-letters",
            "resend",
            &ord2,
            "--edit",
            junk.to_str().unwrap(),
            "--why",
            "x",
        ],
    );
    assert!(!ok && out.contains("does not parse"), "{out}");

    // The corrected order goes to the lab, which accepts it; the original stays, `resent`.
    let before = lab.messages().len();
    let (ok, out) = operate(
        bin,
        journal,
        &[
            "dead-letters",
            "resend",
            &ord2,
            "--edit",
            edited.to_str().unwrap(),
            "--why",
            "lab renumbered the order",
            "--by",
            "analyst",
        ],
    );
    assert!(ok && out.contains("edited (ORC, OBR)"), "{out}");
    let got = lab.wait_for(before + 1);
    assert!(
        got[before..].iter().any(|m| m.contains("ORC|NW|ORD2A")),
        "{got:?}"
    );

    // ORD3 resent as it is: the lab rejects it again, so it is dead again.
    let (ok, out) = operate(
        bin,
        journal,
        &["dead-letters", "resend", &ord3, "--by", "analyst"],
    );
    assert!(ok && out.contains("queued on orders_to_lab"), "{out}");
    let got = lab.wait_for(before + 2);
    assert!(
        got[before + 1..].iter().any(|m| m.contains("ORD3")),
        "{got:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, out) = operate(
            bin,
            journal,
            &["dead-letters", "list", "--interface", "orders_to_lab"],
        );
        if out.contains(&format!("{ord3:>7} ")) && !out.contains(&format!("{ord2:>7} ")) {
            break;
        }
        assert!(Instant::now() < deadline, "ORD3 is not dead again: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Discarding takes a reason; then the dead letter is empty.
    let (ok, _) = operate(bin, journal, &["dead-letters", "discard", &ord3]);
    assert!(!ok);
    let (ok, out) = operate(
        bin,
        journal,
        &[
            "dead-letters",
            "discard",
            &ord3,
            "--why",
            "order cancelled by ward",
            "--by",
            "analyst",
        ],
    );
    assert!(ok && out.contains("discarded 1"), "{out}");
    let (_, out) = operate(bin, journal, &["dead-letters", "list", "--all"]);
    assert!(!out.contains(&format!("{ord3:>7} ")), "{out}");

    // ORD1 delivered again: same content, a control id of its own.
    let (ok, out) = operate(
        bin,
        journal,
        &["replay", "orders_to_lab", "--key", "ORD1", "--dry-run"],
    );
    assert!(ok && out.contains("would replay 1 message"), "{out}");
    let (ok, out) = operate(bin, journal, &["replay", "orders_to_lab", "--key", "ORD1"]);
    assert!(!ok && out.contains("--why"), "{out}");
    let before = lab.messages().len();
    let (ok, out) = operate(
        bin,
        journal,
        &[
            "replay",
            "orders_to_lab",
            "--key",
            "ORD1",
            "--since",
            "1h",
            "--why",
            "lab lost a day",
            "--by",
            "analyst",
        ],
    );
    assert!(ok && out.contains("replayed 1 message"), "{out}");
    let got = lab.wait_for(before + 1);
    let again = got[before..]
        .iter()
        .find(|m| m.contains("ORD1"))
        .expect("ORD1 replayed");
    assert!(field(again, "MSH", 10).contains('R'), "{again}");
    let (ok, out) = operate(bin, journal, &["replay", "no_such_interface", "--why", "x"]);
    assert!(!ok && out.contains("orders_to_lab"), "{out}");

    // Every action is in the audit, with who and why.
    let (ok, audit) = operate(bin, journal, &["audit"]);
    assert!(ok, "{audit}");
    for what in [
        "edit-resend",
        "resend",
        "discard",
        "replay",
        "lab renumbered the order",
        "analyst",
    ] {
        assert!(
            audit.contains(what),
            "{what} missing from the audit: {audit}"
        );
    }
}

/// Record constraints hold at run time (`cargo test -- constraint`): an ADT whose NHS
/// number has a wrong check digit, or whose postcode is not a postcode, is dead-lettered
/// with reason `constraint` naming the field, the rule and the line, and reaches no
/// receiver; a right one (a real check digit) flows.
#[test]
fn constraint_breaking_values_are_dead_lettered_and_never_sent() {
    let bin = build("examples/trakcare-lab");
    let winpath = Peer::start(|_, _| "AA");
    let pharmacy = Peer::start(|_, _| "CA");
    let results = Peer::start(|_, _| "AA");
    let (adt_in, lab_in, mpi_in, admin) = (free_port(), free_port(), free_port(), free_port());
    let dir = fresh_dir("e2e-constraints");
    let config = example_config(
        &dir,
        [adt_in, lab_in, mpi_in, admin],
        [winpath.port, pharmacy.port, results.port],
    );
    let store = dir.join("var");
    let _production = start(&bin, &config, &store, admin);
    let sample =
        std::fs::read_to_string(root().join("examples/trakcare-lab/samples/adt_a01.hl7")).unwrap();
    assert!(sample.contains("9434765919") && sample.contains("EH1 1AA"));
    let cases = [
        ("CON1", sample.replace("9434765919", "9434765918")),
        ("CON2", sample.replace("EH1 1AA", "NOT A POSTCODE")),
        ("CON3", sample.replace("9434765919", "4010232137")),
    ];
    for (control, text) in &cases {
        let text = text.replace("MSG00001", control);
        assert_eq!(send_msa(adt_in, &text), "AA", "{control}");
    }
    // The good one reaches WinPath; the other two never do.
    let got = winpath.wait_for(1);
    let journal = store.join("var/journal.sqlite");
    let journal = if journal.exists() {
        journal
    } else {
        store.join("journal.sqlite")
    };
    let t = Instant::now();
    let dead = loop {
        let (_, out) = operate(&bin, &journal, &["dead-letters", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let rows = v.as_array().cloned().unwrap_or_default();
        if rows.len() >= 2 {
            break rows;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "{out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    // WinPath's copy carries neither the NHS number nor the address: one message came.
    assert_eq!(winpath.messages().len(), 1, "{got:?}");
    let details: Vec<String> = dead
        .iter()
        .map(|d| {
            assert_eq!(d["reason"], "constraint", "{d}");
            d["detail"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("Patient.nhs_number = \"9434765918\"")
                && d.contains("(from PID-3[where 5 = \"NH\"].1)")
                && d.contains("check nhs_modulus11")
                && d.contains("mappings.accord:")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("Patient.postcode = \"NOT A POSTCODE\"")
                && d.contains("(from PID-11.5)")
                && d.contains("pattern")),
        "{details:?}"
    );
}

/// The example estate's configuration in `dir`: the pharmacy's password as `secret` (TOML),
/// the listeners on `[TrakCare ADT, WinPath results, MPI, admin]` and WinPath, the
/// pharmacy and TrakCare's results played by `peers`.
fn adt(control: &str, trigger: &str, sex: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|H|HUB|H|20261122090000||ADT^{trigger}^ADT_A01|{control}|P|2.4\r\
         EVN|{trigger}|20261122085900\rPID|1||300001^^^PAS^MR||DOE^JANE||19800101|{sex}\rPV1|1|I\r"
    )
}

#[test]
fn conformance_outbound_messages_keep_their_trigger_and_break_no_profile_unnoticed() {
    let bin = build("compiler/tests/production/conformance");
    let lab = Peer::start(|_, _| "CA");
    let ward = Peer::start(|_, _| "CA");
    let (hub, admin) = (free_port(), free_port());
    let dir = fresh_dir("e2e-conformance");
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[endpoints.hub_in]\nport = {hub}\n\
             [endpoints.lab_out]\nport = {}\n[endpoints.ward_out]\nport = {}\n",
            lab.port, ward.port
        ),
    )
    .unwrap();
    let store = dir.join("var");
    let prod = start(&bin, &config, &store, admin);
    let send = |name: &str, content: String| {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        accord_send(hub, &p)
    };

    // An admission and a transfer leave as themselves (the profile names both), with the
    // event time and patient class carried into EVN-2 and PV1-2.
    assert!(send("a01.hl7", adt("C1", "A01", "F")).contains("MSA|AA|C1"));
    assert!(send("a02.hl7", adt("C2", "A02", "F")).contains("MSA|AA|C2"));
    let got = lab.wait_for(2);
    assert_eq!(field(&got[0], "MSH", 9), "ADT^A01");
    assert_eq!(field(&got[1], "MSH", 9), "ADT^A02");
    assert_eq!(field(&got[1], "EVN", 2), "20261122085900");
    assert_eq!(field(&got[1], "PV1", 2), "I");

    // A discharge is not a type of the lab's profile: held, not relabelled as an admission.
    let ack = send("a03.hl7", adt("C3", "A03", "F"));
    assert!(ack.contains("MSA|AE|C3"), "{ack}");

    // No sex: PID-8 is `R` in the profile. The lab's contract dead-letters it and alerts;
    // the ward's sends it and notes why.
    let ack = send("nosex.hl7", adt("C4", "A08", ""));
    assert!(ack.contains("MSA|AE|C4"), "{ack}");
    let got = ward.wait_for(3);
    assert!(
        got.iter().any(|m| field(m, "MSH", 9) == "ADT^A08"),
        "{got:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        lab.messages().len(),
        2,
        "nothing nonconformant reaches the lab"
    );

    // A value that breaks the record's constraint: the application ACK says so with an ERR
    // at the field it was read from (its lineage), code 102, and the contract line.
    let ack = send(
        "badmrn.hl7",
        adt("C5", "A08", "F").replace("300001^", "30000X^"),
    );
    assert!(ack.contains("MSA|AE|C5"), "{ack}");
    let err = ack
        .split(['\r', '\n'])
        .find(|s| s.starts_with("ERR|"))
        .unwrap_or_else(|| panic!("no ERR: {ack}"));
    // HL7 2.4's ERR-1 (ELD): segment, occurrence, field, then the 0357 code.
    assert!(
        err.starts_with("ERR|PID^1^3^102&"),
        "location and code: {err}"
    );
    assert!(
        ack.contains("Patient.mrn = \"30000X\" (from PID-3.1) breaks the contract's `pattern"),
        "{ack}"
    );

    let journal = store.join("journal.sqlite");
    let (ok, dead) = operate(&bin, &journal, &["dead-letters", "list"]);
    assert!(ok, "{dead}");
    assert_eq!(dead.matches("conformance").count(), 2, "{dead}");
    assert_eq!(
        dead.matches("constraint").count(),
        2,
        "lab and ward: {dead}"
    );
    assert!(dead.contains("ADT^A03 is not a message type"), "{dead}");
    assert!(dead.contains("PID-8"), "{dead}");
    let metrics = http_get(admin, "/metrics").unwrap();
    assert!(
        metrics.contains("accord_alerts_total{target=\"lab-oncall\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "accord_dead_letters_total{interface=\"adt_to_lab\",reason=\"conformance\"} 2"
        ),
        "{metrics}"
    );
    let log = std::fs::read_to_string(store.with_extension("log")).unwrap();
    assert!(log.contains("sent although it breaks"), "{log}");
    drop(prod);
}

/// The PostgreSQL journal's own settings are checked before anything runs: without `url`
/// (a SQLite journal has one production, with one writer, which runs every lane), or
/// with a value it does not know, `check-config` refuses them and names the key; with a
/// PostgreSQL journal they are taken, and the SQLite file's settings beside `url` are
/// refused (none is dropped unread).
#[test]
fn lane_placement_and_writers_need_a_postgresql_journal_and_a_known_value() {
    let dir = fresh_dir("lane-placement");
    let bin = build("examples/trakcare-lab");
    let config = example_config(&dir, [1, 2, 3, 4], [5, 6, 7]);
    let base = std::fs::read_to_string(&config).unwrap();
    let url = "url = \"postgres://accord@127.0.0.1:5432/accord\"\n";
    for (journal, refused) in [
        (
            "lane_placement = \"with-processor\"\n".to_string(),
            Some("`lane_placement`"),
        ),
        ("writers = 2\n".to_string(), Some("`writers`")),
        ("ca = \"/etc/db-ca.pem\"\n".to_string(), Some("`ca`")),
        (format!("{url}sync = \"off\"\n"), Some("`sync`")),
        (
            format!("{url}path = \"/var/journal.sqlite\"\n"),
            Some("`path`"),
        ),
        (
            format!("{url}lane_placement = \"everywhere\"\n"),
            Some("lane_placement"),
        ),
        (format!("{url}lane_placement = \"with-processor\"\n"), None),
        (
            format!("{url}lane_placement = \"spread\"\nwriters = 2\n"),
            None,
        ),
    ] {
        std::fs::write(&config, format!("{base}[journal]\n{journal}")).unwrap();
        let o = Command::new(&bin)
            .args(["check-config", "--env", "dev", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let said = text(&o);
        if let Some(key) = refused {
            assert_eq!(o.status.code(), Some(2), "{journal}: {said}");
            assert!(said.contains(key), "{journal}: {said}");
        } else {
            assert!(o.status.success(), "{journal}: {said}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
