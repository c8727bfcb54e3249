//! Data-driven compiler tests, one trial per folder:
//!
//! - `cases/ok/<name>/`: the `.accord` files check with no error; `ir.json` is the IR and
//!   `generated.rs` the generated code (compiled by `compiler/tests/codegen.rs`);
//!   formatting is idempotent and leaves the IR unchanged.
//! - `cases/err/<CODE>-<name>/`: the files produce at least one error (or warning, for
//!   W codes), including the folder's code; `diagnostics.txt` is the rendered output.
//!
//! `UPDATE_EXPECT=1 cargo test -p accord-tests --test cases` rewrites the golden files.

use accord_compiler::{compile, render, Options, SourceMap};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

/// Review dates are compared with this, so goldens do not age.
const TODAY: &str = "2026-06-01";

/// Runs one case folder.
type Runner = fn(&Path) -> Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut trials = vec![];
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let suites: [(&str, PathBuf, Runner); 3] = [
        ("ok", root.join("ok"), run_ok),
        ("err", root.join("err"), run_err),
        ("example", examples, run_example),
    ];
    for (kind, dir, run) in suites {
        for case in subdirs(&dir) {
            let name = format!(
                "{kind}::{}",
                case.file_name().unwrap_or_default().to_string_lossy()
            );
            trials.push(Trial::test(name, move || run(&case)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// An example estate: no error, only the warnings its golden `<name>.warnings.txt` lists
/// (a known gap it documents, none for most), formatting is stable, the IR is golden.
fn run_example(dir: &Path) -> Result<(), Failed> {
    let sources = load_tree(dir);
    let result = compile(&sources, &options(dir));
    let name = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let goldens = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/examples");
    if result.ir.is_none() {
        return Err(render::human(&result.diagnostics, &sources, "", false).into());
    }
    let warnings = goldens.join(format!("{name}.warnings.txt"));
    if !result.diagnostics.is_empty() || warnings.exists() {
        golden(
            &warnings,
            &render::human(&result.diagnostics, &sources, "", false),
        )?;
    }
    for (_, f) in sources.files() {
        let formatted =
            accord_dsl::fmt::format_source(&f.text).map_err(|d| format!("{}: {d:?}", f.name))?;
        if formatted != f.text {
            return Err(format!("{} is not in canonical layout: run `accord fmt`", f.name).into());
        }
    }
    let ir = result.ir.ok_or("no IR")?;
    let json = serde_json::to_string_pretty(&ir).map_err(|e| e.to_string())? + "\n";
    golden(
        &goldens.join(format!("{name}.lib.rs")),
        &accord_compiler::codegen::gen_lib(&ir),
    )?;
    golden(&goldens.join(format!("{name}.ir.json")), &json)
}

/// Every `.accord` file below `dir`, named relative to it.
/// The folders directly below `dir`, sorted.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn load_tree(dir: &Path) -> SourceMap {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, out);
            } else if p.extension().is_some_and(|e| e == "accord") {
                let rel = p
                    .strip_prefix(base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, p));
            }
        }
    }
    let mut files = vec![];
    walk(dir, dir, &mut files);
    let mut sources = SourceMap::new();
    for (name, path) in files {
        sources.add(name, std::fs::read_to_string(&path).unwrap_or_default());
    }
    sources
}

/// The case's files; cases are flat folders, so this is `load_tree`.
fn load(dir: &Path) -> SourceMap {
    load_tree(dir)
}

fn options(dir: &Path) -> Options {
    let dir = dir.to_path_buf();
    Options {
        today: TODAY.into(),
        file_exists: Some(Box::new(move |_, rel: &str| dir.join(rel).is_file())),
    }
}

fn golden(path: &Path, actual: &str) -> Result<(), Failed> {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, actual).map_err(|e| Failed::from(e.to_string()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).map_err(|_| {
        Failed::from(format!(
            "missing {}; run with UPDATE_EXPECT=1",
            path.display()
        ))
    })?;
    if expected != actual {
        return Err(format!(
            "{} differs.\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )
        .into());
    }
    Ok(())
}

fn run_ok(dir: &Path) -> Result<(), Failed> {
    let sources = load(dir);
    let result = compile(&sources, &options(dir));
    if result.has_errors() {
        return Err(render::human(&result.diagnostics, &sources, "", false).into());
    }
    let ir = result.ir.ok_or("no IR")?;
    let json = serde_json::to_string_pretty(&ir).map_err(|e| e.to_string())? + "\n";
    golden(&dir.join("ir.json"), &json)?;
    golden(
        &dir.join("generated.rs"),
        &accord_compiler::codegen::gen_lib(&ir),
    )?;
    // Formatting: idempotent, and the IR of the formatted files is the same (locations aside).
    let mut formatted = SourceMap::new();
    for (_, f) in sources.files() {
        let once =
            accord_dsl::fmt::format_source(&f.text).map_err(|d| format!("{}: {d:?}", f.name))?;
        let twice =
            accord_dsl::fmt::format_source(&once).map_err(|d| format!("{}: {d:?}", f.name))?;
        if once != twice {
            return Err(format!(
                "formatting {} is not idempotent:\n{once}\n---\n{twice}",
                f.name
            )
            .into());
        }
        formatted.add(f.name.clone(), once);
    }
    let again = compile(&formatted, &options(dir))
        .ir
        .ok_or("formatted files do not compile")?;
    if strip_locs(serde_json::to_value(&ir).unwrap_or_default())
        != strip_locs(serde_json::to_value(&again).unwrap_or_default())
    {
        return Err("formatting changed the IR".into());
    }
    Ok(())
}

fn strip_locs(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter(|(k, _)| k != "loc")
            .map(|(k, v)| (k, strip_locs(v)))
            .collect(),
        serde_json::Value::Array(a) => a.into_iter().map(strip_locs).collect(),
        other => other,
    }
}

fn run_err(dir: &Path) -> Result<(), Failed> {
    let code = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .split('-')
        .next()
        .unwrap_or("")
        .to_string();
    let sources = load(dir);
    let result = compile(&sources, &options(dir));
    if !result.diagnostics.iter().any(|d| d.code == code) {
        return Err(format!(
            "expected a {code} diagnostic, got:\n{}",
            render::human(&result.diagnostics, &sources, "", false)
        )
        .into());
    }
    if code.starts_with('E') && !result.has_errors() {
        return Err("an err case must produce an error".into());
    }
    let mut text = render::human(&result.diagnostics, &sources, "", false);
    if let Some(s) = render::summary(&result.diagnostics) {
        text.push_str(&s);
        text.push('\n');
    }
    golden(&dir.join("diagnostics.txt"), &text)
}
