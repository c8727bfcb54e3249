//! What generated mappings use at run time: the canonical scalar types (`Date`,
//! `DateTime`, `Decimal`) and the estate's time zone ([`zone`]), `MapError` (which mapping line failed and why), reading HL7 v2
//! values inside a scope (the whole message, or one repetition of a segment or group in a
//! `for each`), values as HL7 and as JSON, and the built-in functions of the language.

mod code;
mod error;
pub mod functions;
mod json;
mod scope;
mod to_hl7;
pub(crate) mod values;
pub mod zone;

pub use code::Code;
pub use error::{required, MapError, MapErrorKind};
pub use json::{json_get, FromJson, JsonStep, Output, ToJson};
pub use scope::{once, write, Once, Scope, HL7_NULL};
pub use to_hl7::ToHl7;
pub use values::{Date, DateTime, Decimal};
