//! What generated FHIR mappings serialise through. A mapping into FHIR fills a struct the
//! compiler generated from the paths it writes, and that struct writes its JSON straight
//! to a serde serializer: no intermediate tree. This module owns the pieces those structs
//! share: canonical values as FHIR JSON primitives ([`FhirValue`], [`Fhir`]), what a
//! resource says about itself ([`Resource`]), and how a Bundle's entries are addressed
//! ([`entry_full_url`], [`entry_request`], [`reference`]).

use crate::mapping::{Date, DateTime, Decimal, ToJson};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt::{self, Display, Write};

/// Text in a generated resource: borrowed from the mapping's literals (system URIs, fixed
/// codes) and from its source record's fields, owned for computed values.
pub type Str<'a> = Cow<'a, str>;

/// A canonical value as a FHIR JSON value: text as a string, dates in ISO 8601, decimals
/// as JSON numbers with their digits kept, codes as their code.
pub trait FhirValue {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
}

/// Serialises a [`FhirValue`] (`m.serialize_entry("gender", &Fhir(&v))`).
pub struct Fhir<'a, T: ?Sized>(pub &'a T);

impl<T: FhirValue + ?Sized> Serialize for Fhir<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.write(s)
    }
}

impl FhirValue for String {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl FhirValue for str {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl FhirValue for Cow<'_, str> {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl ToJson for Cow<'_, str> {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.to_string())
    }
}

impl FhirValue for i64 {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(*self)
    }
}

impl FhirValue for bool {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*self)
    }
}

impl FhirValue for Decimal {
    /// A JSON number with the decimal's own digits (`12.50` stays `12.50` where the
    /// serializer can keep it); text only if the number does not fit JSON.
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_str().parse::<serde_json::Number>() {
            Ok(n) => n.serialize(s),
            Err(_) => s.serialize_str(self.as_str()),
        }
    }
}

impl FhirValue for Date {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Ten ASCII bytes, written in place rather than through the formatter.
        match self.iso_bytes() {
            Some(b) => s.serialize_str(std::str::from_utf8(&b).unwrap_or_default()),
            None => s.collect_str(self),
        }
    }
}

impl FhirValue for DateTime {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FhirValue for serde_json::Value {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
}

impl<T: crate::mapping::Code> FhirValue for T {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<T: FhirValue> FhirValue for Vec<T> {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Fhir))
    }
}

/// A FHIR resource a mapping produced: its type, and its id when it has one.
pub trait Resource: Serialize {
    fn resource_type(&self) -> &'static str;
    fn id(&self) -> Option<&str>;
    /// For a Bundle that is not a transaction or batch: the (type, id) of each entry's
    /// resource, whose references [`resource_to_vec`] writes as the entry's `fullUrl`.
    fn local_entries(&self) -> Vec<(&'static str, &str)> {
        vec![]
    }
}

/// A resource as JSON bytes, for the wire. In a Bundle that is not a transaction or batch
/// (a collection, a message, a document), a reference `Type/id` to a resource of the
/// Bundle is written as that entry's `fullUrl`: FHIR resolves a relative reference inside
/// a Bundle only against a RESTful `fullUrl`, and these are `urn:uuid`s. In a transaction
/// the server resolves `Type/id` through the entries' requests, so nothing changes there.
pub fn resource_to_vec<T: Resource>(resource: &T) -> Vec<u8> {
    let bytes = to_vec(resource);
    match local_of(resource) {
        Some(local) => local_references(&bytes, &local, COMPACT),
        None => bytes,
    }
}

/// [`resource_to_vec`] indented for people (`accord map`), in the same element order.
pub fn resource_to_string_pretty<T: Resource>(resource: &T) -> String {
    let bytes = serde_json::to_vec_pretty(resource).unwrap_or_default();
    let bytes = match local_of(resource) {
        Some(local) => local_references(&bytes, &local, PRETTY),
        None => bytes,
    };
    String::from_utf8(bytes).unwrap_or_default()
}

const COMPACT: &[u8] = b"\"reference\":\"";
const PRETTY: &[u8] = b"\"reference\": \"";

/// `Type/id` to `fullUrl` for the entries of a Bundle whose references are local.
fn local_of<T: Resource>(resource: &T) -> Option<std::collections::HashMap<String, String>> {
    let entries = resource.local_entries();
    (!entries.is_empty()).then(|| {
        entries
            .into_iter()
            .filter_map(|(ty, id)| Some((reference(ty, id), entry_full_url(ty, Some(id))?)))
            .collect()
    })
}

/// `bytes` (JSON) with each reference (`needle` then a string) whose value is a key of
/// `local` written as its value.
fn local_references(
    bytes: &[u8],
    local: &std::collections::HashMap<String, String>,
    needle: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    let mut rest = bytes;
    while let Some(at) = memchr::memmem::find(rest, needle) {
        let start = at + needle.len();
        out.extend_from_slice(&rest[..start]);
        rest = &rest[start..];
        // Ids and types have no quotes or escapes: the value ends at the next quote.
        let end = memchr::memchr(b'"', rest).unwrap_or(rest.len());
        let value = std::str::from_utf8(&rest[..end]).ok();
        match value.and_then(|v| local.get(v)) {
            Some(url) => out.extend_from_slice(url.as_bytes()),
            None => out.extend_from_slice(&rest[..end]),
        }
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
}

/// The resource as JSON bytes, for the wire.
pub fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    thread_local! {
        /// The size of the last resource written on this thread: the next buffer starts
        /// that large, so it is not grown and copied four times on the way.
        static LAST: std::cell::Cell<usize> = const { std::cell::Cell::new(256) };
    }
    let mut out = Vec::with_capacity(LAST.get() + LAST.get() / 8);
    // Generated structs only hold strings, numbers and booleans: this cannot fail.
    if serde_json::to_writer(&mut out, value).is_err() {
        return vec![];
    }
    LAST.set(out.len().clamp(256, 1 << 20));
    out
}

/// A key value as part of a resource id ([`id`]): text is escaped as it is copied; other
/// values (numbers, dates, codes) are written as their text first.
pub trait IdPart: Display {
    /// Appends the value, escaped: letters and digits pass, every other byte is `.` and
    /// two hex digits.
    fn push_escaped(&self, out: &mut String) {
        let _ = write!(Escaped(out), "{self}");
    }

    /// About how many bytes it takes, to size the id once.
    fn len_hint(&self) -> usize {
        8
    }
}

/// Escapes what is written to it, so no key is copied first.
struct Escaped<'a>(&'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(s, self.0);
        Ok(())
    }
}

fn escape_into(s: &str, out: &mut String) {
    // Most keys are letters and digits: copied whole.
    if s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        out.push_str(s);
        return;
    }
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            let _ = write!(out, ".{b:02x}");
        }
    }
}

impl IdPart for str {
    fn push_escaped(&self, out: &mut String) {
        escape_into(self, out);
    }
    fn len_hint(&self) -> usize {
        self.len()
    }
}

impl IdPart for String {
    fn push_escaped(&self, out: &mut String) {
        escape_into(self, out);
    }
    fn len_hint(&self) -> usize {
        self.len()
    }
}

impl<T: IdPart + ?Sized> IdPart for &T {
    fn push_escaped(&self, out: &mut String) {
        (**self).push_escaped(out);
    }
    fn len_hint(&self) -> usize {
        (**self).len_hint()
    }
}

impl IdPart for i64 {}
impl IdPart for bool {}
impl IdPart for Decimal {}
impl IdPart for Date {}
impl IdPart for DateTime {}

/// A FHIR resource id (`[A-Za-z0-9\-\.]{1,64}`) made from a record's business key, so
/// the same patient always gets the same id and two patients never share one: `prefix`
/// (the record's name in lower case), then each key value as text, joined by `-`.
/// Letters and digits pass; every other byte becomes `.` and two hex digits (`-` is
/// `.2d`, `.` is `.2e`), so different keys give different ids. An id that would pass 64
/// characters keeps its first 31 and ends in `.` and the 128-bit FNV-1a hash of the
/// whole, in hex. Generated resources and `reference(...)` both call this, so they agree.
pub fn id(prefix: &str, parts: &[&dyn IdPart]) -> String {
    write_id(
        String::with_capacity(capacity(prefix, parts)),
        prefix,
        parts,
    )
}

/// The id of the resource made from the stored `record` whose key is `key` (its key
/// fields' values joined by `|`, as the journal keeps them): [`id`] of those values.
pub fn id_of_key(record: &str, key: &str) -> String {
    let parts: Vec<&str> = key.split('|').collect();
    let shown: Vec<&dyn IdPart> = parts.iter().map(|p| p as &dyn IdPart).collect();
    id(record, &shown)
}

/// `Type/id`: the reference to the resource whose id [`id`] makes from these keys, built
/// in one string.
pub fn reference_to(resource_type: &str, prefix: &str, parts: &[&dyn IdPart]) -> String {
    let mut s = String::with_capacity(resource_type.len() + 1 + capacity(prefix, parts));
    s.push_str(resource_type);
    s.push('/');
    write_id(s, prefix, parts)
}

fn capacity(prefix: &str, parts: &[&dyn IdPart]) -> usize {
    prefix.len() + parts.iter().map(|p| p.len_hint() + 1).sum::<usize>()
}

/// Appends the id to `out` (which may already hold `Type/`).
fn write_id(mut out: String, prefix: &str, parts: &[&dyn IdPart]) -> String {
    let start = out.len();
    for b in prefix.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b.to_ascii_lowercase() as char);
        } else {
            let _ = write!(out, ".{b:02x}");
        }
    }
    for p in parts {
        out.push('-');
        p.push_escaped(&mut out);
    }
    if out.len() - start <= 64 {
        return out;
    }
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in out[start..].bytes() {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    out.truncate(start + 31);
    let _ = write!(out, ".{hash:032x}");
    out
}

/// The literal reference to the resource of `resource_type` with `id`: `Patient/patient-1`.
pub fn reference(resource_type: &str, id: &str) -> String {
    let mut s = String::with_capacity(resource_type.len() + 1 + id.len());
    s.push_str(resource_type);
    s.push('/');
    s.push_str(id);
    s
}

/// A Bundle entry's `fullUrl`: a `urn:uuid:` that is the same for the same resource
/// type and id every time (a UUID of version 8, built from a 128-bit FNV-1a hash of
/// `Type/id`), so a resent Bundle is byte-identical and two resources never share one.
/// `None` for a resource without an id.
pub fn entry_full_url(resource_type: &str, id: Option<&str>) -> Option<String> {
    let id = id?;
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in resource_type
        .bytes()
        .chain(std::iter::once(b'/'))
        .chain(id.bytes())
    {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    // Version 8 (custom) in bits 48..52, the RFC 9562 variant in bits 64..66.
    let hash = (hash & !(0xf << 76)) | (0x8 << 76);
    let hash = (hash & !(0x3 << 62)) | (0x2 << 62);
    let h = format!("{hash:032x}");
    Some(format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Whether a Bundle of this `type` carries a `request` in each entry.
pub fn bundle_has_requests<T: Display>(kind: &Option<T>) -> bool {
    kind.as_ref()
        .is_some_and(|k| matches!(k.to_string().as_str(), "transaction" | "batch"))
}

/// A transaction entry's request: an update of the resource at its id (so the entry is
/// idempotent and references `Type/id` to it resolve), or a create when it has no id.
pub fn entry_request(resource_type: &str, id: Option<&str>) -> (&'static str, String) {
    match id {
        Some(id) => ("PUT", reference(resource_type, id)),
        None => ("POST", resource_type.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_serialise_as_fhir_primitives() {
        let json = |v: &dyn Fn(&mut serde_json::Serializer<&mut Vec<u8>>)| {
            let mut out = vec![];
            v(&mut serde_json::Serializer::new(&mut out));
            String::from_utf8(out).unwrap()
        };
        let d = Decimal::parse("12.50").unwrap();
        assert_eq!(
            json(&|s| Fhir(&d).serialize(s).map(|_| ()).unwrap()),
            "12.5"
        );
        let date = Date::parse("20240131").unwrap();
        assert_eq!(
            json(&|s| Fhir(&date).serialize(s).map(|_| ()).unwrap()),
            "\"2024-01-31\""
        );
        let list = vec![String::from("a"), String::from("b")];
        assert_eq!(
            json(&|s| Fhir(&list).serialize(s).map(|_| ()).unwrap()),
            "[\"a\",\"b\"]"
        );
    }

    #[test]
    fn ids_are_stable_valid_and_distinct() {
        assert_eq!(id("Patient", &[&"100001"]), "patient-100001");
        assert_eq!(id("Patient", &[&"100001"]), id("Patient", &[&"100001"]));
        // Joiners and escapes never make two keys meet.
        assert_ne!(id("Order", &[&"a-b", &"c"]), id("Order", &[&"a", &"b-c"]));
        assert_eq!(id("Order", &[&"A/1"]), "order-A.2f1");
        let long = id("Patient", &[&"x".repeat(100)]);
        assert_eq!(long.len(), 64);
        assert_ne!(long, id("Patient", &[&"x".repeat(101)]));
        let valid = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        assert!(valid(&long) && valid(&id("P", &[&"é ü", &7])));
        let date = Date::parse("20240131").unwrap();
        assert_eq!(id("Visit", &[&date]), "visit-2024.2d01.2d31");
        assert_eq!(
            reference_to("Patient", "Patient", &[&"1"]),
            "Patient/patient-1"
        );
        assert_eq!(
            reference_to("Patient", "Patient", &[&"x".repeat(100)]),
            format!("Patient/{long}")
        );
    }

    #[test]
    fn full_urls_are_stable_distinct_uuids() {
        let a = entry_full_url("Patient", Some("patient-1")).unwrap();
        assert_eq!(a, entry_full_url("Patient", Some("patient-1")).unwrap());
        assert_ne!(a, entry_full_url("Patient", Some("patient-2")).unwrap());
        assert_ne!(a, entry_full_url("Encounter", Some("patient-1")).unwrap());
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a[9 + 14..9 + 15], "8", "version 8: {a}");
        assert!("89ab".contains(&a[9 + 19..9 + 20]), "variant: {a}");
        assert_eq!(entry_full_url("Patient", None), None);
    }

    #[test]
    fn transaction_entries_update_by_id() {
        assert_eq!(
            entry_request("Patient", Some("p-1")),
            ("PUT", "Patient/p-1".into())
        );
        assert_eq!(entry_request("Patient", None), ("POST", "Patient".into()));
        assert!(bundle_has_requests(&Some("transaction")));
        let local: std::collections::HashMap<String, String> =
            [("Patient/p-1".to_string(), "urn:uuid:1".to_string())].into();
        assert_eq!(
            local_references(
                br#"{"a":{"reference":"Patient/p-1"},"b":{"reference":"Patient/p-2"},"c":"reference"}"#,
                &local,
                COMPACT
            ),
            br#"{"a":{"reference":"urn:uuid:1"},"b":{"reference":"Patient/p-2"},"c":"reference"}"#
        );
        assert!(!bundle_has_requests(&Some("collection")));
        assert!(!bundle_has_requests::<String>(&None));
    }
}
