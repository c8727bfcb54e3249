//! Merge and link clauses, the identity of stored records (`merge: Patient from MRG-1.1
//! into PID-3.1 follow`, `link: Patient PID[1]-3.1 with PID[2]-3.1`): the record is one
//! the production stores (a matrix, one text key), the interface is one it receives, the
//! paths exist in what it receives and differ, every interface that merges a record agrees
//! on what later messages for a retired key do, and a link's interface receives the
//! messages that link (ADT^A24) or unlink (ADT^A37).

use super::{interfaces::check_key, Checker};
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{Ident, IfaceClauseKind, KeyExpr, Link, Merge, MergePolicy};

pub(super) fn check(c: &mut Checker) {
    // The first merge of each record, with its policy in words, for the others to match.
    let mut policies: Vec<(String, String, accord_dsl::Span)> = vec![];
    for (id, d) in c.m.interfaces.iter() {
        for cl in &d.node.clauses {
            if let IfaceClauseKind::Link(l) = &cl.kind {
                check_link(c, id, l);
            }
            let IfaceClauseKind::Merge(m) = &cl.kind else {
                continue;
            };
            check_merge(c, id, m);
            let policy = policy_words(&m.policy);
            match policies.iter().find(|(r, _, _)| *r == m.record.name) {
                Some((_, first, at)) if *first != policy => {
                    c.push(
                        diag::bad_merge(
                            policy_span(&m.policy),
                            format!(
                                "`{}` is merged by two interfaces that treat a retired key differently",
                                m.record.name
                            ),
                            format!(
                                "another merge of `{}` says `{first}`: later messages for a retired key are treated one way, whichever interface merged it",
                                m.record.name
                            ),
                        )
                        .with_label(*at, "the other merge's policy"),
                    );
                }
                Some(_) => {}
                None => policies.push((m.record.name.clone(), policy, policy_span(&m.policy))),
            }
        }
    }
}

fn policy_words(p: &MergePolicy) -> String {
    match p {
        MergePolicy::Follow(_) => "follow".into(),
        MergePolicy::Hold { queue: None, .. } => "hold".into(),
        MergePolicy::Hold { queue: Some(q), .. } => format!("hold \"{}\"", q.value),
    }
}

fn policy_span(p: &MergePolicy) -> accord_dsl::Span {
    match p {
        MergePolicy::Follow(s) | MergePolicy::Hold { span: s, .. } => *s,
    }
}

fn check_merge(c: &mut Checker, interface: usize, m: &Merge) {
    for p in [&m.retired, &m.survivor] {
        check_key(c, interface, &KeyExpr::Hl7(p.clone()));
    }
    if !receives(c, interface) {
        let name = c.m.interfaces.get(interface).name.name.clone();
        c.push(diag::bad_merge(
            m.record.span,
            format!("`{name}` merges records, but the production does not receive it"),
            "a merge is read from a message the production receives: put it on an interface that a route reads from, or one to the engine system".into(),
        ));
    }
    if m.retired.to_string() == m.survivor.to_string() {
        c.push(diag::bad_merge(
            m.survivor.span,
            "the retired and the surviving key are read from the same place".into(),
            "name the retired key where the message carries it (`MRG-1.1` in an A40) and the survivor's in the patient's identifiers (`PID-3.1`)".into(),
        ));
    }
    stored_by_one_key(c, &m.record, "merge");
}

/// A link's keys are read from a message the production receives, from two places, and
/// the interface receives ADT^A24 or ADT^A37, the events that link and unlink.
fn check_link(c: &mut Checker, interface: usize, l: &Link) {
    for p in [&l.first, &l.second] {
        check_key(c, interface, &KeyExpr::Hl7(p.clone()));
    }
    let name = c.m.interfaces.get(interface).name.name.clone();
    if !receives(c, interface) {
        c.push(diag::bad_link(
            l.record.span,
            format!("`{name}` links records, but the production does not receive it"),
            "a link is read from a message the production receives: put it on an interface that a route reads from, or one to the engine system".into(),
        ));
    }
    if l.first.to_string() == l.second.to_string() {
        c.push(diag::bad_link(
            l.second.span,
            "both linked keys are read from the same place".into(),
            "an ADT^A24 names the two patients in two PID segments: `PID[1]-3.1 with PID[2]-3.1`"
                .into(),
        ));
    }
    let messages =
        c.m.interfaces
            .get(interface)
            .node
            .clauses
            .iter()
            .find_map(|cl| match &cl.kind {
                IfaceClauseKind::Messages(ms) => {
                    Some(ms.iter().map(|m| m.text.clone()).collect::<Vec<_>>())
                }
                _ => None,
            });
    if let Some(ms) = messages {
        let events = ms
            .iter()
            .any(|m| m.starts_with("ADT^A24") || m.starts_with("ADT^A37"));
        if !events {
            c.push(diag::bad_link(
                l.record.span,
                format!("`{name}` links records, but receives neither ADT^A24 nor ADT^A37"),
                "an ADT^A24 links two records and an ADT^A37 unlinks them: add them to the interface's `messages:`".into(),
            ));
        }
    }
    stored_by_one_key(c, &l.record, "link");
}

/// `record` is stored (a matrix governs it) and found by one text key, as a merge or a
/// link (`what`) names it.
fn stored_by_one_key(c: &mut Checker, record: &Ident, what: &str) {
    let bad = |at, why: String, help: String| match what {
        "link" => diag::bad_link(at, why, help),
        _ => diag::bad_merge(at, why, help),
    };
    let Some(rid) = c.lookup(record, Kind::Record) else {
        return;
    };
    let name = &record.name;
    if c.kept_fields(rid).is_empty() {
        c.push(bad(
            record.span,
            format!("`{name}` is not stored, so there is nothing to {what}"),
            format!("give `{name}` an ownership matrix: the production stores the records a matrix governs"),
        ));
        return;
    }
    match c.key_fields(rid).as_slice() {
        [(_, ty)] if ty.is_textual() => {}
        [(field, ty)] => {
            let t = c.ty_name(ty);
            c.push(bad(
                record.span,
                format!("`{name}` is keyed by `{field}`, {t}, but a {what} reads its keys as text"),
                format!("make `{field}` a `Text` key"),
            ))
        }
        keys => c.push(bad(
            record.span,
            format!(
                "`{name}` has {} key fields, but a {what} names a record by one",
                keys.len()
            ),
            format!(
                "{what} a record with one `key` field; `{name}` is found by {}",
                keys.iter()
                    .map(|(f, _)| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The production receives `interface`: a route reads from it, or it goes to the engine.
pub(super) fn receives(c: &Checker, interface: usize) -> bool {
    let i = c.m.interfaces.get(interface);
    let routed =
        c.m.routes
            .iter()
            .any(|(_, r)| r.node.from.name == i.name.name);
    let to = i.node.clauses.iter().find_map(|cl| match &cl.kind {
        IfaceClauseKind::Route { to, .. } => Some(to.name.as_str()),
        _ => None,
    });
    let engine = c.m.systems.iter().find(|(_, s)| {
        s.node
            .props
            .iter()
            .any(|p| p.key.name == "role" && crate::model::lit_word(&p.value) == Some("engine"))
    });
    routed || engine.is_some_and(|(_, s)| Some(s.name.name.as_str()) == to)
}
