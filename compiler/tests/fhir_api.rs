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

use support::postgres::{JournalAt, Postgres};
use support::*;

/// The HS256 secret of the test's configuration (32 bytes or more, as `check-config` asks).
const SECRET: &str = "a test secret of enough length for HS256";

/// The authorisation server's RS256 key (PEM, for the clients) and its JWKS (for the
/// production), made before the production starts.
fn make_jwks(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (jwks, key) = (dir.join("jwks.json"), dir.join("as-key.pem"));
    let o = Command::new(fhir_python())
        .arg(root().join("tests/tools/make_jwks.py"))
        .args([&key, &jwks])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    (jwks, key)
}

fn adt(control: &str, mrn: &str, family: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|H|HUB|H|20261201090000||ADT^A01^ADT_A01|{control}|P|2.5\r\
         EVN|A01|20261201090000\r\
         PID|1||{mrn}^^^PAS^MR||{family}^JANE||19800314|F|||||07700900123\rPV1|1|I\r"
    )
}

/// The facade's test production, started with `extra` configuration after `[auth]`'s
/// issuer and audience: its ports, folder, store and the RS256 key (PEM) of its JWKS.
struct Facade {
    _production: Production,
    hub: u16,
    api: u16,
    admin: u16,
    store: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn start_facade(name: &str, auth: &str, extra: &str) -> (std::path::PathBuf, Facade) {
    let bin = build("compiler/tests/production/fhir-facade");
    let (hub, api, admin) = (free_port(), free_port(), free_port());
    let dir = fresh_dir(name);
    let (jwks, key) = make_jwks(&dir);
    let config = dir.join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[endpoints.hub_in]\nport = {hub}\n\
             [endpoints.portal_api]\nport = {api}\n\
             [auth]\n{auth}jwks = \"{}\"\n\
             issuer = \"https://auth.accord.test\"\naudience = \"accord-fhir-test\"\n{extra}",
            jwks.display()
        ),
    )
    .unwrap();
    let store = dir.join("store");
    let production = start(&bin, &config, &store, admin);
    (
        bin,
        Facade {
            _production: production,
            hub,
            api,
            admin,
            store,
            key,
        },
    )
}

#[test]
fn the_api_serves_stored_patients_to_smart_scopes_and_audits_every_access() {
    serves_and_audits("e2e-fhir-api", None);
}

/// The same on a PostgreSQL journal (`cargo test -- postgres`): the facade's reads,
/// search index, versions, updates through the matrix and audit, in PostgreSQL's SQL.
#[test]
fn postgres_the_api_serves_stored_patients_and_audits_every_access() {
    let dir = fresh_dir("e2e-fhir-api-pg-server");
    let pg = Postgres::start(&dir);
    serves_and_audits("e2e-fhir-api-pg", Some(&pg));
}

/// Patients stored from ADT, served to SMART clients by the Python client's requests, and
/// every access audited; on `pg`'s journal if given, else the SQLite default.
fn serves_and_audits(name: &str, pg: Option<&Postgres>) {
    let hs256 = format!("hs256_secret = \"{SECRET}\"\n");
    let on_pg = pg.map(|pg| pg.journal_toml(&fresh_dir(&format!("{name}-secret"))));
    let (_, f) = start_facade(name, &hs256, on_pg.as_deref().unwrap_or(""));
    let (hub, api, key) = (f.hub, f.api, f.key.clone());
    assert_eq!(send_msa(hub, &adt("API1", "API001", "EVERYWOMAN")), "AA");
    assert_eq!(send_msa(hub, &adt("API2", "API002", "NOBODY")), "AA");
    let journal = match pg {
        Some(pg) => JournalAt::Postgres(pg.url()),
        None => JournalAt::Sqlite(f.store.join("journal.sqlite")),
    };
    journal.wait_for_records("Patient", 2);

    let python = fhir_python();
    let o = Command::new(python)
        .arg(root().join("tests/tools/fhir_api_client.py"))
        .arg(format!("http://127.0.0.1:{api}"))
        .arg(SECRET)
        .arg(&key)
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
    let stored = journal.rows(
        "SELECT value, writer FROM records WHERE record = 'Patient' AND key = 'API001' AND field = 'phone'",
    );
    assert_eq!(stored, [["\"07700900555\"", "portal"]]);

    // Every access is audited: who, what and the outcome.
    let rows: Vec<(String, String, String)> = journal
        .rows(
            "SELECT actor, action, detail FROM audit WHERE action LIKE 'portal_fhir:%' ORDER BY id",
        )
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    // Every request but /metadata; of the five refused tokens, the first: refused tokens
    // are audited once per client address a minute, with a count.
    assert_eq!(rows.len(), 28, "{rows:#?}");
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

/// The facade probed as an attacker and a careless client would (`cargo test -- security`):
/// unsigned and wrongly signed tokens, tokens without or with the wrong issuer and
/// audience or not valid yet, `user/` scopes, an update to an id that does not exist
/// and one that fills a field its owner left empty, paging at its edges, a forged Host
/// header, and a request that would forge a line of the audit log.
#[test]
fn security_tokens_updates_paging_and_audit_output_of_the_fhir_facade() {
    let hs256 = format!("hs256_secret = \"{SECRET}\"\n");
    let (bin, f) = start_facade("e2e-fhir-security", &hs256, "");
    let (hub, api, key) = (f.hub, f.api, f.key.clone());
    assert_eq!(send_msa(hub, &adt("SEC1", "SEC001", "EVERYWOMAN")), "AA");
    assert_eq!(send_msa(hub, &adt("SEC2", "SEC002", "NOBODY")), "AA");
    // The owner leaves this patient's date of birth empty.
    let undated = adt("SEC3", "SEC003", "UNDATED").replace("|19800314|", "||");
    assert_eq!(send_msa(hub, &undated), "AA");
    let journal = f.store.join("journal.sqlite");
    wait_for_records(&journal, "Patient", 3);

    let o = Command::new(fhir_python())
        .arg(root().join("tests/tools/fhir_security_client.py"))
        .arg(format!("http://127.0.0.1:{api}"))
        .arg(SECRET)
        .arg(&key)
        .args(["patient-SEC001", "patient-SEC002", "patient-SEC003"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let status = |name: &str| r[name]["status"].as_u64().unwrap_or(0);

    // Tokens the facade must refuse: a 401 each, with the reason.
    for (name, why) in [
        ("hs256_empty_key", "not valid"),
        ("hs256_public_key_as_secret", "not valid"),
        ("alg_none", "JWT"),
        ("alg_None", "JWT"),
        ("alg_NONE", "JWT"),
        ("alg_nOnE", "JWT"),
        ("no_iss", "no issuer"),
        ("no_aud", "no audience"),
        ("neither_iss_nor_aud_search", "no issuer"),
        ("iss_number", "no issuer"),
        ("aud_number", "no audience"),
        ("wrong_iss", "issuer"),
        ("wrong_aud", "not for this API"),
        ("nbf_in_an_hour", "not valid yet"),
        ("nbf_in_30_years", "not valid yet"),
        ("iat_in_an_hour", "issued in the future"),
    ] {
        assert_eq!(status(name), 401, "{name}: {}", r[name]);
        let said = r[name]["why"].as_str().unwrap_or_default();
        assert!(said.contains(why), "{name}: {said}");
    }
    // And those it must take.
    for name in ["aud_list", "nbf_now", "rs256_good"] {
        assert_eq!(status(name), 200, "{name}: {}", r[name]);
    }

    // user/ scopes: a patient user sees their own compartment, anyone else nothing.
    assert_eq!(status("user_scope_without_fhiruser"), 403);
    assert_eq!(status("user_scope_practitioner"), 403);
    assert_eq!(status("user_scope_patient_own"), 200);
    assert_eq!(status("user_scope_patient_other"), 404);
    assert_eq!(
        r["user_scope_patient_search"]["ids"],
        serde_json::json!(["patient-SEC001"])
    );

    // No create by update, for a system token or a patient token of the phantom's id.
    for name in [
        "put_unknown_id",
        "put_unknown_id_patient_token",
        "read_phantom",
    ] {
        assert_eq!(status(name), 404, "{name}: {}", r[name]);
    }
    // The owner left the date of birth empty: the portal may not fill it.
    assert_eq!(r["empty_before"]["birthDate"], Value::Null);
    assert_eq!(
        status("fill_empty_owned_field"),
        403,
        "{}",
        r["fill_empty_owned_field"]
    );
    assert!(r["fill_empty_owned_field"]["why"]
        .as_str()
        .is_some_and(|w| w.contains("birth_date")));
    assert_eq!(r["read_after_fill"]["body"]["birthDate"], Value::Null);
    // Elements FHIR R4 does not define are refused, not dropped unseen.
    assert_eq!(
        status("put_unknown_elements"),
        400,
        "{}",
        r["put_unknown_elements"]
    );
    let why = r["put_unknown_elements"]["why"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.contains("Patient.nickname") && why.contains("Patient.name.nick"),
        "{why}"
    );

    // Paging at its edges, and links under the facade's own address.
    assert_eq!(status("count_zero"), 200);
    assert_eq!(r["count_zero"]["ids"], serde_json::json!([]));
    assert_eq!(r["count_zero"]["links"]["next"], Value::Null);
    assert_eq!(status("huge_offset"), 200);
    assert_eq!(r["huge_offset"]["ids"], serde_json::json!([]));
    assert_eq!(status("negative_count"), 400);
    let base = format!("http://127.0.0.1:{api}/");
    for (relation, url) in r["forged_host"]["links"].as_object().unwrap() {
        let url = url.as_str().unwrap();
        assert!(url.starts_with(&base), "{relation}: {url}");
    }
    assert!(r["forged_host"]["links"]["next"].is_string());

    // The audit log in text: one line per entry, whatever a request carried.
    assert_eq!(status("forged_audit_line"), 401);
    let o = Command::new(&bin)
        .args(["audit", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(!out.contains('\u{1b}'), "{out}");
    let entries: i64 = rusqlite::Connection::open(&journal)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert_eq!(out.lines().count() as i64, entries, "{out}");
    let forged = out.lines().find(|l| l.contains("dr.house")).unwrap();
    assert!(
        forged.contains("anonymous") && forged.contains("\\n"),
        "{forged}"
    );
}

/// The HTTP listeners hold under abuse (`cargo test -- security`): half-sent requests from
/// one address are held only up to its per-address limit and closed at the header
/// timeout, another address still gets in, the MLLP service still acknowledges, a client
/// over its rate gets 429 with Retry-After, idle keep-alive connections are closed, and
/// each refusal is counted in the metrics.
#[test]
fn security_http_listeners_hold_under_abuse() {
    let limits = "[limits]\nmax_connections_per_address = 4\nheader_timeout_s = 2\n\
                  requests_per_s = 5\nrequest_burst = 10\n";
    let (_, f) = start_facade("e2e-http-abuse", "", limits);
    let (hub, api, admin) = (f.hub, f.api, f.admin);
    let dir = f.store.parent().unwrap().to_path_buf();
    let sample = dir.join("adt.hl7");
    std::fs::write(&sample, adt("ABUSE1", "ABU001", "FLOODED")).unwrap();
    let o = Command::new(fhir_python())
        .arg(root().join("tests/tools/http_abuse.py"))
        .args([api.to_string(), hub.to_string(), "2".into(), "4".into()])
        .arg(&sample)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let flood = &r["half_sent"];
    assert_eq!(flood["held"], 4, "{r}");
    assert_eq!(flood["refused_at_once"], 36, "{r}");
    assert_eq!(
        flood["closed_by_server"], 4,
        "held half-requests closed: {r}"
    );
    assert_eq!(r["other_address"]["status"], 200, "{r}");
    assert_eq!(r["mllp_during_flood"]["msa"], "AA", "{r}");
    // The burst, then 5 a second for as long as the 40 requests take (under a second on
    // loopback, a little more on a slow machine).
    let ok = r["rate"]["ok"].as_u64().unwrap();
    assert!((10..=16).contains(&ok), "{r}");
    assert_eq!(r["rate"]["too_many"].as_u64().unwrap(), 40 - ok, "{r}");
    assert_eq!(r["rate"]["retry_after"], "1", "{r}");
    assert_eq!(r["idle_keep_alive"]["status"], 200, "{r}");
    assert_eq!(r["idle_keep_alive"]["closed_by_server"], true, "{r}");
    let metrics = http_get(admin, "/metrics").unwrap_or_default();
    for reason in ["per-address", "rate"] {
        let line =
            format!("accord_http_refused_total{{listener=\"portal_fhir\",reason=\"{reason}\"}}");
        assert!(metrics.contains(&line), "{reason}: {metrics}");
    }
}

/// `[admin] token`: `/metrics` answers only a scraper that carries it (401 with a
/// `WWW-Authenticate` challenge otherwise, counted), the probes stay open, and a `SIGHUP`
/// takes a rotated token without a restart.
#[test]
fn security_the_admin_listener_asks_scrapers_for_its_token() {
    let bin = build("compiler/tests/production/fhir-facade");
    let (hub, api, admin) = (free_port(), free_port(), free_port());
    let dir = fresh_dir("e2e-admin-token");
    let (jwks, _) = make_jwks(&dir);
    let config = dir.join("dev.toml");
    let write = |token: &str| {
        std::fs::write(
            &config,
            format!(
                "[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = \"{token}\"\n\
                 [endpoints.hub_in]\nport = {hub}\n[endpoints.portal_api]\nport = {api}\n\
                 [auth]\njwks = \"{}\"\n\
                 issuer = \"https://auth.accord.test\"\naudience = \"accord-fhir-test\"\n",
                jwks.display()
            ),
        )
        .unwrap()
    };
    let (first, second) = (
        "scrape-token-one-0123456789abcdef",
        "scrape-token-two-0123456789abcdef",
    );
    write(first);
    let production = start(&bin, &config, &dir.join("store"), admin);
    let metrics = |token: &str| {
        let auth = if token.is_empty() {
            String::new()
        } else {
            format!("Authorization: Bearer {token}\r\n")
        };
        http_get_with(admin, "/metrics", &auth).unwrap_or_default()
    };
    let status = |response: &str| response.split(' ').nth(1).unwrap_or("").to_string();

    assert_eq!(status(&http_get(admin, "/health").unwrap()), "200");
    assert_eq!(status(&http_get(admin, "/ready").unwrap()), "200");
    let refused = metrics("");
    assert_eq!(status(&refused), "401", "{refused}");
    assert!(
        refused.contains("Bearer realm=\"accord-admin\""),
        "{refused}"
    );
    assert!(
        !refused.contains("accord_"),
        "no metric without the token: {refused}"
    );
    assert_eq!(status(&metrics("scrape-token-one-0123456789abcdee")), "401");
    let served = metrics(first);
    assert_eq!(status(&served), "200", "{served}");
    assert!(
        served.contains("accord_http_refused_total{listener=\"admin\",reason=\"unauthorised\"} 2"),
        "{served}"
    );

    // The token is rotated: the old one is refused from the reload on, the new one served.
    write(second);
    let pid = production.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(&metrics(second)) != "200" {
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated token was not taken"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status(&metrics(first)), "401");
    let log = std::fs::read_to_string(dir.join("store.log")).unwrap_or_default();
    assert!(
        log.contains("admin request without the admin token refused"),
        "{log}"
    );
    assert!(!log.contains(first) && !log.contains(second), "{log}");
}
