//! Reply handling: a peer's reply (or its absence) becomes a class — `AA`, `AE`, `AR`,
//! `CA`, `CE`, `CR`, `no_msa`, `mismatch`, `timeout`, `refused` — and the contract's `on`
//! clauses turn the class into a decision: complete, retry later, dead letter, suspend the
//! operation, with alerts. Classes the contract does not mention get safe defaults: a
//! positive reply completes, a transport failure is retried with backoff forever (the
//! message is never dropped), anything negative goes to the dead letter.

use accord_hl7::ack::AckCode;
use accord_hl7::Message;
use accord_runtime::spec::{Action, Interface};

/// What the peer's reply means.
pub fn classify(reply: &[u8], sent_control_id: Option<&str>) -> (String, Option<String>) {
    let Ok(msg) = Message::parse(reply) else {
        return (
            "no_msa".into(),
            Some("the reply does not parse as HL7".into()),
        );
    };
    let code = msg
        .get_text("MSA-1")
        .ok()
        .flatten()
        .map(|c| c.trim().to_string());
    let Some(code) = code.filter(|c| AckCode::parse(c).is_some()) else {
        return (
            "no_msa".into(),
            Some("the reply has no MSA-1 acknowledgement code".into()),
        );
    };
    let echoed = msg
        .get_text("MSA-2")
        .ok()
        .flatten()
        .map(|c| c.trim().to_string());
    if let (Some(sent), Some(echoed)) = (sent_control_id, echoed.as_deref()) {
        if sent != echoed {
            return (
                "mismatch".into(),
                Some(format!(
                    "MSA-2 `{echoed}` does not echo the control id `{sent}`"
                )),
            );
        }
    }
    let text = msg
        .get_text("MSA-3")
        .ok()
        .flatten()
        .map(|t| t.to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| {
            msg.get_text("ERR-8")
                .ok()
                .flatten()
                .map(|t| t.to_string())
                .filter(|t| !t.is_empty())
        });
    (code.to_ascii_uppercase(), text)
}

/// What to do with the message after a reply of some class.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `completed`, `retrying`, `dead` or `queued` (suspended: left as it is).
    pub state: &'static str,
    /// Milliseconds until the next attempt, when retrying.
    pub retry_in_ms: Option<u64>,
    pub reason: Option<&'static str>,
    pub alerts: Vec<String>,
    pub suspend: bool,
    pub warn: bool,
    /// Interfaces the message is also sent to (`send ...`).
    pub send: Vec<String>,
}

fn positive(class: &str) -> bool {
    matches!(class, "AA" | "CA")
}

fn reason_of(class: &str) -> &'static str {
    match class {
        "timeout" => "timeout",
        "refused" => "transport",
        _ => "nack",
    }
}

/// `attempts`: how many times the message was sent before, this reply included.
pub fn decide(iface: &Interface, class: &str, attempts: u32) -> Decision {
    let policy = iface
        .replies
        .iter()
        .find(|p| p.classes.iter().any(|c| c == class));
    let (actions, then) = match policy {
        Some(p) => (p.actions.clone(), p.then.clone()),
        None => (accord_runtime::spec::default_actions(class), vec![]),
    };
    let mut d = Decision {
        state: "",
        retry_in_ms: None,
        reason: None,
        alerts: vec![],
        suspend: false,
        warn: false,
        send: vec![],
    };
    let run = |actions: &[Action], d: &mut Decision| -> bool {
        for a in actions {
            match a {
                Action::Retry {
                    times,
                    forever,
                    backoff_min_ms,
                    backoff_max_ms,
                    every_ms,
                } => {
                    let retries_done = attempts.saturating_sub(1);
                    if *forever || times.is_some_and(|t| retries_done < t) {
                        let wait = match (every_ms, backoff_min_ms) {
                            (Some(e), _) => *e,
                            (None, Some(min)) => {
                                let grown = min.saturating_mul(1u64 << retries_done.min(20));
                                grown.min(backoff_max_ms.unwrap_or(u64::MAX))
                            }
                            (None, None) => 1_000,
                        };
                        d.state = "retrying";
                        d.retry_in_ms = Some(wait);
                        return true;
                    }
                    return false;
                }
                Action::DeadLetter | Action::Fail => {
                    d.state = "dead";
                    d.reason = Some(reason_of(class));
                }
                Action::Complete => d.state = "completed",
                Action::Suspend => {
                    d.suspend = true;
                    d.state = "queued";
                }
                Action::Warn => d.warn = true,
                Action::Alert { target } => d.alerts.push(target.clone()),
                Action::Send { interface } => d.send.push(interface.clone()),
            }
        }
        true
    };
    if !run(&actions, &mut d) {
        d.state = "";
        if then.is_empty() {
            d.state = "dead";
            d.reason = Some(reason_of(class));
        } else {
            run(&then, &mut d);
        }
    }
    if d.state.is_empty() {
        // Only alerts or warnings: a positive reply completes, anything else is kept aside.
        if positive(class)
            || (d.warn
                && d.alerts.is_empty()
                && d.send.is_empty()
                && !matches!(class, "timeout" | "refused"))
        {
            d.state = "completed";
        } else {
            d.state = "dead";
            d.reason = Some(reason_of(class));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_runtime::spec::{ReplyPolicy, Role};

    fn iface(replies: Vec<ReplyPolicy>) -> Interface {
        let mut i = Interface::example("x", Role::Operation);
        i.ack.mode = "application".into();
        i.replies = replies;
        i
    }

    #[test]
    fn retries_then_dead_letter_with_alert() {
        let i = iface(vec![ReplyPolicy {
            classes: vec!["AE".into()],
            actions: vec![Action::Retry {
                times: Some(2),
                forever: false,
                backoff_min_ms: Some(100),
                backoff_max_ms: Some(250),
                every_ms: None,
            }],
            then: vec![
                Action::DeadLetter,
                Action::Alert {
                    target: "lab".into(),
                },
            ],
        }]);
        assert_eq!(decide(&i, "AE", 1).retry_in_ms, Some(100));
        assert_eq!(decide(&i, "AE", 2).retry_in_ms, Some(200));
        let last = decide(&i, "AE", 3);
        assert_eq!(
            (last.state, last.reason, last.alerts.clone()),
            ("dead", Some("nack"), vec!["lab".to_string()])
        );
        assert_eq!(decide(&i, "AA", 1).state, "completed");
        assert_eq!(decide(&i, "AR", 1).state, "dead");
        assert_eq!(decide(&i, "refused", 7).state, "retrying");
    }

    #[test]
    fn classifies_replies() {
        let ack = b"MSH|^~\\&|B|B|A|A|20261122||ACK^A01|1|P|2.5\rMSA|AE|C1|bad sex\r";
        assert_eq!(
            classify(ack, Some("C1")),
            ("AE".into(), Some("bad sex".into()))
        );
        assert_eq!(classify(ack, Some("C2")).0, "mismatch");
        assert_eq!(classify(b"MSH|^~\\&|B\rPID|1\r", None).0, "no_msa");
        assert_eq!(classify(b"garbage", None).0, "no_msa");
    }
}
