//! FHIR R4: the dictionary of resources, data types and their elements (`accord-fhir`,
//! re-exported as [`dict`]), and what generated mappings serialise resources through
//! ([`write`]).

pub use accord_fhir as dict;
pub mod write;
