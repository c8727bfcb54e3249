//! Data as the operator commands print it in text form: a value from a message, a client
//! or a token cannot start a line of its own or steer the terminal. Newlines, carriage
//! returns, tabs and every other control character (C0, DEL, C1, so ANSI escapes too) are
//! written as escapes (`\n`, `\u{1b}`), as are the Unicode marks that reorder text on
//! screen (bidirectional overrides and isolates). `--json` output is JSON's own escaping.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character escaped; borrowed when it has none.
pub fn shown(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`shown`] of an optional value, empty when absent.
pub fn shown_or<'a>(s: Option<&'a str>, absent: &'a str) -> Cow<'a, str> {
    shown(s.unwrap_or(absent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_data_cannot_forge_a_line_or_steer_the_terminal() {
        assert!(matches!(shown("EVERYMAN^ADAM"), Cow::Borrowed(_)));
        assert_eq!(
            shown("x\n    3 2026-12-05T10:00:00Z dr.house read patient-300002 200"),
            "x\\n    3 2026-12-05T10:00:00Z dr.house read patient-300002 200"
        );
        assert_eq!(shown("\u{1b}[2K\u{1b}[1Gok"), "\\u{1b}[2K\\u{1b}[1Gok");
        assert_eq!(shown("a\rb\tc\u{7f}\u{9b}"), "a\\rb\\tc\\u{7f}\\u{9b}");
        assert_eq!(shown("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(shown("ÉMILE \\F\\ ok"), "ÉMILE \\F\\ ok");
        assert_eq!(shown_or(None, "-"), "-");
    }
}
