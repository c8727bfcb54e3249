//! A FHIR outbound operation over real sockets: TrakCare's ADT arrives over MLLP, is
//! mapped to a FHIR Patient and sent to a FHIR server (a small HTTP server here) as a
//! conditional update on the patient's identifier, so an update replaces the resource. A
//! 422 with an OperationOutcome is a rejection (AR) whose issues are kept with the dead
//! letter; a 503 is an application error (AE), retried until the server takes it. What
//! the server receives is valid FHIR R4 for `fhir.resources`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    content_type: String,
    authorization: String,
    body: String,
}

/// A FHIR server stand-in: records each request; `reply` picks status and body from the
/// request and how many requests came before it for the same target.
struct FhirServer {
    port: u16,
    got: Arc<Mutex<Vec<Request>>>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut content_type, mut authorization) = (0usize, String::new(), String::new());
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "content-type" => content_type = value.trim().to_string(),
            "authorization" => authorization = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        content_type,
        authorization,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

impl FhirServer {
    fn start(reply: fn(&Request, usize) -> (u16, String)) -> FhirServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Request>>> = Arc::default();
        let g = got.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(stream) = conn else { continue };
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut w = stream.try_clone().unwrap();
                    let mut r = BufReader::new(stream);
                    while let Some(req) = read_request(&mut r) {
                        let seen = {
                            let mut v = g.lock().unwrap();
                            let n = v.iter().filter(|x| x.target == req.target).count();
                            v.push(req.clone());
                            n
                        };
                        let (status, body) = reply(&req, seen);
                        let _ = write!(
                            w,
                            "HTTP/1.1 {status} X\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                    }
                });
            }
        });
        FhirServer { port, got }
    }

    fn requests(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }

    fn wait_for(&self, n: usize) -> Vec<Request> {
        let start = Instant::now();
        while self.requests().len() < n {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the FHIR server got {:?}",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.requests()
    }
}

fn adt(control: &str, event: &str, mrn: &str, family: &str) -> String {
    format!(
        "MSH|^~\\&|TRAKCARE|H|HUB|H|20261122090000||ADT^{event}^ADT_A01|{control}|P|2.5\r\
         EVN|{event}|20261122090000\r\
         PID|1||{mrn}^^^TRAK^MR||{family}^EVE||19800314|F\rPV1|1|I\r"
    )
}

const OUTCOME: &str = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"business-rule","diagnostics":"Patient REJECT1 is restricted in the portal"}]}"#;

fn reply(req: &Request, seen: usize) -> (u16, String) {
    if req.target.contains("REJECT1") {
        (422, OUTCOME.to_string())
    } else if req.target.contains("BUSY1") && seen == 0 {
        (503, String::new())
    } else {
        (if seen == 0 { 201 } else { 200 }, req.body.clone())
    }
}

fn journal_rows(journal: &std::path::Path) -> Vec<(String, String, String)> {
    let c = rusqlite::Connection::open(journal).unwrap();
    let mut st = c
        .prepare("SELECT COALESCE(control_id, ''), state, COALESCE(detail, '') FROM messages WHERE direction = 'out' ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn patients_reach_a_fhir_server_as_conditional_updates() {
    let server = FhirServer::start(reply);
    let bin = build("compiler/tests/production/fhir-outbound");
    let (hub, admin) = (free_port(), free_port());
    let dir = fresh_dir("e2e-fhir-outbound");
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[settings]\nPORTAL_FHIR_BASE = \"http://127.0.0.1:{}/fhir\"\n[secrets]\nPORTAL_FHIR_TOKEN = \"server-token-4711\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n[endpoints.hub_in]\nport = {hub}\n",
            server.port
        ),
    )
    .unwrap();
    let store = dir.join("store");
    let _production = start(&bin, &config, &store, admin);

    // An admission creates the patient; an update of the same patient goes to the same
    // conditional URL, so the server updates rather than duplicates.
    assert_eq!(
        send_msa(hub, &adt("F1", "A01", "100001", "EVERYWOMAN")),
        "AA"
    );
    let got = server.wait_for(1);
    let first = &got[0];
    assert_eq!(first.method, "PUT");
    assert_eq!(
        first.target,
        "/fhir/Patient?identifier=urn%3Aexample%3Atrakcare%3Amrn|100001"
    );
    assert_eq!(first.content_type, "application/fhir+json");
    // The endpoint's `token: secret(...)` goes with every request.
    assert!(
        got.iter()
            .all(|r| r.authorization == "Bearer server-token-4711"),
        "{got:?}"
    );
    let patient: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(patient["id"], "patient-100001");
    assert_eq!(patient["gender"], "female");
    assert_eq!(
        send_msa(hub, &adt("F2", "A08", "100001", "EVERYPERSON")),
        "AA"
    );
    let got = server.wait_for(2);
    assert_eq!(got[1].target, first.target);
    assert!(got[1].body.contains("EVERYPERSON"));
    let files: Vec<std::path::PathBuf> = got
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let f = dir.join(format!("sent-{i}.json"));
            std::fs::write(&f, &r.body).unwrap();
            f
        })
        .collect();
    let (valid, report) = fhir_validate(&files);
    assert!(valid, "{report}");

    // A 422 with an OperationOutcome is a rejection: dead-lettered with the server's why.
    assert_eq!(
        send_msa(hub, &adt("F3", "A01", "REJECT1", "RESTRICTED")),
        "AA"
    );
    // A 503 is retried (every second, the contract says) until the server takes it.
    assert_eq!(send_msa(hub, &adt("F4", "A01", "BUSY1", "LATER")), "AA");
    let journal = store.join("journal.sqlite");
    let start = Instant::now();
    loop {
        let rows = journal_rows(&journal);
        let settled =
            rows.len() == 4 && rows.iter().all(|(_, s, _)| s == "completed" || s == "dead");
        if settled {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rows = journal_rows(&journal);
    let rejected = rows
        .iter()
        .find(|r| r.2.contains("REJECT1"))
        .expect("the rejected delivery");
    assert_eq!(rejected.1, "dead", "{rows:?}");
    assert!(
        rejected.2.contains("HTTP 422")
            && rejected
                .2
                .contains("error business-rule: Patient REJECT1 is restricted in the portal"),
        "{rejected:?}"
    );
    let busy: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.target.contains("BUSY1"))
        .collect();
    assert_eq!(busy.len(), 2, "one 503, then accepted on the retry");
    assert_eq!(
        rows.iter().filter(|r| r.1 == "completed").count(),
        3,
        "{rows:?}"
    );
}
