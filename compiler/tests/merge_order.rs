//! A merge (A40) racing the updates of both its patients, over real sockets. Updates and
//! merges go to the lab on two operations of one endpoint; the merge is ordered by both
//! patients' identifiers (`ordering: per PID-3.1, MRG-1.1`). The lab refuses the first
//! update of the retired patient once (AE, retried a second later): the merge must wait
//! for that update, and the surviving patient's next update must wait for the merge, so
//! the lab sees B's update, the merge of B into A, then A's update, whatever the lanes.

mod support;

use std::time::{Duration, Instant};
use support::*;

fn a08(control: &str, mrn: &str, family: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|H|LAB|H|20261122090000||ADT^A08^ADT_A01|{control}|P|2.5\r\
         EVN|A08|20261122090000\r\
         PID|1||{mrn}^^^PAS^MR||{family}^JANE||19800101|F\rPV1|1|I\r"
    )
}

fn a40(control: &str, survivor: &str, retired: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|H|LAB|H|20261122090000||ADT^A40^ADT_A39|{control}|P|2.5\r\
         EVN|A40|20261122090000\r\
         PID|1||{survivor}^^^PAS^MR||MERGED^JANE||19800101|F\r\
         MRG|{retired}^^^PAS^MR\r"
    )
}

/// The lab: the first arrival of B's update is refused with AE, everything else accepted.
fn lab_reply(m: &str, seen: usize) -> &'static str {
    if field(m, "MSH", 10) == "UPD-B" && seen == 1 {
        "AE"
    } else {
        "AA"
    }
}

#[test]
fn a_merge_waits_for_both_patients_and_holds_back_what_follows() {
    let bin = build("compiler/tests/production/merge-order");
    let lab = Peer::start(lab_reply);
    let (hub, admin) = (free_port(), free_port());
    let dir = fresh_dir("e2e-merge-order");
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[endpoints.hub_in]\nport = {hub}\n\
             [endpoints.lab_out]\nport = {}\n[limits]\nlanes = 4\n",
            lab.port
        ),
    )
    .unwrap();
    let _production = start(&bin, &config, &store_of(&dir), admin);

    // Back to back: B's update, the merge of B into A, A's update; one more patient, C,
    // whose update shares no key and need not wait.
    assert_eq!(send_msa(hub, &a08("UPD-B", "PATB", "BEFORE")), "AA");
    assert_eq!(send_msa(hub, &a40("MRG-AB", "PATA", "PATB")), "AA");
    assert_eq!(send_msa(hub, &a08("UPD-A", "PATA", "AFTER")), "AA");
    assert_eq!(send_msa(hub, &a08("UPD-C", "PATC", "OTHER")), "AA");

    let got = lab.wait_for(5);
    let order: Vec<String> = got.iter().map(|m| field(m, "MSH", 10)).collect();
    let at = |id: &str| {
        order
            .iter()
            .rposition(|c| c == id)
            .unwrap_or_else(|| panic!("{id} never reached the lab: {order:?}"))
    };
    assert_eq!(
        order.iter().filter(|c| *c == "UPD-B").count(),
        2,
        "B's update is refused once, then accepted: {order:?}"
    );
    assert!(
        at("UPD-B") < at("MRG-AB"),
        "the merge waited for B's update: {order:?}"
    );
    assert!(
        at("MRG-AB") < at("UPD-A"),
        "A's update waited for the merge: {order:?}"
    );
    assert!(
        order.iter().position(|c| c == "UPD-C").unwrap() < at("UPD-B"),
        "C shares no key and went on while B was retried: {order:?}"
    );

    // Nothing is left waiting.
    let journal = store_of(&dir).join("journal.sqlite");
    let start = Instant::now();
    loop {
        let c = rusqlite::Connection::open(&journal).unwrap();
        let pending: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND state != 'completed'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{pending} deliveries not completed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn store_of(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("store")
}
