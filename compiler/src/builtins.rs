//! The built-in vocabulary of the language: mapping functions and their signatures,
//! named validators for `check`, and the property keys each item accepts.

use crate::types::Ty;

/// Why a call does not type-check.
pub enum CallError {
    Unknown,
    Arity(&'static str),
    Argument {
        index: usize,
        expected: &'static str,
    },
}

pub const FUNCTIONS: &[(&str, &str)] = &[
    ("date", "date(Text) -> Date: an HL7 DT/DTM value to a date"),
    (
        "reference",
        "reference(mapping, key, ...) -> Text: `Type/id` of the resource the mapping makes from the record with these keys",
    ),
    (
        "datetime",
        "datetime(Text) -> DateTime: an HL7 DTM value to a date and time",
    ),
    ("integer", "integer(Text) -> Integer"),
    ("decimal", "decimal(Text) -> Decimal"),
    ("identifier", "identifier(Text) -> Identifier"),
    ("text", "text(value) -> Text: any scalar as text"),
    ("upper", "upper(Text) -> Text"),
    ("lower", "lower(Text) -> Text"),
    ("trim", "trim(Text) -> Text"),
    ("concat", "concat(Text, Text, ...) -> Text"),
    (
        "substring",
        "substring(Text, Integer, Integer) -> Text: start (1-based) and length",
    ),
    ("replace", "replace(Text, Text, Text) -> Text"),
    ("exists", "exists(value) -> Boolean: present and not empty"),
    ("first", "first([T]) -> T"),
    ("last", "last([T]) -> T"),
    ("count", "count([T]) -> Integer"),
    (
        "coalesce",
        "coalesce(T, T, ...) -> T: the first present value",
    ),
    (
        "format_date",
        "format_date(Date or DateTime, Text) -> Text: e.g. \"YYYYMMDD\"",
    ),
    ("join", "join([Text], Text) -> Text"),
    (
        "display",
        "display(Code<S>) -> Text: the code's display text as the codeset declares it",
    ),
    (
        "lookup",
        "lookup(Record.field, key, ...) -> T: the field of the record the production stored under these key values; no value when none is stored",
    ),
    (
        "require",
        "require(T, \"reason\") -> T: the value, or the message refused with the reason when there is none",
    ),
    (
        "index",
        "index() -> Integer: inside a `for each`, the place of the current element, from 1",
    ),
    ("now", "now() -> DateTime"),
    ("today", "today() -> Date"),
];

pub const VALIDATORS: &[(&str, &str)] = &[
    (
        "nhs_modulus11",
        "a 10-digit NHS number with a valid modulus 11 check digit",
    ),
    ("luhn", "digits with a valid Luhn check digit"),
    ("email", "an e-mail address"),
    ("uuid", "a UUID"),
    ("ascii", "printable ASCII only"),
];

pub const SYSTEM_PROPS: &[&str] = &[
    "name",
    "role",
    "owner",
    "description",
    "vendor",
    "contact",
    // What the system puts in MSH-3.1 and MSH-4.1: an inbound service from the system
    // refuses messages that say they come from another.
    "hl7_application",
    "hl7_facility",
    // The names its TLS client certificates carry: a listener receiving from the system
    // with mutual TLS admits only a certificate with one of them.
    "certificate_names",
];
pub const ENVIRONMENT_PROPS: &[&str] = &["kind", "description"];
pub const INTERFACE_PROPS: &[&str] = &[
    "purpose",
    "owner",
    "review",
    "pattern",
    "profile",
    "clinical_impact",
    "description",
    "contact",
];
pub const ENDPOINT_SETTINGS: &[&str] = &[
    "transport",
    "host",
    "port",
    "path",
    "url",
    "tls",
    "user",
    "password",
    "token",
    // OAuth2 client credentials (SMART Backend Services with signing_key).
    "token_url",
    "client_id",
    "client_secret",
    "scope",
    "signing_key",
    "signing_kid",
    "certificate",
    "private_key",
    // TLS: the CA a peer's certificate must chain to, and the names it must carry.
    "ca",
    "peer_names",
    "timeout",
    "max_frame",
    "charset",
];
/// Settings whose value is a credential: never a literal.
pub const SECRET_SETTINGS: &[&str] = &[
    "password",
    "token",
    "private_key",
    "client_secret",
    "signing_key",
];
/// What TLS is made of: needed only where an environment says `tls: required`, so an
/// environment may go without a value.
pub const TLS_SETTINGS: &[&str] = &["certificate", "private_key", "ca", "peer_names"];
pub const TLS_MODES: &[&str] = &["required", "off"];
/// Settings that name a production address: never a literal in production.
pub const ADDRESS_SETTINGS: &[&str] = &["host", "port", "url"];
pub const TRANSPORTS: &[&str] = &["mllp", "tcp", "http", "https", "file", "fhir", "sftp"];
pub const PATTERNS: &[&str] = &["event", "request_response", "batch", "query", "api"];
pub const ACK_MODES: &[&str] = &["never", "commit", "immediate", "application", "msh"];
pub const STATUSES: &[&str] = &["draft", "active", "deprecated", "retired"];
pub const CONFLICT_RULES: &[&str] = &["owner_wins", "newest", "reject", "review"];
pub const HL7_VERSIONS: &[&str] = &[
    "2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1",
    "2.8.2",
];

fn text(t: &Ty) -> bool {
    t.is_textual()
}

/// The result type of `name(args)`.
pub fn call_type(name: &str, args: &[Ty]) -> Result<Ty, CallError> {
    let arity = |n: usize, sig: &'static str| {
        if args.len() == n {
            Ok(())
        } else {
            Err(CallError::Arity(sig))
        }
    };
    let want = |i: usize, ok: bool, expected: &'static str| {
        if ok || args[i].is_unknown() {
            Ok(())
        } else {
            Err(CallError::Argument { index: i, expected })
        }
    };
    match name {
        "date" | "datetime" | "integer" | "decimal" | "identifier" | "upper" | "lower" | "trim" => {
            arity(1, "one argument")?;
            want(0, text(&args[0]), "Text")?;
            Ok(match name {
                "date" => Ty::Date,
                "datetime" => Ty::DateTime,
                "integer" => Ty::Integer,
                "decimal" => Ty::Decimal,
                "identifier" => Ty::Identifier,
                _ => Ty::Text,
            })
        }
        "display" => {
            arity(1, "one argument")?;
            want(
                0,
                matches!(args[0].base(), Ty::Code(_) | Ty::Unknown),
                "a code of a codeset",
            )?;
            Ok(Ty::Text)
        }
        "text" => {
            arity(1, "one argument")?;
            want(
                0,
                !matches!(args[0].base(), Ty::Record(_) | Ty::List(_)),
                "a scalar",
            )?;
            Ok(Ty::Text)
        }
        "concat" => {
            if args.len() < 2 {
                return Err(CallError::Arity("two or more arguments"));
            }
            for (i, a) in args.iter().enumerate() {
                want(i, text(a), "Text")?;
            }
            Ok(Ty::Text)
        }
        "substring" => {
            arity(3, "three arguments")?;
            want(0, text(&args[0]), "Text")?;
            want(1, args[1].is_numeric(), "Integer")?;
            want(2, args[2].is_numeric(), "Integer")?;
            Ok(Ty::Text)
        }
        "replace" => {
            arity(3, "three arguments")?;
            for (i, a) in args.iter().enumerate() {
                want(i, text(a), "Text")?;
            }
            Ok(Ty::Text)
        }
        "exists" => {
            arity(1, "one argument")?;
            Ok(Ty::Boolean)
        }
        "require" => {
            arity(2, "two arguments: a value and the reason, in quotes")?;
            want(
                1,
                matches!(args[1], Ty::Text),
                "the reason, as text in quotes",
            )?;
            Ok(args[0].clone())
        }
        "first" | "last" | "count" => {
            arity(1, "one argument")?;
            let elem = match args[0].list_element() {
                Some(e) => e.clone(),
                // An HL7 value may repeat: `first(PID-5)` is its first repetition.
                None if text(&args[0]) => args[0].base().clone(),
                None => {
                    return Err(CallError::Argument {
                        index: 0,
                        expected: "a list",
                    })
                }
            };
            Ok(if name == "count" { Ty::Integer } else { elem })
        }
        "coalesce" => {
            if args.is_empty() {
                return Err(CallError::Arity("one or more arguments"));
            }
            let first = args
                .iter()
                .find(|a| !a.is_unknown())
                .cloned()
                .unwrap_or(Ty::Unknown);
            for (i, a) in args.iter().enumerate() {
                want(
                    i,
                    a.assignable_to(&first),
                    "the same type as the first argument",
                )?;
            }
            Ok(first.base().clone())
        }
        "format_date" => {
            arity(2, "two arguments")?;
            want(
                0,
                matches!(args[0].base(), Ty::Date | Ty::DateTime | Ty::Unknown),
                "Date or DateTime",
            )?;
            want(1, text(&args[1]), "Text")?;
            Ok(Ty::Text)
        }
        "join" => {
            arity(2, "two arguments")?;
            want(
                0,
                args[0].list_element().is_some_and(text) || args[0].is_unknown(),
                "[Text]",
            )?;
            want(1, text(&args[1]), "Text")?;
            Ok(Ty::Text)
        }
        "index" => arity(0, "no arguments").map(|_| Ty::Integer),
        "now" => arity(0, "no arguments").map(|_| Ty::DateTime),
        "today" => arity(0, "no arguments").map(|_| Ty::Date),
        _ => Err(CallError::Unknown),
    }
}
