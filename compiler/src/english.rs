//! Contract clauses in plain English for the governance board and `accord diff`: ACK
//! modes, reply policies ("An AE reply is retried 5 times, 2 s to 5 min apart, then
//! dead-lettered"), keys, durations and SLAs. Reads IR values only; no markup (the site's
//! templates escape the text).

use crate::ir::{
    AcceptWhen, Ack, Action, Conflict, Interface, Key, OwnershipRow, ReplyPolicy, Sla,
};

/// The reply classes a policy can name, in the order the site lists them.
const CLASSES: [&str; 11] = [
    "AA", "AE", "AR", "CA", "CE", "CR", "no_msa", "mismatch", "timeout", "refused", "invalid",
];

/// `2000` -> `2 s`, `300000` -> `5 min`, `86400000` -> `24 h` (whole hours up to a day).
pub fn duration(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1_000, "s"),
    ];
    for (i, (unit, name)) in UNITS.iter().enumerate() {
        // Whole days read better as hours up to two days (`24 h`, `36 h`).
        if i == 0 && ms <= 2 * 86_400_000 {
            continue;
        }
        if ms >= *unit && ms.is_multiple_of(*unit) {
            return format!("{} {name}", ms / unit);
        }
    }
    format!("{ms} ms")
}

fn class_name(class: &str) -> String {
    match class {
        "timeout" => "No reply within the timeout".into(),
        "refused" => "A refused or dropped connection".into(),
        "no_msa" => "A reply without an MSA segment".into(),
        "mismatch" => "A reply whose MSA-2 does not match the message's control id".into(),
        "invalid" => "A message that breaks the receiver's profile or its HL7 v2 structure".into(),
        code => format!("{} {code} reply", article(code)),
    }
}

/// `An` before a code read letter by letter with a vowel sound first (`An AE`, `A CE`).
fn article(code: &str) -> &'static str {
    match code.chars().next() {
        Some('A' | 'E' | 'F' | 'H' | 'I' | 'L' | 'M' | 'N' | 'O' | 'R' | 'S' | 'X') => "An",
        _ => "A",
    }
}

fn is_ack_code(class: &str) -> bool {
    class.len() == 2 && class.chars().all(|c| c.is_ascii_uppercase())
}

/// `An AE or AR reply`, `No reply within the timeout or a refused or dropped connection`.
fn classes_phrase(classes: &[String]) -> String {
    if !classes.is_empty() && classes.iter().all(|c| is_ack_code(c)) {
        let (head, last) = classes.split_at(classes.len() - 1);
        return if head.is_empty() {
            class_name(&last[0])
        } else {
            format!(
                "{} {} or {} reply",
                article(&head[0]),
                head.join(", "),
                last[0]
            )
        };
    }
    let names: Vec<String> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = class_name(c);
            if i == 0 {
                n
            } else {
                lower_first(&n)
            }
        })
        .collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, head)) => format!("{} or {last}", head.join(", ")),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One action as a verb phrase: `retried 5 times, 2 s to 5 min apart`.
fn action_phrase(a: &Action) -> String {
    match a {
        Action::Retry {
            times,
            forever,
            backoff_min_ms,
            backoff_max_ms,
            every_ms,
        } => {
            let count = match (times, forever) {
                (_, true) => "retried until it succeeds".to_string(),
                (Some(1), _) => "retried once".to_string(),
                (Some(n), _) => format!("retried {n} times"),
                (None, false) => "retried".to_string(),
            };
            let spacing = match (every_ms, backoff_min_ms, backoff_max_ms) {
                (Some(e), _, _) => format!(", every {}", duration(*e)),
                (_, Some(lo), Some(hi)) => {
                    format!(", {} to {} apart", duration(*lo), duration(*hi))
                }
                (_, Some(lo), None) => format!(", at least {} apart", duration(*lo)),
                _ => String::new(),
            };
            count + &spacing
        }
        Action::DeadLetter => "dead-lettered".into(),
        Action::Complete => "completed".into(),
        Action::Suspend => "held while the operation is suspended for an operator".into(),
        Action::Warn => "completed with a warning in the log".into(),
        Action::Fail => "failed (dead-lettered)".into(),
        Action::Alert { target } => format!("alerts \u{201c}{target}\u{201d}"),
        Action::Send { interface } => format!("sent on to {interface}"),
    }
}

/// Joins phrases: passive ones with `, `, alerts as `and alerts ...`.
fn actions_phrase(actions: &[Action]) -> String {
    let mut passive = vec![];
    let mut alerts = vec![];
    for a in actions {
        match a {
            Action::Alert { .. } => alerts.push(action_phrase(a)),
            _ => passive.push(action_phrase(a)),
        }
    }
    let mut out = String::new();
    if !passive.is_empty() {
        out.push_str("is ");
        out.push_str(&passive.join(", then "));
    }
    for al in alerts {
        if !out.is_empty() {
            out.push_str(" and ");
        }
        out.push_str(&al);
    }
    out
}

/// `An AE reply is retried 5 times, 2 s to 5 min apart, then dead-lettered and alerts "lab-oncall".`
pub fn reply_policy(p: &ReplyPolicy) -> String {
    let mut s = format!(
        "{} {}",
        classes_phrase(&p.classes),
        actions_phrase(&p.actions)
    );
    if !p.then.is_empty() {
        let then = actions_phrase(&p.then);
        s.push_str(", then ");
        s.push_str(then.trim_start_matches("is "));
    }
    s.push('.');
    s
}

fn ir_actions(spec: Vec<accord_runtime::spec::Action>) -> Vec<Action> {
    use accord_runtime::spec::Action as S;
    spec.into_iter()
        .map(|a| match a {
            S::Retry {
                times,
                forever,
                backoff_min_ms,
                backoff_max_ms,
                every_ms,
            } => Action::Retry {
                times,
                forever,
                backoff_min_ms,
                backoff_max_ms,
                every_ms,
            },
            S::DeadLetter => Action::DeadLetter,
            S::Complete => Action::Complete,
            S::Suspend => Action::Suspend,
            S::Warn => Action::Warn,
            S::Fail => Action::Fail,
            S::Alert { target } => Action::Alert { target },
            S::Send { interface } => Action::Send { interface },
        })
        .collect()
}

/// The reply handling of an operation in full: its own policies, then what the engine
/// does by default for each class the contract leaves out (from the runtime's defaults).
/// Commit-level classes (CA/CE/CR) apply to commit ACKs, the others to application ACKs.
pub fn reply_handling(i: &Interface) -> (Vec<String>, Vec<String>) {
    let own = i.replies.iter().map(reply_policy).collect();
    let named: Vec<&str> = i
        .replies
        .iter()
        .flat_map(|p| p.classes.iter().map(String::as_str))
        .collect();
    let relevant: &[&str] = match i.ack.mode.as_str() {
        "commit" => &[
            "CA", "CE", "CR", "no_msa", "mismatch", "timeout", "refused", "invalid",
        ],
        "never" => &["refused", "invalid"],
        _ => &CLASSES,
    };
    let defaults = relevant
        .iter()
        .filter(|c| !named.contains(c))
        .map(|c| {
            reply_policy(&ReplyPolicy {
                classes: vec![c.to_string()],
                actions: ir_actions(accord_runtime::spec::default_actions(c)),
                then: vec![],
            })
        })
        .collect();
    (own, defaults)
}

/// The ACK clause as it reads to a sender (service) or for deliveries (operation).
pub fn ack(a: &Ack, outbound: bool) -> String {
    let within = a
        .timeout_ms
        .map(|t| format!(" within {}", duration(t)))
        .unwrap_or_default();
    match (a.mode.as_str(), outbound) {
        ("never", false) => "Messages are not acknowledged.".into(),
        ("never", true) => "Deliveries expect no reply: a message is done once written.".into(),
        ("commit", false) => {
            "A commit ACK (CA/AA) is sent once the message is durable in the journal.".into()
        }
        ("commit", true) => format!("Each delivery waits for the receiver's commit ACK{within}."),
        ("application", false) => format!(
            "The ACK waits for the downstream outcome{within}: AA when it is delivered, AE or AR when it fails."
        ),
        ("application", true) => {
            format!("Each delivery waits for the receiver's application ACK{within}.")
        }
        ("msh", _) => {
            "MSH-15 and MSH-16 of each message decide which ACKs are sent (enhanced mode).".into()
        }
        (other, _) => format!("ACK mode {other}{within}."),
    }
}

/// A key as written: `MSH-4, MSH-10` or `Patient.mrn`.
pub fn key(k: &Key) -> String {
    match k {
        Key::Hl7 { path } => path.text.clone(),
        Key::Field { record, path } => {
            let steps: Vec<&str> = path.iter().map(|s| s.name.as_str()).collect();
            match record {
                Some(r) => format!("{r}.{}", steps.join(".")),
                None => steps.join("."),
            }
        }
    }
}

/// The condition of an accepted writer: empty, `when absent`, `when stage before admitted`,
/// `when stage in [registered admitted]`.
pub fn accept_when(w: &Option<AcceptWhen>) -> String {
    match w {
        None => String::new(),
        Some(AcceptWhen::Absent) => "when absent".into(),
        Some(AcceptWhen::StageBefore { stage }) => format!("when stage before {stage}"),
        Some(AcceptWhen::StageIn { stages }) => format!("when stage in [{}]", stages.join(" ")),
    }
}

/// A matrix row's conflict rule: `owner wins`, `human review (demographics-queue)`,
/// `newest wins (by event time updated_at)`.
pub fn conflict(row: &OwnershipRow) -> String {
    match (&row.conflict, &row.ordered_by) {
        (Conflict::Newest, Some(by)) => format!("newest wins (by event time {by})"),
        (c, _) => conflict_rule(c),
    }
}

fn conflict_rule(c: &Conflict) -> String {
    match c {
        Conflict::OwnerWins => "owner wins".into(),
        Conflict::Newest => "newest wins".into(),
        Conflict::Reject => "reject (dead letter)".into(),
        Conflict::Review { queue: Some(q) } => format!("human review ({q})"),
        Conflict::Review { queue: None } => "human review".into(),
    }
}

pub fn sla(s: &Sla) -> String {
    match s {
        Sla::Delivered {
            percentile,
            under_ms,
        } => format!("{percentile}% delivered within {}", duration(*under_ms)),
        Sla::Backlog { under } => format!("backlog under {under} messages"),
        Sla::Quiet { under_ms } => format!("never quiet for {}", duration(*under_ms)),
    }
}

/// A merge clause in words: `merges Patient MRG-1.1 into PID-3.1, later messages for the
/// retired key follow the survivor`.
pub fn merge(m: &crate::ir::Merge) -> String {
    let later = match &m.policy {
        crate::ir::MergePolicy::Follow => "are taken as the survivor's".to_string(),
        crate::ir::MergePolicy::Hold { queue } => format!(
            "wait for a person in review queue `{}`",
            queue.as_deref().unwrap_or("review")
        ),
    };
    format!(
        "merges the {} at {} into the one at {}; later messages for the retired key {later}",
        m.record, m.retired.text, m.survivor.text
    )
}

/// A link clause in words: `links the Patient at PID[1]-3.1 with the one at PID[2]-3.1
/// on an ADT^A24, and unlinks them on an ADT^A37`.
pub fn link(l: &crate::ir::Link) -> String {
    format!(
        "links the {} at {} with the one at {} on an ADT^A24 (both records stay; FHIR `Patient.link` says `seealso`), and unlinks them on an ADT^A37",
        l.record, l.first.text, l.second.text
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(2_000), "2 s");
        assert_eq!(duration(300_000), "5 min");
        assert_eq!(duration(86_400_000), "24 h");
        assert_eq!(duration(30 * 86_400_000), "30 d");
        assert_eq!(duration(1_500), "1500 ms");
    }

    #[test]
    fn the_issue_sentence() {
        let p = ReplyPolicy {
            classes: vec!["AE".into()],
            actions: vec![Action::Retry {
                times: Some(5),
                forever: false,
                backoff_min_ms: Some(2_000),
                backoff_max_ms: Some(300_000),
                every_ms: None,
            }],
            then: vec![Action::DeadLetter],
        };
        assert_eq!(
            reply_policy(&p),
            "An AE reply is retried 5 times, 2 s to 5 min apart, then dead-lettered."
        );
    }

    #[test]
    fn several_classes_and_alerts() {
        let p = ReplyPolicy {
            classes: vec!["AE".into(), "AR".into()],
            actions: vec![
                Action::DeadLetter,
                Action::Alert {
                    target: "lab-oncall".into(),
                },
            ],
            then: vec![],
        };
        assert_eq!(
            reply_policy(&p),
            "An AE or AR reply is dead-lettered and alerts \u{201c}lab-oncall\u{201d}."
        );
        let t = ReplyPolicy {
            classes: vec!["timeout".into(), "refused".into()],
            actions: vec![Action::Retry {
                times: None,
                forever: true,
                backoff_min_ms: None,
                backoff_max_ms: None,
                every_ms: Some(30_000),
            }],
            then: vec![],
        };
        assert_eq!(
            reply_policy(&t),
            "No reply within the timeout or a refused or dropped connection is retried until it succeeds, every 30 s."
        );
    }
}
