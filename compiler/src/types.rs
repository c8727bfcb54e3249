//! The types of the canonical model and of mapping expressions, and the rules for which
//! value may be written where. HL7 v2 values read as text, converted by the language's
//! functions (`date`, `decimal`); a FHIR primitive reads as the canonical type its R4
//! type names (`check/fhirpaths.rs`), and a complex FHIR element is `Unknown`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Text,
    Integer,
    Decimal,
    Boolean,
    Date,
    DateTime,
    Identifier,
    /// A code of the codeset with this index.
    Code(usize),
    /// A canonical record with this index.
    Record(usize),
    List(Box<Ty>),
    Optional(Box<Ty>),
    /// A FHIR resource of this type, made by another mapping (`patient via patient_to_fhir`).
    Resource(String),
    /// Not known (an earlier error, or a FHIR element): accepted everywhere, so one
    /// mistake does not cascade into many diagnostics.
    Unknown,
}

pub const BUILTIN_TYPES: &[&str] = &[
    "Text",
    "Integer",
    "Decimal",
    "Boolean",
    "Date",
    "DateTime",
    "Identifier",
];

impl Ty {
    pub fn builtin(name: &str) -> Option<Ty> {
        Some(match name {
            "Text" => Ty::Text,
            "Integer" => Ty::Integer,
            "Decimal" => Ty::Decimal,
            "Boolean" => Ty::Boolean,
            "Date" => Ty::Date,
            "DateTime" => Ty::DateTime,
            "Identifier" => Ty::Identifier,
            _ => return None,
        })
    }

    /// The type without `Optional` wrappers.
    pub fn base(&self) -> &Ty {
        match self {
            Ty::Optional(inner) => inner.base(),
            other => other,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self.base(), Ty::Unknown)
    }

    pub fn list_element(&self) -> Option<&Ty> {
        match self.base() {
            Ty::List(inner) => Some(inner),
            _ => None,
        }
    }

    pub fn is_textual(&self) -> bool {
        matches!(self.base(), Ty::Text | Ty::Identifier | Ty::Unknown)
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self.base(), Ty::Integer | Ty::Decimal | Ty::Unknown)
    }

    /// Can a value of `self` be written to a place of type `target`?
    pub fn assignable_to(&self, target: &Ty) -> bool {
        let (from, to) = (self.base(), target.base());
        match (from, to) {
            (Ty::Unknown, _) | (_, Ty::Unknown) => true,
            (a, b) if a == b => true,
            (Ty::Text | Ty::Identifier, Ty::Text | Ty::Identifier) => true,
            (Ty::Integer, Ty::Decimal) => true,
            (Ty::Date, Ty::DateTime) => true,
            (Ty::List(a), Ty::List(b)) => a.assignable_to(b),
            _ => false,
        }
    }

    /// Can a value of `self` be written to an HL7 v2 field? Scalars are encoded in their
    /// HL7 form (dates as DT/DTM); codes need a code map, records a segment mapping.
    pub fn writable_to_hl7(&self) -> bool {
        match self.base() {
            Ty::Code(_) | Ty::Record(_) | Ty::Resource(_) => false,
            Ty::List(inner) => inner.writable_to_hl7(),
            _ => true,
        }
    }

    /// Can two values be compared with `==`?
    pub fn comparable(&self, other: &Ty) -> bool {
        self.assignable_to(other)
            || other.assignable_to(self)
            || (self.is_numeric() && other.is_numeric())
    }
}

/// Display needs codeset and record names, so it goes through this wrapper.
pub struct TyName<'a> {
    pub ty: &'a Ty,
    pub codesets: &'a dyn Fn(usize) -> String,
    pub records: &'a dyn Fn(usize) -> String,
}

impl fmt::Display for TyName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sub = |ty: &Ty| {
            TyName {
                ty,
                codesets: self.codesets,
                records: self.records,
            }
            .to_string()
        };
        match self.ty {
            Ty::Text => write!(f, "Text"),
            Ty::Integer => write!(f, "Integer"),
            Ty::Decimal => write!(f, "Decimal"),
            Ty::Boolean => write!(f, "Boolean"),
            Ty::Date => write!(f, "Date"),
            Ty::DateTime => write!(f, "DateTime"),
            Ty::Identifier => write!(f, "Identifier"),
            Ty::Code(c) => write!(f, "Code<{}>", (self.codesets)(*c)),
            Ty::Record(r) => write!(f, "{}", (self.records)(*r)),
            Ty::List(inner) => write!(f, "[{}]", sub(inner)),
            Ty::Optional(inner) => write!(f, "{}?", sub(inner)),
            Ty::Resource(r) => write!(f, "FHIR {r}"),
            Ty::Unknown => write!(f, "unknown"),
        }
    }
}
