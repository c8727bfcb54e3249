//! The Accord runtime: what a generated crate's mappings and routes link against, about
//! the size of a generated client's support crate. It owns the values mappings compute
//! with and the scopes they read ([`mapping`]), the FHIR writer ([`fhir::write`]), the
//! steward of the source-of-truth matrix ([`steward`]) and the partial records it completes
//! ([`partial`]), constraints, and the
//! wiring the compiler writes and the engine reads ([`spec`]).
//!
//! HL7 v2 is `accord-hl7` (re-exported as [`hl7`]), the FHIR dictionary `accord-fhir`, and
//! the production engine `accord-engine`, which only a generated `main.rs` links. It never
//! depends on `accord-dsl` or `accord-compiler`. Generated code names it only through
//! [`__private`].

// Nothing panics on user input: no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
pub mod conformance;
pub mod constraints;
pub mod fhir;
pub use accord_hl7 as hl7;
pub mod mapping;
pub mod partial;
pub mod scenario;
pub mod spec;
pub mod steward;

/// The one door generated code uses; its contents may change without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::answer;
    pub use crate::conformance;
    pub use crate::constraints::{check as constrain, Rule};
    pub use crate::fhir::write as fhir;
    pub use crate::fhir::write::{Fhir, FhirValue};
    pub use crate::hl7;
    pub use crate::hl7::builder::MessageBuilder;
    pub use crate::hl7::{Message, Path};
    pub use crate::mapping::functions as f;
    pub use crate::mapping::{
        json_get, once, required, write, Code, Date, DateTime, Decimal, FromJson, JsonStep,
        MapError, MapErrorKind, Once, Output, Scope, ToHl7, ToJson, HL7_NULL,
    };
    pub use crate::partial::{govern_partial, Partial};
    pub use crate::scenario;
    pub use crate::spec;
    pub use crate::steward::{govern, stored, Steward, Unsupervised};
    pub use regex::Regex;
    pub use serde;
    pub use serde_json;
}
