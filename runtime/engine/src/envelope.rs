//! The header of what an operation sends: a mapping writes the content it is about, and the
//! engine fills the MSH fields it left empty, as an integration engine should: sending and
//! receiving application (the interface's systems), date/time of message, a control id
//! unique to this hop (so the peer's ACK can be matched and its duplicates discarded), and
//! the processing id of the message it came from.

use accord_hl7::builder::MessageBuilder;
use accord_hl7::{Message, Path};
use accord_runtime::spec::Interface;

/// `bytes` with its empty MSH-3, 5, 7, 10 and 11 filled; unchanged if it is not HL7.
pub fn complete_header(
    bytes: Vec<u8>,
    from: Option<&Message>,
    iface: &Interface,
    control_id: &str,
    now_ms: i64,
) -> Vec<u8> {
    let Ok(out) = Message::parse(&bytes) else {
        return bytes;
    };
    let empty = |n: usize| {
        out.segment_at(0)
            .and_then(|s| s.field(n))
            .is_none_or(|v| v.is_empty())
    };
    // From the message it came from; a resource an API's client created is production.
    let processing = from
        .and_then(|m| m.header_component(11, 1))
        .unwrap_or("P")
        .to_string();
    let fills: [(usize, String); 5] = [
        (3, iface.from.to_ascii_uppercase()),
        (5, iface.to.to_ascii_uppercase()),
        (7, super::time::hl7(now_ms)),
        (10, control_id.to_string()),
        (11, processing),
    ];
    let mut b = MessageBuilder::from_message(&out);
    let mut changed = false;
    for (field, value) in fills.iter().filter(|(f, _)| empty(*f)) {
        if let Ok(path) = Path::parse(&format!("MSH-{field}")) {
            changed |= b.set(&path, value).is_ok();
        }
    }
    if changed {
        b.serialize()
    } else {
        bytes
    }
}
