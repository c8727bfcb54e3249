//! No input makes the parser, the checker or the formatter panic: random text, and random
//! edits (deletions, insertions, swaps) of the real example estate, which reach far deeper
//! into the grammar and the checks than random text does. Bounded so CI stays quick; the
//! cargo-fuzz target in `fuzz/` runs the same property without a bound.

use accord_compiler::{compile, Options, SourceMap};
use proptest::prelude::*;

fn example_text() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/trakcare-lab");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "accord"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compiles `text` as a one-file estate and formats it; panics are the failure.
fn exercise(text: &str) {
    let mut sources = SourceMap::new();
    sources.add("fuzz.accord", text);
    let result = compile(&sources, &Options::default());
    for d in &result.diagnostics {
        assert!(
            !d.code.is_empty() && !d.help.is_empty(),
            "diagnostic without code or help: {d:?}"
        );
        let span = d.span();
        assert!(
            span.end as usize <= text.len() && span.start <= span.end,
            "span out of range: {d:?}"
        );
    }
    if let Ok(formatted) = accord_dsl::fmt::format_source(text) {
        let again = accord_dsl::fmt::format_source(&formatted).expect("formatted output parses");
        assert_eq!(formatted, again, "formatting is not idempotent");
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Swap { a: usize, b: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop::sample::select(vec![
        "{",
        "}",
        ":",
        "->",
        "<-",
        "\"",
        "//",
        "///",
        "..",
        "|",
        "[",
        "]",
        "(",
        ")",
        "via",
        "when",
        "for each",
        "PID-3[",
        "\n",
        "record X {",
        "_ =>",
        "ack:",
        "on AE:",
        "0",
        "é",
        "\u{0}",
    ]);
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), token).prop_map(|(at, t)| Edit::Insert {
            at,
            text: t.to_string()
        }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap { a, b }),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match e {
            Edit::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(chars.len());
                chars.drain(at.min(chars.len())..end);
            }
            Edit::Insert { at, text } => {
                let at = at % (chars.len() + 1);
                for (i, c) in text.chars().enumerate() {
                    chars.insert(at + i, c);
                }
            }
            Edit::Swap { a, b } => {
                if !chars.is_empty() {
                    let (a, b) = (a % chars.len(), b % chars.len());
                    chars.swap(a, b);
                }
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        exercise(&text);
    }

    #[test]
    fn random_bytes_as_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn edited_examples_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        let text = apply(&example_text(), &edits);
        exercise(&text);
    }
}
