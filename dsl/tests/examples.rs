//! The example estates through the front end alone: every `.accord` file parses with no
//! syntax error, and the formatter is idempotent on it and keeps every comment.

use accord_dsl::fmt::format_source;
use accord_dsl::{parse_file, FileId};
use std::path::Path;

fn accord_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            accord_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "accord") {
            out.push(p);
        }
    }
}

#[test]
fn examples_parse() {
    let mut files = vec![];
    accord_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
        &mut files,
    );
    assert!(!files.is_empty());
    let mut failures = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let (ast, diags) = parse_file(FileId(0), &text);
        for d in &diags {
            let off = d.span().start as usize;
            let line = text[..off].matches('\n').count() + 1;
            failures.push(format!(
                "{}:{line}: {} | help: {}",
                f.display(),
                d.message,
                d.help
            ));
        }
        assert!(!ast.items.is_empty() || !diags.is_empty());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn comment_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.find("//").map(|i| l[i..].trim().to_string()))
        .collect()
}

#[test]
fn format_is_idempotent_and_keeps_comments() {
    let mut files = vec![];
    accord_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
        &mut files,
    );
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let once = format_source(&text).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let twice = format_source(&once).unwrap();
        assert_eq!(once, twice, "{} is not idempotent", f.display());
        let mut before = comment_lines(&text);
        let mut after = comment_lines(&once);
        before.sort();
        after.sort();
        assert_eq!(before, after, "{} lost or changed comments", f.display());
    }
}

/// Found by `tests/robustness.rs`: a code without a display written before a property.
/// Printed after the property, it would sit against the next, quoted code and read back
/// as that code's display; printed where it was written, it keeps its meaning.
#[test]
fn a_code_without_a_display_keeps_its_place_among_the_properties() {
    let text = "codeset Flag {\n  n system: \"http://x\"\n  \"H\" \"High\"\n}\n";
    let once = format_source(text).unwrap();
    assert_eq!(
        once,
        "codeset Flag {\n  n\n  system: \"http://x\"\n  \"H\" \"High\"\n}\n"
    );
    assert_eq!(format_source(&once).unwrap(), once);
}
