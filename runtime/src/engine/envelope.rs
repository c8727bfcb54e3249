//! The header of what an operation sends: a mapping writes the content it is about, and the
//! engine fills the MSH fields it left empty, as an integration engine should: sending and
//! receiving application (the interface's systems), date/time of message, a control id
//! unique to this hop (so the peer's ACK can be matched and its duplicates discarded), and
//! the processing id of the message it came from.

use crate::hl7::builder::MessageBuilder;
use crate::hl7::{Message, Path};
use crate::spec::Interface;

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

/// Replaces MSH-10 of `bytes` by `to` if it is `from` (a control id given before the
/// journal id it is made of was known); true if it did. Anything else is left as it is.
pub fn replace_control_id(bytes: &mut Vec<u8>, from: &str, to: &str) -> bool {
    if bytes.len() < 4 || !bytes.starts_with(b"MSH") {
        return false;
    }
    let sep = bytes[3];
    let ends_field = |b: u8| b == sep || b == b'\r' || b == b'\n';
    // MSH-1 is the separator itself, so MSH-10 begins after the ninth one counted from it.
    let mut seen = 0;
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate().skip(3) {
        if b == b'\r' || b == b'\n' {
            break;
        }
        if b == sep {
            seen += 1;
            if seen == 9 {
                start = Some(i + 1);
                break;
            }
        }
    }
    let Some(start) = start else {
        return false;
    };
    let end = bytes[start..]
        .iter()
        .position(|&b| ends_field(b))
        .map_or(bytes.len(), |n| start + n);
    if &bytes[start..end] != from.as_bytes() {
        return false;
    }
    bytes.splice(start..end, to.bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::replace_control_id;

    #[test]
    fn a_control_id_is_replaced_in_msh_10_only_when_it_is_the_one_given() {
        let mut m = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|AC0.1|P|2.5\rPID|||AC0.1\r".to_vec();
        assert!(replace_control_id(&mut m, "AC0.1", "AC1234.1"));
        assert_eq!(
            m,
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|AC1234.1|P|2.5\rPID|||AC0.1\r".to_vec()
        );
        // Not the one given, another separator, MSH-10 last, or too few fields.
        assert!(!replace_control_id(&mut m, "AC0.1", "X"));
        let mut other = b"MSH#^~\\&#A#B#C#D#T##ADT^A01#AC0.2".to_vec();
        assert!(replace_control_id(&mut other, "AC0.2", "AC7.2"));
        assert_eq!(other, b"MSH#^~\\&#A#B#C#D#T##ADT^A01#AC7.2".to_vec());
        let mut short = b"MSH|^~\\&|A|B\rPID|1|2|3|4|5|6|7|8|AC0.1\r".to_vec();
        assert!(!replace_control_id(&mut short, "AC0.1", "X"));
        assert!(!replace_control_id(&mut b"PID|1".to_vec(), "AC0.1", "X"));
    }
}
