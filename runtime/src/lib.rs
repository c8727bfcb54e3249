//! The Accord runtime: what generated productions link against.
//!
//! It owns the HL7 v2 engine ([`hl7`]) and MLLP ([`mllp`]); the journal, the engine and
//! admin HTTP come with the production issue. It never depends on `accord-dsl` or
//! `accord-compiler`. Generated code names it only through [`__private`].

pub mod hl7;
pub mod mapping;
#[cfg(feature = "mllp")]
pub mod mllp;

/// The one door generated code uses; its contents may change without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::hl7;
    pub use crate::hl7::builder::MessageBuilder;
    pub use crate::hl7::{Message, Path};
    pub use crate::mapping::functions as f;
    pub use crate::mapping::{
        json_set, write, Date, DateTime, Decimal, JsonStep, MapError, MapErrorKind, Scope, ToHl7,
        ToJson,
    };
}
