//! The zero-copy message: it borrows its bytes and keeps a compact index of segment and
//! field spans, built in one pass with `memchr`. Repetitions, components and
//! subcomponents are found on demand by splitting a field's bytes. Segment terminators
//! CR, LF and CRLF are all accepted.

use super::charset::Charset;
use super::delims::Delimiters;
use super::error::{ErrorKind, ParseError};
use super::value::Value;

#[derive(Debug, Clone, Copy)]
struct SegmentSpan {
    start: u32,
    end: u32,
    /// Index of this segment's first field (its id, field 0) in `Message::fields`.
    first_field: u32,
    field_count: u32,
}

/// A parsed HL7 v2 message. Field 0 of each segment is its id; for MSH (and FHS/BHS)
/// field 1 is the field separator itself and field 2 the encoding characters, as the
/// standard counts them.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    bytes: &'a [u8],
    delims: Delimiters,
    charset: Charset,
    segments: Vec<SegmentSpan>,
    fields: Vec<(u32, u32)>,
}

/// A view of one segment of a message.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'m, 'a> {
    msg: &'m Message<'a>,
    index: usize,
}

/// Segment ids are three bytes: compared inline rather than through `memcmp`.
#[inline]
fn same_id(a: &[u8], b: &[u8]) -> bool {
    match (a, b) {
        ([a0, a1, a2], [b0, b1, b2]) => a0 == b0 && a1 == b1 && a2 == b2,
        _ => a == b,
    }
}

fn is_header(id: &[u8]) -> bool {
    matches!(id, b"MSH" | b"FHS" | b"BHS")
}

impl<'a> Message<'a> {
    /// Parses and indexes a message. A leading byte-order mark and blank lines are skipped.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, ParseError> {
        if bytes.len() > u32::MAX as usize {
            return Err(ParseError::new(ErrorKind::TooLarge, 0));
        }
        // A UTF-8 byte-order mark, then blank lines, may precede MSH.
        let bom = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        let skip = bytes[bom..]
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .map_or(bytes.len(), |p| p + bom);
        if skip == bytes.len() || bytes[skip..].iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ParseError::new(ErrorKind::Empty, 0));
        }
        let body = &bytes[skip..];
        if !body.starts_with(b"MSH") {
            let found = String::from_utf8_lossy(&body[..body.len().min(8)]).into_owned();
            return Err(ParseError::new(ErrorKind::NoHeader(found), skip));
        }
        if let Some(pos) = memchr::memchr3(0x00, 0x0B, 0x1C, bytes) {
            return Err(ParseError::new(ErrorKind::Binary(bytes[pos]), pos));
        }
        let (delims, _) = Delimiters::from_header(body, skip)?;
        let mut msg = Message {
            bytes,
            delims,
            charset: Charset::Ascii,
            segments: Vec::with_capacity(16),
            fields: Vec::with_capacity(bytes.len() / 8 + 8),
        };
        msg.index(skip)?;
        msg.charset = Charset::from_msh18(msg.segment_field_raw(0, 18).unwrap_or(b""));
        Ok(msg)
    }

    /// One pass over the bytes: every field separator and segment terminator. The common
    /// case (a field inside a segment) is one push; segment ids take the slower path.
    fn index(&mut self, start: usize) -> Result<(), ParseError> {
        let bytes = self.bytes;
        let sep = self.delims.field;
        let mut seg_start = start;
        let mut field_start = start;
        let mut first_field = 0u32;
        for pos in memchr::memchr3_iter(sep, b'\r', b'\n', &bytes[start..]).map(|p| p + start) {
            if bytes[pos] == sep {
                if field_start == seg_start {
                    self.push_id(seg_start, pos)?;
                } else {
                    self.fields.push((field_start as u32, pos as u32));
                }
                field_start = pos + 1;
            } else {
                if pos > seg_start {
                    self.push_last(seg_start, field_start, pos)?;
                    self.close_segment(seg_start, pos, first_field);
                }
                seg_start = pos + 1;
                field_start = pos + 1;
                first_field = self.fields.len() as u32;
            }
        }
        if bytes.len() > seg_start {
            self.push_last(seg_start, field_start, bytes.len())?;
            self.close_segment(seg_start, bytes.len(), first_field);
        }
        Ok(())
    }

    /// The last field of a segment (or its id, when it has no fields).
    #[inline]
    fn push_last(
        &mut self,
        seg_start: usize,
        field_start: usize,
        end: usize,
    ) -> Result<(), ParseError> {
        if field_start == seg_start {
            self.push_id(seg_start, end)
        } else {
            self.fields.push((field_start as u32, end as u32));
            Ok(())
        }
    }

    /// A segment id: three characters, a letter first. For MSH, MSH-1 follows.
    fn push_id(&mut self, seg_start: usize, end: usize) -> Result<(), ParseError> {
        let id = &self.bytes[seg_start..end];
        if id.len() != 3
            || !id[0].is_ascii_uppercase()
            || !id
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            let index = self.segments.len();
            return Err(ParseError::new(
                ErrorKind::BadSegmentId(
                    String::from_utf8_lossy(&id[..id.len().min(16)]).into_owned(),
                ),
                seg_start,
            )
            .in_segment(index, &id[..id.len().min(3)]));
        }
        self.fields.push((seg_start as u32, end as u32));
        if is_header(id) && end < self.bytes.len() && self.bytes[end] == self.delims.field {
            // MSH-1 is the field separator itself.
            self.fields.push((end as u32, end as u32 + 1));
        }
        Ok(())
    }

    #[inline]
    fn close_segment(&mut self, start: usize, end: usize, first_field: u32) {
        self.segments.push(SegmentSpan {
            start: start as u32,
            end: end as u32,
            first_field,
            field_count: self.fields.len() as u32 - first_field,
        });
    }

    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    pub fn charset(&self) -> Charset {
        self.charset
    }

    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    #[inline]
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    #[inline]
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_, 'a>> + '_ {
        (0..self.segments.len()).map(move |index| Segment { msg: self, index })
    }

    #[inline]
    pub fn segment_at(&self, index: usize) -> Option<Segment<'_, 'a>> {
        (index < self.segments.len()).then_some(Segment { msg: self, index })
    }

    /// The `occurrence`-th (1-based) segment with this id.
    #[inline]
    pub fn segment(&self, id: &str, occurrence: usize) -> Option<Segment<'_, 'a>> {
        let id = id.as_bytes();
        let mut skip = occurrence.checked_sub(1)?;
        for index in 0..self.segments.len() {
            if same_id(self.segment_field_raw(index, 0).unwrap_or_default(), id) {
                if skip == 0 {
                    return Some(Segment { msg: self, index });
                }
                skip -= 1;
            }
        }
        None
    }

    /// The message cut before each occurrence of segment `id` (`split: per OBR`): each
    /// part carries the segments before the first occurrence (MSH, PID, an ORC that
    /// heads every order...), then one occurrence with the segments after it up to the
    /// next. With fewer than two occurrences the message is one part, itself. Segments
    /// end with `\r`, as built messages do.
    pub fn split_per(&self, id: &str) -> Vec<Vec<u8>> {
        let starts: Vec<usize> = self
            .segments()
            .filter(|s| s.is(id))
            .map(|s| s.index())
            .collect();
        if starts.len() < 2 {
            return vec![self.bytes.to_vec()];
        }
        let join = |range: std::ops::Range<usize>, out: &mut Vec<u8>| {
            for i in range {
                if let Some(s) = self.segment_at(i) {
                    out.extend_from_slice(s.raw());
                    out.push(b'\r');
                }
            }
        };
        let mut header = vec![];
        join(0..starts[0], &mut header);
        starts
            .iter()
            .enumerate()
            .map(|(k, &from)| {
                let to = starts.get(k + 1).copied().unwrap_or(self.segments.len());
                let mut part = header.clone();
                join(from..to, &mut part);
                part
            })
            .collect()
    }

    #[inline]
    fn segment_field_raw(&self, seg: usize, n: usize) -> Option<&'a [u8]> {
        let s = self.segments.get(seg)?;
        if n >= s.field_count as usize {
            return None;
        }
        let (a, b) = self.fields[s.first_field as usize + n];
        Some(&self.bytes[a as usize..b as usize])
    }

    #[inline]
    fn value(&self, raw: &'a [u8]) -> Value<'a> {
        Value::new(raw, self.delims, self.charset)
    }

    /// MSH-12.1, the version.
    pub fn version(&self) -> Option<&'a str> {
        self.header_component(12, 1)
    }

    /// MSH-10, the message control id.
    pub fn control_id(&self) -> Option<&'a str> {
        self.header_component(10, 1)
    }

    /// MSH-9 as `(code, trigger, structure)`.
    pub fn message_type(&self) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>) {
        (
            self.header_component(9, 1),
            self.header_component(9, 2),
            self.header_component(9, 3),
        )
    }

    /// A component of an MSH field as text, when it is plain ASCII without escapes.
    pub fn header_component(&self, field: usize, component: usize) -> Option<&'a str> {
        let raw = self.segment_field_raw(0, field)?;
        let rep = raw.split(|&b| b == self.delims.repetition).next()?;
        let comp = rep
            .split(|&b| b == self.delims.component)
            .nth(component - 1)?;
        std::str::from_utf8(comp).ok().filter(|s| !s.is_empty())
    }
}

impl<'m, 'a> Segment<'m, 'a> {
    fn span(&self) -> SegmentSpan {
        self.msg.segments[self.index]
    }

    /// 0-based index of the segment in the message.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The id as bytes (no UTF-8 check: what lookups compare).
    #[inline]
    pub fn id_bytes(&self) -> &'a [u8] {
        self.msg
            .segment_field_raw(self.index, 0)
            .unwrap_or_default()
    }

    /// Whether this is a segment `id` (`PID`), compared as bytes.
    #[inline]
    pub fn is(&self, id: &str) -> bool {
        same_id(
            self.msg
                .segment_field_raw(self.index, 0)
                .unwrap_or_default(),
            id.as_bytes(),
        )
    }

    pub fn id(&self) -> &'a str {
        // Checked ASCII at parse time.
        self.msg
            .segment_field_raw(self.index, 0)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The segment's bytes, without its terminator.
    pub fn raw(&self) -> &'a [u8] {
        let s = self.span();
        &self.msg.bytes[s.start as usize..s.end as usize]
    }

    /// Byte offset of the segment in the input.
    pub fn offset(&self) -> usize {
        self.span().start as usize
    }

    /// The number of the last field present (fields beyond it are absent).
    pub fn field_count(&self) -> usize {
        self.span().field_count as usize - 1
    }

    /// Field `n` (1-based), all repetitions; `None` when the segment ends before it.
    #[inline]
    pub fn field(&self, n: usize) -> Option<Value<'a>> {
        if n == 0 {
            return None;
        }
        let raw = self.msg.segment_field_raw(self.index, n)?;
        let v = self.msg.value(raw);
        Some(if n <= 2 && is_header(self.id_bytes()) {
            v.verbatim()
        } else {
            v
        })
    }

    /// Byte offset of field `n` in the input.
    pub fn field_offset(&self, n: usize) -> Option<usize> {
        let s = self.span();
        if n >= s.field_count as usize {
            return None;
        }
        Some(self.msg.fields[s.first_field as usize + n].0 as usize)
    }

    pub fn message(&self) -> &'m Message<'a> {
        self.msg
    }
}
