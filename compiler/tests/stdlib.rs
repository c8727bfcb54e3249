//! `std:v2-to-fhir` against the HL7 v2-to-FHIR Implementation Guide's own tables
//! (`tests/corpus/v2-to-fhir/`, CC0) and the corpus messages:
//!
//! - every code map agrees with the IG's concept map it names, row by row;
//! - every row of the IG's segment maps the library implements is mapped: the library
//!   reads the row's HL7 field into a canonical record field that the resource mapping
//!   writes to the row's FHIR attribute (worked out from the IR, through `for each` and
//!   Bundle entries), or the row is listed in `tests/v2-to-fhir/left-out.txt` with the
//!   reason; a listed row that is in fact mapped fails too, so the list stays true;
//! - every corpus ADT, ADT^A40 and ORU^R01 message becomes a transaction Bundle that
//!   Python `fhir.resources` (R4) accepts, and for the messages the IG's row tests
//!   describe, each unconditional row whose field the message values shows up as its
//!   attribute on the resource.

mod support;

use accord_compiler::ir::{Estate, Expr, IterSource, Mapping, Schema, Stmt, Target};
use accord_compiler::ir_text;
use accord_compiler::{compile, Options, SourceMap};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    support::root().join("tests/corpus")
}

fn library() -> Estate {
    let mut sources = SourceMap::new();
    sources.add(
        "main.accord",
        "estate \"Library\" version 1.0.0\nimport \"std:v2-to-fhir\"\n",
    );
    accord_compiler::stdlib::add_imported(&mut sources);
    let c = compile(
        &sources,
        &Options {
            today: "2026-12-01".into(),
            file_exists: None,
        },
    );
    let errors: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.severity == accord_compiler::Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    c.ir.expect("the library compiles")
}

fn csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = vec![];
    let (mut row, mut field, mut quoted) = (vec![], String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map(|s| s.trim()).unwrap_or("")
}

// ---- code maps -----------------------------------------------------------------------------

#[test]
fn code_maps_follow_the_igs_concept_maps() {
    let ir = library();
    let mut checked = 0;
    for m in &ir.codemaps {
        // `... as the IG's concept map `TABLE` has it`
        let Some(table) = m
            .docs
            .split("concept map `")
            .nth(1)
            .and_then(|r| r.split('`').next())
        else {
            continue;
        };
        let path = corpus().join(format!(
            "v2-to-fhir/codesystems/HL7 Concept Map_ {table} - Sheet1.csv"
        ));
        let rows = csv(&path);
        let mine: BTreeMap<&str, &str> = m
            .entries
            .iter()
            .flat_map(|e| e.from.iter().map(move |f| (f.as_str(), e.to.as_str())))
            .collect();
        let system_map = m.name.ends_with("_system");
        for r in rows.iter().skip(2).filter(|r| !cell(r, 0).is_empty()) {
            let (code, want) = (cell(r, 0), if system_map { cell(r, 9) } else { cell(r, 6) });
            match (want.is_empty(), mine.get(code)) {
                (true, None) => {}
                (true, Some(got)) => panic!(
                    "{}: {code} => {got}, but the IG maps {code} to nothing",
                    m.name
                ),
                (false, Some(got)) => assert_eq!(got, &want, "{}: {code}", m.name),
                (false, None) => panic!(
                    "{}: the IG maps {code} to {want}; the library does not",
                    m.name
                ),
            }
        }
        let listed: BTreeSet<&str> = rows.iter().skip(2).map(|r| cell(r, 0)).collect();
        for code in mine.keys() {
            assert!(
                listed.contains(code),
                "{}: {code} is not in the IG's table {table}",
                m.name
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 12,
        "only {checked} code maps name an IG concept map"
    );
}

// ---- lineage: HL7 field -> record field -> FHIR element --------------------------------------

/// The HL7 fields (`PID-5`) an expression reads (through `ir_text::reads`).
fn hl7_fields(e: &Expr, out: &mut BTreeSet<String>) {
    let mut reads = vec![];
    ir_text::reads(e, &mut reads);
    for r in reads {
        if let ir_text::Read::Hl7(p) = r {
            out.insert(format!("{}-{}", p.segment, p.field));
        }
    }
}

/// The record field paths an expression reads (`names.family`, relative to the scope,
/// indexes left out).
fn field_reads(e: &Expr, out: &mut BTreeSet<String>) {
    let mut reads = vec![];
    ir_text::reads(e, &mut reads);
    for r in reads {
        if let ir_text::Read::Field(path) = r {
            let names: Vec<&str> = path.iter().map(|s| s.name.as_str()).collect();
            out.insert(names.join("."));
        }
    }
}

fn target_path(t: &Target) -> String {
    match t {
        Target::Field { path } => path
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        _ => String::new(),
    }
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}.{rest}"),
    }
}

/// For a mapping from HL7 v2 into a record: record field path -> the HL7 fields it is
/// filled from (what conditions around it read counts too).
fn hl7_lineage(m: &Mapping) -> BTreeMap<String, BTreeSet<String>> {
    fn walk(
        body: &[Stmt],
        prefix: &str,
        around: &BTreeSet<String>,
        out: &mut BTreeMap<String, BTreeSet<String>>,
    ) {
        for s in body {
            match s {
                Stmt::Assign { target, values, .. } => {
                    let mut reads = around.clone();
                    values.iter().for_each(|v| hl7_fields(v, &mut reads));
                    out.entry(join(prefix, &target_path(target)))
                        .or_default()
                        .extend(reads);
                }
                Stmt::For {
                    target,
                    source,
                    body,
                    ..
                } => {
                    let mut inner = around.clone();
                    if let IterSource::Repetitions { path } = source {
                        inner.insert(format!("{}-{}", path.segment, path.field));
                    }
                    walk(body, &join(prefix, &target_path(target)), &inner, out);
                }
                Stmt::When {
                    cond,
                    then,
                    otherwise,
                    ..
                } => {
                    let mut inner = around.clone();
                    hl7_fields(cond, &mut inner);
                    walk(then, prefix, &inner, out);
                    walk(otherwise, prefix, &inner, out);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&m.body, "", &BTreeSet::new(), &mut out);
    out
}

/// For a mapping from a record into FHIR: (FHIR element path, record field paths read),
/// one per write (what conditions around it read counts too).
fn fhir_lineage(m: &Mapping) -> Vec<(String, BTreeSet<String>)> {
    fn walk(
        body: &[Stmt],
        fhir: &str,
        record: &str,
        around: &BTreeSet<String>,
        out: &mut Vec<(String, BTreeSet<String>)>,
    ) {
        for s in body {
            match s {
                Stmt::Assign { target, values, .. } => {
                    let mut reads = BTreeSet::new();
                    values.iter().for_each(|v| field_reads(v, &mut reads));
                    reads.extend(around.iter().cloned());
                    let reads = reads.iter().map(|r| join(record, r)).collect();
                    out.push((join(fhir, &target_path(target)), reads));
                }
                Stmt::For {
                    target,
                    source,
                    body,
                    ..
                } => {
                    let inner_record = match source {
                        IterSource::Field { path } => join(
                            record,
                            &path
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join("."),
                        ),
                        _ => record.to_string(),
                    };
                    let around = around
                        .iter()
                        .map(|r| join(record, r))
                        .map(|r| {
                            r.strip_prefix(&format!("{inner_record}."))
                                .unwrap_or(&r)
                                .to_string()
                        })
                        .collect();
                    walk(
                        body,
                        &join(fhir, &target_path(target)),
                        &inner_record,
                        &around,
                        out,
                    );
                }
                Stmt::When {
                    cond,
                    then,
                    otherwise,
                    ..
                } => {
                    let mut inner = around.clone();
                    field_reads(cond, &mut inner);
                    walk(then, fhir, record, &inner, out);
                    walk(otherwise, fhir, record, &inner, out);
                }
            }
        }
    }
    let mut out = vec![];
    walk(&m.body, "", "", &BTreeSet::new(), &mut out);
    out
}

/// A segment map of the IG and where the library implements it: the CSV, the HL7
/// mapping and the record path in its output that holds the segment's record, and the
/// mapping from that record to the resource.
struct SegmentMap {
    csv: &'static str,
    segment: &'static str,
    from_hl7: &'static str,
    record_path: &'static str,
    to_fhir: &'static str,
}

const SEGMENT_MAPS: &[SegmentMap] = &[
    SegmentMap {
        csv: "PID[Patient] - PID",
        segment: "PID",
        from_hl7: "v2_adt_a01",
        record_path: "patient",
        to_fhir: "v2_patient_to_fhir",
    },
    SegmentMap {
        csv: "PD1[Patient] - PD1",
        segment: "PD1",
        from_hl7: "v2_adt_a01",
        record_path: "patient",
        to_fhir: "v2_patient_to_fhir",
    },
    SegmentMap {
        csv: "NK1[RelatedPerson] - Sheet1",
        segment: "NK1",
        from_hl7: "v2_adt_a01",
        record_path: "related_persons",
        to_fhir: "v2_related_person_to_fhir",
    },
    SegmentMap {
        csv: "PV1[Encounter] - PV1",
        segment: "PV1",
        from_hl7: "v2_adt_a01",
        record_path: "visit",
        to_fhir: "v2_visit_to_encounter",
    },
    SegmentMap {
        csv: "PV2[Encounter] - PV2",
        segment: "PV2",
        from_hl7: "v2_adt_a01",
        record_path: "visit",
        to_fhir: "v2_visit_to_encounter",
    },
    SegmentMap {
        csv: "AL1[AllergyIntolerance] - AL1",
        segment: "AL1",
        from_hl7: "v2_adt_a01",
        record_path: "allergies",
        to_fhir: "v2_allergy_to_fhir",
    },
    SegmentMap {
        csv: "DG1[Condition] - Sheet1",
        segment: "DG1",
        from_hl7: "v2_adt_a01",
        record_path: "diagnoses",
        to_fhir: "v2_diagnosis_to_fhir",
    },
    SegmentMap {
        csv: "OBR[DiagnosticReport] - OBR",
        segment: "OBR",
        from_hl7: "v2_oru_r01",
        record_path: "reports",
        to_fhir: "v2_report_to_fhir",
    },
    SegmentMap {
        csv: "ORC[DiagnosticReport] - ORC",
        segment: "ORC",
        from_hl7: "v2_oru_r01",
        record_path: "reports",
        to_fhir: "v2_report_to_fhir",
    },
    SegmentMap {
        csv: "OBX[Observation] - OBX",
        segment: "OBX",
        from_hl7: "v2_oru_r01",
        record_path: "reports.observations",
        to_fhir: "v2_observation_to_fhir",
    },
    SegmentMap {
        csv: "MSH[MessageHeader] - R4",
        segment: "MSH",
        from_hl7: "v2_adt_a01",
        record_path: "header",
        to_fhir: "v2_header_to_message_header",
    },
    SegmentMap {
        csv: "MSH[Provenance-Source] - R4",
        segment: "MSH",
        from_hl7: "v2_adt_a01",
        record_path: "header",
        to_fhir: "v2_header_to_provenance",
    },
    SegmentMap {
        csv: "EVN[Provenance] - Sheet1",
        segment: "EVN",
        from_hl7: "v2_adt_a01",
        record_path: "header",
        to_fhir: "v2_header_to_provenance",
    },
    SegmentMap {
        csv: "MSH[Bundle] - Sheet1",
        segment: "MSH",
        from_hl7: "v2_adt_a01",
        record_path: "",
        to_fhir: "v2_admission_message",
    },
    SegmentMap {
        csv: "RXO[MedicationRequest] - Sheet1",
        segment: "RXO",
        from_hl7: "v2_rde_o11",
        record_path: "orders",
        to_fhir: "v2_medication_order_to_fhir",
    },
    SegmentMap {
        csv: "ORC[ServiceRequest] - ORC",
        segment: "ORC",
        from_hl7: "v2_orm_o01",
        record_path: "orders",
        to_fhir: "v2_service_request_to_fhir",
    },
    SegmentMap {
        csv: "OBR[ServiceRequest] - OBR",
        segment: "OBR",
        from_hl7: "v2_orm_o01",
        record_path: "orders",
        to_fhir: "v2_service_request_to_fhir",
    },
    SegmentMap {
        csv: "NTE[Observation] - Sheet1",
        segment: "NTE",
        from_hl7: "v2_oru_r01",
        record_path: "reports.observations",
        to_fhir: "v2_observation_to_fhir",
    },
];

/// The first element of an IG attribute: `name[1]` -> `name`, `location[1].location(Location)`
/// -> `location`, `status="finished"` -> `status`.
fn attribute(a: &str) -> String {
    let first = a.split(['.', '[', '(', '=']).next().unwrap_or("").trim();
    first.to_string()
}

/// What the library maps for one segment map: (HL7 field or the segment itself for a
/// constant, first FHIR element).
fn covered(ir: &Estate, s: &SegmentMap) -> BTreeSet<(String, String)> {
    let find = |n: &str| {
        ir.mappings
            .iter()
            .find(|m| m.name == n)
            .unwrap_or_else(|| panic!("no mapping {n}"))
    };
    let (from, to) = (find(s.from_hl7), find(s.to_fhir));
    assert!(
        matches!(to.target, Schema::Fhir { .. }),
        "{} maps to FHIR",
        s.to_fhir
    );
    let hl7 = hl7_lineage(from);
    let mut out = BTreeSet::new();
    for (fhir, reads) in fhir_lineage(to) {
        let attr = attribute(&fhir);
        // A row for the segment itself sets an attribute, constant or computed.
        out.insert((s.segment.to_string(), attr.clone()));
        for r in reads {
            let full = join(s.record_path, &r);
            // The record field, or any field below it (a nested record read whole).
            for (path, fields) in hl7.range(full.clone()..) {
                if path != &full && !path.starts_with(&format!("{full}.")) {
                    break;
                }
                // Any field: a map may name another segment's (RXO's names RXE-19).
                for f in fields {
                    out.insert((f.clone(), attr.clone()));
                }
            }
        }
    }
    out
}

/// `tests/v2-to-fhir/left-out.txt`: `SEGMENT-MAP FIELD ATTRIBUTE: reason`.
fn left_out() -> BTreeMap<(String, String, String), String> {
    let text =
        std::fs::read_to_string(support::root().join("tests/v2-to-fhir/left-out.txt")).unwrap();
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("left-out.txt:{}: `MAP FIELD ATTRIBUTE: reason`", n + 1));
        let parts: Vec<&str> = key.split_whitespace().collect();
        assert!(
            parts.len() == 3 && !reason.trim().is_empty(),
            "left-out.txt:{}: `MAP FIELD ATTRIBUTE: reason`",
            n + 1
        );
        out.insert(
            (parts[0].into(), parts[1].into(), parts[2].into()),
            reason.trim().to_string(),
        );
    }
    out
}

fn segment_rows(s: &SegmentMap) -> Vec<Vec<String>> {
    csv(&corpus().join(format!(
        "v2-to-fhir/segments/HL7 Segment - FHIR R4_ {}.csv",
        s.csv
    )))
}

/// The map's name in `left-out.txt`: `PID[Patient]`.
fn map_name(s: &SegmentMap) -> String {
    s.csv.split(" - ").next().unwrap_or(s.csv).to_string()
}

#[test]
fn every_ig_row_is_mapped_or_left_out_with_a_reason() {
    let ir = library();
    let excluded = left_out();
    let mut missing = vec![];
    let mut stale = vec![];
    let (mut mapped, mut rows_seen) = (0, 0);
    let mut used = BTreeSet::new();
    for s in SEGMENT_MAPS {
        let have = covered(&ir, s);
        let name = map_name(s);
        let mut seen = BTreeSet::new();
        for r in segment_rows(s).iter().skip(2) {
            let (field, attr) = (cell(r, 1), attribute(cell(r, 9)));
            if field.is_empty()
                || attr.is_empty()
                || attr == "$this"
                || !seen.insert((field.to_string(), attr.clone()))
            {
                continue;
            }
            rows_seen += 1;
            let key = (name.clone(), field.to_string(), attr.clone());
            // The IG names a choice element (`occurred`) where the library writes one of
            // its types (`occurredDateTime`).
            let is_mapped = have.iter().any(|(f, a)| {
                f == field
                    && (a == &attr
                        || a.strip_prefix(attr.as_str())
                            .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase())))
            });
            match (is_mapped, excluded.contains_key(&key)) {
                (true, false) => mapped += 1,
                (true, true) => stale.push(format!("{name} {field} {attr}")),
                (false, true) => {
                    used.insert(key);
                }
                (false, false) => missing.push(format!("{name} {field} {attr}: ")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "rows of the IG the library neither maps nor lists in tests/v2-to-fhir/left-out.txt:\n{}",
        missing.join("\n")
    );
    assert!(
        stale.is_empty(),
        "rows left-out.txt lists that the library maps:\n{}",
        stale.join("\n")
    );
    let unknown: Vec<_> = excluded.keys().filter(|k| !used.contains(*k)).collect();
    assert!(
        unknown.is_empty(),
        "left-out.txt names rows the IG does not have: {unknown:?}"
    );
    assert!(
        mapped * 2 > rows_seen,
        "{mapped} of {rows_seen} rows mapped"
    );
    println!(
        "{mapped} of {rows_seen} IG rows mapped, {} left out with reasons",
        excluded.len()
    );
}

// ---- the corpus --------------------------------------------------------------------------

/// Runs `chain` of the library on each message, through `accord map` once (which builds
/// the library's crate) and its tool binary after.
fn map_all(chain: &str, messages: &[PathBuf], out: &Path) -> Vec<(PathBuf, serde_json::Value)> {
    let estate = support::root().join("tests/v2-to-fhir/estate");
    let mut results = vec![];
    let tool = support::target().join("debug/hl7-v2-to-fhir-tool");
    for (i, m) in messages.iter().enumerate() {
        let o = if i == 0 || !tool.exists() {
            Command::new(env!("CARGO_BIN_EXE_accord"))
                .arg("map")
                .arg(&estate)
                .arg(chain)
                .arg(m)
                .current_dir(support::root())
                .env("CARGO_TARGET_DIR", support::target())
                .output()
                .unwrap()
        } else {
            Command::new(&tool)
                .args(["map", chain])
                .arg(m)
                .output()
                .unwrap()
        };
        assert!(o.status.success(), "{}: {}", m.display(), support::text(&o));
        let file = out.join(format!("{}.json", m.file_stem().unwrap().to_string_lossy()));
        std::fs::write(&file, &o.stdout).unwrap();
        results.push((file, serde_json::from_slice(&o.stdout).unwrap()));
    }
    results
}

fn messages(prefix: &str) -> Vec<PathBuf> {
    let dir = corpus().join("hl7v2/fhir-converter");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// For each unconditional row of a segment map whose field the message values, the
/// resources of the map's type carry the attribute.
fn expect_rows(
    ir: &Estate,
    bundle: &serde_json::Value,
    message: &Path,
    maps: &[&SegmentMap],
    resource: &str,
) -> Vec<String> {
    let raw = std::fs::read(message).unwrap();
    let msg = accord_hl7::Message::parse(&raw).unwrap();
    let resources: Vec<&serde_json::Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == resource)
        .collect();
    let mut problems = vec![];
    for s in maps {
        let have = covered(ir, s);
        for r in segment_rows(s).iter().skip(2) {
            // Rows with a condition, or a fixed assignment (which the IG applies only in
            // some cases, such as DG1-21 `D`), do not always give the attribute.
            let (field, attr) = (cell(r, 1), attribute(cell(r, 9)));
            let (condition, assignment) = (cell(r, 6), cell(r, 16));
            if !condition.is_empty()
                || !assignment.is_empty()
                || !have.contains(&(field.to_string(), attr.clone()))
            {
                continue;
            }
            let Ok(path) = accord_hl7::Path::parse(field) else {
                continue;
            };
            let valued = msg
                .get_all(&path)
                .unwrap_or_default()
                .iter()
                .any(|v| !v.is_empty() && !v.is_null());
            if valued && !resources.iter().any(|res| res.get(&attr).is_some()) {
                problems.push(format!(
                    "{}: {field} is valued but no {resource} has `{attr}`",
                    message.display()
                ));
            }
        }
    }
    problems
}

/// Every string in `v`.
fn strings<'v>(v: &'v serde_json::Value, out: &mut Vec<&'v str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// `2026-03-29T02:30:00...`: a FHIR dateTime or instant with a time of day.
fn is_time_of_day(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[..4].iter().all(u8::is_ascii_digit)
}

#[test]
fn corpus_messages_become_valid_bundles_with_what_the_ig_rows_imply() {
    let ir = library();
    let out = support::fresh_dir("v2-to-fhir-corpus");
    let map = |csv: &str| {
        SEGMENT_MAPS
            .iter()
            .find(|s| s.csv.starts_with(csv))
            .unwrap()
    };

    // Every ADT message of the corpus (A01 to A60 share the segments the library reads).
    let adt: Vec<PathBuf> = messages("ADT")
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("A40"))
        .collect();
    assert!(adt.len() >= 50, "{} ADT messages", adt.len());
    let adt_bundles = map_all("v2_adt_a01,v2_admission_bundle", &adt, &out);
    let merges = map_all("v2_adt_a40,v2_merge_bundle", &messages("ADT-A40"), &out);
    let results = map_all("v2_oru_r01,v2_results_bundle", &messages("ORU-R01"), &out);
    let pharmacy: Vec<PathBuf> = messages("RDE-");
    assert_eq!(pharmacy.len(), 4, "RDE^O11 and RDE^O25 messages");
    let orders = map_all("v2_rde_o11,v2_pharmacy_bundle", &pharmacy, &out);
    let mut general: Vec<PathBuf> = messages("ORM-O01");
    general.extend(messages("LAB-ORM"));
    assert_eq!(general.len(), 7, "ORM^O01 messages");
    let requests = map_all("v2_orm_o01,v2_order_bundle", &general, &out);
    let files: Vec<PathBuf> = adt_bundles
        .iter()
        .chain(&merges)
        .chain(&results)
        .chain(&orders)
        .chain(&requests)
        .map(|(f, _)| f.clone())
        .collect();
    let (ok, report) = support::fhir_validate(&files);
    assert!(ok, "{report}");
    assert_eq!(report.matches("ok Bundle").count(), files.len(), "{report}");

    // References inside each Bundle resolve, and no two entries share an address.
    for (file, b) in adt_bundles
        .iter()
        .chain(&merges)
        .chain(&results)
        .chain(&orders)
        .chain(&requests)
    {
        let addresses: Vec<String> = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["request"]["url"].as_str().unwrap().to_string())
            .collect();
        let unique: BTreeSet<&String> = addresses.iter().collect();
        assert_eq!(
            unique.len(),
            addresses.len(),
            "{}: {addresses:?}",
            file.display()
        );
        // FHIR wants an offset on every time of day; the estate's zone gives local ones.
        let mut times = vec![];
        strings(b, &mut times);
        for t in times.iter().filter(|t| is_time_of_day(t)) {
            let offset =
                t.ends_with('Z') || t.len() > 6 && matches!(t.as_bytes()[t.len() - 6], b'+' | b'-');
            assert!(offset, "{}: {t} has no UTC offset", file.display());
        }
        let text = b.to_string();
        for r in text
            .split("\"reference\":\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap_or(""))
        {
            assert!(
                addresses.iter().any(|a| a == r),
                "{}: {r} does not resolve",
                file.display()
            );
        }
    }

    // The same messages as FHIR messages: the MessageHeader first, a Provenance of the
    // event, no requests, and every reference naming a resource of the Bundle.
    let dir = out.join("messages");
    std::fs::create_dir_all(&dir).unwrap();
    let adt_messages = map_all("v2_adt_a01,v2_admission_message", &adt, &dir);
    let merge_messages = map_all("v2_adt_a40,v2_merge_message", &messages("ADT-A40"), &dir);
    let result_messages = map_all("v2_oru_r01,v2_results_message", &messages("ORU-R01"), &dir);
    let message_files: Vec<PathBuf> = adt_messages
        .iter()
        .chain(&merge_messages)
        .chain(&result_messages)
        .map(|(f, _)| f.clone())
        .collect();
    let (ok, report) = support::fhir_validate(&message_files);
    assert!(ok, "{report}");
    for (file, b) in adt_messages
        .iter()
        .chain(&merge_messages)
        .chain(&result_messages)
    {
        assert_eq!(b["type"], "message");
        let entries = b["entry"].as_array().unwrap();
        assert_eq!(
            entries[0]["resource"]["resourceType"],
            "MessageHeader",
            "{}",
            file.display()
        );
        assert!(entries
            .iter()
            .all(|e| e.get("request").is_none() && e["fullUrl"].is_string()));
        assert!(
            entries
                .iter()
                .any(|e| e["resource"]["resourceType"] == "Provenance"),
            "{}",
            file.display()
        );
        // Outside a transaction, FHIR resolves a reference inside a Bundle through the
        // entries' fullUrls: each one names an entry's.
        let urls: Vec<&str> = entries
            .iter()
            .map(|e| e["fullUrl"].as_str().unwrap())
            .collect();
        let text = b.to_string();
        for r in text
            .split("\"reference\":\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap_or(""))
        {
            assert!(
                urls.contains(&r),
                "{}: {r} does not resolve",
                file.display()
            );
        }
    }

    // What the IG's rows imply, on the messages of its own examples.
    let mut problems = vec![];
    for (file, b) in &adt_bundles {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        if !name.starts_with("ADT-A01") {
            continue;
        }
        let message = corpus().join(format!("hl7v2/fhir-converter/{name}.hl7"));
        problems.extend(expect_rows(&ir, b, &message, &[map("PID")], "Patient"));
        problems.extend(expect_rows(
            &ir,
            b,
            &message,
            &[map("PV1"), map("PV2")],
            "Encounter",
        ));
        problems.extend(expect_rows(
            &ir,
            b,
            &message,
            &[map("AL1")],
            "AllergyIntolerance",
        ));
        problems.extend(expect_rows(&ir, b, &message, &[map("DG1")], "Condition"));
        problems.extend(expect_rows(
            &ir,
            b,
            &message,
            &[map("NK1")],
            "RelatedPerson",
        ));
    }
    for (file, b) in &results {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let message = corpus().join(format!("hl7v2/fhir-converter/{name}.hl7"));
        problems.extend(expect_rows(
            &ir,
            b,
            &message,
            &[map("OBR")],
            "DiagnosticReport",
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Each order is a MedicationRequest (RDE) or a ServiceRequest (ORM) about the
    // message's patient, one per ORC.
    for (file, b) in orders.iter().chain(&requests) {
        let requests: Vec<&serde_json::Value> = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| {
                matches!(
                    r["resourceType"].as_str(),
                    Some("MedicationRequest" | "ServiceRequest")
                )
            })
            .collect();
        let orcs = std::fs::read_to_string(corpus().join(format!(
            "hl7v2/fhir-converter/{}.hl7",
            file.file_stem().unwrap().to_string_lossy()
        )))
        .unwrap()
        .split(['\r', '\n'])
        .filter(|s| s.starts_with("ORC|"))
        .count();
        assert_eq!(requests.len(), orcs, "{}", file.display());
        for r in requests {
            assert_eq!(r["subject"]["reference"], b["entry"][0]["request"]["url"]);
            if r["resourceType"] == "ServiceRequest" {
                assert_eq!(r["intent"], "order");
                assert!(r["status"].is_string(), "{r}");
                continue;
            }
            assert_eq!(r["intent"], "original-order");
            assert!(
                r["medicationCodeableConcept"]["coding"][0]["code"].is_string(),
                "{r}"
            );
        }
    }

    // A merge: the surviving record replaces the retired one, which is inactive.
    let (_, m) = &merges[0];
    let e = m["entry"].as_array().unwrap();
    assert_eq!(e[0]["resource"]["link"][0]["type"], "replaces");
    assert_eq!(e[1]["resource"]["active"], false);
    assert_eq!(e[1]["resource"]["link"][0]["type"], "replaced-by");
    assert_eq!(
        e[1]["resource"]["link"][0]["other"]["reference"],
        e[0]["request"]["url"]
    );
}
