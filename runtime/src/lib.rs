//! The Accord runtime: what generated productions link against.
//!
//! It owns the HL7 v2 engine ([`hl7`]), MLLP ([`mllp`]), the FHIR R4 dictionary ([`fhir`]);
//! and the production
//! engine ([`engine`]: journal, services, operations, flows, admin HTTP, the binary's CLI). It never depends on `accord-dsl` or
//! `accord-compiler`. Generated code names it only through [`__private`].

// Nothing panics on user input: no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
pub mod conformance;
pub mod constraints;
#[cfg(feature = "engine")]
pub mod engine;
pub mod fhir;
pub mod hl7;
pub mod mapping;
#[cfg(feature = "mllp")]
pub mod mllp;
pub mod spec;
pub mod steward;
#[cfg(feature = "tls")]
pub mod tls;
pub mod zone;

/// The one door generated code uses; its contents may change without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::answer;
    pub use crate::conformance;
    pub use crate::constraints::{check as constrain, Rule};
    #[cfg(feature = "engine")]
    pub use crate::engine;
    pub use crate::fhir::write as fhir;
    pub use crate::fhir::write::{Fhir, FhirValue};
    pub use crate::hl7;
    pub use crate::hl7::builder::MessageBuilder;
    pub use crate::hl7::{Message, Path};
    pub use crate::mapping::functions as f;
    pub use crate::mapping::{
        json_get, once, write, Code, Date, DateTime, Decimal, FromJson, JsonStep, MapError,
        MapErrorKind, Once, Output, Scope, ToHl7, ToJson,
    };
    pub use crate::spec;
    pub use crate::steward::{govern, Steward, Unsupervised};
    pub use regex::Regex;
    pub use serde;
    pub use serde_json;
}
