//! Reading and writing HL7 v2 values in generated mappings: a [`Scope`] (the whole
//! message, or one repetition of a segment, group or field in a `for each`), the
//! whole-message reads a mapping makes once ([`Once`]), and [`write`] into an outbound
//! message.

use super::error::{MapError, MapErrorKind};
use crate::hl7::{Message, Path, Value};

/// Where HL7 paths read: the whole message, or segments `start..end` of it (one
/// repetition of a `for each` segment or group).
#[derive(Clone, Copy)]
pub struct Scope<'m, 'a> {
    pub msg: &'m Message<'a>,
    pub start: usize,
    pub end: usize,
    /// Inside `for each PID-3`: the field (of the segment at `start`) and the repetition
    /// (1-based) that paths into that field read.
    pub pin: Option<(usize, usize)>,
}

impl<'m, 'a> Scope<'m, 'a> {
    #[inline]
    pub fn whole(msg: &'m Message<'a>) -> Scope<'m, 'a> {
        Scope {
            msg,
            start: 0,
            end: msg.segment_count(),
            pin: None,
        }
    }

    /// One scope per occurrence of a group that may begin with any of `leaders`: the
    /// group's optional first segments and its first required one, in structure order
    /// (`ORC`, `OBR` for ORDER_OBSERVATION). A group starts at a leader unless the group
    /// under way has only seen earlier leaders (an ORC followed by its OBR is one group;
    /// an OBR with no ORC before it starts one too).
    pub fn each_group(&self, leaders: &[&str]) -> Vec<Scope<'m, 'a>> {
        let mut starts = vec![];
        let mut last: Option<usize> = None;
        for i in self.start..self.end {
            let Some(seg) = self.msg.segment_at(i) else {
                continue;
            };
            let Some(rank) = leaders.iter().position(|l| *l == seg.id()) else {
                continue;
            };
            if last.is_none_or(|l| rank <= l) {
                starts.push(i);
            }
            last = Some(rank);
        }
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| Scope {
                msg: self.msg,
                start: s,
                end: starts.get(k + 1).copied().unwrap_or(self.end),
                pin: None,
            })
            .collect()
    }

    /// One scope per occurrence, each only that segment (for `for each OBX`).
    pub fn each_segment(&self, segment: &str) -> Vec<Scope<'m, 'a>> {
        (self.start..self.end)
            .filter(|&i| self.msg.segment_at(i).is_some_and(|s| s.is(segment)))
            .map(|i| Scope {
                msg: self.msg,
                start: i,
                end: i + 1,
                pin: None,
            })
            .collect()
    }

    /// One scope per non-empty repetition of the field `path` names (in the segment
    /// occurrence it names, within this scope), for `for each PID-3`: inside, paths into
    /// that field read the current repetition, and paths into the segment read it.
    pub fn each_repetition(&self, path: &Path) -> Vec<Scope<'m, 'a>> {
        let occurrence = path.occurrence.unwrap_or(1);
        let Some(seg) = (self.start..self.end)
            .filter_map(|i| self.msg.segment_at(i))
            .filter(|s| s.id() == path.segment)
            .nth(occurrence.saturating_sub(1))
        else {
            return vec![];
        };
        let Some(field) = seg.field(path.field) else {
            return vec![];
        };
        field
            .repetitions()
            .enumerate()
            .filter(|(_, r)| !r.is_empty() && !r.is_null())
            .map(|(k, _)| Scope {
                msg: self.msg,
                start: seg.index(),
                end: seg.index() + 1,
                pin: Some((path.field, k + 1)),
            })
            .collect()
    }

    /// `path` with the pinned repetition, when it reads the pinned field and picks none.
    fn pinned(&self, path: &Path) -> Option<Path> {
        let (field, rep) = self.pin?;
        (path.field == field && path.repetition.is_none() && path.occurrence.is_none())
            .then(|| self.msg.segment_at(self.start))
            .flatten()
            .filter(|s| s.id() == path.segment)
            .map(|_| Path {
                repetition: Some(crate::hl7::path::Repetition::Index(rep)),
                ..path.clone()
            })
    }

    fn values(&self, path: &Path) -> Result<Vec<Value<'a>>, crate::hl7::ParseError> {
        if let Some(p) = self.pinned(path) {
            return Scope { pin: None, ..*self }.values(&p);
        }
        if self.start == 0 && self.end >= self.msg.segment_count() {
            return self.msg.get_all(path);
        }
        let occurrence = path.occurrence.unwrap_or(1);
        let Some(seg) = (self.start..self.end)
            .filter_map(|i| self.msg.segment_at(i))
            .filter(|s| s.id() == path.segment)
            .nth(occurrence - 1)
        else {
            return Ok(vec![]);
        };
        // Reuse the message-level lookup on a path that points at this exact segment.
        let nth = self
            .msg
            .segments()
            .take(seg.index() + 1)
            .filter(|s| s.id() == path.segment)
            .count();
        let exact = Path {
            occurrence: Some(nth),
            ..path.clone()
        };
        self.msg.get_all(&exact)
    }

    /// The unescaped text at `path`, `None` when absent or empty.
    #[inline]
    pub fn text(&self, path: &Path, at: &'static str) -> Result<Option<String>, MapError> {
        Ok(self.str(path, at)?.map(std::borrow::Cow::into_owned))
    }

    /// [`Scope::text`] borrowed from the message when it needs no unescaping or decoding
    /// (what code maps and conversions read: no copy on the hot path).
    #[inline]
    pub fn str(
        &self,
        path: &Path,
        at: &'static str,
    ) -> Result<Option<std::borrow::Cow<'a, str>>, MapError> {
        let read = |e: crate::hl7::ParseError| MapError {
            at,
            kind: MapErrorKind::Read(e.to_string()),
        };
        // One value (the whole message's, a group's or a segment's): found in place on its
        // segment, not collected.
        if self.pin.is_none() && !matches!(path.repetition, Some(crate::hl7::Repetition::All)) {
            let Some(nth) = path.occurrence.unwrap_or(1).checked_sub(1) else {
                return Ok(None);
            };
            let seg = if self.start == 0 && self.end >= self.msg.segment_count() {
                self.msg.segment(&path.segment, nth + 1)
            } else {
                (self.start..self.end)
                    .filter_map(|i| self.msg.segment_at(i))
                    .filter(|s| s.is(&path.segment))
                    .nth(nth)
            };
            let Some(seg) = seg else {
                return Ok(None);
            };
            return match crate::hl7::path::get_in(&seg, path).map_err(read)? {
                Some(v) if !v.is_empty() && !v.is_null() => Ok(Some(
                    v.text_at(v.offset_in(self.msg.bytes())).map_err(read)?,
                )),
                _ => Ok(None),
            };
        }
        for v in self.values(path).map_err(read)? {
            if v.is_empty() || v.is_null() {
                continue;
            }
            return Ok(Some(
                v.text_at(v.offset_in(self.msg.bytes())).map_err(read)?,
            ));
        }
        Ok(None)
    }

    /// Whether the sender put the HL7 null `""` at `path` ("delete this value"), or on
    /// the whole field (or repetition) `path` is in, for a statement that says `clear`.
    pub fn is_null(&self, path: &Path, at: &'static str) -> Result<bool, MapError> {
        let read = |e: crate::hl7::ParseError| MapError {
            at,
            kind: MapErrorKind::Read(e.to_string()),
        };
        let first = |p: &Path| -> Result<Option<bool>, MapError> {
            let values = self.values(p).map_err(read)?;
            Ok(values.iter().find(|v| !v.is_empty()).map(|v| v.is_null()))
        };
        if let Some(null) = first(path)? {
            return Ok(null);
        }
        if path.component.is_none() {
            return Ok(false);
        }
        let field = Path {
            component: None,
            subcomponent: None,
            ..path.clone()
        };
        Ok(first(&field)?.unwrap_or(false))
    }

    /// Every non-empty unescaped text at `path` (`[*]` gives all repetitions).
    pub fn texts(&self, path: &Path, at: &'static str) -> Result<Vec<String>, MapError> {
        let read = |e: crate::hl7::ParseError| MapError {
            at,
            kind: MapErrorKind::Read(e.to_string()),
        };
        let mut out = vec![];
        for v in self.values(path).map_err(read)? {
            if v.is_empty() || v.is_null() {
                continue;
            }
            out.push(
                v.text_at(v.offset_in(self.msg.bytes()))
                    .map_err(read)?
                    .into_owned(),
            );
        }
        Ok(out)
    }
}

/// The HL7 v2 null, "delete this value": what a statement that says `clear` writes for
/// a value that is empty.
pub const HL7_NULL: &str = "\"\"";

/// Writes `text` at `path` of an outbound message; a path that is not a place (the
/// checker rules these out) is reported at the mapping line `at`.
#[inline]
pub fn write(
    b: &mut crate::hl7::builder::MessageBuilder,
    path: &Path,
    text: &str,
    at: &'static str,
) -> Result<(), MapError> {
    b.set(path, text).map_err(|e| MapError {
        at,
        kind: MapErrorKind::Read(e.to_string()),
    })
}

/// A whole-message read a mapping makes once per message (generated code keeps one
/// per path it reads from the whole message).
pub type Once<'a> = std::cell::OnceCell<Result<Option<std::borrow::Cow<'a, str>>, MapError>>;

/// The value `cell` holds, read by `read` the first time: the text borrowed from the
/// message (or from the one unescaped copy), or the error the first read gave.
#[inline]
pub fn once<'c, 'a>(
    cell: &'c Once<'a>,
    read: impl FnOnce() -> Result<Option<std::borrow::Cow<'a, str>>, MapError>,
) -> Result<Option<&'c str>, MapError> {
    match cell.get_or_init(read) {
        Ok(v) => Ok(v.as_deref()),
        Err(e) => Err(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `for each PID-3`: one scope per non-empty repetition, reads of the field pinned to
    /// it, other fields of the segment and explicit repetitions read as usual.
    #[test]
    fn repetitions_of_a_field_are_scopes() {
        let raw = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5.1\rPID|1||100^^^H^MR~~200^^^NHS^NH||DOE^JANE\r";
        let msg = Message::parse(raw).unwrap();
        let whole = Scope::whole(&msg);
        let p = |s: &str| Path::parse(s).unwrap();
        let reps = whole.each_repetition(&p("PID-3"));
        assert_eq!(reps.len(), 2, "the empty repetition is skipped");
        let at = "test";
        let read = |sc: &Scope, path: &str| sc.text(&p(path), at).unwrap();
        assert_eq!(read(&reps[0], "PID-3.1").as_deref(), Some("100"));
        assert_eq!(read(&reps[1], "PID-3.1").as_deref(), Some("200"));
        assert_eq!(read(&reps[1], "PID-3.5").as_deref(), Some("NH"));
        assert_eq!(read(&reps[1], "PID-5.1").as_deref(), Some("DOE"));
        assert_eq!(read(&reps[0], "PID-3[3].1").as_deref(), Some("200"));
        assert!(whole.each_repetition(&p("PID-4")).is_empty());
        assert!(whole.each_repetition(&p("ZZZ-1")).is_empty());
    }

    /// A group that may start with an optional segment: ORC then OBR is one order, an
    /// OBR without an ORC before it is one too.
    #[test]
    fn groups_start_at_any_of_their_leading_segments() {
        let raw = b"MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5.1\rPID|1\rORC|1\rOBR|1\rOBX|1\rOBR|2\rOBX|2\rORC|3\rOBR|3\r";
        let msg = Message::parse(raw).unwrap();
        let groups = Scope::whole(&msg).each_group(&["ORC", "OBR"]);
        let p = Path::parse("OBR-1").unwrap();
        let ids: Vec<_> = groups
            .iter()
            .map(|g| g.text(&p, "t").unwrap().unwrap())
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!((groups[0].start, groups[0].end), (2, 5));
    }

    #[test]
    fn scopes_read_within_their_segments() {
        let m = Message::parse(b"MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5\rOBR|1|A\rOBX|1||HB||135\rOBX|2||K||6.1\rOBR|2|B\rOBX|1||NA||140\r").unwrap();
        let whole = Scope::whole(&m);
        let orders = whole.each_group(&["OBR"]);
        assert_eq!(orders.len(), 2);
        let obx5 = Path::parse("OBX-5").unwrap();
        assert_eq!(
            orders[1].text(&obx5, "t:1").unwrap().as_deref(),
            Some("140")
        );
        let obs: Vec<String> = orders[0]
            .each_segment("OBX")
            .iter()
            .filter_map(|s| s.text(&obx5, "t:1").unwrap())
            .collect();
        assert_eq!(obs, ["135", "6.1"]);
        assert_eq!(
            whole
                .text(&Path::parse("OBX[2]-5").unwrap(), "t:1")
                .unwrap()
                .as_deref(),
            Some("6.1")
        );
    }
}
