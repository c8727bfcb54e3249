//! The Accord language front end: grammar, syntax tree with byte spans, parser, formatter.
//! It knows nothing of the compiler's model or IR.

// Nothing panics on user input: no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod ast;
pub mod diag;
pub mod fmt;
pub mod parse;
pub mod span;

pub use diag::{Diagnostic, Label, Severity};
pub use parse::parse_file;
pub use span::{FileId, SourceFile, SourceMap, Span};

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "accord.pest"]
    pub struct AccordParser;
}
