//! FHIR R4: the dictionary of resources, data types and their elements ([`dict`]), which
//! the compiler checks mapping paths against.

pub mod dict;
