//! Availability of the embedded journal, with the example production as real processes:
//! one SQLite journal serves one production (a second is refused at once, a crashed one
//! frees it), and a backup taken under load restores into a production that carries on
//! (`cargo test -- backup`).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn adt(control: &str, mrn: u32) -> String {
    format!(
        "MSH|^~\\&|TRAKCARE|LOTHIAN|HUB|LOTHIAN|20261122090000||ADT^A01^ADT_A01|{control}|P|2.4\r\
         EVN|A01|20261122085900\rPID|1||{mrn}^^^PAS^MR||DOE^JANE||19800101|F\rPV1|1|I\r"
    )
}

/// Runs a production command to its end (at most 30 s) and returns its exit code and output.
fn finish(bin: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("`{}` did not end within 30 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    (o.status.code(), text(&o))
}

/// `restore --from backup --journal journal` with the production binary.
fn restore(bin: &Path, backup: &Path, journal: &Path) -> (Option<i32>, String) {
    let (from, to) = (backup.to_str().unwrap(), journal.to_str().unwrap());
    finish(bin, &["restore", "--from", from, "--journal", to])
}

#[test]
fn a_second_production_on_one_sqlite_journal_is_refused_and_a_crash_frees_it() {
    let bin = build("examples/trakcare-lab");
    let (winpath, pharmacy, results) = example_peers();
    let peers = [winpath.port, pharmacy.port, results.port];
    let dir = fresh_dir("one-journal");
    let store = dir.join("var");
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let config = example_config(&dir, ports, peers);
    let mut first = start(&bin, &config, &store, ports[3]);

    // A second production on other ports but the same store: refused before it listens.
    let other = fresh_dir("one-journal-other");
    let other_config = example_config(
        &other,
        [free_port(), free_port(), free_port(), free_port()],
        peers,
    );
    let t = Instant::now();
    let (code, out) = finish(
        &bin,
        &[
            "run",
            "--env",
            "dev",
            "--config",
            other_config.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("is in use by a production (pid") && out.contains("help:"),
        "{out}"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "refused at once");
    // The first goes on: ready, and it still takes messages.
    assert!(http_get(ports[3], "/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200")));
    assert_eq!(send_msa(ports[0], &adt("LOCK1", 400001)), "AA");

    // Killed, it holds nothing: the next production on the store starts.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let _again = start(&bin, &config, &store, ports[3]);
    assert_eq!(send_msa(ports[0], &adt("LOCK2", 400002)), "AA");
    // Delivered under WinPath's own control id: found by the patient.
    assert!(winpath
        .wait_for(2)
        .iter()
        .any(|m| field(m, "PID", 3).starts_with("400002")));
}

#[test]
fn backup_under_load_restores_into_a_production_that_carries_on() {
    let bin = build("examples/trakcare-lab");
    // WinPath is down while the messages come in: they wait in the journal's queue.
    let winpath_port = free_port();
    let (pharmacy, results) = (Peer::start(|_, _| "CA"), Peer::start(|_, _| "AA"));
    let dir = fresh_dir("backup");
    let store = dir.join("var");
    let journal = store.join("journal.sqlite");
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let config = example_config(&dir, ports, [winpath_port, pharmacy.port, results.port]);
    let mut prod = start(&bin, &config, &store, ports[3]);

    // Acknowledged before the backup begins: these must all survive it. Each is another
    // patient, by whom WinPath's copy (under its own control id) is found.
    let before: Vec<String> = (1..=30).map(|n| format!("BK{n:03}")).collect();
    let patient = |n: u32| format!("{}", 500000 + n);
    let mut first_acks = vec![];
    for (n, control) in (1..).zip(&before) {
        first_acks.push(send_msa(ports[0], &adt(control, 500000 + n)));
    }
    assert!(first_acks.iter().all(|a| a == "AA"), "{first_acks:?}");

    // The backup is taken while another sender keeps the production writing.
    let adt_in = ports[0];
    let load = std::thread::spawn(move || {
        (31..=130)
            .map(|n| send_msa(adt_in, &adt(&format!("BK{n:03}"), 500000 + n)))
            .filter(|a| a == "AA")
            .count()
    });
    std::thread::sleep(Duration::from_millis(100));
    let backup = dir.join("backup.sqlite");
    let (code, out) = finish(
        &bin,
        &[
            "backup",
            "--journal",
            journal.to_str().unwrap(),
            "--to",
            backup.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("backed up"), "{out}");
    let during = load.join().unwrap();
    assert_eq!(
        during, 100,
        "the production kept acknowledging during the backup"
    );

    // A running production's journal is not restored over.
    let (code, out) = restore(&bin, &backup, &journal);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("in use by a production"), "{out}");

    // The machine is lost: the production dies, its journal is replaced by the backup.
    prod.child.kill().unwrap();
    prod.child.wait().unwrap();
    let (code, out) = restore(&bin, &backup, &journal);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("the journal it replaced is"), "{out}");

    // WinPath comes back and the restored production delivers what was queued.
    let winpath = Peer::start_on(winpath_port, |_, _| "AA");
    let _restored = start(&bin, &config, &store, ports[3]);
    let t = Instant::now();
    let wanted: Vec<String> = (1..=30).map(patient).collect();
    let delivered = loop {
        let got: BTreeSet<String> = winpath.patients().into_iter().collect();
        if wanted.iter().all(|p| got.contains(p)) || t.elapsed() > Duration::from_secs(60) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lost: Vec<&String> = wanted.iter().filter(|p| !delivered.contains(*p)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before the backup, never delivered: {lost:?}"
    );

    // It still knows what it had received: a sender's resend is a duplicate, answered as
    // the first time, and not delivered again.
    assert_eq!(send_msa(ports[0], &adt("BK001", 500001)), first_acks[0]);
    std::thread::sleep(Duration::from_secs(1));
    let copies = winpath
        .messages()
        .iter()
        .filter(|m| field(m, "PID", 3).starts_with(&patient(1)))
        .count();
    assert_eq!(copies, 1, "BK001 was delivered again after the restore");
}
