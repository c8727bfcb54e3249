//! `accord hl7 ...` as an analyst uses it: get (exit codes), inspect (field names),
//! validate (dictionary and profile), ack, and send/listen as two real processes on
//! loopback, plus python-hl7's `mllp_send` as a client Accord did not write.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const SAMPLES: &str = "examples/trakcare-lab/samples";

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run accord")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sample(name: &str) -> String {
    format!("{SAMPLES}/{name}")
}

#[test]
fn get_exit_codes_follow_presence() {
    let o = accord(&[
        "hl7",
        "get",
        &sample("adt_a01.hl7"),
        "PID-3[where 5 = \"NH\"].1",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o).trim()),
        (Some(0), "9434765919")
    );
    let o = accord(&["hl7", "get", &sample("adt_a01.hl7"), "PID-2"]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "\n"),
        "present but empty"
    );
    let o = accord(&["hl7", "get", &sample("adt_a01.hl7"), "PID-40"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("PID-40 is absent"));
    let dir = std::env::temp_dir().join(format!("accord-hl7-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.hl7");
    std::fs::write(&bad, "EVN|A01\rPID|1\r").unwrap();
    let o = accord(&["hl7", "get", &bad.to_string_lossy(), "PID-1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.hl7:1:1") && err.contains("does not start with MSH"),
        "{err}"
    );
    assert_eq!(
        accord(&["hl7", "get", &sample("adt_a01.hl7"), "PID3"])
            .status
            .code(),
        Some(2),
        "bad path"
    );
}

#[test]
fn inspect_names_fields_from_the_dictionary() {
    let o = accord(&["hl7", "inspect", "--format", "json", &sample("oru_r01.hl7")]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let obx = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["segment"] == "OBX")
        .unwrap();
    let f5 = obx["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == 5)
        .unwrap();
    assert_eq!(f5["name"], "Observation Value");
    assert_eq!(f5["value"], "135");
    let human = stdout(&accord(&["hl7", "inspect", &sample("adt_a01.hl7")]));
    assert!(
        human.contains("PID-5 Patient Name (XPN): EVERYWOMAN^EVE^JANE"),
        "{human}"
    );
    assert!(human.contains("PID-5.1 Family Name: EVERYWOMAN"), "{human}");
}

#[test]
fn validate_against_the_dictionary_and_a_profile() {
    let o = accord(&["hl7", "validate", &sample("adt_a01.hl7")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let no_pv1 = std::env::temp_dir().join(format!("accord-a40-no-pv1-{}.hl7", std::process::id()));
    let a40 = std::fs::read_to_string(root().join(sample("adt_a40.hl7"))).unwrap();
    std::fs::write(&no_pv1, a40.replace("PV1|1|N\r", "")).unwrap();
    let o = accord(&[
        "hl7",
        "validate",
        "--profile",
        "examples/trakcare-lab:trakcare_adt",
        no_pv1.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("PV1-2 is required (R) by profile `trakcare_adt`"),
        "{out}"
    );
    assert!(out.contains("-no-pv1-"), "locations: {out}");
    let _ = std::fs::remove_file(&no_pv1);
    let o = accord(&[
        "hl7",
        "validate",
        "--profile",
        "examples/trakcare-lab:nope",
        &sample("adt_a40.hl7"),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn ack_builds_the_acknowledgement() {
    let o = accord(&[
        "hl7",
        "ack",
        &sample("adt_a01.hl7"),
        "--code",
        "AR",
        "--error-code",
        "101",
        "--text",
        "PID-3 missing",
    ]);
    let out = stdout(&o);
    assert!(
        out.starts_with("MSH|^~\\&|HUB|LOTHIAN|TRAKCARE|LOTHIAN|"),
        "{out}"
    );
    assert!(out.contains("\nMSA|AR|MSG00001|PID-3 missing\n"), "{out}");
    assert!(out.contains("\nERR|^^^101&"), "{out}");
    assert_eq!(
        accord(&["hl7", "ack", &sample("adt_a01.hl7"), "--code", "XX"])
            .status
            .code(),
        Some(2)
    );
}

/// Starts `accord hl7 listen` on a free port; returns the child and the port.
fn listener(extra: &[&str]) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args = vec!["hl7".to_string(), "listen".into(), port.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(&args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start listener");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    (child, port)
}

#[test]
fn send_and_listen_as_two_processes() {
    let (child, port) = listener(&["--reply", "AA", "--count", "2"]);
    let o = accord(&[
        "hl7",
        "send",
        &format!("127.0.0.1:{port}"),
        &sample("adt_a01.hl7"),
        &sample("oru_r01.hl7"),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("MSA|AA|MSG00001") && out.contains("MSA|AA|LAB0001"),
        "{out}"
    );
    let listened = child.wait_with_output().unwrap();
    let heard = String::from_utf8_lossy(&listened.stdout);
    assert!(
        heard.contains("PID|1||100001^^^TRAK^MR~9434765919^^^NHS^NH||EVERYWOMAN"),
        "{heard}"
    );
    assert!(heard.contains("OBX|2|NM|K^Potassium||6.1"), "{heard}");
}

#[test]
fn send_reports_negative_acks_and_refused_connections() {
    let (child, port) = listener(&["--reply", "AE", "--count", "1"]);
    let o = accord(&[
        "hl7",
        "send",
        &format!("127.0.0.1:{port}"),
        &sample("adt_a01.hl7"),
    ]);
    assert_eq!(o.status.code(), Some(1), "an AE is not accepted");
    assert!(stdout(&o).contains("MSA|AE|MSG00001"));
    child.wait_with_output().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = accord(&[
        "hl7",
        "send",
        &format!("127.0.0.1:{closed}"),
        &sample("adt_a01.hl7"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot connect"));
}

#[test]
fn python_hl7_mllp_send_talks_to_accord_listen() {
    let (child, port) = listener(&["--reply", "AA", "--count", "1"]);
    let o = Command::new("mllp_send")
        .args([
            "--port",
            &port.to_string(),
            "--loose",
            "--file",
            &sample("oru_r01.hl7"),
            "127.0.0.1",
        ])
        .current_dir(root())
        .output()
        .expect("mllp_send from python-hl7 (bash .ci/run installs it)");
    let reply = String::from_utf8_lossy(&o.stdout).replace('\r', "\n");
    assert!(
        reply.contains("MSA|AA|LAB0001"),
        "python-hl7 got: {reply:?} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let heard = String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned();
    assert!(
        heard.contains("OBR|1|ORD123^TRAK|LAB987^WINPATH"),
        "{heard}"
    );
}

#[test]
fn validate_warns_of_withdrawn_fields_and_an_unknown_structure() {
    let corpus = root().join("tests/corpus/hl7v2/fhir-converter/ADT-A04-02.hl7");
    let corpus = corpus.to_str().unwrap();
    let o = accord(&["hl7", "validate", corpus]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "warnings do not fail: {out}");
    assert!(
        out.contains("warning: MSH-9.3 names `ADT_A04`, which HL7 v2.8 does not define"),
        "{out}"
    );
    assert!(
        out.contains("warning: PID-19 (SSN Number) is withdrawn in HL7 v2.8"),
        "{out}"
    );
    assert!(!out.contains(": error:"), "{out}");
}
