//! The HL7 v2 engine: a zero-copy parser with an index of segment and field spans, values
//! split on demand, escapes, character sets, paths, batches, a builder and serialiser,
//! and ACK/NACK generation; the dictionaries of HL7 v2.3 to v2.8.2 ([`dict`]) and
//! validation against them and against a conformance [`profile`]; and, with the `mllp`
//! feature, MLLP over TCP ([`mllp`]) and its TLS ([`tls`], feature `tls`).
//!
//! It depends on no other Accord crate: the compiler reads its dictionaries, generated code
//! and the engine its parser and builder.

// Nothing panics on user input: no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod ack;
pub mod batch;
pub mod builder;
pub mod charset;
pub mod delims;
pub mod dict;
pub mod error;
pub mod escape;
pub mod message;
#[cfg(feature = "mllp")]
pub mod mllp;
pub mod path;
pub mod profile;
#[cfg(feature = "tls")]
pub mod tls;
pub mod validate;
pub mod value;

pub use charset::Charset;
pub use delims::Delimiters;
pub use error::{ErrorKind, ParseError};
pub use message::{Message, Segment};
pub use path::{Path, Repetition};
pub use value::Value;
