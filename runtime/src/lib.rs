//! The Accord runtime: what generated productions link against.
//!
//! It will own the HL7 v2 engine (zero-copy parser, serialiser, ACK/NACK, MLLP), the
//! journal, the engine and admin HTTP, and a `__private` module that generated code names.
//! It never depends on `accord-dsl` or `accord-compiler`. Empty until the HL7 v2 engine lands.
