//! FHIR R4: the dictionary of resources, data types and their elements ([`dict`]), which
//! the compiler checks mapping paths against, and what generated mappings serialise
//! resources through ([`write`]).

pub mod dict;
pub mod write;
