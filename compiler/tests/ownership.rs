//! The source-of-truth matrix enforced by a running production, over real sockets: the PAS
//! and the MPI both write a patient, and each field's owner, accepted writers, stage
//! conditions, lock and conflict rule decide what is applied (and sent on to the lab),
//! what keeps the stored value, what waits for a person and what is rejected. Every
//! decision is in the journal (`trace`, `records`) and in the metrics.

mod support;

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use support::postgres::{JournalAt, Postgres, PASSWORD};
use support::*;

const MRN: &str = "OWN001";

fn pas(control: &str, event: &str, nhs: &str, family: &str, sex: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|H|HUB|H|20261122090000||ADT^{event}^ADT_A01|{control}|P|2.5\r\
         EVN|{event}|20261122090000\r\
         PID|1||{MRN}^^^PAS^MR~{nhs}^^^NHS^NH||{family}^JANE||19800101|{sex}\rPV1|1|I\r"
    )
}

fn mpi(control: &str, nhs: &str, family: &str, birth: &str) -> String {
    format!(
        "MSH|^~\\&|MPI|N|HUB|H|20261122090000||ADT^A31^ADT_A05|{control}|P|2.5\r\
         EVN|A31|20261122090000\r\
         PID|1||{MRN}^^^PAS^MR~{nhs}^^^NHS^NH||{family}^JANE||{birth}|F\rPV1|1|N\r"
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Setup {
    _production: Production,
    bin: std::path::PathBuf,
    journal: JournalAt,
    hub: u16,
    mpi: u16,
    admin: u16,
}

impl Setup {
    /// Runs an operator command of the production binary on its journal.
    fn cli(&self, args: &[&str]) -> (bool, String) {
        let journal = match &self.journal {
            JournalAt::Sqlite(path) => path.display().to_string(),
            JournalAt::Postgres(url) => url.clone(),
        };
        let o = Command::new(&self.bin)
            .args(args)
            .args(["--journal", &journal])
            .env("ACCORD_JOURNAL_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        (o.status.success(), text(&o))
    }

    fn json(&self, args: &[&str]) -> Value {
        let (ok, out) = self.cli(args);
        assert!(ok, "{args:?}: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// The stored patient's field: (value, writer).
    fn stored(&self, field: &str) -> (Value, String) {
        let r = self.json(&["records", "Patient", MRN, "--json"]);
        let f = &r["fields"][field];
        (
            f["value"].clone(),
            f["writer"].as_str().unwrap_or("").into(),
        )
    }

    /// How many messages the processor has finished with (not `received`).
    fn processed(&self) -> usize {
        self.journal
            .count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND state != 'received'")
            as usize
    }

    fn metric(&self, prefix: &str) -> Option<f64> {
        let body = http_get(self.admin, "/metrics")?;
        body.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}

/// Sends one message and waits until the production has processed it.
fn step(s: &Setup, port: u16, m: &str, done_before: usize) {
    assert_eq!(send_msa(port, m), "AA");
    wait_until("the message is processed", || s.processed() > done_before);
}

/// The ownership estate's production in a fresh folder `name`, the lab answering `CA`; on
/// `pg`'s journal if given, else the SQLite default.
fn setup(name: &str, pg: Option<&Postgres>) -> (Setup, Peer) {
    setup_estate("compiler/tests/production/ownership", name, pg, "")
}

/// The same for another estate with these endpoints (`hub_in`, `mpi_in`, `lab_out`) and
/// more, configured by `extra`.
fn setup_estate(estate: &str, name: &str, pg: Option<&Postgres>, extra: &str) -> (Setup, Peer) {
    let bin = build(estate);
    let lab = Peer::start(|_, _| "CA");
    let (hub, mpi_port, admin) = (free_port(), free_port(), free_port());
    let dir = fresh_dir(name);
    let config = dir.join("dev.toml");
    let on_pg = pg.map(|pg| pg.journal_toml(&dir));
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[endpoints.hub_in]\nport = {hub}\n\
             [endpoints.mpi_in]\nport = {mpi_port}\n[endpoints.lab_out]\nport = {}\n{extra}\n{}",
            lab.port,
            on_pg.unwrap_or_default()
        ),
    )
    .unwrap();
    let store = dir.join("store");
    let s = Setup {
        _production: start(&bin, &config, &store, admin),
        bin,
        journal: match pg {
            Some(pg) => JournalAt::Postgres(pg.url()),
            None => JournalAt::Sqlite(store.join("journal.sqlite")),
        },
        hub,
        mpi: mpi_port,
        admin,
    };
    (s, lab)
}

#[test]
fn the_matrix_applies_keeps_reviews_and_rejects_field_by_field() {
    matrix_field_by_field("e2e-ownership", None);
}

/// The same on a PostgreSQL journal (`cargo test -- postgres`): the steward's conditional
/// writes, review approve and reject, the `records` and `audit` commands, in its SQL.
#[test]
fn postgres_the_matrix_applies_keeps_reviews_and_rejects_field_by_field() {
    let dir = fresh_dir("e2e-ownership-pg-server");
    let pg = Postgres::start(&dir);
    matrix_field_by_field("e2e-ownership-pg", Some(&pg));
}

fn matrix_field_by_field(name: &str, pg: Option<&Postgres>) {
    let (s, lab) = setup(name, pg);
    let n1 = "9434765919";

    // 1. The MPI speaks first: it owns the NHS number, and may set the name and the birth
    //    date while nothing else has (the patient has no stage yet).
    step(&s, s.mpi, &mpi("M1", n1, "MPINAME", "19800101"), 0);
    assert_eq!(s.stored("nhs_number"), (Value::from(n1), "mpi".into()));
    assert_eq!(
        s.stored("family_name"),
        (Value::from("MPINAME"), "mpi".into())
    );

    // 2. The PAS admits the patient: it owns the name (applied over the MPI's) and the
    //    stage; the same NHS number needs no decision. The lab gets the admission.
    step(&s, s.hub, &pas("P1", "A01", n1, "SMITH", "F"), 1);
    let got = lab.wait_for(1);
    assert_eq!(field(&got[0], "PID", 5), "SMITH");
    assert_eq!(field(&got[0], "PID", 19), n1);
    assert_eq!(
        s.stored("family_name"),
        (Value::from("SMITH"), "pas".into())
    );
    assert_eq!(s.stored("stage"), (Value::from("admitted"), "pas".into()));

    // 3. The MPI renames the patient: accepted, but not over the owner's value (owner_wins).
    step(&s, s.mpi, &mpi("M2", n1, "SMYTHE", "19800101"), 2);
    assert_eq!(
        s.stored("family_name"),
        (Value::from("SMITH"), "pas".into())
    );

    // 4. The MPI changes the birth date after admission: only accepted before the
    //    `admitted` stage, and the conflict rule is `review "dates"`. The MPI feed stores
    //    records only, so its message itself waits; approved, the date is stored.
    step(&s, s.mpi, &mpi("M3", n1, "SMITH", "19790101"), 3);
    let held = s.json(&["review", "list", "--queue", "dates", "--json"]);
    let held = held.as_array().unwrap().clone();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["interface"], "mpi_updates");
    assert!(
        held[0]["detail"].as_str().unwrap().contains("birth_date"),
        "{held:?}"
    );
    assert_eq!(s.stored("birth_date").0, Value::from("1980-01-01"));
    let id = held[0]["id"].as_i64().unwrap().to_string();
    let (ok, out) = s.cli(&["review", "approve", &id, "--by", "bob"]);
    assert!(ok && out.contains("approved and stored"), "{out}");
    assert_eq!(
        s.stored("birth_date"),
        (Value::from("1979-01-01"), "mpi".into())
    );

    // 5. The PAS sends another NHS number: it may only fill an empty one, and the conflict
    //    rule is `review "demographics"`. The update waits; the lab gets nothing yet.
    let n2 = "4010232137";
    step(&s, s.hub, &pas("P2", "A08", n2, "SMITH", "F"), 4);
    let held = s.json(&["review", "list", "--json"]);
    let held = held.as_array().unwrap().clone();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["queue"], "demographics");
    assert_eq!(s.stored("nhs_number").0, Value::from(n1));
    wait_until("the review gauge shows it", || {
        s.metric("accord_review_pending{interface=\"adt_to_lab\"}") == Some(1.0)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.messages().len(), 1, "a held update is not sent");
    //    A person approves it: the stored number changes and the lab gets the update.
    let id = held[0]["id"].as_i64().unwrap().to_string();
    let (ok, out) = s.cli(&["review", "approve", &id, "--by", "alice"]);
    assert!(ok && out.contains("approved"), "{out}");
    let got = lab.wait_for(2);
    assert_eq!(field(&got[1], "PID", 19), n2);
    assert_eq!(s.stored("nhs_number"), (Value::from(n2), "pas".into()));

    // 6. Another number from the PAS, rejected on review: nothing changes, nothing is sent.
    step(&s, s.hub, &pas("P3", "A08", "1111111111", "SMITH", "F"), 5);
    let held = s.json(&["review", "list", "--queue", "demographics", "--json"]);
    let id = held[0]["id"].as_i64().unwrap().to_string();
    let (ok, out) = s.cli(&["review", "reject", &id]);
    assert!(!ok && out.contains("--why"), "a rejection says why: {out}");
    let (ok, out) = s.cli(&[
        "review",
        "reject",
        &id,
        "--why",
        "not this patient's number",
    ]);
    assert!(ok, "{out}");
    assert_eq!(s.stored("nhs_number").0, Value::from(n2));
    assert!(s
        .json(&["review", "list", "--json"])
        .as_array()
        .unwrap()
        .is_empty());

    // 7. Discharge, then a sex change: the field is locked from `discharged`, and the rule
    //    is `reject`. The next update still gets through: one held field does not block
    //    the patient's lane.
    step(&s, s.hub, &pas("P4", "A03", n2, "SMITH", "F"), 6);
    lab.wait_for(3);
    step(&s, s.hub, &pas("P5", "A08", n2, "SMITH", "M"), 7);
    step(&s, s.hub, &pas("P6", "A08", n2, "SMITH-JONES", "F"), 8);
    let got = lab.wait_for(4);
    assert_eq!(got.len(), 4, "the locked change is not sent");
    assert_eq!(field(&got[3], "PID", 5), "SMITH-JONES");
    assert_eq!(field(&got[3], "PID", 8), "F");
    assert_eq!(s.stored("sex"), (Value::from("F"), "pas".into()));
    let dead = s.json(&["dead-letters", "list", "--reason", "ownership", "--json"]);
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0]["detail"].as_str().unwrap().contains("sex"),
        "{dead:?}"
    );

    // Every decision is recorded: the events on the messages, the audit and the metrics.
    let (_, audit) = s.cli(&["audit"]);
    assert!(
        audit.contains("review-approve") && audit.contains("review-reject"),
        "{audit}"
    );
    let events: Vec<String> = s
        .journal
        .rows("SELECT detail FROM events WHERE kind = 'ownership' ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let has = |needle: &str| events.iter().any(|e| e.contains(needle));
    assert!(has("family_name: mpi may not overwrite"), "{events:#?}");
    assert!(has("kept the stored value"), "{events:#?}");
    assert!(has("locked from stage discharged"), "{events:#?}");
    assert!(has("approved on review"), "{events:#?}");
    assert_eq!(
        s.metric(
            "accord_ownership_decisions_total{interface=\"mpi_updates\",decision=\"kept-stored\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        s.metric("accord_dead_letters_total{interface=\"adt_to_lab\",reason=\"ownership\"}"),
        Some(1.0)
    );
}

/// A message from `system` (`pas` A01/A08 or `mpi` A31) carrying `phone`, said to have
/// happened at `event` (EVN-2).
fn timed(system: &str, control: &str, phone: &str, event: &str) -> String {
    let (sender, trigger, structure) = match system {
        "mpi" => ("MPI|N", "A31", "ADT_A05"),
        _ => (
            "PAS|H",
            control.split('-').next().unwrap_or("A08"),
            "ADT_A01",
        ),
    };
    format!(
        "MSH|^~\\&|{sender}|HUB|H|20261122090000||ADT^{trigger}^{structure}|{control}|P|2.5\r\
         EVN|{trigger}|{event}\r\
         PID|1||{MRN}^^^PAS^MR||DOE^JANE||19800101|F|||||{phone}\rPV1|1|I\r"
    )
}

/// `conflict newest by updated_at`: the PAS's A08, held up on the way, arrives after the
/// MPI's newer change of the phone number, and keeps the newer stored value instead of
/// overwriting it; a later change applies again.
#[test]
fn an_older_update_arriving_late_keeps_the_newer_stored_value() {
    let (s, _lab) = setup("e2e-ordered", None);
    step(
        &s,
        s.hub,
        &timed("pas", "A01-1", "111", "20261122100000"),
        0,
    );
    assert_eq!(s.stored("phone"), (Value::from("111"), "pas".into()));
    step(&s, s.mpi, &timed("mpi", "M-1", "222", "20261122110000"), 1);
    assert_eq!(s.stored("phone"), (Value::from("222"), "mpi".into()));
    // Sent at 10:30, arriving after the 11:00 change: the stored value stays.
    step(
        &s,
        s.hub,
        &timed("pas", "A08-1", "333", "20261122103000"),
        2,
    );
    assert_eq!(s.stored("phone"), (Value::from("222"), "mpi".into()));
    let kept = s.journal.count(
        "SELECT COUNT(*) FROM events WHERE kind = 'ownership' AND detail LIKE '%phone: the update is older than the stored value%'",
    );
    assert_eq!(kept, 1, "the decision is recorded with its reason");
    // Sent at 12:00: newer, so it applies, from the owner as from anyone.
    step(
        &s,
        s.hub,
        &timed("pas", "A08-2", "444", "20261122120000"),
        3,
    );
    assert_eq!(s.stored("phone"), (Value::from("444"), "pas".into()));
}

/// An MPI A31 for the patient `mrn`, carrying the NHS number `nhs` and a family name the
/// MPI may not write.
fn mpi_nhs(control: &str, mrn: &str, nhs: &str) -> String {
    format!(
        "MSH|^~\\&|MPI|N|HUB|H|20261122090000||ADT^A31^ADT_A05|{control}|P|2.5\r\
         EVN|A31|20261122090000\r\
         PID|1||{mrn}^^^PAS^MR~{nhs}^^^NHS^NH||MPI-SPELLING^JANE||19700101|U\rPV1|1|N\r"
    )
}

/// `-> partial Patient`: the MPI carries the NHS number only. For a patient nobody has
/// registered the update is held back with the reason (a dead letter, resent once the
/// PAS registers the patient); for a registered one only the NHS number changes, the
/// name the MPI spells otherwise is not a write, and the lab gets the whole patient,
/// completed from the stored record.
#[test]
fn a_partial_update_changes_only_what_it_carries_and_the_lab_gets_the_whole_patient() {
    let (s, lab) = setup_estate(STORED, "e2e-partial", None, "");
    let nhs = "9434765919";

    // 1. Nobody has registered P1: nothing completes the update.
    step(&s, s.mpi, &mpi_nhs("M-1", "P1", nhs), 0);
    let dead = s.json(&["dead-letters", "list", "--reason", "ownership", "--json"]);
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let detail = dead[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("no Patient P1 is stored") && detail.contains("owner must send it first"),
        "{detail}"
    );
    assert!(lab.messages().is_empty());

    // 2. The PAS registers P1: the lab gets the registration.
    step(
        &s,
        s.hub,
        &pas("A-1", "A01", "", "SMITH", "F").replace(MRN, "P1"),
        1,
    );
    let got = lab.wait_for(1);
    assert_eq!(field(&got[0], "PID", 5), "SMITH");

    // 3. The MPI's NHS number: stored as the MPI's, and the lab gets the whole patient.
    step(&s, s.mpi, &mpi_nhs("M-2", "P1", nhs), 2);
    let got = lab.wait_for(2);
    assert_eq!(field(&got[1], "MSH", 9), "ADT^A31");
    assert_eq!(field(&got[1], "PID", 19), nhs);
    assert_eq!(field(&got[1], "PID", 5), "SMITH", "the name is the PAS's");
    assert_eq!(field(&got[1], "PID", 7), "19800101");
    let r = s.json(&["records", "Patient", "P1", "--json"]);
    assert_eq!(r["fields"]["nhs_number"]["value"], nhs);
    assert_eq!(r["fields"]["nhs_number"]["writer"], "mpi");
    assert_eq!(r["fields"]["family_name"]["value"], "SMITH");
    assert_eq!(r["fields"]["family_name"]["writer"], "pas");

    // 4. The first update, resent now that P1 is registered, completes.
    let id = dead[0]["id"].to_string();
    let (ok, out) = s.cli(&[
        "dead-letters",
        "resend",
        &id,
        "--why",
        "P1 registered since",
    ]);
    assert!(ok, "{out}");
    let got = lab.wait_for(3);
    assert_eq!(field(&got[2], "PID", 19), nhs);
    assert_eq!(field(&got[2], "PID", 5), "SMITH");

    // 5. A bad NHS number the MPI carries is refused by the record's check.
    let before = s.processed();
    step(&s, s.mpi, &mpi_nhs("M-3", "P1", "1234567890"), before);
    let dead = s.json(&["dead-letters", "list", "--reason", "constraint", "--json"]);
    assert_eq!(dead.as_array().unwrap().len(), 1, "{dead:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.messages().len(), 3, "nothing more reaches the lab");
}

/// The estate of partial updates and lookups.
const STORED: &str = "compiler/tests/production/partial-updates";

/// A lab result for patient `mrn`, carrying the MRN and nothing else of the patient.
fn result(control: &str, mrn: &str) -> String {
    format!(
        "MSH|^~\\&|LAB|L|HUB|H|20261122090000||ORU^R01^ORU_R01|{control}|P|2.5\r\
         PID|1||{mrn}^^^PAS^MR\r\
         OBR|1|ORD1||FBC^Full blood count\r\
         OBX|1|NM|HB^Haemoglobin||135|g/L\r"
    )
}

/// `lookup(Patient.family_name, PID-3[1].1)`: the PAS gets each result with the name and
/// NHS number the production stored; `coalesce` gives the default while the NHS number is
/// unknown; `require` refuses a result for a patient nobody registered, with the
/// contract's reason.
#[test]
fn a_mapping_looks_up_the_stored_patient_and_refuses_a_result_for_one_nobody_registered() {
    let pas_peer = Peer::start(|_, _| "CA");
    let results = free_port();
    let extra = format!(
        "[endpoints.results_in]\nport = {results}\n[endpoints.pas_out]\nport = {}\n",
        pas_peer.port
    );
    let (s, lab) = setup_estate(STORED, "e2e-lookup", None, &extra);

    // 1. Nobody registered P9: refused with the contract's reason.
    step(&s, results, &result("R-1", "P9"), 0);
    let dead = s.json(&["dead-letters", "list", "--json"]);
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0]["detail"]
            .as_str()
            .unwrap()
            .contains("the result is for a patient the PAS never registered"),
        "{dead:?}"
    );

    // 2. The PAS registers P2; its result carries the stored name, and no NHS number yet.
    step(
        &s,
        s.hub,
        &pas("A-2", "A01", "", "SMITH", "F").replace(MRN, "P2"),
        1,
    );
    lab.wait_for(1);
    step(&s, results, &result("R-2", "P2"), 2);
    let got = pas_peer.wait_for(1);
    assert_eq!(field(&got[0], "PID", 3), "P2^^^^MR");
    assert_eq!(field(&got[0], "PID", 5), "SMITH");
    assert_eq!(field(&got[0], "PID", 19), "not known");
    assert_eq!(field(&got[0], "OBR", 4), "FBC");

    // 3. Once the MPI has sent the NHS number, results carry it.
    let nhs = "9434765919";
    step(&s, s.mpi, &mpi_nhs("M-2", "P2", nhs), 3);
    lab.wait_for(2);
    step(&s, results, &result("R-3", "P2"), 4);
    let got = pas_peer.wait_for(2);
    assert_eq!(field(&got[1], "PID", 19), nhs);
    assert_eq!(field(&got[1], "PID", 5), "SMITH");
}

/// The PAS's A40 merging patient `retired` into `survivor`.
fn a40(control: &str, survivor: &str, retired: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|H|HUB|H|20261122090000||ADT^A40^ADT_A39|{control}|P|2.5\r\
         EVN|A40|20261122090000\r\
         PID|1||{survivor}^^^PAS^MR||JONES^ANN\r\
         MRG|{retired}^^^PAS^MR\r"
    )
}

/// `merge: Patient from MRG-1.1 into PID-3[where 5 = "MR"].1 follow`: an A40 retires P1
/// into P2. The MPI's NHS number for P1, sent after, is stored on P2 and the lab gets P2
/// with it; a result for P1 reaches the PAS with P2's name; `records` says P1 was
/// merged; the same merge again changes nothing, and a merge of P1 into a third patient
/// is held for a person with the reason, never guessed; nor is an NHS number (`unique`)
/// that would name two patients.
#[test]
fn a_merge_retires_the_patient_and_later_messages_for_the_old_mrn_follow_the_survivor() {
    let pas_peer = Peer::start(|_, _| "CA");
    let results = free_port();
    let extra = format!(
        "[endpoints.results_in]\nport = {results}\n[endpoints.pas_out]\nport = {}\n",
        pas_peer.port
    );
    let (s, lab) = setup_estate(STORED, "e2e-merge", None, &extra);
    let nhs = "9434765919";

    // 1. The PAS registers P1 and P2, then merges P1 into P2; the lab gets all three.
    step(
        &s,
        s.hub,
        &pas("A-1", "A01", "", "SMITH", "F").replace(MRN, "P1"),
        0,
    );
    step(
        &s,
        s.hub,
        &pas("A-2", "A01", "", "JONES", "F").replace(MRN, "P2"),
        1,
    );
    step(&s, s.hub, &a40("A-3", "P2", "P1"), 2);
    let got = lab.wait_for(3);
    assert!(field(&got[2], "MSH", 9).starts_with("ADT^A40"), "{got:?}");
    let p1 = s.json(&["records", "Patient", "P1", "--json"]);
    assert_eq!(p1["merged_into"], "P2", "{p1}");
    let p2 = s.json(&["records", "Patient", "P2", "--json"]);
    assert_eq!(p2["replaces"], serde_json::json!(["P1"]), "{p2}");

    // 2. The MPI's NHS number for the retired P1 is taken as P2's: stored there, and the
    // lab gets P2 with its own name.
    step(&s, s.mpi, &mpi_nhs("M-1", "P1", nhs), 3);
    let got = lab.wait_for(4);
    assert_eq!(field(&got[3], "PID", 3), "P2^^^^MR");
    assert_eq!(field(&got[3], "PID", 5), "JONES");
    assert_eq!(field(&got[3], "PID", 19), nhs);
    let p2 = s.json(&["records", "Patient", "P2", "--json"]);
    assert_eq!(p2["fields"]["nhs_number"]["value"], nhs);
    let p1 = s.json(&["records", "Patient", "P1", "--json"]);
    assert!(p1["fields"]["nhs_number"].is_null(), "{p1}");
    let (ok, trace) = s.cli(&["trace", "M-1"]);
    assert!(
        ok && trace.contains("Patient P1 was merged into P2"),
        "{trace}"
    );

    // 3. A result for P1 reaches the PAS with the survivor's name and NHS number.
    step(&s, results, &result("R-1", "P1"), 4);
    let got = pas_peer.wait_for(1);
    assert_eq!(field(&got[0], "PID", 5), "JONES");
    assert_eq!(field(&got[0], "PID", 19), nhs);

    // 4. The same merge again (a resend by the PAS) is nothing new; a merge of P1 into P3
    // contradicts it and waits for a person as a dead letter, with the reason.
    step(&s, s.hub, &a40("A-4", "P2", "P1"), 5);
    step(&s, s.hub, &a40("A-5", "P3", "P1"), 6);
    let dead = s.json(&["dead-letters", "list", "--reason", "ownership", "--json"]);
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let detail = dead[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Patient P1 was already merged into P2")
            && detail.contains("a person decides"),
        "{detail}"
    );
    let p1 = s.json(&["records", "Patient", "P1", "--json"]);
    assert_eq!(p1["merged_into"], "P2");
    let got = lab.wait_for(5);
    assert!(field(&got[4], "MSH", 9).starts_with("ADT^A40"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        lab.messages().len(),
        5,
        "the contradicting merge reaches nobody"
    );

    // 5. `nhs_number ... unique`: the MPI gives P3 the NHS number P2 holds. Two stored
    // patients match the message, so it waits for a person; P3 keeps no NHS number and
    // the lab hears nothing of it.
    step(
        &s,
        s.hub,
        &pas("A-6", "A01", "", "BROWN", "M").replace(MRN, "P3"),
        7,
    );
    lab.wait_for(6);
    step(&s, s.mpi, &mpi_nhs("M-3", "P3", nhs), 8);
    let held = s.json(&["review", "list", "--json"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    let detail = held[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("is also Patient P2's") && detail.contains("two stored records match"),
        "{detail}"
    );
    let p3 = s.json(&["records", "Patient", "P3", "--json"]);
    assert!(p3["fields"]["nhs_number"].is_null(), "{p3}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.messages().len(), 6, "the held update reaches nobody");
}
