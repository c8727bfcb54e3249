//! Stateful flows: a start interface, a correlation key, a wait with a timeout on a known
//! interface, a timeout action, and retries that end.

use super::interfaces::{check_action, check_key};
use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{Action, ActionKind, FlowClauseKind, KeyExpr};

/// The action's word when it does nothing on this flow event: a flow has no delivery to
/// retry or suspend, and nothing to hold once the awaited message has arrived.
fn without_effect<'a>(a: &'a Action, event: &str) -> Option<&'a str> {
    match &a.kind {
        ActionKind::Retry { .. } => Some("retry"),
        ActionKind::Simple(t) if t.text == "suspend" => Some("suspend"),
        ActionKind::Simple(t)
            if event == "reply" && (t.text == "dead_letter" || t.text == "fail") =>
        {
            Some(&t.text)
        }
        _ => None,
    }
}

pub(super) fn check(c: &mut Checker) {
    for (_, d) in c.m.flows.iter() {
        let (mut start, mut wait, mut correlate, mut timeout) = (false, false, false, false);
        let start_iface = d.node.clauses.iter().find_map(|cl| match &cl.kind {
            FlowClauseKind::Start(i) => c.m.id(Kind::Interface, &i.name),
            _ => None,
        });
        for cl in &d.node.clauses {
            match &cl.kind {
                FlowClauseKind::Start(i) => {
                    start = true;
                    c.lookup(i, Kind::Interface);
                }
                FlowClauseKind::Wait { interface, .. } => {
                    wait = true;
                    c.lookup(interface, Kind::Interface);
                }
                FlowClauseKind::Correlate(k) => {
                    correlate = true;
                    match start_iface {
                        Some(i) => check_key(c, i, k),
                        None => {
                            if let KeyExpr::Path(p) = k {
                                let scope = super::exprs::Scope {
                                    record_heads: true,
                                    stored: false,
                                    ..Default::default()
                                };
                                c.type_path(p, &scope, &mut vec![]);
                            }
                        }
                    }
                }
                FlowClauseKind::On { event, actions } => {
                    timeout |= event.text == "timeout";
                    for a in actions {
                        check_action(c, a);
                        if let Some(word) = without_effect(a, &event.text) {
                            c.push(diag::flow_action_without_effect(a.span, word, &event.text));
                        }
                    }
                }
            }
        }
        for (present, clause, example) in [
            (start, "start on", "start on orders_to_lims"),
            (correlate, "correlate by", "correlate by ORC-2"),
            (wait, "wait for", "wait for results_to_trakcare within 24h"),
            (timeout, "on timeout", "on timeout: alert \"lab-oncall\""),
        ] {
            if !present {
                c.push(diag::missing_clause(d.name.span, "flow", clause, example));
            }
        }
    }
}
