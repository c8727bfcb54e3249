//! What mappings to FHIR produce is valid FHIR R4 for an independent validator (Python
//! `fhir.resources` 6.1, the R4 models, installed by `.ci/run` in `target/fhir-venv`): the
//! estate `tests/fhir/estate` maps the example's HL7 v2 samples through canonical records
//! to Patient and DiagnosticReport with `accord map`, and every resource is validated. A
//! deliberately broken resource must be refused, so the validator is known to be looking.
//! The reverse direction too: a ServiceRequest from a portal to the canonical order and
//! on to an HL7 v2 ORM^O01.

mod support;

use std::process::Command;

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
        let o = Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["map", "tests/fhir/estate", chain])
            .arg(
                support::root()
                    .join("examples/trakcare-lab/samples")
                    .join(sample),
            )
            .current_dir(support::root())
            .env("CARGO_TARGET_DIR", support::target())
            .output()
            .unwrap();
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
    let o = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["map", "tests/fhir/estate", "servicerequest_to_order"])
        .arg(support::root().join("tests/fhir/samples/servicerequest.json"))
        .current_dir(support::root())
        .env("CARGO_TARGET_DIR", support::target())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", support::text(&o));
    let order: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(order["placer_order"], "PORTAL-0001");
    assert_eq!(order["patient_mrn"], "100001");
    assert_eq!(order["requested_at"], "2026-11-30T09:15:00+00:00");
    assert_eq!(
        order["identifiers"][1]["value"], "ORD777",
        "for each over a FHIR list"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "map",
            "tests/fhir/estate",
            "servicerequest_to_order,order_to_lims",
        ])
        .arg(support::root().join("tests/fhir/samples/servicerequest.json"))
        .current_dir(support::root())
        .env("CARGO_TARGET_DIR", support::target())
        .output()
        .unwrap();
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
