//! The Accord compiler: resolve, check and lower `.accord` files to the IR.
//!
//! The library does no IO: [`compile`] takes a [`SourceMap`] (the CLI and build scripts
//! read the files) and returns diagnostics and, when there is no error, the IR.

// Nothing panics on user input: no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod builtins;
pub mod check;
pub mod codegen;
pub mod codes;
pub mod diagnostics;
pub mod diff;
#[cfg(feature = "docs")]
pub mod docs;
pub mod english;
pub mod ir;
pub mod ir_text;
pub mod lower;
pub mod model;
pub mod places;
pub mod resolve;
pub mod stdlib;
pub mod suggest;
pub mod synth;
pub mod types;
pub mod uses;
pub mod words;

#[cfg(feature = "build")]
pub mod build_script;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "build")]
pub mod load;
#[cfg(feature = "build")]
pub mod render;

pub use accord_dsl::{Diagnostic, FileId, Severity, SourceMap, Span};

/// Answers whether a file named relative to an estate file exists.
pub type FileExists = Box<dyn Fn(FileId, &str) -> bool>;

/// What the caller knows that the compiler cannot find out without IO.
pub struct Options {
    /// Today's date, `YYYY-MM-DD`, for review-date checks. Fixed in tests for determinism.
    pub today: String,
    /// Whether a file named relative to an estate file exists (test message files).
    /// `None` skips that check.
    pub file_exists: Option<FileExists>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            today: "1970-01-01".into(),
            file_exists: None,
        }
    }
}

pub struct Compilation {
    /// Present when there is no error (warnings allowed).
    pub ir: Option<ir::Estate>,
    /// Sorted by file and position; syntax errors first within a file.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.is_error())
    }
}

/// Parses, resolves, checks and (when error-free) lowers every file of `sources`.
pub fn compile(sources: &SourceMap, options: &Options) -> Compilation {
    let mut diagnostics = vec![];
    let mut files = vec![];
    for (id, f) in sources.files() {
        let (ast, diags) = accord_dsl::parse_file(id, &f.text);
        diagnostics.extend(diags);
        files.push(resolve::ParsedFile { id, ast });
    }
    let (model, diags) = resolve::resolve(sources, &files);
    diagnostics.extend(diags);
    let (diags, facts) = check::check(&model, options);
    diagnostics.extend(diags);
    diagnostics.sort_by_key(|d| (d.span().file, d.span().start, d.code));
    diagnostics.dedup();
    let ir = if diagnostics.iter().any(|d| d.is_error()) {
        None
    } else {
        Some(lower::lower(&model, sources, &facts.resolved))
    };
    Compilation { ir, diagnostics }
}
