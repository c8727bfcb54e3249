//! HL7 v2 escape sequences. Reading: `\F\ \S\ \T\ \R\ \E\`, `\Xhh..\` hex, the FT
//! formatting escapes (`\.br\` is a line break), and unknown escapes kept verbatim; an
//! unterminated escape is an error with its offset. Writing: delimiters, the escape
//! character and line breaks are escaped so the value survives any parser.

use super::charset::Charset;
use super::delims::Delimiters;
use super::error::{ErrorKind, ParseError};
use std::borrow::Cow;

/// Unescapes and decodes a value. Borrowed when there is nothing to unescape.
pub fn unescape<'a>(
    raw: &'a [u8],
    d: &Delimiters,
    charset: Charset,
    origin: usize,
) -> Result<Cow<'a, str>, ParseError> {
    let Some(first) = memchr::memchr(d.escape, raw) else {
        return charset.decode(raw, origin);
    };
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..first]);
    let mut i = first;
    while i < raw.len() {
        let b = raw[i];
        if b != d.escape {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(len) = memchr::memchr(d.escape, &raw[i + 1..]) else {
            return Err(ParseError::new(ErrorKind::UnterminatedEscape, origin + i));
        };
        let seq = &raw[i + 1..i + 1 + len];
        expand(seq, d, &mut out);
        i += len + 2;
    }
    let converted = match charset.decode(&out, origin)? {
        Cow::Borrowed(_) => None,
        Cow::Owned(s) => Some(s),
    };
    // Valid as it stands: reuse the buffer instead of copying it.
    Ok(Cow::Owned(converted.unwrap_or_else(|| {
        String::from_utf8(out).unwrap_or_default()
    })))
}

/// Appends the meaning of one escape sequence (the text between the escape characters).
fn expand(seq: &[u8], d: &Delimiters, out: &mut Vec<u8>) {
    match seq {
        b"F" => out.push(d.field),
        b"S" => out.push(d.component),
        b"T" => out.push(d.subcomponent),
        b"R" => out.push(d.repetition),
        b"E" => out.push(d.escape),
        b"H" | b"N" => {} // highlighting on/off: no text
        [b'X', hex @ ..]
            if !hex.is_empty() && hex.len() % 2 == 0 && hex.iter().all(u8::is_ascii_hexdigit) =>
        {
            for pair in hex.chunks(2) {
                let hi = (pair[0] as char).to_digit(16).unwrap_or(0) as u8;
                let lo = (pair[1] as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hi << 4 | lo);
            }
        }
        [b'.', rest @ ..] => formatting(rest, out),
        other => {
            // Unknown escapes (character set switches, \Z..\ local ones) are kept as written.
            out.push(d.escape);
            out.extend_from_slice(other);
            out.push(d.escape);
        }
    }
}

/// FT formatting commands: `.br` and `.sp n` break lines, `.sk n` skips n spaces,
/// `.ce` centres (a new line); `.in`, `.ti`, `.fi`, `.nf` only affect layout.
fn formatting(cmd: &[u8], out: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(cmd);
    let (name, arg) = text.split_at(
        text.find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let n: usize = arg
        .trim()
        .trim_start_matches(['+', '-'])
        .parse()
        .unwrap_or(1);
    match name {
        "br" | "ce" => out.push(b'\n'),
        "sp" => out.extend(std::iter::repeat_n(b'\n', n.clamp(1, 100))),
        "sk" => out.extend(std::iter::repeat_n(b' ', n.clamp(1, 100))),
        "in" | "ti" | "fi" | "nf" => {}
        _ => {
            out.push(b'\\');
            out.push(b'.');
            out.extend_from_slice(cmd);
            out.push(b'\\');
        }
    }
}

/// Escapes text for a field, component or subcomponent. Borrowed when nothing needs it.
pub fn escape<'t>(text: &'t str, d: &Delimiters) -> Cow<'t, str> {
    let special = |b: u8| {
        b == d.field
            || b == d.component
            || b == d.repetition
            || b == d.escape
            || b == d.subcomponent
            || b == b'\r'
            || b == b'\n'
    };
    if !text.bytes().any(special) {
        return Cow::Borrowed(text);
    }
    let e = d.escape as char;
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        let seq = match c {
            _ if c == d.field as char => "F",
            _ if c == d.component as char => "S",
            _ if c == d.repetition as char => "R",
            _ if c == d.escape as char => "E",
            _ if c == d.subcomponent as char => "T",
            '\n' => ".br",
            '\r' => "X0D",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push(e);
        out.push_str(seq);
        out.push(e);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn un(s: &str) -> Result<String, ParseError> {
        unescape(s.as_bytes(), &Delimiters::default(), Charset::Utf8, 0).map(|c| c.into_owned())
    }

    #[test]
    fn standard_escapes() {
        assert_eq!(un(r"A\F\B\S\C\T\D\R\E\E\F").unwrap(), r"A|B^C&D~E\F");
        assert_eq!(un(r"VIP\T\CONF").unwrap(), "VIP&CONF");
    }

    #[test]
    fn nothing_to_unescape_is_borrowed() {
        let raw = b"plain text";
        assert!(matches!(
            unescape(raw, &Delimiters::default(), Charset::Utf8, 0).unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn hex_formatting_and_unknown() {
        assert_eq!(un(r"\X41\\X4243\").unwrap(), "ABC");
        assert_eq!(un(r"line1\.br\line2").unwrap(), "line1\nline2");
        assert_eq!(un(r"a\.sp 2\b").unwrap(), "a\n\nb");
        assert_eq!(un(r"\H\bold\N\").unwrap(), "bold");
        assert_eq!(
            un(r"keep \Zlocal\ and \C2842\").unwrap(),
            r"keep \Zlocal\ and \C2842\"
        );
    }

    #[test]
    fn unterminated_escape_is_an_error_with_offset() {
        let e = un(r"abc\F").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnterminatedEscape);
        assert_eq!(e.offset, 3);
    }

    #[test]
    fn escape_round_trips() {
        let d = Delimiters::default();
        for text in ["a|b^c~d\\e&f", "two\nlines", "plain", "cr\rinside", ""] {
            let escaped = escape(text, &d);
            assert_eq!(un(&escaped).unwrap(), text, "{escaped}");
        }
    }

    #[test]
    fn custom_delimiters() {
        let d = Delimiters {
            field: b'#',
            component: b'$',
            repetition: b'*',
            escape: b'!',
            subcomponent: b'@',
            truncation: None,
        };
        let v = unescape(b"a!F!b!S!c!E!", &d, Charset::Ascii, 0).unwrap();
        assert_eq!(v, "a#b$c!");
        assert_eq!(escape("a#b$c!", &d), "a!F!b!S!c!E!");
    }
}
