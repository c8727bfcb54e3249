//! Encoding characters: the field separator from MSH-1 and the component, repetition,
//! escape, subcomponent (and, from v2.7, truncation) characters from MSH-2. Any legal set
//! is accepted, not only `|^~\&`.

use super::error::{ErrorKind, ParseError};

/// Aligned to 8 bytes so a copy is one machine word: values carry their delimiters, and
/// byte-wise copies of this struct stalled store forwarding on every path read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct Delimiters {
    pub field: u8,
    pub component: u8,
    pub repetition: u8,
    pub escape: u8,
    pub subcomponent: u8,
    /// The v2.7 truncation character, when MSH-2 has a fifth character.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: b'\\',
            subcomponent: b'&',
            truncation: None,
        }
    }
}

impl Delimiters {
    /// Reads the delimiters of a header segment (`MSH`, `FHS` or `BHS`) starting at
    /// `bytes[0]`. Returns them and the length of the header up to the end of MSH-2.
    pub fn from_header(
        bytes: &[u8],
        segment_offset: usize,
    ) -> Result<(Delimiters, usize), ParseError> {
        let err = |kind: ErrorKind, offset: usize| {
            ParseError::new(kind, segment_offset + offset)
                .in_segment(0, &bytes[..3.min(bytes.len())])
        };
        if bytes.len() < 4 {
            return Err(err(ErrorKind::TruncatedHeader, bytes.len()));
        }
        let field = bytes[3];
        if !is_delimiter(field) {
            return Err(err(
                ErrorKind::BadEncodingCharacters(format!(
                    "field separator {:?} is not a punctuation character",
                    field as char
                )),
                3,
            ));
        }
        let rest = &bytes[4..];
        let end = rest
            .iter()
            .position(|&b| b == field || b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        let enc = &rest[..end];
        if enc.len() < 4 {
            return Err(err(ErrorKind::TruncatedHeader, 4 + end));
        }
        if enc.len() > 5 {
            return Err(err(
                ErrorKind::BadEncodingCharacters(format!(
                    "MSH-2 has {} characters; at most 5 are allowed",
                    enc.len()
                )),
                4,
            ));
        }
        // At most six delimiters: a fixed array, no allocation on the hot path.
        let mut seen = [field, 0, 0, 0, 0, 0];
        for (i, &c) in enc.iter().enumerate() {
            if !is_delimiter(c) || seen[..=i].contains(&c) {
                return Err(err(
                    ErrorKind::BadEncodingCharacters(format!(
                        "encoding character {:?} is repeated or not punctuation",
                        c as char
                    )),
                    4 + i,
                ));
            }
            seen[i + 1] = c;
        }
        let d = Delimiters {
            field,
            component: enc[0],
            repetition: enc[1],
            escape: enc[2],
            subcomponent: enc[3],
            truncation: enc.get(4).copied(),
        };
        Ok((d, 4 + end))
    }

    /// MSH-2 as written for these delimiters.
    pub fn encoding_characters(&self) -> String {
        let mut s: String = [
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ]
        .iter()
        .map(|&b| b as char)
        .collect();
        if let Some(t) = self.truncation {
            s.push(t as char);
        }
        s
    }
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_punctuation()
}
