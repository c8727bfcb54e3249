//! Values as JSON: [`ToJson`] (FHIR JSON and stored records: dates in ISO form, decimals
//! as JSON numbers), its inverse [`FromJson`], reads of FHIR element paths ([`json_get`],
//! with `[where ...]` filters), and the [`Output`] a transform chain produces.

use super::code::Code;
use super::values::{Date, DateTime, Decimal};

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

/// A value written into FHIR JSON: dates in ISO form, decimals as JSON numbers.
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

impl<T: Code> ToJson for T {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(String::from(self.code()))
    }
}

impl<T: Code> FromJson for T {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        T::from_code(v.as_str()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

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
}
