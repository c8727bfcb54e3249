//! A conformance profile: usage, cardinality and length rules over HL7 paths, and local
//! (Z) segments. The compiler writes it from a contract's `profile`; [`crate::validate`]
//! checks messages against it.

use serde::{Deserialize, Serialize};

/// A conformance profile: usage, cardinality and length rules over HL7 paths, and local
/// (Z) segments.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub version: String,
    pub rules: Vec<ProfileRule>,
    pub segments: Vec<LocalSegment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRule {
    /// The path as written, e.g. `PID-3`.
    pub path: String,
    /// `R`, `RE`, `O`, `C`, `X`.
    pub usage: String,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub length: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalSegment {
    pub id: String,
    pub usage: Option<String>,
    pub fields: Vec<LocalField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalField {
    pub position: u32,
    pub name: String,
    pub usage: Option<String>,
}
