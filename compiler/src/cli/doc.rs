//! `accord doc` (the governance site) and `accord export conceptmap`: compile the estate,
//! gather what the docs stage cannot read itself (today's date, the check's warnings, the
//! test messages' text), render, and write the files.

use super::{compile_paths, emit, print_human, usage_error};
use crate::docs::{self, DocInputs, Format, Warning};
use crate::ir;
use crate::load::Loaded;
use crate::Compilation;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The IR, or the diagnostics printed and the exit code to return.
fn compiled(
    paths: &[PathBuf],
    today: Option<String>,
) -> Result<(Loaded, Compilation, ir::Estate), ExitCode> {
    let (loaded, result) = compile_paths(paths, today)?;
    match result.ir.clone() {
        Some(ir) => Ok((loaded, result, ir)),
        None => {
            print_human(&loaded, &result);
            eprintln!("error: the estate has errors; fix them before generating its documentation");
            Err(ExitCode::from(1))
        }
    }
}

fn inputs(loaded: &Loaded, result: &Compilation, estate: &ir::Estate, today: &str) -> DocInputs {
    let warnings = result
        .diagnostics
        .iter()
        .filter(|d| !d.is_error())
        .map(|d| {
            let span = d.span();
            let f = loaded.sources.get(span.file);
            let (line, _) = f.line_col(span.start as usize);
            Warning {
                code: d.code.to_string(),
                message: d.message.clone(),
                location: format!("{}:{line}", f.name),
            }
        })
        .collect();
    let mut examples = std::collections::BTreeMap::new();
    for t in &estate.tests {
        for g in &t.given {
            if let Some(file) = &g.file {
                // A missing file is E0512 at check time; a file unreadable now is left out.
                if let Ok(text) = std::fs::read_to_string(loaded.root.join(file)) {
                    examples.insert(file.clone(), text);
                }
            }
        }
    }
    DocInputs {
        today: today.to_string(),
        warnings,
        examples,
        changes: None,
    }
}

fn write_all(out: &Path, files: &docs::Site) -> Result<(), String> {
    for (rel, text) in files {
        let path = out.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(())
}

pub struct DocOptions<'a> {
    pub out: &'a Path,
    pub format: Format,
    pub today: Option<String>,
    /// A git revision: adds the change log page of `accord diff git:REV` against the estate.
    pub since: Option<&'a str>,
}

pub fn doc(paths: &[PathBuf], options: &DocOptions) -> ExitCode {
    let (out, format) = (options.out, options.format);
    let today = super::today_or(options.today.clone());
    let (loaded, result, estate) = match compiled(paths, Some(today.clone())) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut inputs = inputs(&loaded, &result, &estate, &today);
    if let Some(rev) = options.since {
        let here = paths
            .first()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        match super::diff::report(&format!("git:{rev}"), &here) {
            Ok(report) => {
                inputs.changes = Some(docs::Changelog {
                    since: rev.to_string(),
                    report,
                })
            }
            Err(code) => return code,
        }
    }
    let site = match docs::site(&estate, &inputs, format) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("internal error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = write_all(out, &site) {
        return usage_error(&e);
    }
    let index = match format {
        Format::Html => "index.html",
        Format::Markdown => "index.md",
    };
    eprintln!(
        "wrote {} files to {} (open {})",
        site.len(),
        out.display(),
        out.join(index).display()
    );
    ExitCode::SUCCESS
}

/// Every code map (or the one named) as a FHIR ConceptMap: one JSON on stdout for one map,
/// a `collection` Bundle for several; `-o DIR` writes one file per map instead.
pub fn export_conceptmap(paths: &[PathBuf], name: Option<&str>, out: Option<&Path>) -> ExitCode {
    let (_, _, estate) = match compiled(paths, None) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let maps: Vec<&ir::Codemap> = match name {
        Some(n) => match estate.codemaps.iter().find(|c| c.name == n) {
            Some(c) => vec![c],
            None => {
                let names: Vec<&str> = estate.codemaps.iter().map(|c| c.name.as_str()).collect();
                let hint = crate::suggest::did_you_mean(n, names.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return usage_error(&format!("the estate has no code map `{n}`{hint}"));
            }
        },
        None => estate.codemaps.iter().collect(),
    };
    let resources: Vec<serde_json::Value> = maps
        .iter()
        .map(|c| docs::conceptmap::concept_map(&estate, c))
        .collect();
    if let Some(dir) = out {
        let files: docs::Site = maps
            .iter()
            .zip(&resources)
            .map(|(c, r)| {
                (
                    format!("{}.conceptmap.json", c.name),
                    serde_json::to_string_pretty(r).unwrap_or_default() + "\n",
                )
            })
            .collect();
        if let Err(e) = write_all(dir, &files) {
            return usage_error(&e);
        }
        eprintln!("wrote {} ConceptMaps to {}", files.len(), dir.display());
        return ExitCode::SUCCESS;
    }
    let value = if resources.len() == 1 {
        resources.into_iter().next().unwrap_or_default()
    } else {
        serde_json::json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": resources.into_iter().map(|r| serde_json::json!({ "resource": r })).collect::<Vec<_>>(),
        })
    };
    emit(&(serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"));
    ExitCode::SUCCESS
}
