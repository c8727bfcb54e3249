//! Stateful flows: a start interface, a correlation key, a wait with a timeout on a known
//! interface, a timeout action, retries that end, and cancellations the production can
//! read off the start message.

use super::interfaces::{check_action, check_key};
use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{
    Action, ActionKind, BinOp, Expr, ExprKind, FlowClauseKind, Hl7Path, KeyExpr, LitKind,
};

/// The action's word when it does nothing on this flow event: a flow has no delivery to
/// retry or suspend, and nothing to hold once the awaited message has arrived.
fn without_effect<'a>(a: &'a Action, event: &str) -> Option<&'a str> {
    match &a.kind {
        ActionKind::Retry { .. } => Some("retry"),
        ActionKind::Simple(t) if t.text == "suspend" => Some("suspend"),
        ActionKind::Simple(t)
            if event != "timeout" && (t.text == "dead_letter" || t.text == "fail") =>
        {
            Some(&t.text)
        }
        _ => None,
    }
}

pub(super) fn check(c: &mut Checker) {
    for (_, d) in c.m.flows.iter() {
        let (mut start, mut wait, mut correlate, mut timeout) = (false, false, false, false);
        let cancel = d
            .node
            .clauses
            .iter()
            .any(|cl| matches!(cl.kind, FlowClauseKind::Cancel(_)));
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
                // Any length: the production holds a reply at most this long.
                FlowClauseKind::HoldEarly(_) => {}
                FlowClauseKind::Cancel(cond) => match (cancel_values(cond), start_iface) {
                    (None, _) => c.push(diag::bad_cancel(
                        cond.span,
                        "the production cannot tell a cancellation by this",
                        "compare an HL7 path of the start message with text, joined by `or`: `cancel when ORC-1 == \"CA\" or ORC-1 == \"OC\"`",
                    )),
                    (Some(values), Some(i)) => {
                        for (path, _) in values {
                            check_key(c, i, &KeyExpr::Hl7(path.clone()));
                        }
                    }
                    (Some(_), None) => {}
                },
                FlowClauseKind::On { event, actions } => {
                    timeout |= event.text == "timeout";
                    if event.text == "cancel" && !cancel {
                        c.push(diag::bad_cancel(
                            event.span,
                            "`on cancel` in a flow that says nothing is a cancellation",
                            "say which start messages cancel the wait: `cancel when ORC-1 == \"CA\"`",
                        ));
                    }
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

/// The (path, value) pairs of a cancellation `P == "v" or P == "w" ...`: a start message
/// with any of them cancels; `None` for any other condition (E0523).
pub fn cancel_values(e: &Expr) -> Option<Vec<(&Hl7Path, String)>> {
    match &e.kind {
        ExprKind::Paren(inner) => cancel_values(inner),
        ExprKind::Binary {
            op: BinOp::Or,
            lhs,
            rhs,
        } => {
            let mut out = cancel_values(lhs)?;
            out.extend(cancel_values(rhs)?);
            Some(out)
        }
        ExprKind::Binary {
            op: BinOp::Eq,
            lhs,
            rhs,
        } => match (&lhs.kind, &rhs.kind) {
            (ExprKind::Hl7(p), ExprKind::Lit(l)) | (ExprKind::Lit(l), ExprKind::Hl7(p)) => {
                match &l.kind {
                    LitKind::Str(s) => Some(vec![(p, s.value.clone())]),
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}
