//! ADT^A01 to a FHIR R4 transaction Bundle through the generated code, against a
//! hand-written serde reference doing the same work, in the same run (a bench binary,
//! not a timed test). The message (a patient, a visit, two allergies) is parsed, mapped
//! to the canonical Admission (`adt_to_admission`), and the Admission written as a
//! transaction Bundle of Patient, Encounter and two AllergyIntolerances with their ids,
//! references, `fullUrl`s and requests (`admission_bundle`), as JSON bytes. The reference
//! reads the same zero-copy message, borrows text where it can, and serialises
//! `#[derive(Serialize)]` structs with serde_json: what a careful engineer writes by hand.
//! Both produce the same JSON (checked before measuring). Target: at least 0.9x.
//!
//! Run: `cargo bench -p accord-example-build-script --bench fhir`

mod common;

use accord_example_build_script::estate;
use accord_runtime::__private::fhir::entry_full_url;
use accord_runtime::hl7::{Message, Value};
use common::{compare, measure};
use serde::Serialize;
use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

const ADT: &[u8] = b"MSH|^~\\&|PAS|LOTHIAN|HUB|LOTHIAN|20261102101500||ADT^A01^ADT_A01|MSG00001|P|2.5.1\r\
EVN|A01|20261102101500\r\
PID|1||9434765919^^^NHS^NH~100001^^^TRAK^MR||EVERYWOMAN^EVE^JANE||19800314|F|||12 Example Street^^Edinburgh^^EH1 1AA^GBR\r\
PV1|1|I|WARD1^BED2^^LOTHIAN||||C123^CONSULTANT^CARL||||||||||||V0042^^^TRAK^VN\r\
AL1|1|DA|70618^Penicillin^RXNORM|SV|Anaphylaxis\r\
AL1|2|FA|256349002^Peanut^SCT|MO|Hives\r";

// ---- the hand-written reference ----------------------------------------------------------

type Text<'a> = Cow<'a, str>;

#[derive(Serialize)]
struct Bundle<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    entry: Vec<Entry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    full_url: String,
    resource: Resource<'a>,
    request: Request,
}

#[derive(Serialize)]
struct Request {
    method: &'static str,
    url: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Resource<'a> {
    Patient(Patient<'a>),
    Encounter(Encounter<'a>),
    Allergy(Allergy<'a>),
}

#[derive(Serialize)]
struct Identifier<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'static str>,
    value: Text<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Patient<'a> {
    resource_type: &'static str,
    id: String,
    identifier: [Identifier<'a>; 1],
    name: [Name<'a>; 1],
    gender: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date: Option<String>,
}

#[derive(Serialize)]
struct Name<'a> {
    family: Text<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    given: Vec<Text<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Encounter<'a> {
    resource_type: &'static str,
    id: String,
    identifier: [Identifier<'a>; 1],
    status: &'static str,
    class: Coding<'a>,
    subject: Reference,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    location: Vec<Location<'a>>,
}

#[derive(Serialize)]
struct Coding<'a> {
    system: &'static str,
    code: Text<'a>,
}

#[derive(Serialize)]
struct Reference {
    reference: String,
}

#[derive(Serialize)]
struct Location<'a> {
    location: Display<'a>,
}

#[derive(Serialize)]
struct Display<'a> {
    display: Text<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Allergy<'a> {
    resource_type: &'static str,
    id: String,
    clinical_status: Concept<'a>,
    category: [&'static str; 1],
    code: Code<'a>,
    patient: Reference,
}

#[derive(Serialize)]
struct Concept<'a> {
    coding: [Coding<'a>; 1],
}

#[derive(Serialize)]
struct Code<'a> {
    coding: [CodeOnly<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Text<'a>>,
}

#[derive(Serialize)]
struct CodeOnly<'a> {
    code: Text<'a>,
}

fn text<'a>(v: Option<Value<'a>>) -> Option<Text<'a>> {
    v.filter(|v| !v.is_empty()).and_then(|v| v.text().ok())
}

fn entry<'a>(kind: &str, id: &str, resource: Resource<'a>) -> Entry<'a> {
    Entry {
        full_url: entry_full_url(kind, Some(id)).unwrap_or_default(),
        resource,
        request: Request {
            method: "PUT",
            url: format!("{kind}/{id}"),
        },
    }
}

fn hand(bytes: &[u8]) -> Vec<u8> {
    let msg = Message::parse(bytes).unwrap();
    let pid = msg.segment("PID", 1).unwrap();
    let mrn = pid
        .field(3)
        .into_iter()
        .flat_map(|f| f.repetitions())
        .find(|r| r.component(5).is_some_and(|c| c.raw() == b"MR"))
        .and_then(|r| text(r.component(1)))
        .unwrap();
    let name = pid.field(5).unwrap();
    let family = text(name.component(1)).unwrap();
    let given: Vec<Text> = text(name.component(2)).into_iter().collect();
    let birth_date = pid.field(7).and_then(|v| {
        let d = v.raw();
        (d.len() >= 8).then(|| {
            let s = std::str::from_utf8(&d[..8]).unwrap_or("00000000");
            format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..8])
        })
    });
    let gender = match pid.field(8).map(|v| v.raw()) {
        Some(b"M") => "male",
        Some(b"F") => "female",
        _ => panic!("unknown sex code"),
    };
    let pv1 = msg.segment("PV1", 1).unwrap();
    let visit = text(pv1.field(19).and_then(|f| f.component(1))).unwrap();
    let inpatient = pv1.field(2).is_some_and(|v| v.raw() == b"I");
    let ward = text(pv1.field(3).and_then(|f| f.component(1)));
    let patient_id = format!("patient-{mrn}");
    let patient_ref = format!("Patient/{patient_id}");
    let mut entries = vec![
        entry(
            "Patient",
            &patient_id,
            Resource::Patient(Patient {
                resource_type: "Patient",
                id: patient_id.clone(),
                identifier: [Identifier {
                    system: Some("urn:oid:2.16.840.1.113883.2.1.3.2.4.18.48"),
                    value: mrn.clone(),
                }],
                name: [Name { family, given }],
                gender,
                birth_date,
            }),
        ),
        {
            let id = format!("visit-{visit}");
            entry(
                "Encounter",
                &id.clone(),
                Resource::Encounter(Encounter {
                    resource_type: "Encounter",
                    id,
                    identifier: [Identifier {
                        system: None,
                        value: visit,
                    }],
                    status: "in-progress",
                    class: Coding {
                        system: "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        code: Cow::Borrowed(if inpatient { "IMP" } else { "AMB" }),
                    },
                    subject: Reference {
                        reference: patient_ref.clone(),
                    },
                    location: ward
                        .map(|w| Location {
                            location: Display { display: w },
                        })
                        .into_iter()
                        .collect(),
                }),
            )
        },
    ];
    for al1 in msg.segments().filter(|s| s.id() == "AL1") {
        let code = al1.field(3).unwrap();
        let allergen = text(code.component(1)).unwrap();
        let category = match al1.field(2).map(|v| v.raw()) {
            Some(b"DA" | b"MA") => "medication",
            Some(b"FA") => "food",
            Some(b"EA" | b"LA" | b"AA" | b"PA") => "environment",
            _ => panic!("allergen type outside HL7 table 0127"),
        };
        let id = format!("allergy-{mrn}-{allergen}");
        entries.push(entry(
            "AllergyIntolerance",
            &id.clone(),
            Resource::Allergy(Allergy {
                resource_type: "AllergyIntolerance",
                id,
                clinical_status: Concept {
                    coding: [Coding {
                        system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        code: Cow::Borrowed("active"),
                    }],
                },
                category: [category],
                code: Code {
                    coding: [CodeOnly { code: allergen }],
                    text: text(code.component(2)),
                },
                patient: Reference {
                    reference: patient_ref.clone(),
                },
            }),
        ));
    }
    serde_json::to_vec(&Bundle {
        resource_type: "Bundle",
        kind: "transaction",
        entry: entries,
    })
    .unwrap()
}

// ---- the generated pipeline --------------------------------------------------------------

fn generated(bytes: &[u8]) -> Vec<u8> {
    let msg = Message::parse(bytes).unwrap();
    let admission = estate::adt_to_admission(&msg).unwrap();
    let bundle = estate::admission_bundle(&admission).unwrap();
    accord_runtime::__private::fhir::to_vec(&bundle)
}

fn main() {
    // Same JSON, or the comparison means nothing (compared as JSON: key order aside).
    let (g, h) = (generated(ADT), hand(ADT));
    let (gv, hv): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&g).unwrap(),
        serde_json::from_slice(&h).unwrap(),
    );
    assert_eq!(
        gv,
        hv,
        "\ngenerated: {}\nhand:      {}",
        String::from_utf8_lossy(&g),
        String::from_utf8_lossy(&h)
    );
    let (hand_t, gen_t, ratio) = compare(|| hand(black_box(ADT)), || generated(black_box(ADT)));
    let per_s = |d: Duration| 1.0 / d.as_secs_f64();
    let msg = Message::parse(ADT).unwrap();
    let admission = estate::adt_to_admission(&msg).unwrap();
    let bundle = estate::admission_bundle(&admission).unwrap();
    let parse_t = measure(|| {
        black_box(Message::parse(black_box(ADT)).ok());
        vec![]
    });
    let in_t = measure(|| {
        black_box(estate::adt_to_admission(black_box(&msg)).ok());
        vec![]
    });
    let build_t = measure(|| {
        black_box(estate::admission_bundle(black_box(&admission)).ok());
        vec![]
    });
    let ser_t = measure(|| accord_runtime::__private::fhir::to_vec(black_box(&bundle)));
    println!(
        "  generated stages: parse {parse_t:?}, message -> Admission {in_t:?}, Admission -> Bundle {build_t:?}, Bundle -> JSON {ser_t:?}"
    );
    println!(
        "ADT^A01 -> FHIR R4 transaction Bundle (4 resources, {} bytes), one core:",
        g.len()
    );
    println!(
        "  hand-written serde  {:>10.0} msg/s  ({:?}/msg)",
        per_s(hand_t),
        hand_t
    );
    println!(
        "  generated           {:>10.0} msg/s  ({:?}/msg)",
        per_s(gen_t),
        gen_t
    );
    println!(
        "  generated / hand-written: {ratio:.2}x, the median of 15 alternating rounds (target >= 0.90x)"
    );
}
