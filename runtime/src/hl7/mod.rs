//! The HL7 v2 engine: a zero-copy parser with an index of segment and field spans, values
//! split on demand, escapes, character sets, paths, batches, a builder and serialiser,
//! and ACK/NACK generation.

pub mod ack;
pub mod batch;
pub mod builder;
pub mod charset;
pub mod delims;
pub mod dict;
pub mod error;
pub mod escape;
pub mod message;
pub mod path;
pub mod validate;
pub mod value;

pub use charset::Charset;
pub use delims::Delimiters;
pub use error::{ErrorKind, ParseError};
pub use message::{Message, Segment};
pub use path::{Path, Repetition};
pub use value::Value;
