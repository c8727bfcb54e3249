//! `accord build`: compile the estate, write its generated crate (deterministic files,
//! rewritten only when they change, so cargo's incremental builds stay warm) and run
//! `cargo build` on it.

use crate::codegen::{gen_crate, CodegenOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The runtime folder this `accord` was built with (`accord-runtime`, with the engine in
/// its `engine/`); `ACCORD_RUNTIME` overrides it.
fn runtime_dir() -> PathBuf {
    let path = std::env::var("ACCORD_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime"));
    path.canonicalize().unwrap_or(path)
}

fn path_dependency(path: &Path) -> String {
    format!("{{ path = {:?} }}", path.to_string_lossy())
}

/// The target directory generated crates share: `$CARGO_TARGET_DIR`, else `target/accord-target`.
pub fn shared_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/accord-target"))
}

/// Writes the crate of an estate; returns its folder and crate name, or an exit code.
fn write_crate(paths: &[PathBuf], out: Option<PathBuf>) -> Result<(PathBuf, String), ExitCode> {
    let (loaded, result) = super::compile_paths(paths, None)?;
    let Some(ir) = &result.ir else {
        super::print_human(&loaded, &result);
        return Err(ExitCode::from(1));
    };
    if !result.diagnostics.is_empty() {
        super::print_human(&loaded, &result);
    }
    let unsupported = crate::codegen::unsupported(ir);
    if !unsupported.is_empty() {
        for u in &unsupported {
            eprintln!("error: {u}");
        }
        return Err(ExitCode::from(1));
    }
    let krate = gen_crate(
        ir,
        &CodegenOptions {
            runtime_dependency: path_dependency(&runtime_dir()),
            engine_dependency: path_dependency(&runtime_dir().join("engine")),
        },
    );
    let dir = out.unwrap_or_else(|| PathBuf::from("target/accord").join(&krate.name));
    for (rel, text) in &krate.files {
        let path = dir.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                eprintln!("error: cannot create `{}`: {e}", parent.display());
                ExitCode::from(2)
            })?;
        }
        std::fs::write(&path, text).map_err(|e| {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            ExitCode::from(2)
        })?;
    }
    pin_versions(&dir)?;
    Ok((dir, krate.name))
}

/// The workspace's `Cargo.lock`: the dependency versions this `accord` was built and
/// tested with.
const WORKSPACE_LOCK: &str = include_str!("../../../Cargo.lock");

/// The `(name, version)` of every package a `Cargo.lock` pins.
fn pinned(lock: &str) -> std::collections::BTreeSet<(&str, &str)> {
    let mut out = std::collections::BTreeSet::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            out.insert((n, v.trim_matches('"')));
        }
    }
    out
}

/// Gives a generated crate the workspace's dependency versions: its `Cargo.lock` starts
/// as the workspace's (cargo keeps what the crate uses and drops the rest), and is put
/// back when it pins a package at a version the workspace does not. So a production is
/// built from the versions CI tested, not from whatever the registry has newest today.
fn pin_versions(dir: &Path) -> Result<(), ExitCode> {
    let path = dir.join("Cargo.lock");
    let ours = pinned(WORKSPACE_LOCK);
    let names: std::collections::BTreeSet<&str> = ours.iter().map(|(n, _)| *n).collect();
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    let drifted = current.is_empty()
        || pinned(&current)
            .iter()
            .any(|p| names.contains(p.0) && !ours.contains(p));
    if drifted {
        std::fs::write(&path, WORKSPACE_LOCK).map_err(|e| {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            ExitCode::from(2)
        })?;
    }
    Ok(())
}

/// The compile-time options a generated production's SQLite is built with.
const SQLITE_FLAGS: &str = "-DSQLITE_DEFAULT_MEMSTATUS=0";

/// The C compiler's flags for the rest of a generated production's C code: its allocator
/// (mimalloc) reserves arenas without committing them up front. Committed eagerly, as
/// mimalloc does by default on Linux, the pages it has freed stay resident: peak RSS 75 to
/// 80 MiB against 54 to 56 MiB under the load benchmark (performance page).
const C_FLAGS: &str = "-DMI_DEFAULT_ARENA_EAGER_COMMIT=0";

/// `CFLAGS` for the generated crate's build: the caller's own, then [`C_FLAGS`]. Every C
/// file of the build sees them; they define nothing but mimalloc's default.
fn c_flags(own: Option<&str>) -> String {
    match own.map(str::trim) {
        Some(own) if !own.is_empty() => format!("{own} {C_FLAGS}"),
        _ => C_FLAGS.to_string(),
    }
}

/// `cargo build` of a generated crate; cargo's own output goes to stderr.
fn cargo_build(
    dir: &Path,
    release: bool,
    quiet: bool,
    target: Option<&Path>,
) -> Result<(), ExitCode> {
    let mut cmd =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"));
    if release {
        cmd.arg("--release");
    }
    if quiet {
        cmd.arg("--quiet");
    }
    if let Some(t) = target {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    // The bundled SQLite of the journal without its memory statistics, whose global mutex
    // every allocation of every connection took (measured on the performance page); a
    // build that sets its own flags keeps them.
    if std::env::var_os("LIBSQLITE3_FLAGS").is_none() {
        cmd.env("LIBSQLITE3_FLAGS", SQLITE_FLAGS);
    }
    cmd.env("CFLAGS", c_flags(std::env::var("CFLAGS").ok().as_deref()));
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(_) => {
            eprintln!("error: cargo could not build the generated crate; this is a bug in accord's code generation, please report it");
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            Err(ExitCode::from(2))
        }
    }
}

/// `accord test`: build the estate's tool and run the estate's tests with it.
pub fn test(paths: &[PathBuf], generated: bool) -> ExitCode {
    let root = paths
        .first()
        .map(|p| {
            if p.is_dir() {
                p.clone()
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or_default()
            }
        })
        .unwrap_or_default();
    if generated {
        run_tool(
            paths,
            &["test".as_ref(), root.as_os_str(), "--generated".as_ref()],
        )
    } else {
        run_tool(paths, &["test".as_ref(), root.as_os_str()])
    }
}

/// Writes and builds the estate's crate, then runs its tool binary with `args`.
fn run_tool(paths: &[PathBuf], args: &[&std::ffi::OsStr]) -> ExitCode {
    let (dir, name) = match write_crate(paths, None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let target = shared_target();
    if let Err(code) = cargo_build(&dir, false, true, Some(&target)) {
        return code;
    }
    let tool = target
        .join("debug")
        .join(crate::codegen::tool_binary(&name));
    match std::process::Command::new(&tool).args(args).status() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(2).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("error: cannot run `{}`: {e}", tool.display());
            ExitCode::from(2)
        }
    }
}

/// `accord map`: build the estate's tool (cached by cargo) and run a mapping with it.
pub fn map(paths: &[PathBuf], mapping: &str, file: &Path, format: &str) -> ExitCode {
    run_tool(
        paths,
        &[
            "map".as_ref(),
            mapping.as_ref(),
            file.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ],
    )
}

pub fn build(paths: &[PathBuf], out: Option<PathBuf>, release: bool, no_cargo: bool) -> ExitCode {
    let (dir, name) = match write_crate(paths, out) {
        Ok(x) => x,
        Err(code) => return code,
    };
    eprintln!("wrote the crate `{name}` to {}", dir.display());
    if no_cargo {
        return ExitCode::SUCCESS;
    }
    let target = shared_target();
    match cargo_build(&dir, release, false, Some(&target)) {
        Ok(()) => {
            println!("{}", binary(&target, &name, release).display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// The production binary of crate `name` in the target directory.
fn binary(target: &Path, name: &str, release: bool) -> PathBuf {
    target
        .join(if release { "release" } else { "debug" })
        .join(name)
}

/// What `accord run` passes on to the production binary.
pub struct RunOptions<'a> {
    pub env: &'a str,
    pub config: Option<&'a Path>,
    pub store: &'a Path,
    pub release: bool,
}

/// `accord run`: build the production (cached by cargo) and replace this process with it,
/// so signals (Ctrl-C, SIGTERM) reach the production directly.
pub fn run(paths: &[PathBuf], opts: &RunOptions) -> ExitCode {
    let (dir, name) = match write_crate(paths, None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let target = shared_target();
    if let Err(code) = cargo_build(&dir, opts.release, true, Some(&target)) {
        return code;
    }
    let bin = binary(&target, &name, opts.release);
    let mut cmd = std::process::Command::new(&bin);
    cmd.arg("run")
        .arg("--env")
        .arg(opts.env)
        .arg("--store")
        .arg(opts.store);
    if let Some(c) = opts.config {
        cmd.arg("--config").arg(c);
    }
    eprintln!(
        "running {} (environment {}, store {})",
        bin.display(),
        opts.env,
        opts.store.display()
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        eprintln!("error: cannot run `{}`: {e}", bin.display());
        ExitCode::from(2)
    }
    #[cfg(not(unix))]
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(2).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("error: cannot run `{}`: {e}", bin.display());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_crates_take_the_workspace_versions() {
        let dir = std::env::temp_dir().join(format!("accord-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        pin_versions(&dir).unwrap();
        let lock = dir.join("Cargo.lock");
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), WORKSPACE_LOCK);
        // A lock cargo trimmed to the crate's own packages stays as it is.
        let (name, version) = *pinned(WORKSPACE_LOCK).iter().next().unwrap();
        let trimmed =
            format!("version = 4\n\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n");
        std::fs::write(&lock, &trimmed).unwrap();
        pin_versions(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), trimmed);
        // One resolved anew, at a version the workspace does not pin, is put back.
        std::fs::write(&lock, trimmed.replace(version, "999.0.0")).unwrap();
        pin_versions(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), WORKSPACE_LOCK);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn c_flags_keep_the_callers_own_and_add_the_allocators() {
        assert_eq!(c_flags(None), "-DMI_DEFAULT_ARENA_EAGER_COMMIT=0");
        assert_eq!(c_flags(Some("  ")), "-DMI_DEFAULT_ARENA_EAGER_COMMIT=0");
        assert_eq!(
            c_flags(Some("-O2 -g")),
            "-O2 -g -DMI_DEFAULT_ARENA_EAGER_COMMIT=0"
        );
    }
}
