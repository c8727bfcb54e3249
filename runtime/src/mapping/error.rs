//! Why a mapping could not produce its output, and where in the estate: [`MapError`],
//! its kinds, the lineage that names a bad value's place in the message, and how an ERR
//! segment reports it.

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
    /// A partial record (`-> partial Record`) met a steward that keeps no stored records
    /// to complete it from: tests and `accord map`, never the production.
    Unstored { record: &'static str },
    /// `require(value, "reason")` met no value: the contract refuses the message with
    /// its reason (a report for a patient nobody registered).
    Refused { reason: &'static str },
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
            MapErrorKind::Refused { reason } => write!(f, "{}: {reason}", self.at),
            MapErrorKind::Unstored { record } => write!(
                f,
                "{}: a partial `{record}` is completed from the stored record, and there is none here",
                self.at
            ),
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
            MapErrorKind::Missing { .. } | MapErrorKind::Refused { .. } => (101, None),
            MapErrorKind::Conversion { .. } => (102, None),
            MapErrorKind::Constraint { source, .. } => (102, *source),
            MapErrorKind::Rejected { .. } => (103, None),
            _ => (207, None),
        }
    }
}

/// A required record field's value, or the error naming it: what a generated draft's
/// `finish` calls for each field the record requires.
#[inline]
pub fn required<T>(value: Option<T>, at: &'static str, field: &'static str) -> Result<T, MapError> {
    match value {
        Some(v) => Ok(v),
        None => Err(MapError {
            at,
            kind: MapErrorKind::Missing { field },
        }),
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
}
