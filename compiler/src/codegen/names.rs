//! Rust names for estate names: fields stay snake_case (raw identifiers for keywords),
//! records keep their names, codes become UpperCamelCase enum variants (made unique, with
//! `C<n>` for codes that are not words, such as `<`).

use proc_macro2::{Ident, Span};

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// A field, function or module name.
pub fn snake(name: &str) -> Ident {
    if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// Names of the Rust prelude and of std types the generated code names unqualified; a
/// record or codeset called so would shadow them in the generated crate.
const PRELUDE: &[&str] = &[
    "Result",
    "Option",
    "Vec",
    "String",
    "Box",
    "Some",
    "None",
    "Ok",
    "Err",
    "Default",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "Iterator",
    "IntoIterator",
    "ToString",
    "ToOwned",
    "From",
    "Into",
    "PartialEq",
    "Eq",
    "PartialOrd",
    "Ord",
    "AsRef",
    "AsMut",
    "Extend",
    "Debug",
    "Self",
];

/// A type name as written (records, codesets); a name of the prelude gets `Record` after
/// it in Rust (`record Result` is `ResultRecord`), so the generated code keeps meaning std.
pub fn ty(name: &str) -> Ident {
    if PRELUDE.contains(&name) {
        Ident::new(&format!("{name}Record"), Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// An identifier with a suffix, e.g. `PatientDraft`.
pub fn suffixed(name: &str, suffix: &str) -> Ident {
    Ident::new(&format!("{name}{suffix}"), Span::call_site())
}

/// Variant names for the codes of a codeset, in order, unique.
pub fn variants(codes: &[&str]) -> Vec<Ident> {
    let mut used: Vec<String> = vec![];
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let word = code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && code.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            let mut name = if word {
                code.split('_')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let mut cs = p.chars();
                        cs.next()
                            .map(|f| {
                                f.to_ascii_uppercase().to_string()
                                    + &cs.as_str().to_ascii_lowercase()
                            })
                            .unwrap_or_default()
                    })
                    .collect::<String>()
            } else {
                format!("C{i}")
            };
            while used.contains(&name) {
                name.push('_');
            }
            used.push(name.clone());
            Ident::new(&name, Span::call_site())
        })
        .collect()
}
