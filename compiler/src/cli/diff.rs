//! `accord diff OLD NEW`: each side is an estate folder (or file) or `git:REF[:PATH]`, the
//! estate as committed at REF in the current repository (PATH from the top of the work
//! tree, as git names it; it defaults to the other side's folder). Both are compiled; the report comes from `crate::diff`. Exit 0 when every
//! version follows its changes, 1 on a version error, 2 when a side cannot be read or has
//! errors.

use super::{compile_paths, emit, print_human, usage_error};
use crate::diff::{self, render};
use crate::ir;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(Clone, Copy)]
pub enum DiffFormat {
    Human,
    Json,
    Markdown,
}

/// A side of the comparison once on disk: where its files are, and a folder to remove.
struct Side {
    label: String,
    path: PathBuf,
    temp: Option<PathBuf>,
}

impl Drop for Side {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

fn git(args: &[&str], dir: &Path) -> Result<Vec<u8>, String> {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(o.stdout)
}

/// The top of the current git work tree, and `path` (relative to the current folder)
/// relative to it.
fn in_repo(path: &Path) -> Result<(PathBuf, String), String> {
    let top = String::from_utf8_lossy(&git(&["rev-parse", "--show-toplevel"], Path::new("."))?)
        .trim()
        .to_string();
    let top = PathBuf::from(top)
        .canonicalize()
        .map_err(|e| format!("cannot find the repository: {e}"))?;
    let abs = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join(path);
    let abs = abs.canonicalize().unwrap_or(abs);
    let rel = abs
        .strip_prefix(&top)
        .map_err(|_| {
            format!(
                "`{}` is not inside the repository at {}; name the estate's folder in the repository with `git:REF:PATH`",
                path.display(),
                top.display()
            )
        })?;
    Ok((top, rel.to_string_lossy().replace('\\', "/")))
}

/// Where a side's files are in the repository: a path as git names it (from the top of
/// the work tree, as in `git show REF:PATH`) or one relative to the current folder.
enum RepoPath {
    FromTop(String),
    FromHere(PathBuf),
}

/// Writes every file under the path as committed at `rev` into a fresh temporary folder.
fn checkout(rev: &str, path: RepoPath, n: usize) -> Result<Side, String> {
    let (top, rel) = match path {
        RepoPath::FromHere(p) => in_repo(&p)?,
        RepoPath::FromTop(p) => (in_repo(Path::new("."))?.0, p.trim_matches('/').to_string()),
    };
    let spec = if rel.is_empty() {
        ".".to_string()
    } else {
        rel.clone()
    };
    let listing = git(
        &["ls-tree", "-r", "-z", "--name-only", rev, "--", &spec],
        &top,
    )
    .map_err(|e| format!("cannot read `{rev}`: {e}"))?;
    let files: Vec<String> = listing
        .split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    if files.is_empty() {
        return Err(format!("`{rel}` has no files at `{rev}`"));
    }
    let temp = std::env::temp_dir().join(format!("accord-diff-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    for f in &files {
        let inner = f.strip_prefix(&rel).unwrap_or(f).trim_start_matches('/');
        let dest = temp.join(inner);
        if let Some(d) = dest.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("cannot write {}: {e}", d.display()))?;
        }
        let bytes = git(&["show", &format!("{rev}:{f}")], &top)?;
        std::fs::write(&dest, bytes)
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    }
    Ok(Side {
        label: format!("git:{rev}:{rel}"),
        path: temp.clone(),
        temp: Some(temp),
    })
}

fn side(arg: &str, other: &str, n: usize) -> Result<Side, String> {
    let Some(git_spec) = arg.strip_prefix("git:") else {
        return Ok(Side {
            label: arg.to_string(),
            path: PathBuf::from(arg),
            temp: None,
        });
    };
    let (rev, path) = match git_spec.split_once(':') {
        Some((rev, path)) => (rev, RepoPath::FromTop(path.to_string())),
        None if !other.starts_with("git:") => (git_spec, RepoPath::FromHere(PathBuf::from(other))),
        None => (git_spec, RepoPath::FromHere(PathBuf::from("."))),
    };
    if rev.is_empty() {
        return Err("`git:` needs a revision, e.g. `git:main` or `git:HEAD~1`".into());
    }
    checkout(rev, path, n)
}

fn estate(side: &Side, today: &str) -> Result<ir::Estate, ExitCode> {
    let (loaded, result) = compile_paths(std::slice::from_ref(&side.path), Some(today.into()))?;
    match result.ir {
        Some(ir) => Ok(ir),
        None => {
            print_human(&loaded, &result);
            eprintln!("error: cannot compare: `{}` has errors", side.label);
            Err(ExitCode::from(2))
        }
    }
}

/// The report of `old` -> `new`; errors are the exit code to use (messages printed).
pub fn report(old: &str, new: &str) -> Result<diff::Report, ExitCode> {
    let today = super::today_or(None);
    let o = side(old, new, 0).map_err(|e| usage_error(&e))?;
    let n = side(new, old, 1).map_err(|e| usage_error(&e))?;
    let (a, b) = (estate(&o, &today)?, estate(&n, &today)?);
    Ok(diff::diff(&a, &b))
}

pub fn run(old: &str, new: &str, format: DiffFormat) -> ExitCode {
    let r = match report(old, new) {
        Ok(r) => r,
        Err(code) => return code,
    };
    emit(&match format {
        DiffFormat::Human => render::human(&r),
        DiffFormat::Json => render::json(&r),
        DiffFormat::Markdown => render::markdown(&r),
    });
    if r.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
