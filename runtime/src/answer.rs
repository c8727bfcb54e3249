//! What the sender of an HL7 v2 message hears, decided once for the production's inbound
//! services, `accord test` and the book's table of replies:
//!
//! - [`admit`] makes the checks a message meets on receipt, before it is stored: its type
//!   is one an interface on the endpoint receives, its MSH-3/MSH-4 name the system the
//!   interface is from (when the system declares them), and it conforms to the
//!   interface's profile and HL7 version; a `retired` interface takes nothing;
//! - [`reply_code`] gives the ACK code for each [`Outcome`] under the interface's `ack`
//!   mode and the sender's acknowledgement mode (MSH-15/16): `None` when nothing is sent.

use crate::hl7::ack::{AckCode, AckMode, ErrDetail, ErrLocation, Severity};
use crate::hl7::Message;
use crate::spec::{Interface, SenderIdentity, Spec};

/// What became of a message, as far as its sender is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refused on receipt ([`admit`], a frame that does not parse or is too big): kept as
    /// rejected, never processed.
    Refused,
    /// Could not be stored: the sender should send it again.
    NotStored,
    /// Stored. `downstream` is what became of it after, when the sender waits for that
    /// (an application ACK): `Some(true)` when every interface it was routed to took it,
    /// `Some(false)` when a mapping, a constraint, the ownership matrix or a peer refused
    /// it, `None` when the outcome was not known in time.
    Accepted { downstream: Option<bool> },
    /// The same message was stored before (answered with the first ACK when it is kept).
    Duplicate,
}

/// Whether an interface with ack mode `contract` answers a sender in `mode` only once
/// the downstream outcome is known (an application ACK).
pub fn waits_for_downstream(contract: &str, mode: AckMode) -> bool {
    matches!(
        (contract, mode),
        ("application", _) | ("msh", AckMode::Original)
    )
}

/// The ACK code the sender gets for `outcome`; `None` when no reply is sent.
pub fn reply_code(contract: &str, mode: AckMode, outcome: Outcome) -> Option<AckCode> {
    let enhanced = matches!(mode, AckMode::Enhanced { .. });
    let commit = |positive: bool| match (enhanced, positive) {
        (true, true) => AckCode::CA,
        (true, false) => AckCode::CR,
        (false, true) => AckCode::AA,
        (false, false) => AckCode::AR,
    };
    match outcome {
        // A refusal is always answered, so the sender never waits for a reply that will
        // not come and knows not to send the message again as it is.
        Outcome::Refused => Some(commit(false)),
        Outcome::NotStored => Some(if enhanced { AckCode::CE } else { AckCode::AE }),
        Outcome::Duplicate => (contract != "never").then(|| commit(true)),
        Outcome::Accepted { downstream } => {
            if contract == "never" {
                return None;
            }
            if waits_for_downstream(contract, mode) {
                return Some(if downstream == Some(true) {
                    AckCode::AA
                } else {
                    AckCode::AE
                });
            }
            match mode {
                AckMode::Enhanced { accept, .. } => accept.wants(true).then_some(AckCode::CA),
                AckMode::Original => Some(AckCode::AA),
            }
        }
    }
}

/// Why a message was refused on receipt.
#[derive(Debug, Clone)]
pub struct Refusal<'s> {
    /// The interface the message was for, when its type named one.
    pub interface: Option<&'s Interface>,
    /// `validate` (type or profile), `sender` or `retired`.
    pub reason: &'static str,
    /// MSA-3's text.
    pub summary: String,
    pub detail: String,
    pub errors: Vec<ErrDetail>,
}

/// The interface among `candidates` (those received on `endpoint`) that takes `msg`, or
/// why none does.
pub fn admit<'s>(
    spec: &'s Spec,
    candidates: &[&'s Interface],
    endpoint: &str,
    msg: &Message,
) -> Result<&'s Interface, Refusal<'s>> {
    let (code, trigger, _) = msg.message_type();
    let message_type = format!("{}^{}", code.unwrap_or(""), trigger.unwrap_or(""));
    let Some(iface) = candidates
        .iter()
        .find(|i| i.accepts(&message_type))
        .copied()
    else {
        let why = format!(
            "message type {message_type} is not received on this endpoint ({endpoint}: {})",
            candidates
                .iter()
                .map(|i| i.messages.join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        );
        return Err(Refusal {
            interface: None,
            reason: "validate",
            summary: "unsupported message type".into(),
            errors: vec![ErrDetail {
                code: 200,
                severity: Severity::Error,
                location: None,
                message: why.clone(),
            }],
            detail: why,
        });
    };
    if iface.status == "retired" {
        let why = format!(
            "interface `{}` ({}) is retired: the contract no longer takes {message_type} here",
            iface.name, iface.loc
        );
        return Err(Refusal {
            interface: Some(iface),
            reason: "retired",
            summary: "the interface is retired".into(),
            errors: vec![ErrDetail {
                code: 200,
                severity: Severity::Error,
                location: None,
                message: why.clone(),
            }],
            detail: why,
        });
    }
    if let Some((location, why)) = iface.sender.as_ref().and_then(|s| not_the_sender(msg, s)) {
        return Err(Refusal {
            interface: Some(iface),
            reason: "sender",
            summary: "the sending application or facility is not the contract's".into(),
            errors: vec![ErrDetail {
                code: 207,
                severity: Severity::Error,
                location: Some(location),
                message: why.clone(),
            }],
            detail: why,
        });
    }
    if let Some(name) = &iface.profile {
        let problems = crate::conformance::problems(spec, iface, msg, true);
        if !problems.is_empty() {
            return Err(Refusal {
                interface: Some(iface),
                reason: "validate",
                summary: format!("rejected by profile {name}"),
                detail: problems
                    .iter()
                    .map(|p| p.what.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                errors: problems.iter().take(20).map(|p| p.err_detail()).collect(),
            });
        }
    }
    Ok(iface)
}

/// For `accord test`: why `msg`, entering at interface `interface`, would be refused on
/// receipt, as the production's [`admit`] decides.
pub fn refusal(spec: &Spec, interface: &str, msg: &Message) -> Option<String> {
    let iface = spec.interfaces.iter().find(|i| i.name == interface)?;
    let endpoint = iface.endpoint.as_deref().unwrap_or(interface);
    admit(spec, &[iface], endpoint, msg).err().map(|r| r.detail)
}

/// For `accord test`: the code the sender of `msg` hears from interface `interface`
/// (`nothing` when no reply is sent), refused on receipt or not, and delivered wherever
/// it was routed or not: the production's [`reply_code`].
pub fn heard(
    spec: &Spec,
    interface: Option<&str>,
    msg: &Message,
    refused: bool,
    delivered: bool,
) -> String {
    let contract = interface
        .and_then(|n| spec.interfaces.iter().find(|i| i.name == n))
        .map_or("commit", |i| i.ack.mode.as_str());
    let outcome = if refused {
        Outcome::Refused
    } else {
        Outcome::Accepted {
            downstream: Some(delivered),
        }
    };
    reply_code(contract, AckMode::of(msg), outcome).map_or("nothing".into(), |c| c.to_string())
}

/// Where `msg` says it is not from the system `sender` declares: the MSH field, and why.
fn not_the_sender(msg: &Message, sender: &SenderIdentity) -> Option<(ErrLocation, String)> {
    for (field, want, what) in [
        (3, &sender.application, "hl7_application"),
        (4, &sender.facility, "hl7_facility"),
    ] {
        let Some(want) = want else { continue };
        let path = format!("MSH-{field}.1");
        let got = crate::hl7::Path::parse(&path)
            .ok()
            .and_then(|p| msg.get(&p).ok().flatten())
            .and_then(|v| v.text().ok().map(|t| t.into_owned()))
            .unwrap_or_default();
        if !got.eq_ignore_ascii_case(want) {
            return Some((
                ErrLocation {
                    segment: "MSH".into(),
                    sequence: 1,
                    field: Some(field),
                    repetition: None,
                    component: Some(1),
                    subcomponent: None,
                },
                format!(
                    "{path} is `{got}`, but this interface receives from {} whose {what} is `{want}` ({})",
                    sender.system, sender.loc
                ),
            ));
        }
    }
    None
}

/// The replies as a Markdown table, for the book: each outcome under each `ack` mode, for
/// a sender in original mode and one in enhanced mode asking for every commit ACK.
pub fn table() -> String {
    use crate::hl7::ack::AckCondition;
    let enhanced = AckMode::Enhanced {
        accept: AckCondition::Always,
        application: AckCondition::Always,
    };
    let outcomes = [
        (
            "refused on receipt (type, sender, profile, parse, frame size)",
            Outcome::Refused,
        ),
        ("not stored (the journal failed)", Outcome::NotStored),
        (
            "a duplicate (when the first ACK is not kept)",
            Outcome::Duplicate,
        ),
        (
            "stored; under `ack: application`, no outcome within its timeout",
            Outcome::Accepted { downstream: None },
        ),
        (
            "stored, then delivered everywhere",
            Outcome::Accepted {
                downstream: Some(true),
            },
        ),
        (
            "stored, then refused downstream (a mapping, a constraint, the matrix, a peer)",
            Outcome::Accepted {
                downstream: Some(false),
            },
        ),
    ];
    let shown = |c: Option<AckCode>| c.map_or("nothing".to_string(), |c| format!("`{c}`"));
    let mut s = String::from(
        "| outcome | `ack: commit`, original | `ack: commit`, enhanced | `ack: application` | `ack: never` |\n| --- | --- | --- | --- | --- |\n",
    );
    for (what, outcome) in outcomes {
        // In commit mode the sender hears at receipt; the downstream outcome is not waited for.
        let commit_outcome = match outcome {
            Outcome::Accepted { .. } => Outcome::Accepted { downstream: None },
            o => o,
        };
        let application = match outcome {
            // Waited for up to the interface's timeout: no outcome in time is AE.
            Outcome::Accepted { downstream } => Outcome::Accepted { downstream },
            o => o,
        };
        s.push_str(&format!(
            "| {what} | {} | {} | {} | {} |\n",
            shown(reply_code("commit", AckMode::Original, commit_outcome)),
            shown(reply_code("commit", enhanced, commit_outcome)),
            shown(reply_code("application", AckMode::Original, application)),
            shown(reply_code("never", AckMode::Original, outcome)),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_answered_in_every_mode_and_the_downstream_only_when_waited_for() {
        let o = AckMode::Original;
        assert_eq!(reply_code("commit", o, Outcome::Refused), Some(AckCode::AR));
        assert_eq!(reply_code("never", o, Outcome::Refused), Some(AckCode::AR));
        let failed = Outcome::Accepted {
            downstream: Some(false),
        };
        // At commit the sender hears that the message is safe, whatever follows.
        assert_eq!(reply_code("commit", o, failed), Some(AckCode::AA));
        assert_eq!(reply_code("application", o, failed), Some(AckCode::AE));
        assert_eq!(reply_code("msh", o, failed), Some(AckCode::AE));
        assert_eq!(
            reply_code("application", o, Outcome::Accepted { downstream: None }),
            Some(AckCode::AE)
        );
        assert_eq!(reply_code("never", o, failed), None);
        assert_eq!(
            reply_code("commit", o, Outcome::NotStored),
            Some(AckCode::AE)
        );
    }
}
