//! Finding `//` comments in source text. The grammar skips them, so the formatter collects
//! them here (outside strings, excluding `///` doc lines, which the syntax tree keeps) and
//! re-attaches each one by position.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub start: usize,
    pub end: usize,
    /// The comment text including `//`, trailing whitespace removed.
    pub text: String,
    /// True when only whitespace precedes it on its line.
    pub own_line: bool,
}

pub fn collect(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' | b'\n' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map(|n| i + n).unwrap_or(text.len());
                if bytes.get(i + 2) != Some(&b'/') {
                    let line_start = text[..i].rfind('\n').map(|n| n + 1).unwrap_or(0);
                    out.push(Comment {
                        start: i,
                        end,
                        text: text[i..end].trim_end().to_string(),
                        own_line: text[line_start..i].trim().is_empty(),
                    });
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}
