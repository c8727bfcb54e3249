//! Embeds one example per diagnostic code, taken from `tests/cases/err/<CODE>-<name>/`,
//! so `accord explain` shows input that is known to trigger the code.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases/err");
    println!("cargo:rerun-if-changed={}", cases.display());
    let mut entries: Vec<(String, String)> = vec![];
    if let Ok(dirs) = std::fs::read_dir(&cases) {
        let mut dirs: Vec<_> = dirs.flatten().map(|d| d.path()).collect();
        dirs.sort();
        for dir in dirs {
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let code = name.split('-').next().unwrap_or("").to_string();
            if entries.iter().any(|(c, _)| *c == code) {
                continue;
            }
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|f| f.path())
                .filter(|p| p.extension().is_some_and(|e| e == "accord"))
                .collect();
            files.sort();
            if let Some(f) = files.first() {
                println!("cargo:rerun-if-changed={}", f.display());
                entries.push((code, std::fs::read_to_string(f).unwrap_or_default()));
            }
        }
    }
    let mut out = String::from("&[");
    for (code, text) in entries {
        let _ = write!(out, "({code:?}, {text:?}),");
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("examples.rs");
    std::fs::write(dest, out).unwrap_or_else(|e| panic!("cannot write examples.rs: {e}"));
}
