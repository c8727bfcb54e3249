//! Routes (routing rules): a known source interface and targets, boolean conditions over
//! the message, no rule that can never fire (shadowed by an earlier rule, after
//! `otherwise`, or for a message type the source never receives), an `otherwise` on every
//! route, no cycle between routes, and no message type sent to an interface whose
//! `messages:` does not carry it.

use super::exprs::Scope;
use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{
    ActionKind, FlowClauseKind, Ident, IfaceClauseKind, Route, RouteRuleKind, RuleTypes, Token,
};
use accord_dsl::Span;

/// Whether the production sends to interface `name`: a route's target, or one a reply
/// policy or a flow sends to (`send x`).
pub(super) fn sent_to(c: &Checker, name: &str) -> bool {
    let routed = c.m.routes.iter().any(|(_, r)| {
        r.node.rules.iter().any(|rule| match &rule.kind {
            RouteRuleKind::Match { targets, .. } | RouteRuleKind::Otherwise { targets } => {
                targets.iter().any(|t| t.name == name)
            }
        })
    });
    let sends = |actions: &[accord_dsl::ast::Action]| {
        actions
            .iter()
            .any(|a| matches!(&a.kind, ActionKind::Send(t) if t.name == name))
    };
    let by_policy = c.m.interfaces.iter().any(|(_, d)| {
        d.node.clauses.iter().any(|cl| match &cl.kind {
            IfaceClauseKind::On { actions, then, .. } => sends(actions) || sends(then),
            _ => false,
        })
    });
    let by_flow = c.m.flows.iter().any(|(_, d)| {
        d.node.clauses.iter().any(|cl| match &cl.kind {
            FlowClauseKind::On { actions, .. } => sends(actions),
            _ => false,
        })
    });
    routed || by_policy || by_flow
}

pub(super) fn check(c: &mut Checker) {
    let mut edges: Vec<Vec<(usize, Span)>> = vec![vec![]; c.m.routes.len()];
    for (rid, d) in c.m.routes.iter() {
        let from = c.lookup(&d.node.from, Kind::Interface);
        let received = from.map(|i| received_types(c, i));
        let api = from.is_some_and(|i| super::api::is_api(c, i));
        let received = received.flatten();
        if !api {
            check_carried(c, d.node, received.as_deref());
        }
        check_rules(c, d.node, received, api);
        if api {
            check_api_rules(c, d.node);
        }
        for rule in &d.node.rules {
            let targets = match &rule.kind {
                RouteRuleKind::Match { targets, .. } | RouteRuleKind::Otherwise { targets } => {
                    targets
                }
            };
            for t in targets {
                match lookup_target(c, t) {
                    Some((Kind::Route, to)) => edges[rid].push((to, t.span)),
                    Some((Kind::Interface, to)) => {
                        if let Some(status) = retired(c, to) {
                            c.push(diag::route_to_retired(t.span, &t.name, status));
                        }
                    }
                    _ => {}
                }
            }
        }
        if !d
            .node
            .rules
            .iter()
            .any(|r| matches!(r.kind, RouteRuleKind::Otherwise { .. }))
        {
            c.push(diag::route_without_otherwise(d.name, d.span));
        }
    }
    report_cycles(c, &edges);
}

/// The `status: retired` clause of interface `iface`, when it is retired.
fn retired(c: &Checker, iface: usize) -> Option<Span> {
    c.m.interfaces
        .get(iface)
        .node
        .clauses
        .iter()
        .find_map(|cl| match &cl.kind {
            IfaceClauseKind::Status { status, .. } if status.name == "retired" => Some(cl.span),
            _ => None,
        })
}

fn lookup_target(c: &mut Checker, t: &Ident) -> Option<(Kind, usize)> {
    if t.name == "discard" && !c.m.names.contains_key("discard") {
        return None;
    }
    c.lookup_any(t, &[Kind::Interface, Kind::Route, Kind::Flow])
}

/// The message types an interface declares it receives (trigger level), if it lists any;
/// for an API interface, the FHIR resource types it accepts.
fn received_types(c: &Checker, iface: usize) -> Option<Vec<String>> {
    if super::api::is_api(c, iface) {
        return Some(
            super::api::accepted(c, iface)
                .into_iter()
                .map(|(res, _)| res)
                .collect(),
        );
    }
    c.m.interfaces
        .get(iface)
        .node
        .clauses
        .iter()
        .find_map(|cl| match &cl.kind {
            IfaceClauseKind::Messages(ms) => Some(ms.iter().map(|m| trigger(&m.text)).collect()),
            _ => None,
        })
}

/// The `messages:` clause of an HL7 v2 interface: its span and the triggers it lists.
fn carried_types(c: &Checker, iface: usize) -> Option<(Span, Vec<String>)> {
    if super::api::is_api(c, iface) {
        return None;
    }
    c.m.interfaces
        .get(iface)
        .node
        .clauses
        .iter()
        .find_map(|cl| match &cl.kind {
            IfaceClauseKind::Messages(ms) => {
                Some((cl.span, ms.iter().map(|m| trigger(&m.text)).collect()))
            }
            _ => None,
        })
}

/// What the source receives that no earlier unconditional rule took (`None`: unknown).
fn not_taken(received: Option<&[String]>, taken: &[String]) -> Option<Vec<String>> {
    received.map(|recv| {
        recv.iter()
            .filter(|t| !taken.contains(t))
            .cloned()
            .collect()
    })
}

/// Every message type that can reach each rule (named by it, or for `otherwise` and `*`
/// what the source receives and no earlier unconditional rule takes) must be carried by
/// each interface the rule sends to.
fn check_carried(c: &mut Checker, r: &Route, received: Option<&[String]>) {
    let mut taken: Vec<String> = vec![];
    let mut all_taken = false;
    for rule in &r.rules {
        if all_taken {
            return;
        }
        let (reaching, targets, unconditional) = match &rule.kind {
            RouteRuleKind::Match {
                types: Some(RuleTypes::List(ts)),
                when,
                targets,
            } => {
                let named: Vec<String> = ts.iter().map(|t| trigger(&t.text)).collect();
                let reaching: Vec<String> = named
                    .iter()
                    .filter(|t| !taken.contains(t))
                    .filter(|t| received.is_none_or(|recv| recv.contains(t)))
                    .cloned()
                    .collect();
                if when.is_none() {
                    taken.extend(named);
                }
                (Some(reaching), targets, false)
            }
            RouteRuleKind::Match { when, targets, .. } => {
                (not_taken(received, &taken), targets, when.is_none())
            }
            RouteRuleKind::Otherwise { targets } => (not_taken(received, &taken), targets, true),
        };
        all_taken |= unconditional;
        let Some(reaching) = reaching else { continue };
        for t in targets {
            let Some(&(Kind::Interface, to)) = c.m.names.get(t.name.as_str()) else {
                continue;
            };
            let Some((span, carried)) = carried_types(c, to) else {
                continue;
            };
            let missing: Vec<String> = reaching
                .iter()
                .filter(|ty| !carried.contains(ty))
                .cloned()
                .collect();
            if !missing.is_empty() {
                c.push(diag::route_type_not_carried(t, &missing, span, &carried));
            }
        }
    }
}

/// `ADT^A01^ADT_A01` -> `ADT^A01`.
fn trigger(t: &str) -> String {
    t.split('^').take(2).collect::<Vec<_>>().join("^")
}

/// What an earlier, unconditional rule already takes: all types, or these.
enum Taken {
    All(Span),
    Types(Vec<(String, Span)>),
}

fn check_rules(c: &mut Checker, r: &Route, received: Option<Vec<String>>, api: bool) {
    let scope = Scope {
        hl7: true,
        record_heads: true,
        stored: false,
        ..Scope::default()
    };
    let mut taken = Taken::Types(vec![]);
    for rule in &r.rules {
        match &rule.kind {
            RouteRuleKind::Otherwise { .. } => {
                if let Taken::All(prev) = taken {
                    c.push(diag::unreachable_rule(
                        rule.span,
                        prev,
                        "an earlier rule already takes every message",
                    ));
                }
                taken = Taken::All(rule.span);
            }
            RouteRuleKind::Match { types, when, .. } => {
                // A condition on an API route is refused as a whole (E0421).
                if let Some(w) = when.as_ref().filter(|_| !api) {
                    let t = c.type_of(w, &scope, &mut vec![]);
                    c.expect_boolean(&t, w.span);
                }
                let list: Option<&Vec<Token>> = match types {
                    Some(RuleTypes::List(ts)) => Some(ts),
                    _ => None,
                };
                match (&taken, list) {
                    (Taken::All(prev), _) => {
                        c.push(diag::unreachable_rule(
                            rule.span,
                            *prev,
                            "an earlier rule already takes every message",
                        ));
                        continue;
                    }
                    (Taken::Types(prev), Some(ts)) => {
                        let shadowed: Vec<Span> = ts
                            .iter()
                            .filter_map(|t| {
                                prev.iter()
                                    .find(|(p, _)| *p == trigger(&t.text))
                                    .map(|(_, s)| *s)
                            })
                            .collect();
                        if shadowed.len() == ts.len() && !ts.is_empty() {
                            c.push(diag::unreachable_rule(rule.span, shadowed[0], "an earlier rule without a condition already takes these message types"));
                            continue;
                        }
                        if let Some(recv) = &received {
                            let never: Vec<&Token> = ts
                                .iter()
                                .filter(|t| !recv.contains(&trigger(&t.text)))
                                .collect();
                            if never.len() == ts.len() {
                                c.push(diag::unreachable_rule(
                                    rule.span,
                                    r.from.span,
                                    &format!(
                                        "the interface `{}` never receives {}",
                                        r.from.name,
                                        never
                                            .iter()
                                            .map(|t| t.text.as_str())
                                            .collect::<Vec<_>>()
                                            .join(" or ")
                                    ),
                                ));
                                continue;
                            }
                        }
                    }
                    _ => {}
                }
                if when.is_none() {
                    match list {
                        None => taken = Taken::All(rule.span),
                        Some(ts) => {
                            if let Taken::Types(prev) = &mut taken {
                                prev.extend(ts.iter().map(|t| (trigger(&t.text), rule.span)));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A route from an API interface sends on what clients create, by resource type: its
/// rules name types (no condition over the resource) and send to interfaces.
fn check_api_rules(c: &mut Checker, r: &Route) {
    for rule in &r.rules {
        let targets = match &rule.kind {
            RouteRuleKind::Match { when: Some(w), .. } => {
                c.push(diag::api_route_condition(w.span, r.from.span));
                continue;
            }
            RouteRuleKind::Match { targets, .. } | RouteRuleKind::Otherwise { targets } => targets,
        };
        for t in targets {
            if let Some(&(k @ (Kind::Route | Kind::Flow), _)) = c.m.names.get(t.name.as_str()) {
                c.push(diag::api_route_target(t, k, r.from.span));
            }
        }
    }
}

/// Depth-first search over route -> route edges; each cycle is reported once, at the
/// edge that closes it.
fn report_cycles(c: &mut Checker, edges: &[Vec<(usize, Span)>]) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Active,
        Done,
    }
    let mut state = vec![State::New; edges.len()];
    let mut stack: Vec<usize> = vec![];
    fn visit(
        n: usize,
        edges: &[Vec<(usize, Span)>],
        state: &mut Vec<State>,
        stack: &mut Vec<usize>,
        found: &mut Vec<(Vec<usize>, Span)>,
    ) {
        state[n] = State::Active;
        stack.push(n);
        for &(to, span) in &edges[n] {
            match state[to] {
                State::New => visit(to, edges, state, stack, found),
                State::Active => {
                    let start = stack.iter().position(|&x| x == to).unwrap_or(0);
                    found.push((stack[start..].to_vec(), span));
                }
                State::Done => {}
            }
        }
        stack.pop();
        state[n] = State::Done;
    }
    let mut found = vec![];
    for n in 0..edges.len() {
        if state[n] == State::New {
            visit(n, edges, &mut state, &mut stack, &mut found);
        }
    }
    for (cycle, span) in found {
        let names: Vec<String> = cycle
            .iter()
            .map(|&r| c.m.routes.get(r).name.name.clone())
            .collect();
        let first = c.m.routes.get(cycle[0]).name.span;
        c.push(diag::route_cycle(span, first, &names));
    }
}
