//! Parsing: source text to `ast::File` plus syntax diagnostics. On a syntax error the file
//! is split at top-level item keywords (`recover`) so one broken item does not hide the
//! errors, or the valid items, of the rest of the file.

mod errors;
mod keywords;
mod lower;
mod recover;

pub use lower::{duration_millis, unescape};

use crate::ast::File;
use crate::diag::Diagnostic;
use crate::grammar::{AccordParser, Rule};
use crate::span::FileId;
use pest::Parser;

/// Parses one file. Never panics; returns every item that parsed and a diagnostic for
/// each item that did not.
pub fn parse_file(file: FileId, text: &str) -> (File, Vec<Diagnostic>) {
    match parse_slice(file, text, 0) {
        Ok(parsed) => (parsed, vec![]),
        Err(_) => recover::parse_in_chunks(file, text),
    }
}

/// Parses `text[offset..]`-relative slice `slice` as a whole file.
pub(crate) fn parse_slice(file: FileId, slice: &str, offset: usize) -> Result<File, Diagnostic> {
    match AccordParser::parse(Rule::file, slice) {
        Ok(mut pairs) => {
            let lower = lower::Lower { file, offset };
            match pairs.next() {
                Some(p) => Ok(lower.file(p)),
                None => Ok(File { items: vec![] }),
            }
        }
        Err(_) => {
            // Parse again with attempt tracking, which names the literal tokens expected
            // at the failure (`:` rather than "a field"). Only failing input pays for it.
            pest::set_error_detail(true);
            let detailed = AccordParser::parse(Rule::file, slice);
            pest::set_error_detail(false);
            match detailed {
                Err(e) => Err(errors::syntax_error(file, slice, offset, e)),
                Ok(_) => Err(errors::syntax_error_unknown(file, offset)),
            }
        }
    }
}
