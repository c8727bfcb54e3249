//! Scenarios (`scenario "..." { ... }`): every step names something the production runs.
//! A message is sent at an interface the production receives; a peer, a count of what a
//! peer received and a resend are of an interface it sends to; a stored record is one a
//! matrix governs, with a field it has; an ACK is expected only after a message was sent.
//! Names that do not exist are E0511, as in tests; names that exist but cannot play the
//! part are E0524.

use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{Ident, IfaceClauseKind, ScenarioExpect, StepKind};

pub(super) fn check(c: &mut Checker) {
    for (s, _, span) in c.m.scenarios.clone() {
        // Whether a message was sent yet, and whether its sender hears an ACK.
        let (mut sent, mut acked) = (false, true);
        for step in &s.steps {
            match &step.kind {
                StepKind::Send { source, at } => {
                    sent = true;
                    acked = !never_acks(c, &at.name);
                    if let Some(id) = interface(c, at) {
                        if !super::merges::receives(c, id) {
                            c.push(diag::scenario_step(
                                at.span,
                                format!("the production does not receive `{}`", at.name),
                                "send a message at an interface a route reads from (or one to the engine system)".into(),
                            ));
                        }
                    }
                    super::tests::message_file(c, source, span);
                }
                StepKind::Peer { operation, answers } => {
                    operation_of(c, operation);
                    if never_acks(c, &operation.name) {
                        c.push(diag::scenario_step(
                            answers.first().map_or(operation.span, |a| a.span),
                            format!("`{}` says `ack: never`: its peer is never asked for a reply", operation.name),
                            "leave the answers out, or give the interface an `ack` its peer answers".into(),
                        ));
                    }
                }
                StepKind::Expect(ScenarioExpect::Received { operation, .. })
                | StepKind::Expect(ScenarioExpect::ReceivedValues { operation, .. }) => {
                    operation_of(c, operation);
                }
                StepKind::Resend(i) | StepKind::Replay(i) => {
                    interface(c, i);
                }
                StepKind::Review { .. } => {}
                StepKind::Advance(d) => {
                    if d.millis == 0 {
                        c.push(diag::scenario_step(
                            d.span,
                            "the clock does not move".into(),
                            "advance by a duration of more than zero, such as `31s`".into(),
                        ));
                    }
                }
                StepKind::Expect(ScenarioExpect::Ack(code)) => {
                    if !sent {
                        c.push(diag::scenario_step(
                            code.span,
                            "an ACK is expected before any message was sent".into(),
                            "`expect ack` checks the reply to the last `send`: put it after one"
                                .into(),
                        ));
                    } else if !acked {
                        c.push(diag::scenario_step(
                            code.span,
                            "the last message was sent at an interface that says `ack: never`: no ACK comes back".into(),
                            "expect what the message did instead (`expect OP received 1`), or send it where an ACK is given".into(),
                        ));
                    }
                }
                StepKind::Expect(ScenarioExpect::Flow { flow, .. }) => {
                    c.lookup(flow, Kind::Flow);
                }
                StepKind::Expect(ScenarioExpect::Count { at, .. }) => {
                    if let Some(at) = at {
                        interface(c, at);
                    }
                }
                StepKind::Expect(ScenarioExpect::Link { record, .. }) => {
                    let Some(rid) = c.lookup(record, Kind::Record) else {
                        continue;
                    };
                    if c.kept_fields(rid).is_empty() {
                        c.push(diag::scenario_step(
                            record.span,
                            format!(
                                "`{}` is not stored, so no two of them are linked",
                                record.name
                            ),
                            format!(
                                "give `{}` an ownership matrix and an interface a `link:` clause",
                                record.name
                            ),
                        ));
                    }
                }
                StepKind::Expect(ScenarioExpect::Record { record, field, .. }) => {
                    let Some(rid) = c.lookup(record, Kind::Record) else {
                        continue;
                    };
                    if c.kept_fields(rid).is_empty() {
                        c.push(diag::scenario_step(
                            record.span,
                            format!("`{}` is not stored, so there is no record to look at", record.name),
                            format!("give `{}` an ownership matrix: the production stores the records a matrix governs", record.name),
                        ));
                        continue;
                    }
                    if let Some((f, _)) = field {
                        let seg = accord_dsl::ast::PathSeg {
                            name: f.clone(),
                            index: None,
                            filter: None,
                        };
                        c.walk_fields(rid, &[seg]);
                    }
                }
            }
        }
        if !sent {
            c.push(diag::scenario_step(
                s.name.span,
                "the scenario sends no message".into(),
                "start with `send hl7 file(\"samples/adt_a01.hl7\") at trakcare_adt_in`".into(),
            ));
        }
    }
}

/// Whether interface `name` says `ack: never` (false when it does not exist).
fn never_acks(c: &Checker, name: &str) -> bool {
    c.m.interfaces.iter().any(|(_, d)| {
        d.node.name.name == name
            && d.node.clauses.iter().any(
                |cl| matches!(&cl.kind, IfaceClauseKind::Ack { mode, .. } if mode.name == "never"),
            )
    })
}

/// The interface `i` names, or E0511.
fn interface(c: &mut Checker, i: &Ident) -> Option<usize> {
    match c.m.names.get(i.name.as_str()) {
        Some(&(Kind::Interface, id)) => Some(id),
        _ => {
            let hint = crate::suggest::did_you_mean(&i.name, c.m.names_of(Kind::Interface));
            c.push(diag::scenario_unknown(i, hint));
            None
        }
    }
}

/// Checks that `i` is an interface the production sends to: a route's target, or one a
/// reply policy or a flow sends to.
fn operation_of(c: &mut Checker, i: &Ident) {
    if interface(c, i).is_none() {
        return;
    }
    let name = i.name.as_str();
    if !super::routes::sent_to(c, name) {
        c.push(diag::scenario_step(
            i.span,
            format!("the production does not send to `{name}`, so it has no peer"),
            "name an interface a route sends to: its peer is the system that receives it".into(),
        ));
    }
}
