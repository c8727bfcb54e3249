//! The FHIR facade of an API interface, over real sockets: the PAS sends two patients
//! over MLLP, the production stores them (the ownership matrix governs them), and a
//! client no one here wrote (Python `requests`, `PyJWT`, `fhir.resources`) reads them as
//! FHIR R4: the CapabilityStatement, reads and searches with SMART scopes, a patient
//! scope that keeps to its patient, and the refusals: no token, a broken one, an expired
//! one, the wrong scope, a signature from a key the JWKS does not have. Write-back: the
//! portal may change the phone number (the matrix accepts it) but not the name. Every
//! access is in the journal's audit table.

mod support;

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

fn adt(control: &str, mrn: &str, family: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|H|HUB|H|20261201090000||ADT^A01^ADT_A01|{control}|P|2.5\r\
         EVN|A01|20261201090000\r\
         PID|1||{mrn}^^^PAS^MR||{family}^JANE||19800314|F|||||07700900123\rPV1|1|I\r"
    )
}

#[test]
fn the_api_serves_stored_patients_to_smart_scopes_and_audits_every_access() {
    let bin = build("compiler/tests/production/fhir-facade");
    let (hub, api, admin) = (free_port(), free_port(), free_port());
    let dir = fresh_dir("e2e-fhir-api");
    let jwks = dir.join("jwks.json");
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[endpoints.hub_in]\nport = {hub}\n\
             [endpoints.portal_api]\nport = {api}\n\
             [auth]\nhs256_secret = \"a test secret of enough length\"\njwks = \"{}\"\n",
            jwks.display()
        ),
    )
    .unwrap();
    let store = dir.join("store");
    let _production = start(&bin, &config, &store, admin);
    assert_eq!(send_msa(hub, &adt("API1", "API001", "EVERYWOMAN")), "AA");
    assert_eq!(send_msa(hub, &adt("API2", "API002", "NOBODY")), "AA");
    let journal = store.join("journal.sqlite");
    let start_wait = Instant::now();
    loop {
        let c = rusqlite::Connection::open(&journal).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT COUNT(DISTINCT key) FROM records WHERE record = 'Patient'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        if n == 2 {
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(15),
            "the patients are not stored"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let python = fhir_python();
    let o = Command::new(python)
        .arg(root().join("tests/tools/fhir_api_client.py"))
        .arg(format!("http://127.0.0.1:{api}"))
        .arg("a test secret of enough length")
        .arg(&jwks)
        .args(["patient-API001", "patient-API002", "API001"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let status = |name: &str| r[name]["status"].as_u64().unwrap_or(0);

    // The contract's capabilities, without a token.
    assert_eq!(status("metadata"), 200);
    assert_eq!(r["metadata"]["valid"], true, "{}", r["metadata"]);
    assert_eq!(r["metadata"]["resources"], serde_json::json!(["Patient"]));
    assert_eq!(r["metadata"]["security"], "SMART-on-FHIR");

    // Refusals: 401 with a Bearer challenge, 403 for a scope that does not cover it.
    for name in [
        "no_token",
        "not_a_jwt",
        "expired",
        "rs256_stranger",
        "rs256_unknown_kid",
    ] {
        assert_eq!(status(name), 401, "{name}: {}", r[name]);
        assert_eq!(r[name]["resourceType"], "OperationOutcome", "{name}");
        assert!(
            r[name]["www_authenticate"]
                .as_str()
                .unwrap()
                .starts_with("Bearer"),
            "{name}"
        );
    }
    assert!(
        r["expired"]["why"].as_str().unwrap().contains("expired"),
        "{}",
        r["expired"]
    );
    for name in [
        "wrong_scope",
        "read_only_scope_search",
        "patient_scope_without_claim",
    ] {
        assert_eq!(status(name), 403, "{name}: {}", r[name]);
        assert_eq!(r[name]["valid"], true, "{name}");
    }

    // A system scope sees every stored patient, and searches by identifier.
    assert_eq!(status("system_read"), 200, "{}", r["system_read"]);
    assert_eq!(r["system_read"]["valid"], true, "{}", r["system_read"]);
    assert_eq!(r["system_read"]["id"], "patient-API001");
    assert_eq!(r["system_read"]["family"], "EVERYWOMAN");
    assert_eq!(
        r["system_search_all"]["ids"],
        serde_json::json!(["patient-API001", "patient-API002"])
    );
    assert_eq!(r["system_search_all"]["valid"], true);
    assert_eq!(r["system_search_all"]["next"], Value::Null);
    // A page at a time, in id order, through the server's next link.
    assert_eq!(
        r["system_search_page_1"]["ids"],
        serde_json::json!(["patient-API001"])
    );
    assert_eq!(
        status("system_search_page_2"),
        200,
        "{}",
        r["system_search_page_2"]
    );
    assert_eq!(
        r["system_search_page_2"]["ids"],
        serde_json::json!(["patient-API002"])
    );
    assert_eq!(r["system_search_page_2"]["next"], Value::Null);
    assert_eq!(r["system_search_page_2"]["valid"], true);
    assert_eq!(status("system_search_bad_count"), 400);
    assert_eq!(
        r["system_search_identifier"]["ids"],
        serde_json::json!(["patient-API001"])
    );
    assert_eq!(r["system_search_identifier"]["total"], 1);
    assert_eq!(status("system_search_unknown_param"), 400);
    assert_eq!(status("unknown_id"), 404);
    assert_eq!(status("unserved_type"), 404);

    // A patient scope keeps to the token's patient; another patient does not exist for it.
    assert_eq!(status("patient_read_own"), 200);
    assert_eq!(status("patient_read_other"), 404);
    assert_eq!(
        r["patient_search"]["ids"],
        serde_json::json!(["patient-API001"])
    );

    // RS256, against the authorisation server's key in the JWKS; a v1 scope works too.
    assert_eq!(status("rs256_read"), 200, "{}", r["rs256_read"]);

    // Write-back: the phone number is the portal's to write, the name is not.
    assert_eq!(status("update_phone"), 200, "{}", r["update_phone"]);
    assert_eq!(r["update_phone"]["phone"], "07700900999");
    assert_eq!(r["read_after_update"]["phone"], "07700900999");
    assert_eq!(status("update_name"), 403, "{}", r["update_name"]);
    let why = r["update_name"]["why"].as_str().unwrap();
    assert!(why.contains("family_name"), "{why}");
    assert_eq!(status("update_without_u_scope"), 403);
    assert_eq!(status("update_other_patient"), 403);
    assert_eq!(
        status("update_wrong_identifier"),
        400,
        "{}",
        r["update_wrong_identifier"]
    );
    assert_eq!(
        r["read_after_refusals"]["family"], "EVERYWOMAN",
        "refused updates change nothing"
    );
    assert_eq!(r["read_after_refusals"]["phone"], "07700900999");

    // Every resource carries its version, and the read its ETag; an update made from an
    // older version is refused and changes nothing, one made from the current is stored.
    let version = |name: &str| r[name]["version"].as_str().unwrap_or("").to_string();
    let after = version("read_after_refusals");
    assert_eq!(
        r["read_after_refusals"]["etag"],
        format!("W/\"{after}\""),
        "{}",
        r["read_after_refusals"]
    );
    assert!(r["read_after_refusals"]["last_updated"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_ne!(
        r["tag_before"], r["read_after_refusals"]["etag"],
        "the update made a version"
    );
    assert_eq!(
        status("update_stale_version"),
        412,
        "{}",
        r["update_stale_version"]
    );
    assert!(r["update_stale_version"]["why"]
        .as_str()
        .is_some_and(|w| w.contains(&format!("it is now W/\"{after}\""))));
    assert_eq!(status("update_bad_if_match"), 400);
    assert_eq!(
        status("update_current_version"),
        200,
        "{}",
        r["update_current_version"]
    );
    assert_eq!(r["update_current_version"]["phone"], "07700900555");
    let next: i64 = version("update_current_version").parse().unwrap();
    assert!(next > after.parse::<i64>().unwrap(), "{next} after {after}");
    assert_eq!(r["update_current_version"]["etag"], format!("W/\"{next}\""));
    let c = rusqlite::Connection::open(&journal).unwrap();
    let (phone, writer): (String, String) = c
        .query_row(
            "SELECT value, writer FROM records WHERE record = 'Patient' AND key = 'API001' AND field = 'phone'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (phone.as_str(), writer.as_str()),
        ("\"07700900555\"", "portal")
    );

    // Every access is audited: who, what and the outcome.
    let c = rusqlite::Connection::open(&journal).unwrap();
    let rows: Vec<(String, String, String)> = c
        .prepare(
            "SELECT actor, action, detail FROM audit WHERE action LIKE 'portal_fhir:%' ORDER BY id",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 32, "every request but /metadata: {rows:#?}");
    assert!(rows.iter().any(|(who, what, outcome)| who == "portal-app"
        && what == "portal_fhir: update Patient/patient-API001"
        && outcome == "200 wrote phone"));
    assert!(rows.iter().any(|(_, what, outcome)| what
        == "portal_fhir: update Patient/patient-API001"
        && outcome.starts_with("403 ownership")));
    assert!(rows.iter().any(|(who, what, outcome)| who == "anonymous"
        && what == "portal_fhir: read Patient/patient-API001"
        && outcome.starts_with("401")));
    assert!(rows.iter().any(|(who, what, outcome)| who == "portal-app"
        && what == "portal_fhir: read Patient/patient-API002"
        && outcome.starts_with("404")));
    assert!(rows
        .iter()
        .any(|(who, _, outcome)| who == "portal-app" && outcome.starts_with("403")));
}
