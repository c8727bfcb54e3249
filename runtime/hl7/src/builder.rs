//! Building outbound messages: set values by path (escaped as they go in), start from an
//! existing message to change only some fields, and serialise with CR terminators. A
//! well-formed message taken into a builder and serialised comes back byte for byte
//! (after terminator normalisation): fields are kept as raw text until a path reaches
//! into them.

use super::charset::Charset;
use super::delims::Delimiters;
use super::error::{ErrorKind, ParseError};
use super::escape::escape;
use super::message::Message;
use super::path::{Path, Repetition};

#[derive(Debug, Clone)]
struct SegmentBuf {
    id: String,
    /// Raw (escaped, encoded) fields 1..; for MSH, fields 1 and 2 are the delimiters.
    fields: Vec<Vec<u8>>,
    /// Its place in the message structure (index into `MessageBuilder::order`), if known.
    rank: Option<usize>,
}

/// Fields are bytes in the message's character set, never re-decoded, so a Latin-1 (or
/// any) message comes back exactly; text that is set is escaped, then encoded.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    delims: Delimiters,
    charset: Charset,
    segments: Vec<SegmentBuf>,
    /// The structure's segment order (`dict::segment_order`); empty: segments stay in the
    /// order they are created.
    order: &'static [&'static str],
}

fn bad(why: impl Into<String>) -> ParseError {
    ParseError::new(ErrorKind::BadPath(why.into()), 0)
}

impl MessageBuilder {
    /// A message with only `MSH|^~\&` (or the given delimiters), encoded as UTF-8.
    pub fn new(delims: Delimiters) -> MessageBuilder {
        let msh = SegmentBuf {
            id: "MSH".into(),
            fields: vec![
                vec![delims.field],
                delims.encoding_characters().into_bytes(),
            ],
            rank: Some(0),
        };
        MessageBuilder {
            delims,
            charset: Charset::Utf8,
            segments: vec![msh],
            order: &[],
        }
    }

    /// New segments take their place in this structure order (`dict::segment_order`)
    /// instead of the end: a mapping that writes ORC before PID still sends PID first.
    /// A segment whose id is already there (another OBX, a second ORDER group) goes at
    /// the end, so repeated groups keep the order they were written in; so does a segment
    /// the structure does not list (a Z-segment).
    pub fn ordered(mut self, order: &'static [&'static str]) -> MessageBuilder {
        self.order = order;
        if let Some(msh) = self.segments.first_mut() {
            msh.rank = order.iter().position(|id| *id == msh.id);
        }
        self
    }

    /// Where a new segment `id` goes, and its rank: among the places `id` may stand, the
    /// first not before the last segment's; moved before the segments of a later place.
    fn place_new(&self, id: &str) -> (usize, Option<usize>) {
        let end = self.segments.len();
        if self.order.is_empty() {
            return (end, None);
        }
        // Another of the same id (a repeat, or a new instance of a group) goes at the end,
        // with the rank of the one before it.
        if let Some(prev) = self.segments.iter().rev().find(|s| s.id == id) {
            return (end, prev.rank);
        }
        let floor = self.segments.last().and_then(|s| s.rank).unwrap_or(0);
        let mut places = self.order.iter().enumerate().filter(|(_, s)| **s == id);
        let first = places.clone().next().map(|(i, _)| i);
        let Some(rank) = places.find(|(i, _)| *i >= floor).map(|(i, _)| i).or(first) else {
            return (end, None);
        };
        let mut at = end;
        while at > 0 && self.segments[at - 1].rank.is_some_and(|r| r > rank) {
            at -= 1;
        }
        (at, Some(rank))
    }

    fn insert_new(&mut self, id: &str) {
        let (at, rank) = self.place_new(id);
        self.segments.insert(
            at,
            SegmentBuf {
                id: id.to_string(),
                fields: vec![],
                rank,
            },
        );
    }

    /// A builder holding a copy of `msg`, raw fields as they are.
    pub fn from_message(msg: &Message) -> MessageBuilder {
        let delims = msg.delimiters();
        let segments = msg
            .segments()
            .map(|s| SegmentBuf {
                id: s.id().to_string(),
                fields: (1..=s.field_count())
                    .map(|n| s.field(n).map(|f| f.raw().to_vec()).unwrap_or_default())
                    .collect(),
                rank: None,
            })
            .collect();
        MessageBuilder {
            delims,
            charset: msg.charset(),
            segments,
            order: &[],
        }
    }

    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// Appends a new segment and returns its occurrence number for that id.
    pub fn add_segment(&mut self, id: &str) -> usize {
        self.insert_new(id);
        self.segments.iter().filter(|s| s.id == id).count()
    }

    /// Sets the value at `path` (unescaped text; it is escaped and encoded here). Missing
    /// segments, repetitions and components are created. `[*]` and `[where ...]` are not
    /// places.
    pub fn set(&mut self, path: &Path, text: &str) -> Result<(), ParseError> {
        let escaped = escape(text, &self.delims);
        let charset = self.charset;
        self.set_raw(path, &charset.encode(&escaped))
    }

    /// Sets an already-escaped, already-encoded value (one copied from another message).
    /// The field is edited in place: the bytes of the repetition, component and
    /// subcomponent named are found and replaced, separators added where missing.
    pub fn set_raw(&mut self, path: &Path, raw: &[u8]) -> Result<(), ParseError> {
        if path.segment == "MSH" && path.field <= 2 {
            return Err(bad(
                "MSH-1 and MSH-2 are the delimiters; choose them with MessageBuilder::new",
            ));
        }
        let rep = match &path.repetition {
            None => 1,
            Some(Repetition::Index(i)) => *i,
            Some(_) => {
                return Err(bad(
                    "`[*]` and `[where ...]` select values to read, not a place to write",
                ))
            }
        };
        let occurrence = path.occurrence.unwrap_or(1);
        let d = self.delims;
        let seg = self.segment_mut(&path.segment, occurrence);
        if seg.fields.len() < path.field {
            seg.fields.resize(path.field, vec![]);
        }
        let field = &mut seg.fields[path.field - 1];
        let mut range = part_range(field, 0..field.len(), d.repetition, rep);
        if let Some(c) = path.component {
            range = part_range(field, range, d.component, c);
            if let Some(s) = path.subcomponent {
                range = part_range(field, range, d.subcomponent, s);
            }
        }
        field.splice(range, raw.iter().copied());
        Ok(())
    }

    fn segment_mut(&mut self, id: &str, occurrence: usize) -> &mut SegmentBuf {
        let existing = self.segments.iter().filter(|s| s.id == id).count();
        for _ in existing..occurrence {
            self.insert_new(id);
        }
        let index = self
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| s.id == id)
            .nth(occurrence - 1)
            .map(|(i, _)| i)
            .unwrap_or(0);
        &mut self.segments[index]
    }

    /// The message with CR segment terminators (and a CR after the last segment).
    pub fn serialize(&self) -> Vec<u8> {
        let sep = self.delims.field;
        let mut out = Vec::with_capacity(
            self.segments
                .iter()
                .map(|s| s.fields.iter().map(|f| f.len() + 1).sum::<usize>() + 4)
                .sum(),
        );
        for s in &self.segments {
            out.extend_from_slice(s.id.as_bytes());
            let header = s.id == "MSH" || s.id == "FHS" || s.id == "BHS";
            // MSH-1 is the separator written after the id: skip it as a field.
            for f in s.fields.iter().skip(usize::from(header)) {
                out.push(sep);
                out.extend_from_slice(f);
            }
            out.push(b'\r');
        }
        out
    }

    /// `serialize` as text, for messages in ASCII or UTF-8.
    pub fn serialize_string(&self) -> String {
        String::from_utf8_lossy(&self.serialize()).into_owned()
    }
}

/// The byte range of part `n` (1-based) of `within`, split on `sep`; when the value has
/// fewer parts, separators are appended at the end of `within` and the (empty) range of
/// the new last part is returned.
fn part_range(
    field: &mut Vec<u8>,
    within: std::ops::Range<usize>,
    sep: u8,
    n: usize,
) -> std::ops::Range<usize> {
    let mut start = within.start;
    let mut index = 1;
    for pos in memchr::memchr_iter(sep, &field[within.clone()]) {
        if index == n {
            return start..within.start + pos;
        }
        start = within.start + pos + 1;
        index += 1;
    }
    if index == n {
        return start..within.end;
    }
    let missing = n - index;
    field.splice(within.end..within.end, std::iter::repeat_n(sep, missing));
    let end = within.end + missing;
    end..end
}

impl Message<'_> {
    /// The message with CR terminators, each segment as received.
    pub fn to_normalized(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes().len() + 1);
        for s in self.segments() {
            out.extend_from_slice(s.raw());
            out.push(b'\r');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    #[test]
    fn builds_and_escapes() {
        let mut b = MessageBuilder::new(Delimiters::default());
        b.set(&p("MSH-9.1"), "ADT").unwrap();
        b.set(&p("MSH-9.2"), "A01").unwrap();
        b.set(&p("PID-5.1"), "O'NEIL|SMITH").unwrap();
        b.set(&p("PID-5.2"), "ANN").unwrap();
        b.set(&p("PID-3[2].1"), "X^Y").unwrap();
        b.set(&p("PID-5.3.2"), "B&C").unwrap();
        let s = b.serialize_string();
        assert_eq!(
            s,
            "MSH|^~\\&|||||||ADT^A01\rPID|||~X\\S\\Y||O'NEIL\\F\\SMITH^ANN^&B\\T\\C\r"
        );
        let m = Message::parse(s.as_bytes()).unwrap();
        assert_eq!(
            m.get_text("PID-5.1").unwrap().as_deref(),
            Some("O'NEIL|SMITH")
        );
        assert_eq!(m.get_text("PID-3[2].1").unwrap().as_deref(), Some("X^Y"));
        assert_eq!(m.get_text("PID-5.3.2").unwrap().as_deref(), Some("B&C"));
    }

    #[test]
    fn from_message_round_trips_and_changes_only_what_is_set() {
        let text = "MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.4\rPID|1||123^^^H^MR~9^^^N^NH||DOE^JOHN||19800101|M\r";
        let m = Message::parse(text.as_bytes()).unwrap();
        let mut b = MessageBuilder::from_message(&m);
        assert_eq!(b.serialize_string(), text);
        b.set(&p("PID-8"), "F").unwrap();
        assert_eq!(b.serialize_string(), text.replace("|M\r", "|F\r"));
    }

    #[test]
    fn latin1_messages_round_trip_and_set_values_are_encoded() {
        let text: &[u8] =
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A08|1|P|2.5|||||GBR|8859/1\rPID|1||1||M\xdcLLER\r";
        let m = Message::parse(text).unwrap();
        let mut b = MessageBuilder::from_message(&m);
        assert_eq!(b.serialize(), text);
        b.set(&p("PID-5.2"), "J\u{d6}RG").unwrap();
        let again = b.serialize();
        assert!(again.ends_with(b"M\xdcLLER^J\xd6RG\r"), "{again:?}");
        assert_eq!(
            Message::parse(&again)
                .unwrap()
                .get_text("PID-5.2")
                .unwrap()
                .as_deref(),
            Some("J\u{d6}RG")
        );
    }

    #[test]
    fn parts_are_edited_in_place_and_padded_inside_their_parent() {
        let m = Message::parse(b"MSH|^~\\&|A\rPID|1||A~B^C&D~E\r").unwrap();
        let mut b = MessageBuilder::from_message(&m);
        b.set(&p("PID-3[1].3"), "X").unwrap();
        b.set(&p("PID-3[2].2.3"), "Y").unwrap();
        b.set(&p("PID-3[2].1"), "").unwrap();
        b.set(&p("PID-3[5]"), "Z").unwrap();
        b.set(&p("PID-1"), "22").unwrap();
        assert_eq!(
            b.serialize_string(),
            "MSH|^~\\&|A\rPID|22||A^^X~^C&D&Y~E~~Z\r"
        );
    }

    #[test]
    fn delimiters_and_selections_are_not_places() {
        let mut b = MessageBuilder::new(Delimiters::default());
        assert!(b.set(&p("MSH-2"), "x").is_err());
        assert!(b.set(&p("PID-3[*]"), "x").is_err());
    }
}

#[cfg(test)]
mod order_tests {
    use super::MessageBuilder;
    use crate::dict::segment_order;
    use crate::Path;

    fn ids(b: &MessageBuilder) -> Vec<String> {
        b.serialize_string()
            .split('\r')
            .filter(|l| !l.is_empty())
            .map(|l| l[..3].to_string())
            .collect()
    }

    fn set(b: &mut MessageBuilder, path: &str) {
        b.set(&Path::parse(path).unwrap(), "x").unwrap();
    }

    #[test]
    fn segments_follow_the_structure_not_the_writes() {
        let order: &'static [&'static str] =
            Box::leak(segment_order("2.4", "ORM^O01").into_boxed_slice());
        let mut b = MessageBuilder::new(Default::default()).ordered(order);
        for p in ["ORC-1", "OBR-4", "PID-3", "NTE-3"] {
            set(&mut b, p);
        }
        assert_eq!(ids(&b), ["MSH", "PID", "ORC", "OBR", "NTE"]);
    }

    #[test]
    fn repeated_groups_keep_their_written_order() {
        let order: &'static [&'static str] =
            Box::leak(segment_order("2.4", "ORU^R01").into_boxed_slice());
        let mut b = MessageBuilder::new(Default::default()).ordered(order);
        for p in [
            "OBR-2", "OBX[1]-5", "OBX[2]-5", "PID-3", "ZZZ-1", "OBX[3]-5",
        ] {
            set(&mut b, p);
        }
        assert_eq!(ids(&b), ["MSH", "PID", "OBR", "OBX", "OBX", "ZZZ", "OBX"]);
        // Without an order, segments stay where they were written.
        let mut plain = MessageBuilder::new(Default::default());
        for p in ["OBR-2", "PID-3"] {
            set(&mut plain, p);
        }
        assert_eq!(ids(&plain), ["MSH", "OBR", "PID"]);
    }
}
