//! The replies a service writes: commit and application ACKs, and NACKs with ERR segments
//! for messages that do not parse, are not for this endpoint, or break their profile. The
//! ACK code follows the sender's mode: enhanced mode (MSH-15/16 present) gets CA/CE/CR for
//! commit replies, original mode gets AA/AE/AR.

use accord_hl7::ack::{build_ack, AckCode, AckMode, AckOptions, ErrDetail, Severity};
use accord_hl7::Message;

/// Our own control ids for ACKs: unique within a process run, ordered.
pub fn ack_control_id(seq: u64) -> String {
    format!("ACC{seq:012}")
}

/// Whether `msg`'s sender uses enhanced acknowledgement mode.
pub fn enhanced(msg: &Message) -> bool {
    matches!(AckMode::of(msg), AckMode::Enhanced { .. })
}

/// A commit-level reply: CA/CR in enhanced mode, AA/AR in original mode.
pub fn commit_code(msg: &Message, positive: bool) -> AckCode {
    match (enhanced(msg), positive) {
        (true, true) => AckCode::CA,
        (true, false) => AckCode::CR,
        (false, true) => AckCode::AA,
        (false, false) => AckCode::AR,
    }
}

pub fn ack(
    msg: &Message,
    code: AckCode,
    text: Option<&str>,
    errors: Vec<ErrDetail>,
    control_id: &str,
    now_ms: i64,
) -> Vec<u8> {
    build_ack(
        msg,
        &AckOptions {
            code,
            text,
            errors,
            control_id,
            timestamp: &super::time::hl7(now_ms),
        },
    )
    .into_bytes()
}

/// A reject for bytes that do not parse: built around a minimal header carrying what can be
/// salvaged of the original (sending and receiving applications, control id, version).
pub fn reject_unparsed(raw: &[u8], why: &str, code: u16, control_id: &str, now_ms: i64) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let first = text.split(['\r', '\n']).next().unwrap_or("");
    let fields: Vec<&str> = if first.starts_with("MSH") && first.len() > 3 {
        let sep = first[3..].chars().next().unwrap_or('|');
        first.split(sep).collect()
    } else {
        vec![]
    };
    let clean = |i: usize| -> String {
        fields
            .get(i)
            .map(|f| {
                f.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || " ._-".contains(*c))
                    .collect()
            })
            .unwrap_or_default()
    };
    let version = Some(clean(11))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "2.5".into());
    let header = format!(
        "MSH|^~\\&|{}|{}|{}|{}|||ACK|{}|P|{version}\r",
        clean(2),
        clean(3),
        clean(4),
        clean(5),
        clean(9)
    );
    let Ok(msg) = Message::parse(header.as_bytes()) else {
        return format!("MSH|^~\\&|||||||ACK|{control_id}|P|2.5\rMSA|AR|\r").into_bytes();
    };
    ack(
        &msg,
        AckCode::AR,
        Some("message rejected: it does not parse"),
        vec![ErrDetail {
            code,
            severity: Severity::Error,
            location: None,
            message: why.to_string(),
        }],
        control_id,
        now_ms,
    )
}
