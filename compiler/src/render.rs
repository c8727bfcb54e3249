//! Rendering diagnostics: human (rustc-like, via codespan-reporting) and JSON (one array of
//! objects for CI). File names are shown relative to where the user pointed `accord`.

use accord_dsl::{Diagnostic, Severity, SourceMap};
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;

/// Renders for a terminal (`color`) or for golden files (no color).
pub fn human(
    diags: &[Diagnostic],
    sources: &SourceMap,
    display_prefix: &str,
    color: bool,
) -> String {
    let mut files = SimpleFiles::new();
    for (_, f) in sources.files() {
        files.add(shown_name(display_prefix, &f.name), f.text.clone());
    }
    let config = term::Config::default();
    let mut buf = if color {
        termcolor::Buffer::ansi()
    } else {
        termcolor::Buffer::no_color()
    };
    for d in diags {
        let cs = match d.severity {
            Severity::Error => CsDiagnostic::error(),
            Severity::Warning => CsDiagnostic::warning(),
        };
        let labels = d
            .labels
            .iter()
            .map(|l| {
                let label = if l.primary {
                    CsLabel::primary(l.span.file.0 as usize, l.span.range())
                } else {
                    CsLabel::secondary(l.span.file.0 as usize, l.span.range())
                };
                label.with_message(l.message.clone())
            })
            .collect();
        let mut notes: Vec<String> = d.notes.iter().map(|n| format!("note: {n}")).collect();
        if !d.help.is_empty() {
            notes.push(format!("help: {}", d.help));
        }
        let cs = cs
            .with_code(d.code)
            .with_message(d.message.clone())
            .with_labels(labels)
            .with_notes(notes);
        // Writing to an in-memory buffer only fails on a bad span; show the message anyway.
        if term::emit(&mut buf, &config, &files, &cs).is_err() {
            buf_plain(&mut buf, d);
        }
    }
    String::from_utf8_lossy(buf.as_slice()).into_owned()
}

fn buf_plain(buf: &mut termcolor::Buffer, d: &Diagnostic) {
    use std::io::Write;
    let _ = writeln!(
        buf,
        "{}[{}]: {}\n  = help: {}\n",
        if d.is_error() { "error" } else { "warning" },
        d.code,
        d.message,
        d.help
    );
}

/// The closing line: `3 errors, 1 warning` or nothing.
pub fn summary(diags: &[Diagnostic]) -> Option<String> {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => None,
        (0, w) => Some(format!("warning: {} emitted", plural(w, "warning"))),
        (e, 0) => Some(format!(
            "error: could not compile the estate due to {}",
            plural(e, "error")
        )),
        (e, w) => Some(format!(
            "error: could not compile the estate due to {}; {} emitted",
            plural(e, "error"),
            plural(w, "warning")
        )),
    }
}

#[derive(Serialize)]
struct JsonLabel {
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: String,
    primary: bool,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    code: &'static str,
    severity: Severity,
    message: String,
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    help: String,
    notes: Vec<String>,
    labels: Vec<JsonLabel>,
}

pub fn json(diags: &[Diagnostic], sources: &SourceMap, display_prefix: &str) -> String {
    let out: Vec<JsonDiagnostic> = diags
        .iter()
        .map(|d| {
            let span = d.span();
            let f = sources.get(span.file);
            let (line, column) = f.line_col(span.start as usize);
            let (end_line, end_column) = f.line_col(span.end as usize);
            JsonDiagnostic {
                code: d.code,
                severity: d.severity,
                message: d.message.clone(),
                file: shown_name(display_prefix, &f.name),
                line,
                column,
                end_line,
                end_column,
                help: d.help.clone(),
                notes: d.notes.clone(),
                labels: d
                    .labels
                    .iter()
                    .map(|l| {
                        let lf = sources.get(l.span.file);
                        let (line, column) = lf.line_col(l.span.start as usize);
                        let (end_line, end_column) = lf.line_col(l.span.end as usize);
                        JsonLabel {
                            line,
                            column,
                            end_line,
                            end_column,
                            message: l.message.clone(),
                            primary: l.primary,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    serde_json::to_string_pretty(&out).unwrap_or_else(|_| "[]".into())
}

/// A file's name as diagnostics show it: below the estate folder, except the standard
/// library's own files (`std:v2-to-fhir/...`), which live in no folder.
fn shown_name(display_prefix: &str, name: &str) -> String {
    if name.starts_with(crate::stdlib::PREFIX) {
        name.to_string()
    } else {
        format!("{display_prefix}{name}")
    }
}
