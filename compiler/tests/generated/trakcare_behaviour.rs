//! Behaviour of the code generated for `examples/trakcare-lab`, run on its sample
//! messages. Copied into the generated crate by `compiler/tests/codegen.rs`.

use accord_runtime::__private as rt;
use estate::Code;
use lothian_trakcare_laboratory_estate as estate;

fn sample(name: &str) -> Vec<u8> {
    let dir = std::env::var("ACCORD_EXAMPLE_DIR").expect("ACCORD_EXAMPLE_DIR");
    std::fs::read(format!("{dir}/samples/{name}")).expect("sample message")
}

#[test]
fn adt_maps_to_the_canonical_patient() {
    let bytes = sample("adt_a01.hl7");
    let msg = rt::Message::parse(&bytes).unwrap();
    let p = estate::trakcare_adt_to_patient(&msg).unwrap();
    assert_eq!(p.mrn, "100001");
    assert_eq!(p.nhs_number.as_deref(), Some("9434765919"));
    assert_eq!(p.family_name, "EVERYWOMAN");
    assert_eq!(p.given_names, ["EVE", "JANE"]);
    assert_eq!(p.birth_date.to_string(), "1980-03-14");
    assert_eq!(p.sex, estate::AdministrativeSex::Female);
    assert_eq!(p.patient_class, Some(estate::PatientClass::Inpatient));
    assert_eq!(p.postcode.as_deref(), Some("EH1 1AA"));
}

#[test]
fn the_patient_goes_to_winpath_with_only_its_fields() {
    let bytes = sample("adt_a01.hl7");
    let p = estate::trakcare_adt_to_patient(&rt::Message::parse(&bytes).unwrap()).unwrap();
    let out = String::from_utf8(estate::patient_to_winpath(&p).unwrap()).unwrap();
    // EVN-2 is when the message was built; PV1-2 the patient class WinPath's profile needs;
    // PID-13 the HL7 null, as no phone is known (`PID-13[1].1 <- phone clear`).
    let (head, rest) = out.split_once("\rEVN||").expect("an EVN segment");
    assert_eq!(head, "MSH|^~\\&|||||||ADT^A01|||2.4");
    let (recorded, rest) = rest.split_once('\r').unwrap();
    assert_eq!(recorded.len(), "20261205191422+0000".len(), "{recorded}");
    assert_eq!(
        rest,
        "PID|||100001^^^^MR||EVERYWOMAN^EVE||19800314|F|||||\"\"\rPV1||I\r"
    );
}

#[test]
fn an_unknown_sex_code_is_rejected_where_the_mapping_says() {
    let bytes = sample("adt_a01_bad_sex.hl7");
    let e = estate::trakcare_adt_to_patient(&rt::Message::parse(&bytes).unwrap()).unwrap_err();
    assert_eq!(e.at, "mappings.accord:10");
    match e.kind {
        rt::MapErrorKind::Rejected { codemap, value, reason } => {
            assert_eq!((codemap, value.as_str(), reason.as_str()), ("trakcare_sex", "Q", "unknown sex code"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn results_map_one_observation_per_obx_and_back() {
    let bytes = sample("oru_r01.hl7");
    let r = estate::winpath_oru_to_result(&rt::Message::parse(&bytes).unwrap()).unwrap();
    assert_eq!((r.placer_order.as_str(), r.filler_order.as_str(), r.status.as_str()), ("ORD123", "LAB987", "final"));
    assert_eq!(r.observed_at.map(|t| t.to_string()).as_deref(), Some("2026-11-02T12:00:00+00:00"));
    assert_eq!(r.observations.len(), 2);
    let k = &r.observations[1];
    assert_eq!((k.code, k.value.as_str(), k.units.as_deref(), k.flag, k.sequence), (estate::LabTest::K, "6.1", Some("mmol/L"), Some(estate::AbnormalFlag::H), 2));
    let back = String::from_utf8(estate::result_to_trakcare(&r).unwrap()).unwrap();
    assert!(back.contains("\rOBR||ORD123|LAB987|FBC|"), "OBR-4 the test: {back:?}");
    // OBX-1 is each observation's place (`index()`); OBX-11, its status, follows the result's.
    assert!(back.contains("\rOBX|1||HB||135|g/L|||||F\r") && back.contains("\rOBX|2||K||6.1|mmol/L|||||F\r"), "{back:?}");
    assert!(back.contains("|F\r"), "OBR-25: {back:?}");
}

#[test]
fn code_maps_are_total_functions() {
    assert_eq!(estate::sex_to_winpath(estate::AdministrativeSex::Other, "t").unwrap(), "U");
    assert_eq!(estate::test_to_winpath(estate::LabTest::Ue, "t").unwrap(), "U&E");
    assert_eq!(estate::test_to_winpath(estate::LabTest::Crp, "t").unwrap(), "CRP");
    assert_eq!(estate::trakcare_class(&"X".to_string(), "t").unwrap(), estate::PatientClass::Outpatient);
    assert!(estate::winpath_flag(&">".to_string(), "t").is_ok());
    assert!(estate::winpath_flag(&"?".to_string(), "t").is_err());
    assert_eq!(estate::AdministrativeSex::from_code("female"), Some(estate::AdministrativeSex::Female));
    assert_eq!(estate::AbnormalFlag::SYSTEM, Some("http://terminology.hl7.org/CodeSystem/v2-0078"));
}
