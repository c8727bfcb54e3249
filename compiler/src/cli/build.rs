//! `accord build`: compile the estate, write its generated crate (deterministic files,
//! rewritten only when they change, so cargo's incremental builds stay warm) and run
//! `cargo build` on it.

use crate::codegen::{gen_crate, CodegenOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The runtime crate this `accord` was built with; `ACCORD_RUNTIME` overrides it.
fn runtime_dependency() -> String {
    let path = std::env::var("ACCORD_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime"));
    let path = path.canonicalize().unwrap_or(path);
    format!("{{ path = {:?} }}", path.to_string_lossy())
}

pub fn build(paths: &[PathBuf], out: Option<PathBuf>, release: bool, no_cargo: bool) -> ExitCode {
    let (loaded, result) = match super::compile_paths(paths, None) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let Some(ir) = &result.ir else {
        super::print_human(&loaded, &result);
        return ExitCode::from(1);
    };
    if !result.diagnostics.is_empty() {
        super::print_human(&loaded, &result);
    }
    let krate = gen_crate(
        ir,
        &CodegenOptions {
            runtime_dependency: runtime_dependency(),
        },
    );
    let dir = out.unwrap_or_else(|| PathBuf::from("target/accord").join(&krate.name));
    for (rel, text) in &krate.files {
        let path = dir.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                eprintln!("error: cannot create `{}`: {e}", parent.display());
                return ExitCode::from(2);
            }
        }
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    eprintln!("wrote the crate `{}` to {}", krate.name, dir.display());
    if no_cargo {
        return ExitCode::SUCCESS;
    }
    let mut cmd =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"));
    if release {
        cmd.arg("--release");
    }
    match cmd.status() {
        Ok(s) if s.success() => {
            eprintln!("built {}", dir.display());
            ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!("error: cargo could not build the generated crate; this is a bug in accord's code generation, please report it");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            ExitCode::from(2)
        }
    }
}
