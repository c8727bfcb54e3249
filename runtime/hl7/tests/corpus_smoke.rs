//! Every message of the shared corpus parses, and its segments come back byte for byte.

use accord_hl7::Message;
mod common;

use common::corpus_files;

#[test]
fn every_corpus_message_parses() {
    let files = corpus_files();
    assert!(files.len() >= 139, "{} corpus files", files.len());
    let mut failures = vec![];
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        match Message::parse(&bytes) {
            Ok(m) => {
                let body = bytes
                    .strip_prefix(&[0xEF, 0xBB, 0xBF][..])
                    .unwrap_or(&bytes);
                let lines: Vec<&[u8]> = body
                    .split(|&b| b == b'\n' || b == b'\r')
                    .filter(|l| !l.is_empty())
                    .collect();
                let segs: Vec<&[u8]> = m.segments().map(|s| s.raw()).collect();
                if lines != segs {
                    failures.push(format!("{}: segments differ", f.display()));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", f.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
