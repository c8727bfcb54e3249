//! Reading an estate from disk (for the CLI and build scripts; the compiler proper does no IO): the files and folders named on the command line, every
//! `.accord` file below a folder, and, transitively, every file they `import`. Files are
//! named relative to the estate root so that the IR does not depend on where `accord` runs.

use accord_dsl::ast::ItemKind;
use accord_dsl::{FileId, SourceMap};
use std::path::{Path, PathBuf};

pub struct Loaded {
    /// The estate root: the folder given, or the folder of the first file given.
    pub root: PathBuf,
    /// How the root is shown in messages (`examples/trakcare-lab/`), ends with `/` or is empty.
    pub display_prefix: String,
    pub sources: SourceMap,
}

pub fn load(paths: &[PathBuf]) -> Result<Loaded, String> {
    let first = paths.first().ok_or("no path given")?;
    let root = if first.is_dir() {
        first.clone()
    } else {
        first.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let display_prefix = match root.to_string_lossy().trim_end_matches('/') {
        "" | "." => String::new(),
        r => format!("{r}/"),
    };
    let mut files: Vec<PathBuf> = vec![];
    for p in paths {
        if p.is_dir() {
            collect_dir(p, &mut files)
                .map_err(|e| format!("cannot read folder `{}`: {e}", p.display()))?;
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(format!("no such file or folder: `{}`", p.display()));
        }
    }
    let mut sources = SourceMap::new();
    let mut queue = files;
    let mut i = 0;
    while i < queue.len() {
        let path = queue[i].clone();
        i += 1;
        let name = relative_name(&root, &path);
        if sources.find(&name).is_some() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let (ast, _) = accord_dsl::parse_file(FileId(0), &text);
        for item in &ast.items {
            if let ItemKind::Import(imp) = &item.kind {
                if imp.path.value.starts_with(crate::stdlib::PREFIX) {
                    continue; // Embedded: added below.
                }
                let target = path.parent().unwrap_or(Path::new("")).join(&imp.path.value);
                if target.is_file() {
                    queue.push(target);
                }
            }
        }
        sources.add(name, text);
    }
    crate::stdlib::add_imported(&mut sources);
    Ok(Loaded {
        root,
        display_prefix,
        sources,
    })
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_dir(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "accord") {
            out.push(p);
        }
    }
    Ok(())
}

/// `root/a/b.accord` -> `a/b.accord`; outside the root, `../x.accord`.
fn relative_name(root: &Path, path: &Path) -> String {
    let clean = |p: &Path| -> Vec<String> {
        let mut parts: Vec<String> = vec![];
        for c in p.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    if parts.last().is_some_and(|l| l != "..") {
                        parts.pop();
                    } else {
                        parts.push("..".into());
                    }
                }
                other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
            }
        }
        parts
    };
    let (r, p) = (clean(root), clean(path));
    let common = r.iter().zip(&p).take_while(|(a, b)| a == b).count();
    let mut out: Vec<String> = vec!["..".into(); r.len() - common];
    out.extend(p[common..].iter().cloned());
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::relative_name;
    use std::path::Path;

    #[test]
    fn names_are_relative_to_the_root() {
        assert_eq!(
            relative_name(Path::new("ex/lab"), Path::new("ex/lab/a.accord")),
            "a.accord"
        );
        assert_eq!(
            relative_name(Path::new("ex/lab"), Path::new("ex/lab/./sub/../b.accord")),
            "b.accord"
        );
        assert_eq!(
            relative_name(Path::new("ex/lab"), Path::new("ex/common/c.accord")),
            "../common/c.accord"
        );
    }
}
