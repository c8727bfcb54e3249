//! Whether an HL7 v2 message is what its contract says, in both directions: [`problems`]
//! checks a message against the HL7 v2 dictionary of its version and the interface's
//! profile (what a service admits, and what an operation may send, which the contract's
//! `on invalid` then decides); [`carry_trigger`] gives an outbound message the trigger
//! event of the message it came from, when its mapping targets a profile that names
//! several message types (an A03 in leaves as an A03, not as the profile's first type).

use crate::hl7::builder::MessageBuilder;
use crate::hl7::{dict, validate, Message, Path};
use crate::mapping::{MapError, MapErrorKind};
use crate::spec::{Interface, Spec};

/// What is wrong with `msg` under the HL7 v2 dictionary of its version (MSH-12, else the
/// profile's) and the interface's profile; warnings left out. Nothing when the interface
/// names no profile and `structure` is false.
pub fn problems(
    spec: &Spec,
    iface: &Interface,
    msg: &Message,
    structure: bool,
) -> Vec<validate::Problem> {
    let profile = iface
        .profile
        .as_ref()
        .and_then(|name| spec.profiles.iter().find(|p| &p.name == name));
    if profile.is_none() && !structure {
        return vec![];
    }
    let version = msg
        .version()
        .map(str::to_string)
        .or_else(|| profile.map(|p| p.version.clone()))
        .unwrap_or_default();
    match dict::dictionary(&version) {
        Some(d) => validate::validate(msg, d, profile)
            .into_iter()
            .filter(|p| !p.warning)
            .collect(),
        None => vec![validate::Problem {
            offset: 0,
            what: format!("MSH-12: HL7 version `{version}` is not known"),
            warning: false,
            code: 203,
            location: None,
        }],
    }
}

/// `out` with the message type (`MSH-9.1`, `MSH-9.2`) of `from`, when `types` (the target
/// profile's message types) name it; a type the profile does not name fails the mapping,
/// since relabelling it (a discharge sent as an admission) would change its meaning.
pub fn carry_trigger(
    out: Vec<u8>,
    from: &Message,
    types: &[&str],
    at: &'static str,
) -> Result<Vec<u8>, MapError> {
    let (code, trigger, _) = from.message_type();
    let (code, trigger) = (code.unwrap_or(""), trigger.unwrap_or(""));
    let wanted = format!("{code}^{trigger}");
    let named = types
        .iter()
        .any(|t| crate::spec::trigger_level(t) == wanted);
    if !named {
        return Err(MapError {
            at,
            kind: MapErrorKind::Conformance(format!(
                "{wanted} is not a message type of the receiver's profile ({})",
                types.join(", ")
            )),
        });
    }
    let Ok(msg) = Message::parse(&out) else {
        return Ok(out);
    };
    let (out_code, out_trigger, _) = msg.message_type();
    if out_code == Some(code) && out_trigger == Some(trigger) {
        return Ok(out);
    }
    let mut b = MessageBuilder::from_message(&msg);
    for (path, value) in [("MSH-9.1", code), ("MSH-9.2", trigger)] {
        if let Ok(p) = Path::parse(path) {
            let _ = b.set(&p, value);
        }
    }
    Ok(b.serialize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A03: &str = "MSH|^~\\&|PAS|H|HUB|H|20260101||ADT^A03^ADT_A03|1|P|2.4\rPID|1||42\r";
    const OUT: &[u8] = b"MSH|^~\\&|||||||ADT^A01|||2.4\rPID|1||42\r";

    #[test]
    fn the_inbound_trigger_is_carried_when_the_profile_names_it() {
        let from = Message::parse(A03.as_bytes()).unwrap();
        let out = carry_trigger(OUT.to_vec(), &from, &["ADT^A01", "ADT^A03"], "m:1").unwrap();
        let out = Message::parse(&out).unwrap();
        assert_eq!(out.message_type().1, Some("A03"));
    }

    #[test]
    fn a_trigger_the_profile_does_not_name_fails_the_mapping() {
        let from = Message::parse(A03.as_bytes()).unwrap();
        let e = carry_trigger(OUT.to_vec(), &from, &["ADT^A01", "ADT^A08"], "m:1").unwrap_err();
        assert!(
            e.to_string().contains("ADT^A03 is not a message type"),
            "{e}"
        );
    }
}
