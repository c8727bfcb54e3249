//! Differential test: every field, repetition, component and subcomponent of every corpus
//! message reads the same as python-hl7 reads it (PyPI `hl7`, installed by `.ci/run`).
//!
//! One deliberate difference: python-hl7 strips whitespace at the end of the message;
//! Accord keeps those bytes so that messages round-trip exactly. The comparison applies
//! python-hl7's strip to the last value of the message on our side, and nowhere else.

mod common;

use accord_hl7::{Message, Value};
use serde_json::{json, Value as Json};

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn tree(v: &Value) -> Json {
    json!(v
        .repetitions()
        .map(|r| r
            .components()
            .map(|c| c
                .subcomponents()
                .map(|s| latin1(s.raw()))
                .collect::<Vec<_>>())
            .collect::<Vec<_>>())
        .collect::<Vec<_>>())
}

fn ours(bytes: &[u8]) -> Json {
    let m = Message::parse(bytes).expect("corpus message parses");
    let mut segments: Vec<Json> = m
        .segments()
        .map(|s| {
            let mut fields = vec![json!(s.id())];
            for n in 1..=s.field_count() {
                fields.push(s.field(n).map(|f| tree(&f)).unwrap_or(json!(null)));
            }
            json!(fields)
        })
        .collect();
    strip_message_end(&mut segments);
    json!(segments)
}

/// python-hl7's `strip()` of the message, applied to its last subcomponent.
fn strip_message_end(segments: &mut [Json]) {
    let mut last = segments.last_mut();
    while let Some(Json::Array(items)) = last {
        last = items.last_mut();
    }
    if let Some(Json::String(s)) = last {
        *s = s.trim_end().to_string();
    }
}

fn first_difference(a: &Json, b: &Json, at: String) -> Option<String> {
    match (a, b) {
        (Json::Array(x), Json::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!(
                    "{at}: {} items here, {} in python-hl7",
                    x.len(),
                    y.len()
                ));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}/{i}")))
        }
        _ if a == b => None,
        _ => Some(format!("{at}: {a} here, {b} in python-hl7")),
    }
}

#[test]
fn corpus_reads_the_same_as_python_hl7() {
    let files = common::corpus_files();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/python_hl7_dump.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(&files)
        .output()
        .expect("python3 runs (bash .ci/run installs python-hl7)");
    assert!(
        out.status.success(),
        "python-hl7 dump failed (pip install hl7): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Json = serde_json::from_slice(&out.stdout).expect("json from python");
    let mut differences = vec![];
    let mut values = 0usize;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let mine = ours(&bytes);
        let key = f.to_string_lossy().into_owned();
        let other = &theirs[&key];
        values += mine.to_string().matches('"').count() / 2;
        if let Some(d) = first_difference(
            &mine,
            other,
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        ) {
            differences.push(d);
        }
    }
    assert!(
        differences.is_empty(),
        "{} files differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(values > 10_000, "compared only {values} values");
}
