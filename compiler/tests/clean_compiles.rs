//! The promise of `accord check`: an estate it finds clean generates a crate that
//! compiles, without warnings. Tried on the synthetic estates of `synth` at several sizes
//! and on small random estates (records of every field type, required or optional,
//! mappings from and to HL7 v2 and to FHIR with `when` blocks), all generated into one
//! crate of modules so that one `cargo build` compiles them. Every ok case and example is
//! compiled by `codegen.rs` and the production tests.

mod support;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{root, target};

/// A field type of the language, the HL7 v2 read that fills it, and the write back.
const FIELD_TYPES: &[(&str, &str, Option<&str>)] = &[
    ("Text", "PID-5[1].1", Some("PID-5.1")),
    ("Text", "upper(trim(PID-5[1].2))", Some("PID-5.2")),
    ("Text", "concat(PID-5[1].1, \" \", PID-5[1].2)", None),
    (
        "Identifier",
        "PID-3[where 5 = \"MR\"].1",
        Some("PID-3[1].1"),
    ),
    ("Date", "date(PID-7)", None),
    ("DateTime", "datetime(PID-7)", None),
    ("Decimal", "decimal(OBX[1]-5)", None),
    ("Integer", "count(PV1-19[*])", None),
    ("Boolean", "PID-30 == \"Y\"", None),
    ("[Text]", "PID-5[1].2, PID-5[1].3", None),
];

/// FHIR lines a record with a text field `f0` can always write.
const FHIR_LINES: &[&str] = &[
    "name[0].family <- f0",
    "name[0].given <- f0",
    "identifier[0].value <- f0",
    "identifier[0].system <- \"urn:example\"",
    "telecom[0].value <- f0",
    "active <- true",
];

#[derive(Debug, Clone)]
struct Field {
    ty: usize,
    optional: bool,
    assigned: bool,
    guarded: bool,
}

fn field() -> impl Strategy<Value = Field> {
    (
        0..FIELD_TYPES.len(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(ty, optional, assigned, guarded)| Field {
            ty,
            optional,
            assigned,
            guarded,
        })
}

fn estate() -> impl Strategy<Value = (Vec<Field>, Vec<bool>, bool)> {
    (
        prop::collection::vec(field(), 1..7),
        prop::collection::vec(any::<bool>(), FHIR_LINES.len()),
        any::<bool>(),
    )
}

/// The estate's text: record `R` with a required text field `f0` and the drawn fields,
/// a mapping into it, one out of it to HL7 v2, and one to FHIR.
fn text(i: usize, (fields, fhir, back): &(Vec<Field>, Vec<bool>, bool)) -> String {
    let mut record = String::from("record R {\n  f0: Text\n");
    let mut into = String::from("  f0 <- PID-5[1].1\n");
    let mut out = String::from("  PID-3[1].1 <- f0\n");
    for (n, f) in fields.iter().enumerate() {
        let (ty, read, write) = FIELD_TYPES[f.ty];
        let list = ty.starts_with('[');
        let optional = f.optional && !list;
        record.push_str(&format!(
            "  g{n}: {ty}{}\n",
            if optional { "?" } else { "" }
        ));
        // A required field is always assigned; an optional one when drawn, perhaps under
        // a condition.
        if !optional || f.assigned {
            let line = format!("g{n} <- {read}");
            if optional && f.guarded {
                into.push_str(&format!("  when exists(PID-11.5) {{\n    {line}\n  }}\n"));
            } else {
                into.push_str(&format!("  {line}\n"));
            }
        }
        if let (Some(w), false) = (write, list) {
            if !out.contains(&format!("{w} <-")) {
                out.push_str(&format!("  {w} <- g{n}\n"));
            }
        }
    }
    record.push_str("}\n");
    let fhir_lines: String = FHIR_LINES
        .iter()
        .zip(fhir)
        .filter(|(_, on)| **on)
        .map(|(l, _)| format!("  {l}\n"))
        .collect();
    let mut s = format!(
        "estate \"Random estate {i}\" version 1.0.0\n\nsystem pas {{\n  name: \"PAS\"\n}}\n\n{record}\nmapping into_r: hl7v2 2.5.1 ADT^A01 -> R {{\n{into}}}\n\nmapping r_to_fhir: R -> fhir r4 Patient {{\n  identifier[0].value <- f0\n{fhir_lines}}}\n"
    );
    if *back {
        s.push_str(&format!(
            "\nmapping r_to_adt: R -> hl7v2 2.4 ADT^A08 {{\n{out}}}\n"
        ));
    }
    s
}

fn write_estate(dir: &Path, files: &[(String, String)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// `accord build --no-cargo`: `Ok(lib.rs)` when the check is clean, else its diagnostics.
fn generate(estate: &Path, out: &Path) -> Result<PathBuf, String> {
    let o = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["build", "--no-cargo"])
        .arg(estate)
        .arg("-o")
        .arg(out)
        .env("ACCORD_TODAY", "2026-06-01")
        .output()
        .unwrap();
    if o.status.success() {
        Ok(out.join("src/lib.rs"))
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

#[test]
fn a_clean_check_gives_a_crate_that_compiles() {
    let work = target().join("crates/clean-check");
    let estates = work.join("estates");
    let mut sources: Vec<(String, Vec<(String, String)>)> = [1, 10, 35]
        .iter()
        .map(|n| (format!("synth_{n}"), accord_compiler::synth::estate(*n)))
        .collect();
    let mut runner = TestRunner::new(Config {
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    });
    for i in 0..16 {
        let drawn = estate().new_tree(&mut runner).unwrap().current();
        sources.push((
            format!("random_{i}"),
            vec![("estate.accord".to_string(), text(i, &drawn))],
        ));
    }
    let mut modules = vec![];
    let mut unclean = vec![];
    for (name, files) in &sources {
        let dir = estates.join(name);
        write_estate(&dir, files);
        match generate(&dir, &work.join("generated").join(name)) {
            Ok(lib) => modules.push((name.clone(), lib)),
            Err(diags) => unclean.push(format!("{name}:\n{diags}")),
        }
    }
    // The generator draws only valid estates: a diagnostic here is a bug in it (or a
    // false alarm of the checker), either worth seeing.
    assert!(unclean.is_empty(), "{}", unclean.join("\n"));
    let krate = work.join("crate");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let runtime = root().join("runtime").canonicalize().unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"clean-check\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\naccord-runtime = {{ path = {:?} }}\n\n[workspace]\n",
            runtime.to_string_lossy()
        ),
    )
    .unwrap();
    let lib: String = modules
        .iter()
        .map(|(name, path)| format!("#[path = {:?}]\npub mod {name};\n", path.to_string_lossy()))
        .collect();
    std::fs::write(
        krate.join("src/lib.rs"),
        format!("//! Every clean estate of the test, one module each.\n{lib}"),
    )
    .unwrap();
    let o = Command::new(env!("CARGO"))
        .args(["build", "--lib", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(!stderr.contains(") generated "), "warnings:\n{stderr}");
    assert_eq!(modules.len(), sources.len());
}
