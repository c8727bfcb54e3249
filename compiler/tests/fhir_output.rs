//! What mappings to FHIR produce is valid FHIR R4 for an independent validator (Python
//! `fhir.resources` 6.1, the R4 models, installed by `.ci/run` in `target/fhir-venv`): the
//! estate `tests/fhir/estate` maps the example's HL7 v2 samples through canonical records
//! to Patient and DiagnosticReport with `accord map`, and every resource is validated. A
//! deliberately broken resource must be refused, so the validator is known to be looking.
//! The reverse direction too: a ServiceRequest from a portal to the canonical order and
//! on to an HL7 v2 ORM^O01. And an admission with allergies as one transaction Bundle,
//! whose references all resolve inside it, and as a collection Bundle, whose references
//! name its entries' fullUrls.

mod support;

use std::path::Path;
use std::process::{Command, Output};

/// `accord map tests/fhir/estate CHAIN INPUT`, as the tests run it.
fn map(chain: &str, input: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["map", "tests/fhir/estate", chain])
        .arg(input)
        .current_dir(support::root())
        .env("CARGO_TARGET_DIR", support::target())
        .output()
        .unwrap()
}

#[test]
fn mapped_resources_are_valid_fhir_r4() {
    let out = support::fresh_dir("fhir-output");
    let cases = [
        ("adt_to_patient,patient_to_fhir", "adt_a01.hl7", "Patient"),
        (
            "oru_to_result,result_to_report",
            "oru_r01.hl7",
            "DiagnosticReport",
        ),
    ];
    let mut files = vec![];
    for (chain, sample, kind) in cases {
        let o = map(
            chain,
            &support::root()
                .join("examples/trakcare-lab/samples")
                .join(sample),
        );
        assert!(o.status.success(), "{chain}: {}", support::text(&o));
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(json["resourceType"], kind);
        // The id comes from the record's business key, the same on every run.
        let id = json["id"].as_str().unwrap_or_default().to_string();
        assert!(id == "patient-100001" || id == "result-ORD123", "{id}");
        let file = out.join(format!("{kind}.json"));
        std::fs::write(&file, &o.stdout).unwrap();
        files.push(file);
    }
    let (ok, report) = support::fhir_validate(&files);
    assert!(ok, "{report}");
    assert_eq!(report.matches("ok ").count(), files.len(), "{report}");

    // The reverse direction: a portal's ServiceRequest through the canonical order to an
    // HL7 v2 order for the LIMS.
    let request = support::root().join("tests/fhir/samples/servicerequest.json");
    let o = map("servicerequest_to_order", &request);
    assert!(o.status.success(), "{}", support::text(&o));
    let order: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(order["placer_order"], "PORTAL-0001");
    assert_eq!(order["patient_mrn"], "100001");
    assert_eq!(order["requested_at"], "2026-11-30T09:15:00+00:00");
    assert_eq!(
        order["identifiers"][1]["value"], "ORD777",
        "for each over a FHIR list"
    );
    let o = map("servicerequest_to_order,order_to_lims", &request);
    let hl7 = support::text(&o);
    assert!(o.status.success(), "{hl7}");
    assert!(hl7.contains("ORC|NW|PORTAL-0001"), "{hl7}");
    assert!(hl7.contains("PID|||100001"), "{hl7}");
    assert!(hl7.contains("^^^^^S"), "urgent becomes priority S: {hl7}");
    // ORM^O01 puts the patient before the order, whatever order the mapping writes them.
    let at = |seg: &str| hl7.find(&format!("\n{seg}|")).unwrap_or(usize::MAX);
    assert!(at("PID") < at("ORC") && at("ORC") < at("OBR"), "{hl7}");

    // The validator refuses what FHIR R4 does not define.
    let broken = out.join("broken.json");
    std::fs::write(&broken, r#"{"resourceType": "Patient", "gendr": "female"}"#).unwrap();
    let (ok, report) = support::fhir_validate(&[broken]);
    assert!(!ok && report.contains("INVALID Patient"), "{report}");
}

/// An ADT^A01 with two AL1 segments becomes one transaction Bundle: Patient, Encounter
/// and two AllergyIntolerances, each updated at its deterministic id, every reference
/// pointing at an entry of the same Bundle; valid R4; and the same bytes on every run.
#[test]
fn an_admission_is_one_transaction_bundle_whose_references_resolve() {
    let out = support::fresh_dir("fhir-bundle");
    let run = || {
        let o = map(
            "adt_to_admission,admission_bundle",
            &support::root().join("tests/fhir/samples/adt_a01_allergies.hl7"),
        );
        assert!(o.status.success(), "{}", support::text(&o));
        o.stdout
    };
    let first = run();
    assert_eq!(first, run(), "the same message gives the same Bundle");
    let text = String::from_utf8_lossy(&first).to_string();
    // Written in the order FHIR's own examples use, not sorted.
    assert!(
        text.find("\"resourceType\": \"Bundle\"") < text.find("\"entry\""),
        "{text}"
    );
    let bundle: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(bundle["type"], "transaction");
    let entries = bundle["entry"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Patient",
            "Encounter",
            "AllergyIntolerance",
            "AllergyIntolerance"
        ]
    );
    let mut addresses = vec![];
    let mut full_urls = vec![];
    for e in entries {
        let r = &e["resource"];
        let address = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        assert_eq!(e["request"]["method"], "PUT", "{e}");
        assert_eq!(
            e["request"]["url"],
            address.as_str(),
            "updated at its id: {e}"
        );
        let full = e["fullUrl"].as_str().unwrap().to_string();
        assert!(full.starts_with("urn:uuid:") && full.len() == 45, "{full}");
        addresses.push(address);
        full_urls.push(full);
    }
    let mut unique = addresses.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        addresses.len(),
        "no two resources share an id: {addresses:?}"
    );
    full_urls.sort();
    full_urls.dedup();
    assert_eq!(full_urls.len(), addresses.len());
    assert_eq!(
        addresses[2], "AllergyIntolerance/allergy-100001-70618",
        "an allergy's id comes from its patient and allergen"
    );
    // Every reference in the Bundle names a resource of the Bundle.
    fn references(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(r)) = m.get("reference") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| references(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| references(x, out)),
            _ => {}
        }
    }
    let mut refs = vec![];
    references(&bundle, &mut refs);
    assert_eq!(
        refs.len(),
        3,
        "the Encounter's subject and each allergy's patient: {refs:?}"
    );
    for r in &refs {
        assert!(
            addresses.contains(r),
            "{r} resolves inside the Bundle ({addresses:?})"
        );
    }
    assert_eq!(
        entries[1]["resource"]["subject"]["reference"],
        "Patient/patient-100001"
    );
    // PID read inside `for each AL1` is the message's patient.
    assert_eq!(
        entries[3]["resource"]["patient"]["reference"],
        "Patient/patient-100001"
    );
    assert_eq!(entries[3]["resource"]["category"][0], "food");
    assert_eq!(entries[2]["resource"]["criticality"], "high");

    let file = out.join("admission-bundle.json");
    std::fs::write(&file, &first).unwrap();
    let (ok, report) = support::fhir_validate(&[file]);
    assert!(ok, "{report}");
    // The validator looks inside the entries too.
    let broken = out.join("broken-bundle.json");
    let mut b = bundle.clone();
    b["entry"][1]["resource"]["period"] = serde_json::json!("yesterday");
    std::fs::write(&broken, serde_json::to_vec(&b).unwrap()).unwrap();
    let (ok, report) = support::fhir_validate(&[broken]);
    assert!(!ok && report.contains("INVALID Bundle"), "{report}");
}

/// The same admission as a collection Bundle: no requests, and each reference to a
/// resource of the Bundle is that entry's `fullUrl` (a relative `Patient/id` would not
/// resolve against a `urn:uuid`); valid R4.
#[test]
fn a_collection_refers_to_its_entries_by_their_full_urls() {
    let out = support::fresh_dir("fhir-collection");
    let o = map(
        "adt_to_admission,admission_collection",
        &support::root().join("tests/fhir/samples/adt_a01_allergies.hl7"),
    );
    assert!(o.status.success(), "{}", support::text(&o));
    let bundle: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(bundle["type"], "collection");
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert!(entries.iter().all(|e| e.get("request").is_none()));
    let patient = entries[0]["fullUrl"].as_str().unwrap();
    assert!(patient.starts_with("urn:uuid:"), "{patient}");
    for e in &entries[1..] {
        let r = &e["resource"];
        let to = r["subject"]["reference"]
            .as_str()
            .or(r["patient"]["reference"].as_str());
        assert_eq!(to, Some(patient), "{r}");
    }
    let file = out.join("collection.json");
    std::fs::write(&file, &o.stdout).unwrap();
    let (ok, report) = support::fhir_validate(std::slice::from_ref(&file));
    assert!(ok, "{report}");
}
