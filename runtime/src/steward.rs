//! The source-of-truth matrix at run time: what happens when a transform produces a
//! canonical record from a system's message. Generated transform chains hand each record
//! that has a matrix to a [`Steward`]; the engine's steward compares it with the stored
//! copy of that record and, field by field, applies the change, keeps the stored value
//! (`owner_wins`), or holds the whole message back ([`Hold`]: `reject` or `review`).
//!
//! [`decide`] is the rule itself, a pure function of the matrix row, the writer, the new
//! and stored values and the record's stage, so it is tested without a journal.

use crate::mapping::{FromJson, MapError, MapErrorKind, ToJson};
use crate::spec::{Condition, Conflict, OwnedField};
use serde_json::Value;

/// Why the matrix holds a message back instead of letting it through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// A `conflict reject` field: the message goes to the dead letter (reason `ownership`).
    Reject { detail: String },
    /// A `conflict review` field: the message waits for a person in this queue.
    Review {
        queue: Option<String>,
        detail: String,
    },
    /// The stored record could not be read (the journal is unreachable): nothing is
    /// decided, and the message is processed again once it can be.
    Unavailable { detail: String },
}

impl Hold {
    pub fn detail(&self) -> &str {
        match self {
            Hold::Reject { detail }
            | Hold::Review { detail, .. }
            | Hold::Unavailable { detail } => detail,
        }
    }
}

/// What a transform chain calls with each record it produces.
pub trait Steward {
    /// Governs `value`, a `record` just produced. May change fields (returns `true` when
    /// it did) or hold the message back.
    fn govern(&mut self, record: &str, value: &mut Value) -> Result<bool, Hold>;

    /// Completes `value`, a partial `record` already governed, from the stored copy: each
    /// field it does not carry takes the stored value. `Ok(false)`: this steward keeps no
    /// records (see [`crate::partial`]).
    fn complete(&mut self, _record: &str, _value: &mut Value) -> Result<bool, Hold> {
        Ok(false)
    }

    /// The stored `record` under `key` (its key fields' values joined by `|`), as JSON
    /// by field; `None` when nothing is stored, or this steward keeps no records.
    fn lookup(&mut self, _record: &str, _key: &str) -> Result<Option<Value>, Hold> {
        Ok(None)
    }
}

/// A stored record's key as the journal keeps it: its key fields' values, text as it is
/// and anything else as JSON, joined by `|`.
pub fn key_text<'v>(parts: impl IntoIterator<Item = &'v Value>) -> String {
    parts
        .into_iter()
        .map(|k| match k {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// `lookup(Record.field, key, ...)` in a generated mapping: the field of the record stored
/// under `keys`, or `None` when none is stored (or it has no value there). A journal that
/// cannot be read holds the message back ([`Hold::Unavailable`]), so it is processed
/// again rather than decided on a missing value.
pub fn stored<T: FromJson>(
    records: &mut dyn Steward,
    record: &str,
    field: &str,
    keys: &[Value],
    at: &'static str,
) -> Result<Option<T>, MapError> {
    let key = key_text(keys);
    let found = records.lookup(record, &key).map_err(|hold| MapError {
        at,
        kind: MapErrorKind::Ownership(hold),
    })?;
    let Some(found) = found else {
        return Ok(None);
    };
    let value = get_path(&found, field);
    if is_empty(value) {
        return Ok(None);
    }
    T::from_json(value).map(Some).ok_or_else(|| MapError {
        at,
        kind: MapErrorKind::Read(format!(
            "the stored {record} {key}'s {field} does not fit the field any more"
        )),
    })
}

/// The steward of tests and `accord map`: no stored records, everything passes.
pub struct Unsupervised;

impl Steward for Unsupervised {
    fn govern(&mut self, _record: &str, _value: &mut Value) -> Result<bool, Hold> {
        Ok(false)
    }
}

/// Generated chains call this between their steps.
pub fn govern<T: ToJson + FromJson>(
    steward: &mut dyn Steward,
    record: &'static str,
    at: &'static str,
    value: T,
) -> Result<T, MapError> {
    let mut json = value.to_json();
    match steward.govern(record, &mut json) {
        Ok(false) => Ok(value),
        Ok(true) => T::from_json(&json).ok_or_else(|| MapError {
            at,
            kind: MapErrorKind::Read(format!(
                "the stored `{record}` kept by the ownership matrix does not fit the record any more"
            )),
        }),
        Err(hold) => Err(MapError {
            at,
            kind: MapErrorKind::Ownership(hold),
        }),
    }
}

/// What the matrix does with one field's new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same value as stored: nothing to decide.
    Unchanged,
    /// The writer may set it: the stored record takes the new value.
    Apply,
    /// `owner_wins`: the stored value stays and replaces the new one in the record.
    KeepStored,
    Reject,
    Review(Option<String>),
}

/// A decision with its reason, in words for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// Why, e.g. "mpi is accepted only while the field is empty".
    pub why: String,
    /// A write by someone other than the owner, or a conflict: worth an event.
    pub notable: bool,
}

/// The stored state of a field: its value and the system that wrote it.
pub struct Stored<'a> {
    pub value: &'a Value,
    pub writer: &'a str,
}

/// The record's stage, for `when stage` and `lock from`.
pub struct Stage<'a> {
    pub stages: &'a [String],
    /// `None`: not known yet (a new record, or no stage field).
    pub current: Option<&'a str>,
}

impl Stage<'_> {
    fn index(&self, s: &str) -> Option<usize> {
        self.stages.iter().position(|x| x == s)
    }

    fn current_index(&self) -> Option<usize> {
        self.current.and_then(|c| self.index(c))
    }
}

/// The matrix's rule for a write of `new` to `row.field` by `writer`.
pub fn decide(
    row: &OwnedField,
    writer: &str,
    new: &Value,
    stored: Option<Stored>,
    stage: &Stage,
) -> Decision {
    let stored_value = stored.as_ref().map(|s| s.value).filter(|v| !is_empty(v));
    // Nothing written over nothing stored is no change.
    if stored_value == Some(new) || (stored_value.is_none() && is_empty(new)) {
        return Decision {
            verdict: Verdict::Unchanged,
            why: "same value as stored".into(),
            notable: false,
        };
    }
    let locked = row.lock_from.as_deref().and_then(|l| {
        let (at, from) = (stage.current_index()?, stage.index(l)?);
        (at >= from).then(|| format!("the field is locked from stage {l}"))
    });
    let allowed: Result<String, String> = if let Some(why) = locked {
        Err(why)
    } else if writer == row.owner {
        Ok(format!("{writer} owns the field"))
    } else if let Some(acc) = row.accept.iter().find(|a| a.system == writer) {
        match &acc.when {
            None => match &stored {
                Some(s) if stored_value.is_some() && s.writer == row.owner => Err(format!(
                    "{writer} may not overwrite the value {} set",
                    row.owner
                )),
                _ => Ok(format!("{writer} is an accepted writer")),
            },
            Some(Condition::Absent) => match stored_value {
                None => Ok(format!("{writer} is accepted while the field is empty")),
                Some(_) => Err(format!(
                    "{writer} is accepted only while the field is empty"
                )),
            },
            Some(Condition::StageBefore { stage: before }) => {
                match (stage.current_index(), stage.index(before)) {
                    (Some(at), Some(limit)) if at >= limit => Err(format!(
                        "{writer} is accepted only before stage {before}, and the record is {}",
                        stage.current.unwrap_or_default()
                    )),
                    _ => Ok(format!("{writer} is accepted before stage {before}")),
                }
            }
            Some(Condition::StageIn { stages }) => match stage.current {
                Some(c) if stages.iter().any(|s| s == c) => {
                    Ok(format!("{writer} is accepted in stage {c}"))
                }
                other => Err(format!(
                    "{writer} is accepted only in stage {}, and the record is {}",
                    stages.join(" or "),
                    other.unwrap_or("at no stage yet")
                )),
            },
        }
    } else {
        Err(format!(
            "{writer} is neither the owner nor an accepted writer"
        ))
    };
    match allowed {
        Ok(why) => Decision {
            notable: writer != row.owner,
            verdict: Verdict::Apply,
            why,
        },
        Err(why) => {
            // An empty field is decided as a filled one: a writer the matrix does not
            // accept fills it only where the matrix says `accept X when absent`.
            let verdict = match &row.conflict {
                Conflict::OwnerWins => Verdict::KeepStored,
                Conflict::Newest => Verdict::Apply,
                Conflict::Reject => Verdict::Reject,
                Conflict::Review { queue } => Verdict::Review(queue.clone()),
            };
            let settled = settled(&row.conflict);
            Decision {
                verdict,
                why: format!("{why}: {settled}"),
                notable: true,
            }
        }
    }
}

/// The key under which a partial record's JSON lists the fields its message cleared (a
/// write of no value), for the steward: `{"mrn": "1", "phone": null, "$cleared":
/// ["phone"]}`. No record field can be named so.
pub const CLEARED: &str = "$cleared";

/// Whether the message cleared `field` (named under [`CLEARED`]): its empty value is a
/// write, not the absence of one.
pub fn is_cleared(value: &Value, field: &str) -> bool {
    value
        .get(CLEARED)
        .and_then(Value::as_array)
        .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(field)))
}

/// How a conflict settled under `rule`, in the trace's words ("... : kept the stored
/// value (conflict owner_wins)"); `accord test --generated` looks for them.
pub fn settled(rule: &Conflict) -> &'static str {
    match rule {
        Conflict::OwnerWins => "kept the stored value (conflict owner_wins)",
        Conflict::Newest => "applied (conflict newest)",
        Conflict::Reject => "rejected the message (conflict reject)",
        Conflict::Review { .. } => "sent the message for review (conflict review)",
    }
}

/// Whether a value a message carries for a field is no value: absent, an empty list, empty
/// text, or a record of such. A message that carries no value for a field does not write
/// it: an MPI's mapping that leaves `given_names` as `[]` leaves the stored names alone.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Object(fields) => fields.values().all(is_empty),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The event time a record carries in its `ordered_by` field, as seconds since the epoch:
/// a DateTime or a Date in the record's JSON; `None` when it has none.
pub fn event_seconds(v: &Value) -> Option<i64> {
    let text = v.as_str()?;
    crate::mapping::DateTime::parse_iso(text).map(|t| t.epoch_seconds())
}

/// `conflict newest by FIELD`: whether a write is out of sequence, that is older than the
/// stored value it would replace (by the two writes' event times), and why. Equal times
/// are settled by the values themselves (the greater JSON text stays), so two systems
/// sending at the same second end with the same value whatever order they arrive in. A
/// write or a stored value without an event time is not ordered.
pub fn out_of_sequence(
    new_at: Option<i64>,
    stored_at: Option<i64>,
    new: &Value,
    stored: &Value,
) -> Option<String> {
    let (new_at, stored_at) = (new_at?, stored_at?);
    if new_at < stored_at {
        return Some(format!(
            "the update is older than the stored value (its event time is {}s before)",
            stored_at - new_at
        ));
    }
    let (new_text, stored_text) = (new.to_string(), stored.to_string());
    if new_at == stored_at && new_text < stored_text {
        return Some(
            "the update has the stored value's event time, and the stored value wins the tie"
                .into(),
        );
    }
    None
}

/// The value at a `.`-separated path of a JSON object (`Null` when absent).
pub fn get_path<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .unwrap_or(&Value::Null)
}

/// Sets the value at a `.`-separated path, creating objects on the way.
pub fn set_path(v: &mut Value, path: &str, new: Value) {
    let mut cur = v;
    let mut parts = path.split('.').peekable();
    while let Some(k) = parts.next() {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(map) = cur else { return };
        if parts.peek().is_none() {
            map.insert(k.to_string(), new);
            return;
        }
        cur = map.entry(k.to_string()).or_insert(Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Acceptance;
    use serde_json::json;

    fn row(conflict: Conflict, accept: Vec<Acceptance>, lock: Option<&str>) -> OwnedField {
        OwnedField {
            field: "f".into(),
            owner: "trakcare".into(),
            accept,
            conflict,
            ordered_by: None,
            lock_from: lock.map(str::to_string),
            loc: "x:1".into(),
        }
    }

    fn mpi(when: Option<Condition>) -> Vec<Acceptance> {
        vec![Acceptance {
            system: "mpi".into(),
            when,
        }]
    }

    const STAGES: &[&str] = &["registered", "admitted", "discharged"];

    fn at(current: Option<&str>) -> (Vec<String>, Option<String>) {
        (
            STAGES.iter().map(|s| s.to_string()).collect(),
            current.map(str::to_string),
        )
    }

    fn verdict(
        r: &OwnedField,
        writer: &str,
        new: Value,
        stored: Option<(Value, &str)>,
        stage: Option<&str>,
    ) -> Verdict {
        let (stages, current) = at(stage);
        let st = Stage {
            stages: &stages,
            current: current.as_deref(),
        };
        decide(
            r,
            writer,
            &new,
            stored.as_ref().map(|(v, w)| Stored {
                value: v,
                writer: w,
            }),
            &st,
        )
        .verdict
    }

    #[test]
    fn the_owner_writes_and_equal_values_need_no_decision() {
        let r = row(Conflict::Reject, vec![], None);
        assert_eq!(
            verdict(&r, "trakcare", json!("a"), Some((json!("b"), "mpi")), None),
            Verdict::Apply
        );
        assert_eq!(
            verdict(&r, "mpi", json!("a"), Some((json!("a"), "trakcare")), None),
            Verdict::Unchanged
        );
    }

    #[test]
    fn an_accepted_writer_may_not_overwrite_the_owner() {
        let r = row(Conflict::OwnerWins, mpi(None), None);
        assert_eq!(verdict(&r, "mpi", json!("a"), None, None), Verdict::Apply);
        assert_eq!(
            verdict(&r, "mpi", json!("a"), Some((json!("b"), "mpi")), None),
            Verdict::Apply
        );
        assert_eq!(
            verdict(&r, "mpi", json!("a"), Some((json!("b"), "trakcare")), None),
            Verdict::KeepStored
        );
    }

    #[test]
    fn security_an_empty_field_is_decided_as_a_filled_one() {
        // A system the matrix does not accept does not fill what the owner left empty.
        let r = row(Conflict::OwnerWins, vec![], None);
        assert_eq!(
            verdict(&r, "portal", json!("9434765919"), None, None),
            Verdict::KeepStored
        );
        assert_eq!(
            verdict(
                &r,
                "portal",
                json!("x"),
                Some((Value::Null, "trakcare")),
                None
            ),
            Verdict::KeepStored
        );
        // Unless the matrix says so.
        let r = row(Conflict::OwnerWins, mpi(Some(Condition::Absent)), None);
        assert_eq!(verdict(&r, "mpi", json!("x"), None, None), Verdict::Apply);
        assert_eq!(
            verdict(&r, "portal", json!("x"), None, None),
            Verdict::KeepStored
        );
        // Nothing over nothing is no change, whoever writes it.
        assert_eq!(
            verdict(&r, "portal", Value::Null, None, None),
            Verdict::Unchanged
        );
    }

    #[test]
    fn when_absent_holds_only_while_the_field_is_empty() {
        let r = row(
            Conflict::Review {
                queue: Some("q".into()),
            },
            mpi(Some(Condition::Absent)),
            None,
        );
        assert_eq!(
            verdict(&r, "mpi", json!("a"), Some((Value::Null, "trakcare")), None),
            Verdict::Apply
        );
        assert_eq!(
            verdict(&r, "mpi", json!("a"), Some((json!("b"), "trakcare")), None),
            Verdict::Review(Some("q".into()))
        );
    }

    #[test]
    fn stage_conditions_read_the_current_stage() {
        let before = row(
            Conflict::Reject,
            mpi(Some(Condition::StageBefore {
                stage: "admitted".into(),
            })),
            None,
        );
        let stored = || Some((json!("b"), "trakcare"));
        assert_eq!(
            verdict(&before, "mpi", json!("a"), stored(), None),
            Verdict::Apply
        );
        assert_eq!(
            verdict(&before, "mpi", json!("a"), stored(), Some("registered")),
            Verdict::Apply
        );
        assert_eq!(
            verdict(&before, "mpi", json!("a"), stored(), Some("admitted")),
            Verdict::Reject
        );
        let within = row(
            Conflict::Newest,
            mpi(Some(Condition::StageIn {
                stages: vec!["registered".into()],
            })),
            None,
        );
        // Outside the stages the conflict rule decides; `newest` applies it anyway.
        assert_eq!(
            verdict(&within, "mpi", json!("a"), stored(), Some("discharged")),
            Verdict::Apply
        );
        let within = row(
            Conflict::Reject,
            mpi(Some(Condition::StageIn {
                stages: vec!["registered".into()],
            })),
            None,
        );
        assert_eq!(
            verdict(&within, "mpi", json!("a"), stored(), None),
            Verdict::Reject
        );
    }

    #[test]
    fn a_lock_stops_even_the_owner() {
        let r = row(Conflict::Review { queue: None }, vec![], Some("discharged"));
        let stored = || Some((json!("b"), "trakcare"));
        assert_eq!(
            verdict(&r, "trakcare", json!("a"), stored(), Some("admitted")),
            Verdict::Apply
        );
        assert_eq!(
            verdict(&r, "trakcare", json!("a"), stored(), Some("discharged")),
            Verdict::Review(None)
        );
    }

    #[test]
    fn a_stranger_meets_the_conflict_rule() {
        let r = row(Conflict::OwnerWins, mpi(None), None);
        assert_eq!(
            verdict(&r, "winpath", json!("a"), Some((json!("b"), "mpi")), None),
            Verdict::KeepStored
        );
    }

    #[test]
    fn paths_reach_into_nested_records() {
        let mut v = json!({"address": {"postcode": "EH1 1AA"}, "name": "x"});
        assert_eq!(get_path(&v, "address.postcode"), &json!("EH1 1AA"));
        assert_eq!(get_path(&v, "address.city"), &Value::Null);
        set_path(&mut v, "address.postcode", json!("EH2 2BB"));
        set_path(&mut v, "contact.phone", json!("1"));
        assert_eq!(
            v,
            json!({"address": {"postcode": "EH2 2BB"}, "name": "x", "contact": {"phone": "1"}})
        );
    }

    #[test]
    fn an_older_update_does_not_overwrite_and_ties_settle_the_same_either_way() {
        let t = |s: &str| event_seconds(&json!(s));
        let (old, new) = (
            t("2026-11-22T09:00:00+01:00"),
            t("2026-11-22T08:30:00+00:00"),
        );
        assert!(old < new, "offsets are applied");
        assert!(out_of_sequence(old, new, &json!("a"), &json!("b")).is_some());
        assert!(out_of_sequence(new, old, &json!("b"), &json!("a")).is_none());
        // A tie: the same value stays whichever arrived first.
        let same = t("2026-11-22T09:00:00");
        let first_a = out_of_sequence(same, same, &json!("b"), &json!("a")).is_none();
        let first_b = out_of_sequence(same, same, &json!("a"), &json!("b")).is_none();
        assert!(first_a && !first_b, "\"b\" wins the tie both ways");
        // Without an event time on either side, arrival decides.
        assert!(out_of_sequence(None, new, &json!("a"), &json!("b")).is_none());
        assert_eq!(t("2026-11-22"), t("2026-11-22T00:00:00"));
    }
}
