//! Error recovery: split a file that failed to parse into chunks that each start at a
//! top-level item keyword in column 0 (with the `///` lines above it), and parse each
//! chunk alone. A chunk that fails yields one syntax diagnostic; the others yield items.

use super::parse_slice;
use crate::ast::{File, ITEM_KEYWORDS};
use crate::diag::Diagnostic;
use crate::span::FileId;

pub(crate) fn parse_in_chunks(file: FileId, text: &str) -> (File, Vec<Diagnostic>) {
    let mut items = vec![];
    let mut diags = vec![];
    let bounds = chunk_starts(text);
    for (i, &start) in bounds.iter().enumerate() {
        let end = bounds.get(i + 1).copied().unwrap_or(text.len());
        match parse_slice(file, &text[start..end], start) {
            Ok(f) => items.extend(f.items),
            Err(d) => diags.push(d),
        }
    }
    (File { items }, diags)
}

/// Byte offsets where chunks start: 0, then every line that begins with an item keyword
/// followed by a space, moved up over the doc comment lines directly above it.
fn chunk_starts(text: &str) -> Vec<usize> {
    let mut line_starts = vec![0];
    line_starts.extend(
        text.match_indices('\n')
            .map(|(i, _)| i + 1)
            .filter(|&i| i < text.len()),
    );
    let mut starts = vec![0];
    for (n, &ls) in line_starts.iter().enumerate() {
        let line = &text[ls..];
        let is_item = ITEM_KEYWORDS
            .iter()
            .any(|kw| line.starts_with(kw) && line[kw.len()..].starts_with([' ', '\t', '"']));
        if !is_item {
            continue;
        }
        let mut first = n;
        while first > 0
            && text[line_starts[first - 1]..]
                .trim_start()
                .starts_with("///")
        {
            first -= 1;
        }
        let start = line_starts[first];
        if start > *starts.last().unwrap_or(&0) {
            starts.push(start);
        }
    }
    starts
}
