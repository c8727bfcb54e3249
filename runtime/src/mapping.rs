//! What generated mappings use at run time: the canonical scalar types (`Date`,
//! `DateTime`, `Decimal`), `MapError` (which mapping line failed and why), reading HL7 v2
//! values inside a scope (the whole message, or one repetition of a segment or group in a
//! `for each`), and the built-in functions of the language.

use crate::hl7::{Message, Path, Value};
use std::fmt;

/// Why a mapping could not produce its output, and where in the estate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    /// `file:line` of the mapping line that failed.
    pub at: &'static str,
    pub kind: MapErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapErrorKind {
    /// A code map's `_ => reject "reason"`.
    Rejected {
        codemap: &'static str,
        value: String,
        reason: String,
    },
    /// A value that does not convert (`date("tomorrow")`).
    Conversion {
        function: &'static str,
        value: String,
    },
    /// A required field that the mapping left empty.
    Missing { field: &'static str },
    /// The message could not be read (bad escape, bad character set).
    Read(String),
    /// The source-of-truth matrix holds the message back.
    Ownership(crate::steward::Hold),
    /// A record field's value breaks a constraint of the record (`length`, `range`,
    /// `pattern`, `check`).
    Constraint {
        field: &'static str,
        rule: String,
        value: String,
        /// The HL7 path the value was read from, when the mapping read it from a message
        /// (its lineage: see [`MapError::traced`]).
        source: Option<&'static str>,
    },
    /// The output is not what the receiver's contract takes (a message type its profile
    /// does not name, a structure or profile it breaks).
    Conformance(String),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            MapErrorKind::Rejected {
                codemap,
                value,
                reason,
            } => write!(
                f,
                "{}: code map `{codemap}` rejects {value:?}: {reason}",
                self.at
            ),
            MapErrorKind::Conversion { function, value } => {
                write!(f, "{}: {function}({value:?}) is not valid", self.at)
            }
            MapErrorKind::Missing { field } => {
                write!(f, "{}: required field `{field}` was not set", self.at)
            }
            MapErrorKind::Read(why) => write!(f, "{}: {why}", self.at),
            MapErrorKind::Conformance(why) => write!(f, "{}: {why}", self.at),
            MapErrorKind::Ownership(hold) => write!(f, "{}", hold.detail()),
            MapErrorKind::Constraint {
                field,
                rule,
                value,
                source,
            } => {
                write!(f, "{}: {field} = {value:?}", self.at)?;
                if let Some(path) = source {
                    write!(f, " (from {path})")?;
                }
                write!(f, " breaks the contract's `{rule}`")
            }
        }
    }
}

impl std::error::Error for MapError {}

impl MapError {
    /// Names the message path a constraint's value came from, by the mapping's lineage
    /// (`(Record.field, HL7 path)` pairs, generated from the contract).
    pub fn traced(mut self, lineage: &[(&'static str, &'static str)]) -> MapError {
        if let MapErrorKind::Constraint { field, source, .. } = &mut self.kind {
            if source.is_none() {
                *source = lineage.iter().find(|(f, _)| f == field).map(|(_, p)| *p);
            }
        }
        self
    }

    /// How an HL7 ERR segment reports this error: its table 0357 code, and the message
    /// path of the value at fault when the error knows it.
    pub fn hl7_error(&self) -> (u16, Option<&'static str>) {
        match &self.kind {
            MapErrorKind::Missing { .. } => (101, None),
            MapErrorKind::Conversion { .. } => (102, None),
            MapErrorKind::Constraint { source, .. } => (102, *source),
            MapErrorKind::Rejected { .. } => (103, None),
            _ => (207, None),
        }
    }
}

/// A calendar date (HL7 DT, or the date part of DTM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A date and time to the second, with the UTC offset in minutes when the message gave one.
/// A DTM that gives only a date (`20260115`) keeps that precision: `has_time` is false,
/// and it is written as a date again, without a time or an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub offset_minutes: Option<i16>,
    pub has_time: bool,
}

fn digits(s: &str, from: usize, len: usize) -> Option<u32> {
    let part = s.get(from..from + len)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())
        .flatten()
}

fn days_in(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// From HL7 `YYYYMMDD` (or the first eight digits of a DTM), or ISO `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        let t = text.trim();
        // `YYYYMMDD` or `YYYY-MM-DD`, read in place.
        let (m, d) = if t.len() >= 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' {
            (5, 8)
        } else {
            (4, 6)
        };
        let (year, month, day) = (
            digits(t, 0, 4)? as i32,
            digits(t, m, 2)? as u8,
            digits(t, d, 2)? as u8,
        );
        ((1..=12).contains(&month) && day >= 1 && day <= days_in(year, month)).then_some(Date {
            year,
            month,
            day,
        })
    }

    /// `YYYY-MM-DD` as bytes, for a year of four digits.
    pub fn iso_bytes(&self) -> Option<[u8; 10]> {
        if !(0..=9999).contains(&self.year) || self.month > 99 || self.day > 99 {
            return None;
        }
        let d = |n: u32| b'0' + (n % 10) as u8;
        let (y, m, day) = (self.year as u32, u32::from(self.month), u32::from(self.day));
        Some([
            d(y / 1000),
            d(y / 100),
            d(y / 10),
            d(y),
            b'-',
            d(m / 10),
            d(m),
            b'-',
            d(day / 10),
            d(day),
        ])
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl DateTime {
    /// From HL7 DTM: `YYYYMMDD[HH[MM[SS[.S+]]]][+/-ZZZZ]`.
    pub fn parse(text: &str) -> Option<DateTime> {
        let t = text.trim();
        let (body, offset) = match t.rfind(['+', '-']) {
            Some(i) if i >= 8 => {
                let sign: i16 = if t.as_bytes()[i] == b'-' { -1 } else { 1 };
                let z = &t[i + 1..];
                let (h, m) = (digits(z, 0, 2)? as i16, digits(z, 2, 2)? as i16);
                (&t[..i], Some(sign * (h * 60 + m)))
            }
            _ => (t, None),
        };
        let date = Date::parse(body.get(..8)?)?;
        let part = |from: usize| {
            if body.len() > from {
                digits(body, from, 2)
            } else {
                Some(0)
            }
        };
        let (hour, minute, second) = (part(8)? as u8, part(10)? as u8, part(12)? as u8);
        (hour < 24 && minute < 60 && second < 61).then_some(DateTime {
            date,
            hour,
            minute,
            second,
            offset_minutes: offset,
            has_time: body.len() > 8,
        })
    }
}

impl DateTime {
    /// From the ISO form [`Display`](fmt::Display) writes: `YYYY-MM-DDTHH:MM:SS[+HH:MM]`.
    pub fn parse_iso(text: &str) -> Option<DateTime> {
        let t = text.trim();
        let (date, time) = t.split_once('T').unwrap_or((t, ""));
        let hl7: String = date
            .chars()
            .filter(|c| *c != '-')
            .chain(time.chars().filter(|c| *c != ':'))
            .collect();
        DateTime::parse(&hl7)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.has_time {
            return write!(f, "{}", self.date);
        }
        write!(
            f,
            "{}T{:02}:{:02}:{:02}",
            self.date, self.hour, self.minute, self.second
        )?;
        if let Some(o) = self.offset_minutes {
            write!(
                f,
                "{}{:02}:{:02}",
                if o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            )?;
        }
        Ok(())
    }
}

/// A decimal number kept as its canonical text, so values are never rounded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(String);

impl Decimal {
    pub fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let ok = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Decimal(t.trim_start_matches('+').to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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

/// A value written into an HL7 v2 field: text as is, dates as DT/DTM, booleans Y/N.
/// The owned text of values that must be formatted.
trait PrivateHl7 {
    fn to_hl7_string(&self) -> String;
}

pub trait ToHl7 {
    /// Borrowed when the value already is its text (no copy on the hot path).
    fn to_hl7(&self) -> std::borrow::Cow<'_, str>;
}

impl ToHl7 for str {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(self)
    }
}

impl ToHl7 for String {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(self)
    }
}

impl ToHl7 for i64 {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.to_hl7_string())
    }
}

impl PrivateHl7 for i64 {
    fn to_hl7_string(&self) -> String {
        self.to_string()
    }
}

impl ToHl7 for bool {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.to_hl7_string())
    }
}

impl PrivateHl7 for bool {
    fn to_hl7_string(&self) -> String {
        String::from(if *self { "Y" } else { "N" })
    }
}

impl ToHl7 for Decimal {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(&self.0)
    }
}

impl ToHl7 for Date {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.to_hl7_string())
    }
}

impl PrivateHl7 for Date {
    fn to_hl7_string(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl ToHl7 for DateTime {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.to_hl7_string())
    }
}

impl PrivateHl7 for DateTime {
    fn to_hl7_string(&self) -> String {
        if !self.has_time {
            return self.date.to_hl7_string();
        }
        let mut s = format!(
            "{}{:02}{:02}{:02}",
            self.date.to_hl7_string(),
            self.hour,
            self.minute,
            self.second
        );
        if let Some(o) = self.offset_minutes {
            s.push_str(&format!(
                "{}{:02}{:02}",
                if o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            ));
        }
        s
    }
}

/// A value written into FHIR JSON: dates in ISO form, decimals as JSON numbers.
/// What an interface's transform chain produces for the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// An HL7 v2 message (ER7 bytes).
    Hl7(Vec<u8>),
    /// A canonical record or a FHIR resource, as JSON bytes.
    Json(Vec<u8>),
}

impl Output {
    /// The bytes to send or store.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Output::Hl7(b) => b,
            Output::Json(b) => b,
        }
    }

    /// The MIME type of [`Output::into_bytes`].
    pub fn content_type(&self) -> &'static str {
        match self {
            Output::Hl7(_) => "x-application/hl7-v2+er7",
            Output::Json(_) => "application/json",
        }
    }
}

pub trait ToJson {
    fn to_json(&self) -> serde_json::Value;
}

impl ToJson for String {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.clone())
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::from(*self)
    }
}

impl ToJson for bool {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Bool(*self)
    }
}

impl ToJson for Decimal {
    fn to_json(&self) -> serde_json::Value {
        self.0
            .parse::<serde_json::Number>()
            .map(serde_json::Value::Number)
            .unwrap_or_else(|_| serde_json::Value::String(self.0.clone()))
    }
}

impl ToJson for Date {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.to_string())
    }
}

impl ToJson for DateTime {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.to_string())
    }
}

impl ToJson for serde_json::Value {
    fn to_json(&self) -> serde_json::Value {
        self.clone()
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> serde_json::Value {
        self.as_ref()
            .map(ToJson::to_json)
            .unwrap_or(serde_json::Value::Null)
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}

/// The inverse of [`ToJson`]: reads a value back from the JSON a record was stored as
/// (the ownership matrix puts a stored value back into a record). `None` when it does not
/// fit the type.
pub trait FromJson: Sized {
    fn from_json(v: &serde_json::Value) -> Option<Self>;
}

impl FromJson for String {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        v.as_str().map(str::to_string)
    }
}

impl FromJson for i64 {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        v.as_i64()
    }
}

impl FromJson for bool {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        v.as_bool()
    }
}

impl FromJson for Decimal {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        match v {
            serde_json::Value::Number(n) => Decimal::parse(&n.to_string()),
            serde_json::Value::String(s) => Decimal::parse(s),
            _ => None,
        }
    }
}

impl FromJson for Date {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        Date::parse(v.as_str()?)
    }
}

impl FromJson for DateTime {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        DateTime::parse_iso(v.as_str()?)
    }
}

impl FromJson for serde_json::Value {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        Some(v.clone())
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        match v {
            serde_json::Value::Null => Some(None),
            other => T::from_json(other).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        v.as_array()?.iter().map(T::from_json).collect()
    }
}

/// One step of a FHIR element path: `name`, `name[i]` (0-based), or
/// `name[where element = "value"]` (the first element whose `element` is the text `value`).
#[derive(Debug, Clone, Copy)]
pub enum JsonStep {
    Key(&'static str),
    Index(&'static str, usize),
    Where(&'static str, &'static str, &'static str),
}

/// The value at `path` in a FHIR resource (or any JSON), if every step is there.
pub fn json_get<'v>(
    root: &'v serde_json::Value,
    path: &[JsonStep],
) -> Option<&'v serde_json::Value> {
    let mut cur = root;
    for step in path {
        cur = match *step {
            JsonStep::Key(k) => cur.get(k)?,
            JsonStep::Index(k, ix) => cur.get(k)?.get(ix)?,
            JsonStep::Where(k, element, value) => cur
                .get(k)?
                .as_array()?
                .iter()
                .find(|x| x.get(element).and_then(|v| v.as_str()) == Some(value))?,
        };
    }
    Some(cur)
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

/// The built-in functions of the language, as generated code calls them.
pub mod functions {
    use super::{Date, DateTime, Decimal, MapError, MapErrorKind};

    fn conversion(function: &'static str, value: &str, at: &'static str) -> MapError {
        MapError {
            at,
            kind: MapErrorKind::Conversion {
                function,
                value: value.to_string(),
            },
        }
    }

    #[inline]
    pub fn date<S: AsRef<str>>(v: Option<S>, at: &'static str) -> Result<Option<Date>, MapError> {
        v.map(|s| Date::parse(s.as_ref()).ok_or_else(|| conversion("date", s.as_ref(), at)))
            .transpose()
    }

    /// [`datetime`] read in the estate's time zone when the value gives no offset.
    pub fn datetime_in<S: AsRef<str>>(
        v: Option<S>,
        zone: &'static str,
        at: &'static str,
    ) -> Result<Option<DateTime>, MapError> {
        Ok(datetime(v, at)?.map(|t| crate::zone::localise(t, zone)))
    }

    pub fn datetime<S: AsRef<str>>(
        v: Option<S>,
        at: &'static str,
    ) -> Result<Option<DateTime>, MapError> {
        v.map(|s| DateTime::parse(s.as_ref()).ok_or_else(|| conversion("datetime", s.as_ref(), at)))
            .transpose()
    }

    pub fn integer<S: AsRef<str>>(v: Option<S>, at: &'static str) -> Result<Option<i64>, MapError> {
        v.map(|s| {
            s.as_ref()
                .trim()
                .parse::<i64>()
                .map_err(|_| conversion("integer", s.as_ref(), at))
        })
        .transpose()
    }

    pub fn decimal<S: AsRef<str>>(
        v: Option<S>,
        at: &'static str,
    ) -> Result<Option<Decimal>, MapError> {
        v.map(|s| Decimal::parse(s.as_ref()).ok_or_else(|| conversion("decimal", s.as_ref(), at)))
            .transpose()
    }

    pub fn upper(v: Option<String>) -> Option<String> {
        v.map(|s| s.to_uppercase())
    }

    pub fn lower(v: Option<String>) -> Option<String> {
        v.map(|s| s.to_lowercase())
    }

    pub fn trim(v: Option<String>) -> Option<String> {
        v.map(|s| s.trim().to_string())
    }

    pub fn concat(parts: Vec<Option<String>>) -> Option<String> {
        let present: Vec<String> = parts.into_iter().flatten().collect();
        (!present.is_empty()).then(|| present.concat())
    }

    /// `start` is 1-based; characters, not bytes.
    pub fn substring(v: Option<String>, start: Option<i64>, len: Option<i64>) -> Option<String> {
        let (s, start, len) = (
            v?,
            start.unwrap_or(1).max(1) as usize,
            len.unwrap_or(i64::MAX).max(0) as usize,
        );
        Some(s.chars().skip(start - 1).take(len).collect())
    }

    pub fn replace(v: Option<String>, from: Option<String>, to: Option<String>) -> Option<String> {
        let s = v?;
        match from.filter(|f| !f.is_empty()) {
            Some(f) => Some(s.replace(&f, &to.unwrap_or_default())),
            None => Some(s),
        }
    }

    /// `YYYY`, `MM`, `DD`, `hh`, `mm` and `ss` in `pattern` replaced by the parts of the
    /// date (and time); anything else is copied.
    pub fn format_date<S: AsRef<str>>(d: Option<Date>, pattern: Option<S>) -> Option<String> {
        let d = d?;
        Some(format_parts(
            pattern.as_ref().map_or("YYYYMMDD", |p| p.as_ref()),
            &d,
            None,
        ))
    }

    pub fn format_datetime<S: AsRef<str>>(
        d: Option<DateTime>,
        pattern: Option<S>,
    ) -> Option<String> {
        let t = d?;
        Some(format_parts(
            pattern.as_ref().map_or("YYYYMMDDhhmmss", |p| p.as_ref()),
            &t.date,
            Some(&t),
        ))
    }

    fn format_parts(pattern: &str, d: &Date, t: Option<&DateTime>) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(pattern.len() + 2);
        let mut rest = pattern;
        while !rest.is_empty() {
            let (n, taken) = if rest.starts_with("YYYY") {
                (d.year as u32, 4)
            } else if rest.starts_with("MM") {
                (u32::from(d.month), 2)
            } else if rest.starts_with("DD") {
                (u32::from(d.day), 2)
            } else if let (true, Some(t)) = (rest.starts_with("hh"), t) {
                (u32::from(t.hour), 2)
            } else if let (true, Some(t)) = (rest.starts_with("mm"), t) {
                (u32::from(t.minute), 2)
            } else if let (true, Some(t)) = (rest.starts_with("ss"), t) {
                (u32::from(t.second), 2)
            } else {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            };
            let _ = write!(out, "{n:0width$}", width = taken);
            rest = &rest[taken..];
        }
        out
    }

    pub fn join(v: Vec<String>, sep: Option<String>) -> Option<String> {
        (!v.is_empty()).then(|| v.join(&sep.unwrap_or_default()))
    }

    /// Now, in UTC.
    pub fn now() -> DateTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        DateTime {
            date: civil(days),
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
            offset_minutes: Some(0),
            has_time: true,
        }
    }

    /// Today, in UTC.
    pub fn today() -> Date {
        now().date
    }

    /// Days since 1970-01-01 to a Gregorian date (Howard Hinnant's civil_from_days).
    fn civil(z: i64) -> Date {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broken constraint names the message path its value came from, and an ERR reports
    /// it there with code 102; other failures keep their own codes.
    #[test]
    fn constraint_errors_carry_their_lineage_to_the_err_segment() {
        let broken = |field| MapError {
            at: "mappings.accord:6",
            kind: MapErrorKind::Constraint {
                field,
                rule: "check nhs_modulus11".into(),
                value: "9434765918".into(),
                source: None,
            },
        };
        let lineage = [
            ("Patient.mrn", "PID-3[where 5 = \"MR\"].1"),
            ("Patient.nhs_number", "PID-3[where 5 = \"NH\"].1"),
        ];
        let traced = broken("Patient.nhs_number").traced(&lineage);
        assert_eq!(traced.hl7_error(), (102, Some("PID-3[where 5 = \"NH\"].1")));
        assert!(traced
            .to_string()
            .contains("= \"9434765918\" (from PID-3[where 5 = \"NH\"].1) breaks"));
        assert_eq!(
            broken("Address.postcode").traced(&lineage).hl7_error(),
            (102, None)
        );
        let missing = MapError {
            at: "m",
            kind: MapErrorKind::Missing {
                field: "Patient.mrn",
            },
        };
        assert_eq!(missing.traced(&lineage).hl7_error(), (101, None));
        let at = crate::hl7::ack::ErrLocation::of_path("PID-3[2].1").unwrap();
        assert_eq!(
            (
                at.segment.as_str(),
                at.sequence,
                at.field,
                at.repetition,
                at.component
            ),
            ("PID", 1, Some(3), Some(2), Some(1))
        );
    }

    /// `telecom[where system = "phone"].value`: the first element whose `system` is the
    /// text, wherever it stands in the list; nothing when none is.
    #[test]
    fn a_filter_picks_the_element_by_its_value_not_its_place() {
        let p: serde_json::Value = serde_json::json!({"telecom": [
            {"system": "email", "value": "jo@example.org"},
            {"system": "phone", "value": "07700 900123"},
            {"system": "phone", "value": "07700 900999"},
        ]});
        let get = |element, value| {
            json_get(
                &p,
                &[
                    JsonStep::Where("telecom", element, value),
                    JsonStep::Key("value"),
                ],
            )
            .and_then(|v| v.as_str())
        };
        assert_eq!(get("system", "phone"), Some("07700 900123"));
        assert_eq!(get("system", "email"), Some("jo@example.org"));
        assert_eq!(get("system", "fax"), None);
        assert_eq!(get("use", "home"), None, "an element no entry has");
        let not_a_list = serde_json::json!({"telecom": {"system": "phone"}});
        assert!(json_get(
            &not_a_list,
            &[JsonStep::Where("telecom", "system", "phone")]
        )
        .is_none());
    }

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

    /// What the ownership matrix stores comes back as the same value.
    #[test]
    fn values_round_trip_through_json() {
        fn back<T: ToJson + FromJson + PartialEq + fmt::Debug>(v: T) {
            assert_eq!(T::from_json(&v.to_json()), Some(v));
        }
        back(String::from("Smith"));
        back(42i64);
        back(true);
        // JSON numbers keep the value, not trailing zeros.
        back(Decimal::parse("-12.5").unwrap());
        back(Date::parse("19800314").unwrap());
        back(DateTime::parse("20261122091503+0100").unwrap());
        back(DateTime::parse("20261122091503-0530").unwrap());
        back(DateTime::parse("202611220915").unwrap());
        back(Some(Date::parse("20000229").unwrap()));
        back(None::<String>);
        back(vec![String::from("a"), String::from("b")]);
        assert_eq!(i64::from_json(&serde_json::json!("x")), None);
        assert_eq!(Date::from_json(&serde_json::json!("1980-02-30")), None);
    }

    #[test]
    fn dates_and_times_from_hl7() {
        assert_eq!(
            Date::parse("19800314"),
            Some(Date {
                year: 1980,
                month: 3,
                day: 14
            })
        );
        assert_eq!(
            Date::parse("198003141230"),
            Some(Date {
                year: 1980,
                month: 3,
                day: 14
            })
        );
        assert_eq!(
            Date::parse("2024-02-29"),
            Some(Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        assert_eq!(Date::parse("20230229"), None);
        assert_eq!(Date::parse("tomorrow"), None);
        let t = DateTime::parse("20261102135900+0100").unwrap();
        assert_eq!(t.to_string(), "2026-11-02T13:59:00+01:00");
        // A date alone keeps its precision, both ways.
        let day = DateTime::parse("20261102").unwrap();
        assert_eq!(day.to_string(), "2026-11-02");
        assert_eq!(day.to_hl7_string(), "20261102");
        assert_eq!(DateTime::parse_iso("2026-11-02"), Some(day));
        assert_eq!(
            DateTime::parse("202611021359").unwrap().to_string(),
            "2026-11-02T13:59:00"
        );
        assert_eq!(DateTime::parse("2026110225"), None);
    }

    #[test]
    fn decimals_keep_their_text() {
        assert_eq!(
            Decimal::parse("6.10").map(|d| d.to_string()).as_deref(),
            Some("6.10")
        );
        assert_eq!(Decimal::parse("-1"), Some(Decimal("-1".into())));
        assert_eq!(Decimal::parse("1e3"), None);
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
