//! Partial records: what a mapping `-> partial Record` produces (only the fields it
//! wrote, as the system that sent them may write no others), and how a transform chain
//! completes one from the stored record before its next step ([`govern_partial`]).
//!
//! A field the message does not carry is no write: the steward decides only the fields
//! present, then fills the others from the stored copy, so the MPI's NHS number reaches
//! the lab with the name and birth date the PAS stored.

use crate::mapping::{FromJson, MapError, MapErrorKind, ToJson};
use crate::steward::{is_empty, Hold, Steward, CLEARED};
use serde_json::{Map, Value};
use std::marker::PhantomData;

/// A `T` with only the fields a mapping wrote: a JSON object without the others, and the
/// fields it cleared (`phone <- PID-13.1 clear` where the sender put `""`).
pub struct Partial<T> {
    fields: Map<String, Value>,
    cleared: Vec<String>,
    record: PhantomData<fn() -> T>,
}

impl<T> Default for Partial<T> {
    fn default() -> Self {
        Partial {
            fields: Map::new(),
            cleared: vec![],
            record: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Partial<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.fields.iter()).finish()
    }
}

impl<T> Partial<T> {
    /// Sets a field the mapping wrote; an empty value (none, `[]`, `""`) is no write and
    /// is left out.
    pub fn set(&mut self, field: &str, value: Value) {
        if !is_empty(&value) {
            self.fields.insert(field.to_string(), value);
        }
    }

    /// Clears a field: a write of no value, which the matrix decides like any other
    /// (the sender's HL7 null `""` on a statement that says `clear`).
    pub fn clear(&mut self, field: &str) {
        self.fields.insert(field.to_string(), Value::Null);
        if !self.cleared.iter().any(|f| f == field) {
            self.cleared.push(field.to_string());
        }
    }

    /// The fields written, by name (a cleared one holds `null`).
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The record's JSON as the steward reads it: the fields written, and under
    /// [`CLEARED`] the names of those cleared.
    fn into_json(self) -> Value {
        let mut fields = self.fields;
        if !self.cleared.is_empty() {
            let names = self.cleared.into_iter().map(Value::String).collect();
            fields.insert(CLEARED.to_string(), Value::Array(names));
        }
        Value::Object(fields)
    }
}

impl<T> ToJson for Partial<T> {
    fn to_json(&self) -> Value {
        Value::Object(self.fields.clone())
    }
}

/// Generated chains call this after a partial mapping: the steward decides the fields
/// written, then completes the record from the stored copy. `required` names the record's
/// required fields, which the completed record must hold. A steward that keeps no records
/// (tests, `accord map`) cannot complete it: [`MapErrorKind::Unstored`].
pub fn govern_partial<T: FromJson>(
    steward: &mut dyn Steward,
    record: &'static str,
    at: &'static str,
    partial: Partial<T>,
    required: &[&'static str],
) -> Result<T, MapError> {
    let held = |hold| MapError {
        at,
        kind: MapErrorKind::Ownership(hold),
    };
    let mut json = partial.into_json();
    steward.govern(record, &mut json).map_err(held)?;
    if !steward.complete(record, &mut json).map_err(held)? {
        return Err(MapError {
            at,
            kind: MapErrorKind::Unstored { record },
        });
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|f| is_empty(json.get(*f).unwrap_or(&Value::Null)))
        .collect();
    if !missing.is_empty() {
        return Err(held(Hold::Reject {
            detail: format!(
                "partial update: the stored {record} holds no {}, and the message does not carry it",
                missing.join(", ")
            ),
        }));
    }
    if let Value::Object(fields) = &mut json {
        fields.remove(CLEARED);
    }
    T::from_json(&json).ok_or_else(|| MapError {
        at,
        kind: MapErrorKind::Read(format!(
            "the partial `{record}` completed from the stored record does not fit the record"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steward::Unsupervised;
    use serde_json::json;

    /// A record of two fields, `key` and `name`, both required.
    #[derive(Debug, PartialEq)]
    struct Rec {
        key: String,
        name: String,
    }

    impl FromJson for Rec {
        fn from_json(v: &Value) -> Option<Self> {
            Some(Rec {
                key: v.get("key")?.as_str()?.into(),
                name: v.get("name")?.as_str()?.into(),
            })
        }
    }

    /// A steward whose store holds `stored` (or nothing) for every record.
    struct Store(Option<Value>);

    impl Steward for Store {
        fn govern(&mut self, _: &str, _: &mut Value) -> Result<bool, Hold> {
            Ok(false)
        }
        fn complete(&mut self, record: &str, value: &mut Value) -> Result<bool, Hold> {
            let Some(Value::Object(stored)) = &self.0 else {
                return Err(Hold::Reject {
                    detail: format!("partial update: no stored {record}"),
                });
            };
            for (k, v) in stored {
                if is_empty(value.get(k).unwrap_or(&Value::Null)) {
                    value[k] = v.clone();
                }
            }
            Ok(true)
        }
    }

    fn partial(fields: &[(&str, Value)]) -> Partial<Rec> {
        let mut p = Partial::default();
        for (k, v) in fields {
            p.set(k, v.clone());
        }
        p
    }

    #[test]
    fn empty_values_are_no_writes_and_the_rest_comes_from_the_stored_record() {
        let p = partial(&[("key", json!("1")), ("name", json!(""))]);
        assert_eq!(p.to_json(), json!({"key": "1"}), "\"\" is no write");
        let mut store = Store(Some(json!({"key": "1", "name": "STORED"})));
        let done = govern_partial(&mut store, "Rec", "m:1", p, &["key", "name"]).unwrap();
        assert_eq!(done.name, "STORED");

        // What the message carries wins over the stored copy.
        let p = partial(&[("key", json!("1")), ("name", json!("NEW"))]);
        let done = govern_partial(&mut store, "Rec", "m:1", p, &["key", "name"]).unwrap();
        assert_eq!(done.name, "NEW");
    }

    #[test]
    fn a_record_nothing_completes_is_held_and_tests_say_why() {
        let p = || partial(&[("key", json!("1"))]);
        // Nothing stored: the steward's reason.
        let e = govern_partial(&mut Store(None), "Rec", "m:1", p(), &["key", "name"]).unwrap_err();
        assert!(
            matches!(e.kind, MapErrorKind::Ownership(Hold::Reject { .. })),
            "{e}"
        );
        // Stored, but without a required field.
        let e = govern_partial(
            &mut Store(Some(json!({"key": "1"}))),
            "Rec",
            "m:1",
            p(),
            &["key", "name"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("holds no name"), "{e}");
        // A steward that keeps no records.
        let e = govern_partial(&mut Unsupervised, "Rec", "m:1", p(), &["key", "name"]).unwrap_err();
        assert!(
            matches!(e.kind, MapErrorKind::Unstored { record: "Rec" }),
            "{e}"
        );
    }
}
