//! Character sets named in MSH-18: ASCII, UTF-8 and ISO 8859-1 are decoded; text comes
//! back borrowed whenever the bytes are already valid UTF-8 for the declared set.

use super::error::{ErrorKind, ParseError};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// MSH-18 empty or `ASCII`: decoded as UTF-8 (a superset), so stray UTF-8 still reads.
    Ascii,
    /// `UNICODE UTF-8` (and `UTF-8`, `UNICODE`).
    Utf8,
    /// `8859/1`.
    Latin1,
}

impl Charset {
    /// The character set named by MSH-18 (its first repetition). Unknown names read as
    /// UTF-8, the most common reality behind them.
    pub fn from_msh18(raw: &[u8]) -> Charset {
        let first = raw.split(|&b| b == b'~').next().unwrap_or(b"");
        match first.to_ascii_uppercase().as_slice() {
            b"8859/1" | b"ISO-8859-1" | b"ISO8859-1" | b"LATIN1" => Charset::Latin1,
            b"UNICODE UTF-8" | b"UTF-8" | b"UTF8" | b"UNICODE" => Charset::Utf8,
            _ => Charset::Ascii,
        }
    }

    /// Decodes bytes to text. `origin` is the bytes' offset in the message, for errors.
    #[inline]
    pub fn decode<'a>(self, bytes: &'a [u8], origin: usize) -> Result<Cow<'a, str>, ParseError> {
        match self {
            Charset::Latin1 => {
                if bytes.is_ascii() {
                    // ASCII is valid UTF-8.
                    Ok(Cow::Borrowed(
                        std::str::from_utf8(bytes).unwrap_or_default(),
                    ))
                } else {
                    Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect()))
                }
            }
            Charset::Ascii | Charset::Utf8 => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Cow::Borrowed(s)),
                Err(e) => Err(ParseError::new(
                    ErrorKind::InvalidText(format!(
                        "byte 0x{:02X} is not valid UTF-8",
                        bytes[e.valid_up_to()]
                    )),
                    origin + e.valid_up_to(),
                )),
            },
        }
    }

    /// Encodes text for a message in this character set (outbound).
    #[inline]
    pub fn encode(self, text: &str) -> Cow<'_, [u8]> {
        match self {
            Charset::Latin1 if !text.is_ascii() => Cow::Owned(
                text.chars()
                    .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
                    .collect(),
            ),
            _ => Cow::Borrowed(text.as_bytes()),
        }
    }
}
