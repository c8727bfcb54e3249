//! The patient-portal example, run for real: TrakCare's ADT sample arrives over MLLP, the
//! production stores the patient and both allergies as records of their own, the portal
//! reads them as FHIR R4 with a patient scope (through Python `requests` and `PyJWT`),
//! corrects the patient's phone number (the matrix accepts the portal for it) and is
//! refused a change of date of birth, and the portal's orders reach a stand-in WinPath as
//! the LIMS's ORM^O01: one sent as HL7 v2, one created as a FHIR ServiceRequest through
//! the API (sent again, it is a duplicate and is not delivered twice). The FHIR it reads
//! and sends is valid R4 for `fhir.resources`.

mod support;

use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const SECRET: &str = "portal example secret for the tests, 32 bytes or more";

fn call(
    method: &str,
    url: &str,
    scope: &str,
    patient: &str,
    body: Option<&std::path::Path>,
) -> Value {
    let python = fhir_python();
    let mut c = Command::new(python);
    c.arg(root().join("tests/tools/fhir_call.py"))
        .args([method, url, SECRET, scope, patient]);
    if let Some(b) = body {
        c.arg(b);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The portal example's production with WinPath played by `winpath`: its ports
/// (TrakCare's ADT, the portal's orders, the API), folder, store and process.
struct Portal {
    trak: u16,
    portal_in: u16,
    api: u16,
    dir: std::path::PathBuf,
    store: std::path::PathBuf,
    _production: Production,
}

fn start_portal(name: &str, winpath: &Peer) -> Portal {
    let bin = build("examples/patient-portal");
    let (trak, portal_in, api, admin) = (free_port(), free_port(), free_port(), free_port());
    let dir = fresh_dir(name);
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
             [endpoints.hub_trakcare_in]\nhost = \"127.0.0.1\"\nport = {trak}\n\
             [endpoints.hub_portal_in]\nhost = \"127.0.0.1\"\nport = {portal_in}\n\
             [endpoints.portal_api]\nhost = \"127.0.0.1\"\nport = {api}\n\
             [endpoints.winpath_mllp]\nport = {}\n\
             [auth]\nhs256_secret = \"{SECRET}\"\n\
             issuer = \"https://auth.accord.test\"\naudience = \"accord-fhir-test\"\n",
            winpath.port
        ),
    )
    .unwrap();
    let store = dir.join("store");
    let production = start(&bin, &config, &store, admin);
    Portal {
        trak,
        portal_in,
        api,
        dir,
        store,
        _production: production,
    }
}

#[test]
fn the_portal_reads_corrects_and_orders() {
    let winpath = Peer::start(|_, _| "AA");
    let p = start_portal("e2e-patient-portal", &winpath);
    let (trak, portal_in, api, dir, store) =
        (p.trak, p.portal_in, p.api, p.dir.clone(), p.store.clone());
    let adt = std::fs::read_to_string(root().join("examples/patient-portal/samples/adt_a01.hl7"))
        .unwrap();
    assert_eq!(send_msa(trak, &adt), "AA");
    let journal = store.join("journal.sqlite");
    let t = Instant::now();
    loop {
        let c = rusqlite::Connection::open(&journal).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT COUNT(DISTINCT record || key) FROM records",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        if n == 3 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the patient and both allergies are not stored ({n})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let base = format!("http://127.0.0.1:{api}");
    let scope = "patient/Patient.rsu patient/AllergyIntolerance.rs";
    let me = "patient-300001";
    let patient = call("GET", &format!("{base}/Patient/{me}"), scope, me, None);
    assert_eq!(patient["status"], 200, "{patient}");
    assert_eq!(patient["body"]["name"][0]["family"], "EVERYMAN");
    assert_eq!(
        patient["body"]["telecom"][1]["value"],
        "adam.everyman@example.org"
    );
    let allergies = call(
        "GET",
        &format!("{base}/AllergyIntolerance?patient={me}"),
        scope,
        me,
        None,
    );
    assert_eq!(allergies["status"], 200, "{allergies}");
    assert_eq!(allergies["body"]["total"], 2, "{allergies}");
    let penicillin = allergies["body"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["code"]["coding"][0]["code"] == "70618")
        .expect("the penicillin allergy");
    assert_eq!(penicillin["patient"]["reference"], format!("Patient/{me}"));
    assert_eq!(penicillin["criticality"], "high");
    assert_eq!(penicillin["category"][0], "medication");
    // Another patient's allergies are not this token's.
    let other = call(
        "GET",
        &format!("{base}/AllergyIntolerance?patient=patient-999999"),
        scope,
        me,
        None,
    );
    assert_eq!(other["body"]["total"], 0, "{other}");
    // A later admission brings a third allergy and changes the penicillin one: searches
    // after the first (whose index is kept in the journal) see both changes.
    let later = adt
        .replace("PP00001", "PP00002")
        .replace("|SV|Anaphylaxis", "|MI|Rash")
        .replace(
            "AL1|2|FA|256349002^Peanut^SCT|MI|Hives",
            "AL1|2|FA|256349002^Peanut^SCT|MI|Hives\rAL1|3|DA|7980^Aspirin^RXNORM|MI|Wheeze",
        );
    assert_eq!(send_msa(trak, &later), "AA");
    let t = Instant::now();
    let allergies = loop {
        let found = call(
            "GET",
            &format!("{base}/AllergyIntolerance?patient={me}"),
            scope,
            me,
            None,
        );
        if found["body"]["total"] == 3 {
            break found;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the third allergy is not found: {found}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let codes: Vec<(String, String)> = allergies["body"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let r = &e["resource"];
            let code = r["code"]["coding"][0]["code"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let criticality = r["criticality"].as_str().unwrap_or("").to_string();
            (code, criticality)
        })
        .collect();
    assert!(codes.iter().any(|(c, _)| c == "7980"), "{codes:?}");
    assert!(
        codes.iter().any(|(c, crit)| c == "70618" && crit == "low"),
        "the changed allergy is served as now stored: {codes:?}"
    );
    // Allergies are read-only for the portal.
    let files = [dir.join("patient.json"), dir.join("bundle.json")];
    std::fs::write(&files[0], patient["body"].to_string()).unwrap();
    std::fs::write(&files[1], allergies["body"].to_string()).unwrap();
    let (ok, report) = fhir_validate(&files);
    assert!(ok, "{report}");

    // A correction the matrix accepts, and one it refuses.
    let mut body = patient["body"].clone();
    body["telecom"][0]["value"] = "07700900789".into();
    let file = dir.join("phone.json");
    let put_me = |body: &Value| {
        std::fs::write(&file, body.to_string()).unwrap();
        call(
            "PUT",
            &format!("{base}/Patient/{me}"),
            scope,
            me,
            Some(&file),
        )
    };
    let put = put_me(&body);
    assert_eq!(put["status"], 200, "{put}");
    assert_eq!(put["body"]["telecom"][0]["value"], "07700900789");
    // A client that lists the e-mail first and the phone second: each is read by its
    // system, not its place, so the phone is not stored as the e-mail or the reverse.
    let email = body["telecom"][1]["value"].clone();
    let mut reordered = body.clone();
    reordered["telecom"] = serde_json::json!([
        {"system": "email", "value": email},
        {"system": "phone", "value": "07700900456"},
    ]);
    let put = put_me(&reordered);
    assert_eq!(put["status"], 200, "{put}");
    assert_eq!(put["body"]["telecom"][0]["system"], "phone", "{put}");
    assert_eq!(put["body"]["telecom"][0]["value"], "07700900456", "{put}");
    assert_eq!(put["body"]["telecom"][1]["value"], email, "{put}");
    body["birthDate"] = "1975-06-22".into();
    let refused = put_me(&body);
    assert_eq!(refused["status"], 403, "{refused}");
    let why = refused["body"]["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(why.contains("birth_date"), "{why}");

    // The portal's order reaches WinPath as its ORM^O01.
    let orm = std::fs::read_to_string(root().join("examples/patient-portal/samples/orm_o01.hl7"))
        .unwrap();
    assert_eq!(send_msa(portal_in, &orm), "AA");
    let got = winpath.wait_for(1);
    assert_eq!(field(&got[0], "ORC", 2), "WEB-0001^PORTAL", "{}", got[0]);
    assert_eq!(field(&got[0], "PID", 3), "300001^^^^MR");
    assert!(got[0].contains("FBC^Full blood count"), "{}", got[0]);

    // An order created through the API as a FHIR ServiceRequest reaches WinPath as well.
    let metadata = call("GET", &format!("{base}/metadata"), scope, me, None);
    let creates = metadata["body"]["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "ServiceRequest")
        .map(|r| r["interaction"].to_string());
    assert_eq!(
        creates.as_deref(),
        Some(r#"[{"code":"create"}]"#),
        "{metadata}"
    );
    let order = |number: &str, patient: &str, mrn: &str| {
        json!({
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "priority": "stat",
            "identifier": [{ "system": "https://portal.example.org/orders", "value": number }],
            "code": { "coding": [{ "system": "https://winpath.example.org/tests", "code": "UE", "display": "Urea and electrolytes" }] },
            "subject": {
                "reference": format!("Patient/{patient}"),
                "identifier": { "system": "https://fhir.nhs.uk/Id/local-mrn", "value": mrn }
            }
        })
    };
    let file = dir.join("order.json");
    std::fs::write(&file, order("WEB-0002", me, "300001").to_string()).unwrap();
    let (ok, report) = fhir_validate(std::slice::from_ref(&file));
    assert!(ok, "{report}");
    let ordering = "patient/ServiceRequest.c";
    let orders = format!("{base}/ServiceRequest");
    let made = call("POST", &orders, ordering, me, Some(&file));
    assert_eq!(made["status"], 201, "{made}");
    let location = made["location"].as_str().unwrap().to_string();
    assert!(location.starts_with("ServiceRequest/"), "{made}");
    assert_eq!(
        format!("ServiceRequest/{}", made["body"]["id"].as_str().unwrap()),
        location
    );
    let got = winpath.wait_for(2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(field(&got[1], "ORC", 2), "WEB-0002^PORTAL", "{}", got[1]);
    assert_eq!(field(&got[1], "PID", 3), "300001^^^^MR");
    assert!(got[1].contains("UE^Urea and electrolytes"), "{}", got[1]);
    assert!(field(&got[1], "OBR", 27).ends_with("^S"), "{}", got[1]);
    // The same order again is the same order: answered with its location, not resent.
    let again = call("POST", &orders, ordering, me, Some(&file));
    assert_eq!(again["status"], 200, "{again}");
    assert_eq!(again["location"], location.as_str());
    let c = rusqlite::Connection::open(&journal).unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT COUNT(*) FROM messages WHERE interface = 'fhir_orders_to_winpath'"),
        1
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM messages WHERE interface = 'portal_fhir' AND state = 'duplicate'"
        ),
        1
    );
    // Another patient's order, an order without a number, and a token that may only read.
    std::fs::write(
        &file,
        order("WEB-0003", "patient-999999", "999999").to_string(),
    )
    .unwrap();
    let stranger = call("POST", &orders, ordering, me, Some(&file));
    assert_eq!(stranger["status"], 403, "{stranger}");
    let mut unnumbered = order("WEB-0004", me, "300001");
    unnumbered.as_object_mut().unwrap().remove("identifier");
    std::fs::write(&file, unnumbered.to_string()).unwrap();
    let refused = call("POST", &orders, ordering, me, Some(&file));
    assert_eq!(refused["status"], 422, "{refused}");
    let reader = call("POST", &orders, scope, me, Some(&file));
    assert_eq!(reader["status"], 403, "{reader}");
    let audited =
        count("SELECT COUNT(*) FROM audit WHERE action LIKE 'portal_fhir: create ServiceRequest%'");
    assert_eq!(audited, 5);
    assert_eq!(winpath.messages().len(), 2);
}

/// A patient acts for themselves only (`cargo test -- security`): an order whose
/// subject's identifier names another patient is refused even when its reference names
/// the token's own; one patient's order number does not make another's order a
/// duplicate; and a patient cannot fill a field TrakCare owns and left empty.
#[test]
fn security_a_patient_orders_and_corrects_only_for_themselves() {
    let winpath = Peer::start(|_, _| "AA");
    let p = start_portal("e2e-portal-security", &winpath);
    let (trak, api, dir, store) = (p.trak, p.api, p.dir.clone(), p.store.clone());
    let adt = std::fs::read_to_string(root().join("examples/patient-portal/samples/adt_a01.hl7"))
        .unwrap();
    assert_eq!(send_msa(trak, &adt), "AA");
    // A second patient, whose NHS number TrakCare does not know.
    let other = adt
        .replace("PP00001", "PP00009")
        .replace("300001^^^TRAK^MR~9434765870^^^NHS^NH", "300002^^^TRAK^MR")
        .replace("EVERYMAN^ADAM", "OTHERMAN^EVE");
    assert_eq!(send_msa(trak, &other), "AA");
    let journal = store.join("journal.sqlite");
    wait_for_records(&journal, "Patient", 2);
    let base = format!("http://127.0.0.1:{api}");
    let orders = format!("{base}/ServiceRequest");
    let (me, them) = ("patient-300001", "patient-300002");
    let order = |number: &str, reference: &str, mrn: &str| {
        json!({
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "identifier": [{ "system": "https://portal.example.org/orders", "value": number }],
            "code": { "coding": [{ "system": "https://winpath.example.org/tests", "code": "UE", "display": "Urea and electrolytes" }] },
            "subject": {
                "reference": format!("Patient/{reference}"),
                "identifier": { "system": "https://fhir.nhs.uk/Id/local-mrn", "value": mrn }
            }
        })
    };
    let file = dir.join("order.json");
    let post = |body: Value, patient: &str| {
        std::fs::write(&file, body.to_string()).unwrap();
        call(
            "POST",
            &orders,
            "patient/ServiceRequest.c",
            patient,
            Some(&file),
        )
    };
    // The reference is mine, the identifier the mapping reads is theirs.
    let forged = post(order("WEB-0100", me, "300002"), me);
    assert_eq!(forged["status"], 403, "{forged}");
    // The identifier is mine, the reference theirs.
    let forged = post(order("WEB-0100", them, "300001"), me);
    assert_eq!(forged["status"], 403, "{forged}");
    // They order first with a number; my order with the same number is still mine.
    let theirs = post(order("WEB-0100", them, "300002"), them);
    assert_eq!(theirs["status"], 201, "{theirs}");
    let mine = post(order("WEB-0100", me, "300001"), me);
    assert_eq!(mine["status"], 201, "{mine}");
    let got = winpath.wait_for(2);
    let mut mrns: Vec<String> = got.iter().map(|m| field(m, "PID", 3)).collect();
    mrns.sort();
    assert_eq!(mrns, ["300001^^^^MR", "300002^^^^MR"], "{got:?}");

    // TrakCare left their NHS number empty: the portal may not fill it.
    let read = call(
        "GET",
        &format!("{base}/Patient/{them}"),
        "patient/Patient.rsu",
        them,
        None,
    );
    assert_eq!(read["status"], 200, "{read}");
    let mut body = read["body"].clone();
    body.as_object_mut().unwrap().remove("meta");
    body["identifier"][1] =
        json!({ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765870" });
    let patient_file = dir.join("patient.json");
    std::fs::write(&patient_file, body.to_string()).unwrap();
    let filled = call(
        "PUT",
        &format!("{base}/Patient/{them}"),
        "patient/Patient.rsu",
        them,
        Some(&patient_file),
    );
    assert_eq!(filled["status"], 403, "{filled}");
    let why = filled["body"]["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(why.contains("nhs_number"), "{why}");
    let c = rusqlite::Connection::open(&journal).unwrap();
    let stored: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM records WHERE record = 'Patient' AND key = '300002' AND field = 'nhs_number' AND value != 'null'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 0);
}
