//! The `accord` binary as a user runs it: exit codes, output formats, fmt, explain, ir, schema.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("ACCORD_TODAY", "2026-06-01")
        .output()
        .expect("run accord")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("accord-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn check_clean_estate_exits_0() {
    let o = accord(&["check", "examples/trakcare-lab"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("no problems"));
}

#[test]
fn check_with_errors_exits_1_and_renders_like_rustc() {
    let o = accord(&["check", "tests/cases/err/E0401-codemap-without-default"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains("error[E0401]: code map `sex_in` has no default"),
        "{err}"
    );
    assert!(err.contains("main.accord:"), "{err}");
    assert!(err.contains("= help:"), "{err}");
}

#[test]
fn json_format_has_the_documented_fields() {
    let o = accord(&[
        "check",
        "--format",
        "json",
        "tests/cases/err/E0302-write-not-allowed",
    ]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let first = &v.as_array().expect("array")[0];
    for key in [
        "code",
        "severity",
        "message",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "help",
        "labels",
    ] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert_eq!(first["code"], "E0302");
    assert_eq!(first["severity"], "error");
    assert!(first["file"]
        .as_str()
        .unwrap_or("")
        .ends_with("main.accord"));
    assert_eq!(first["labels"].as_array().map(|l| l.len()), Some(3));
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = "tests/cases/err/W0501-review-overdue";
    assert_eq!(code(&accord(&["check", dir])), 0);
    assert_eq!(code(&accord(&["check", "--deny-warnings", dir])), 1);
}

#[test]
fn usage_and_io_problems_exit_2() {
    assert_eq!(code(&accord(&["check", "no/such/estate"])), 2);
    assert_eq!(
        code(&accord(&[
            "check",
            "--format",
            "xml",
            "examples/trakcare-lab"
        ])),
        2
    );
    assert_eq!(code(&accord(&["frobnicate"])), 2);
    assert_eq!(code(&accord(&["explain", "E9999"])), 2);
}

#[test]
fn fmt_check_names_files_then_fmt_fixes_them() {
    let dir = temp_dir("fmt");
    let file = dir.join("estate.accord");
    std::fs::write(
        &file,
        "estate \"X\"   version 1.0.0\nsystem a {name:\"A\"   // keep me\n}\n",
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    let o = accord(&["fmt", "--check", &path]);
    assert_eq!(code(&o), 1);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("would reformat"),
        "{:?}",
        o
    );
    assert_eq!(code(&accord(&["fmt", &path])), 0);
    let formatted = std::fs::read_to_string(&file).unwrap();
    assert!(formatted.contains("// keep me"));
    assert!(formatted.contains("  name: \"A\""));
    assert_eq!(code(&accord(&["fmt", "--check", &path])), 0);
}

#[test]
fn fmt_refuses_files_with_syntax_errors() {
    let dir = temp_dir("fmt-broken");
    let file = dir.join("broken.accord");
    let text = "record P {\n  a Text\n}\n";
    std::fs::write(&file, text).unwrap();
    let o = accord(&["fmt", &file.to_string_lossy()]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("E0100"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        text,
        "a broken file is left untouched"
    );
}

#[test]
fn explain_prints_the_explanation_and_an_example() {
    let o = accord(&["explain", "e0401"]);
    assert_eq!(code(&o), 0);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("E0401: code map without default"));
    assert!(out.contains("codemap sex_in"), "{out}");
}

#[test]
fn ir_and_schema_are_json() {
    let o = accord(&["ir", "examples/trakcare-lab"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let ir: serde_json::Value = serde_json::from_slice(&o.stdout).expect("ir json");
    assert_eq!(ir["ir_version"], accord_compiler::ir::IR_VERSION);
    assert_eq!(ir["timezone"], "Europe/London");
    assert_eq!(
        ir["interfaces"].as_array().map(|a| !a.is_empty()),
        Some(true)
    );
    let o = accord(&["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).expect("schema json");
    assert_eq!(schema["title"], "Estate");
}

#[test]
fn ir_refuses_an_estate_with_errors() {
    let o = accord(&["ir", "tests/cases/err/E0505-unbounded-retry"]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("E0505"));
}
