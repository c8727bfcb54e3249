//! Batch files: `FHS` (file header), `BHS` (batch header), the messages, `BTS` (batch
//! trailer, BTS-1 = message count) and `FTS` (file trailer). A plain concatenation of
//! messages is read the same way, without headers.

use super::error::{ErrorKind, ParseError};
use super::message::Message;

#[derive(Debug)]
pub struct Batch<'a> {
    /// The `FHS` segment, raw, if any.
    pub file_header: Option<&'a [u8]>,
    /// The `BHS` segments, raw.
    pub batch_headers: Vec<&'a [u8]>,
    pub messages: Vec<Message<'a>>,
    /// BTS-1 of each batch trailer: the message counts the sender declared.
    pub declared_counts: Vec<Option<usize>>,
    /// The `FTS` segment, raw, if any.
    pub file_trailer: Option<&'a [u8]>,
}

impl<'a> Batch<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Batch<'a>, ParseError> {
        let mut batch = Batch {
            file_header: None,
            batch_headers: vec![],
            messages: vec![],
            declared_counts: vec![],
            file_trailer: None,
        };
        let mut message_start: Option<usize> = None;
        let mut pos = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        while pos < bytes.len() {
            let end = memchr::memchr2(b'\r', b'\n', &bytes[pos..]).map_or(bytes.len(), |e| pos + e);
            let line = &bytes[pos..end];
            let id = &line[..line.len().min(3)];
            let control = matches!(id, b"FHS" | b"BHS" | b"BTS" | b"FTS");
            if (control || id == b"MSH") && line.len() >= 3 {
                if let Some(start) = message_start.take() {
                    batch.messages.push(parse_at(bytes, start, pos)?);
                }
            }
            match id {
                b"MSH" => message_start = Some(pos),
                b"FHS" => batch.file_header = Some(line),
                b"BHS" => batch.batch_headers.push(line),
                b"BTS" => batch.declared_counts.push(count(line)),
                b"FTS" => batch.file_trailer = Some(line),
                _ if message_start.is_none() && !line.iter().all(u8::is_ascii_whitespace) => {
                    return Err(ParseError::new(
                        ErrorKind::NoHeader(
                            String::from_utf8_lossy(&line[..line.len().min(8)]).into_owned(),
                        ),
                        pos,
                    ));
                }
                _ => {}
            }
            pos = end + 1;
        }
        if let Some(start) = message_start {
            batch.messages.push(parse_at(bytes, start, bytes.len())?);
        }
        if batch.messages.is_empty()
            && batch.file_header.is_none()
            && batch.batch_headers.is_empty()
        {
            return Err(ParseError::new(ErrorKind::Empty, 0));
        }
        Ok(batch)
    }

    /// True when a batch trailer's count disagrees with the messages received.
    pub fn count_mismatch(&self) -> bool {
        match self.declared_counts.as_slice() {
            [Some(n)] => *n != self.messages.len(),
            _ => false,
        }
    }
}

fn parse_at(bytes: &[u8], start: usize, end: usize) -> Result<Message<'_>, ParseError> {
    Message::parse(&bytes[start..end]).map_err(|mut e| {
        e.offset += start;
        e
    })
}

fn count(bts: &[u8]) -> Option<usize> {
    let sep = *bts.get(3)?;
    let field = bts[4..].split(|&b| b == sep).next()?;
    std::str::from_utf8(field).ok()?.trim().parse().ok()
}
