//! Errors of the HL7 v2 engine, each with a location: the byte offset, and where known the
//! segment (index and id) and field. Nothing in the engine panics on input.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Empty,
    /// The first segment is not MSH (or FHS/BHS for a batch).
    NoHeader(String),
    TruncatedHeader,
    BadEncodingCharacters(String),
    BadSegmentId(String),
    /// NUL or MLLP framing bytes inside the message.
    Binary(u8),
    TooLarge,
    /// An escape sequence without its closing escape character.
    UnterminatedEscape,
    /// Text that is not valid in the message's character set (MSH-18).
    InvalidText(String),
    BadPath(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ErrorKind,
    /// Byte offset in the input.
    pub offset: usize,
    /// 0-based index and id of the segment, when known.
    pub segment: Option<(usize, String)>,
    /// 1-based field number, when known.
    pub field: Option<usize>,
}

impl ParseError {
    pub fn new(kind: ErrorKind, offset: usize) -> ParseError {
        ParseError {
            kind,
            offset,
            segment: None,
            field: None,
        }
    }

    pub fn in_segment(mut self, index: usize, id: &[u8]) -> ParseError {
        self.segment = Some((index, String::from_utf8_lossy(id).into_owned()));
        self
    }

    pub fn in_field(mut self, field: usize) -> ParseError {
        self.field = Some(field);
        self
    }

    /// A short hint for the person reading the error.
    pub fn hint(&self) -> &'static str {
        match self.kind {
            ErrorKind::Empty => "the input is empty; an HL7 v2 message starts with an MSH segment",
            ErrorKind::NoHeader(_) => "an HL7 v2 message starts with `MSH|^~\\&|`; check the file is HL7 v2 and not wrapped in another format",
            ErrorKind::TruncatedHeader => "MSH needs the field separator and the four encoding characters, e.g. `MSH|^~\\&|`",
            ErrorKind::BadEncodingCharacters(_) => "MSH-1 and MSH-2 must be five distinct punctuation characters, e.g. `|^~\\&`",
            ErrorKind::BadSegmentId(_) => "segment ids are three upper-case letters or digits, starting with a letter; check segment terminators",
            ErrorKind::Binary(_) => "binary bytes (NUL or MLLP framing) are not allowed inside a message; encode binary data (e.g. Base64 in ED)",
            ErrorKind::TooLarge => "messages over 4 GiB are not supported",
            ErrorKind::UnterminatedEscape => "an escape sequence such as `\\F\\` needs its closing escape character; escape a literal one as `\\E\\`",
            ErrorKind::InvalidText(_) => "the bytes do not match the character set in MSH-18",
            ErrorKind::BadPath(_) => "paths look like `PID-3[2].1`, `OBX[4]-5` or `PID-5.3.2`",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Empty => write!(f, "empty message"),
            ErrorKind::NoHeader(found) => {
                write!(f, "the message does not start with MSH (found {found:?})")
            }
            ErrorKind::TruncatedHeader => write!(
                f,
                "the MSH segment is truncated before its encoding characters end"
            ),
            ErrorKind::BadEncodingCharacters(why) => write!(f, "bad encoding characters: {why}"),
            ErrorKind::BadSegmentId(id) => write!(f, "bad segment id {id:?}"),
            ErrorKind::Binary(b) => write!(f, "binary byte 0x{b:02X} in the message"),
            ErrorKind::TooLarge => write!(f, "message too large"),
            ErrorKind::UnterminatedEscape => write!(f, "unterminated escape sequence"),
            ErrorKind::InvalidText(why) => write!(f, "invalid text: {why}"),
            ErrorKind::BadPath(why) => write!(f, "bad path: {why}"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        match (&self.segment, self.field) {
            (Some((i, id)), Some(field)) => write!(
                f,
                " in {id}-{field} (segment {}, byte {})",
                i + 1,
                self.offset
            ),
            (Some((i, id)), None) => {
                write!(f, " in {id} (segment {}, byte {})", i + 1, self.offset)
            }
            _ => write!(f, " at byte {}", self.offset),
        }
    }
}

impl std::error::Error for ParseError {}
