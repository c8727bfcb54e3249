//! Changes to what interfaces carry: records and their fields, codesets, code maps, the
//! source-of-truth matrix, conformance profiles and mappings. Each change counts against
//! the interfaces (of the new estate) that carry the record, use the code map or profile,
//! or run the mapping.

use super::interfaces::surviving;
use super::Changes;
use crate::ir::{self, Constraint, Estate, Stmt, Type};
use crate::ir_text::{self, type_text};
use crate::uses;
use std::collections::BTreeMap;

fn optional(t: &Type) -> Option<&Type> {
    match t {
        Type::Optional { of } => Some(of),
        _ => None,
    }
}

/// Whether `new` admits fewer values than `old`; `None` when they are not comparable.
fn tighter(old: &Constraint, new: &Constraint) -> Option<bool> {
    match (old, new) {
        (Constraint::Length { min: a, max: b }, Constraint::Length { min: c, max: d }) => {
            let min_up = c.unwrap_or(0) > a.unwrap_or(0);
            let max_down = match (b, d) {
                (None, Some(_)) => true,
                (Some(b), Some(d)) => d < b,
                _ => false,
            };
            Some(min_up || max_down)
        }
        _ => None,
    }
}

fn constraints(record: &str, o: &ir::Field, n: &ir::Field, users: &[String], out: &mut Changes) {
    let subject = format!("field {record}.{}", n.name);
    let kind = |c: &Constraint| std::mem::discriminant(c);
    for oc in &o.constraints {
        match n.constraints.iter().find(|nc| kind(nc) == kind(oc)) {
            None => out.push(
                "field-constraint-relaxed",
                subject.clone(),
                format!("{} removed", ir_text::constraint(oc)),
                users.to_vec(),
            ),
            Some(nc) if nc != oc => {
                let rule = match tighter(oc, nc) {
                    Some(false) => "field-constraint-relaxed",
                    // Another pattern, range or check: assume it rejects something.
                    _ => "field-constraint-tightened",
                };
                out.push(
                    rule,
                    subject.clone(),
                    format!("{} -> {}", ir_text::constraint(oc), ir_text::constraint(nc)),
                    users.to_vec(),
                );
            }
            Some(_) => {}
        }
    }
    for nc in n
        .constraints
        .iter()
        .filter(|nc| !o.constraints.iter().any(|oc| kind(oc) == kind(nc)))
    {
        out.push(
            "field-constraint-tightened",
            subject.clone(),
            format!("{} added", ir_text::constraint(nc)),
            users.to_vec(),
        );
    }
}

fn records(old: &Estate, new: &Estate, out: &mut Changes) {
    for o in &old.records {
        let users = uses::interfaces_with_record(new, &o.name);
        let Some(n) = new.records.iter().find(|r| r.name == o.name) else {
            let was = uses::interfaces_with_record(old, &o.name);
            out.push(
                "record-removed",
                format!("record {}", o.name),
                "removed".into(),
                surviving(new, was),
            );
            continue;
        };
        for of in &o.fields {
            let subject = format!("field {}.{}", o.name, of.name);
            let Some(nf) = n.fields.iter().find(|f| f.name == of.name) else {
                out.push(
                    "field-removed",
                    subject,
                    format!("{} removed", type_text(&of.ty)),
                    users.clone(),
                );
                continue;
            };
            if of.ty != nf.ty {
                let (rule, detail) = match (optional(&of.ty), optional(&nf.ty)) {
                    (Some(inner), None) if inner == &nf.ty => {
                        ("field-made-required", "now required")
                    }
                    (None, Some(inner)) if inner == &of.ty => {
                        ("field-made-optional", "now optional")
                    }
                    _ => ("field-type-changed", ""),
                };
                let detail = if detail.is_empty() {
                    format!("type {} -> {}", type_text(&of.ty), type_text(&nf.ty))
                } else {
                    format!("{detail} ({} -> {})", type_text(&of.ty), type_text(&nf.ty))
                };
                out.push(rule, subject.clone(), detail, users.clone());
            }
            constraints(&o.name, of, nf, &users, out);
            if of.docs != nf.docs {
                out.docs(subject);
            }
        }
        for nf in n
            .fields
            .iter()
            .filter(|f| !o.fields.iter().any(|x| x.name == f.name))
        {
            let required = !matches!(nf.ty, Type::Optional { .. } | Type::List { .. });
            out.push(
                if required {
                    "field-added-required"
                } else {
                    "field-added"
                },
                format!("field {}.{}", n.name, nf.name),
                format!("{} added", type_text(&nf.ty)),
                users.clone(),
            );
        }
        if o.docs != n.docs {
            out.docs(format!("record {}", n.name));
        }
    }
    for n in new
        .records
        .iter()
        .filter(|r| !old.records.iter().any(|o| o.name == r.name))
    {
        out.added("record-added", format!("record {}", n.name));
    }
}

/// The interfaces that carry a record typed with `codeset`.
fn codeset_users(estate: &Estate, codeset: &str) -> Vec<String> {
    let uses_it = |t: &Type| -> bool {
        fn walk(t: &Type, cs: &str) -> bool {
            match t {
                Type::Code { codeset } => codeset == cs,
                Type::List { of } | Type::Optional { of } => walk(of, cs),
                _ => false,
            }
        }
        walk(t, codeset)
    };
    let mut out = vec![];
    for r in estate
        .records
        .iter()
        .filter(|r| r.fields.iter().any(|f| uses_it(&f.ty)))
    {
        out.extend(uses::interfaces_with_record(estate, &r.name));
    }
    for c in estate
        .codemaps
        .iter()
        .filter(|c| uses_it(&c.from) || uses_it(&c.to))
    {
        out.extend(uses::interfaces_with_codemap(estate, &c.name));
    }
    out
}

fn codesets(old: &Estate, new: &Estate, out: &mut Changes) {
    for o in &old.codesets {
        let Some(n) = new.codesets.iter().find(|c| c.name == o.name) else {
            out.push(
                "codeset-removed",
                format!("codeset {}", o.name),
                "removed".into(),
                surviving(new, codeset_users(old, &o.name)),
            );
            continue;
        };
        let users = codeset_users(new, &n.name);
        for c in o
            .codes
            .iter()
            .filter(|c| !n.codes.iter().any(|x| x.code == c.code))
        {
            out.push(
                "code-removed",
                format!("codeset {}", o.name),
                format!("code {} removed", c.code),
                users.clone(),
            );
        }
        for c in n
            .codes
            .iter()
            .filter(|c| !o.codes.iter().any(|x| x.code == c.code))
        {
            out.push(
                "code-added",
                format!("codeset {}", n.name),
                format!("code {} added", c.code),
                users.clone(),
            );
        }
        let displays_changed = o.codes.iter().any(|c| {
            n.codes
                .iter()
                .any(|x| x.code == c.code && x.display != c.display)
        });
        if displays_changed || o.docs != n.docs {
            out.push(
                "docs-changed",
                format!("codeset {}", n.name),
                "displays or doc comment reworded".into(),
                vec![],
            );
        }
        if o.system != n.system {
            out.push(
                "code-system-changed",
                format!("codeset {}", n.name),
                format!(
                    "code system {} -> {}",
                    o.system.as_deref().unwrap_or("(local)"),
                    n.system.as_deref().unwrap_or("(local)")
                ),
                users,
            );
        }
    }
    for n in new
        .codesets
        .iter()
        .filter(|c| !old.codesets.iter().any(|o| o.name == c.name))
    {
        out.added("codeset-added", format!("codeset {}", n.name));
    }
}

/// Compares two keyed maps: a key only in `a` is `rules[0]`, a value that differs is
/// `rules[1]`, a key only in `b` is `rules[2]`; `detail` words each (key, old, new).
fn keyed<K: Ord + std::fmt::Display, V: PartialEq>(
    a: &BTreeMap<K, V>,
    b: &BTreeMap<K, V>,
    rules: [&'static str; 3],
    detail: impl Fn(&K, Option<&V>, Option<&V>) -> String,
    (subject, users): (&str, &[String]),
    out: &mut Changes,
) {
    for (k, was) in a {
        match b.get(k) {
            None => out.push(
                rules[0],
                subject.into(),
                detail(k, Some(was), None),
                users.to_vec(),
            ),
            Some(now) if now != was => out.push(
                rules[1],
                subject.into(),
                detail(k, Some(was), Some(now)),
                users.to_vec(),
            ),
            Some(_) => {}
        }
    }
    for (k, now) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
        out.push(
            rules[2],
            subject.into(),
            detail(k, None, Some(now)),
            users.to_vec(),
        );
    }
}

fn entries(c: &ir::Codemap) -> BTreeMap<&str, &str> {
    c.entries
        .iter()
        .flat_map(|e| e.from.iter().map(move |f| (f.as_str(), e.to.as_str())))
        .collect()
}

fn default_text(d: &ir::CodemapDefault) -> String {
    match d {
        ir::CodemapDefault::Reject { message: Some(m) } => format!("reject \"{m}\""),
        ir::CodemapDefault::Reject { message: None } => "reject".into(),
        ir::CodemapDefault::Value { code } => format!("\"{code}\""),
        ir::CodemapDefault::Pass => "pass".into(),
        ir::CodemapDefault::Absent => "absent".into(),
    }
}

fn codemaps(old: &Estate, new: &Estate, out: &mut Changes) {
    for o in &old.codemaps {
        let subject = format!("codemap {}", o.name);
        let Some(n) = new.codemaps.iter().find(|c| c.name == o.name) else {
            out.push(
                "codemap-removed",
                subject,
                "removed".into(),
                surviving(new, uses::interfaces_with_codemap(old, &o.name)),
            );
            continue;
        };
        let users = uses::interfaces_with_codemap(new, &n.name);
        let (a, b) = (entries(o), entries(n));
        keyed(
            &a,
            &b,
            [
                "codemap-code-unmapped",
                "codemap-target-changed",
                "codemap-code-added",
            ],
            |from, was, now| match (was, now) {
                (Some(to), None) => format!(
                    "\"{from}\" => \"{to}\" removed; it now falls to {}",
                    default_text(&n.default)
                ),
                (Some(to), Some(t)) => format!("\"{from}\" => \"{to}\" is now \"{t}\""),
                (_, to) => format!("\"{from}\" => \"{}\" added", to.unwrap_or(&"")),
            },
            (&subject, &users),
            out,
        );
        if o.default != n.default {
            let widened = matches!(o.default, ir::CodemapDefault::Reject { .. })
                && !matches!(n.default, ir::CodemapDefault::Reject { .. });
            let only_message = matches!(
                (&o.default, &n.default),
                (
                    ir::CodemapDefault::Reject { .. },
                    ir::CodemapDefault::Reject { .. }
                )
            );
            let rule = if only_message {
                "docs-changed"
            } else if widened {
                "codemap-default-widened"
            } else {
                "codemap-default-changed"
            };
            out.push(
                rule,
                subject.clone(),
                format!(
                    "otherwise {} -> {}",
                    default_text(&o.default),
                    default_text(&n.default)
                ),
                if only_message { vec![] } else { users.clone() },
            );
        }
        if (&o.from, &o.to) != (&n.from, &n.to) {
            out.push(
                "codemap-types-changed",
                subject.clone(),
                format!(
                    "types {} -> {} are now {} -> {}",
                    type_text(&o.from),
                    type_text(&o.to),
                    type_text(&n.from),
                    type_text(&n.to)
                ),
                users.clone(),
            );
        }
        if o.docs != n.docs {
            out.docs(subject);
        }
    }
    for n in new
        .codemaps
        .iter()
        .filter(|c| !old.codemaps.iter().any(|o| o.name == c.name))
    {
        out.added("codemap-added", format!("codemap {}", n.name));
    }
}

/// ` when absent` after a system's name, or nothing.
fn accept_when(w: &Option<ir::AcceptWhen>) -> String {
    let w = crate::english::accept_when(w);
    if w.is_empty() {
        w
    } else {
        format!(" {w}")
    }
}

fn matrix(old: &Estate, new: &Estate, out: &mut Changes) {
    let key = |r: &ir::OwnershipRow| (r.record.clone(), r.field.clone());
    let rows = |e: &Estate| -> BTreeMap<(String, String), ir::OwnershipRow> {
        e.ownership.iter().map(|r| (key(r), r.clone())).collect()
    };
    let (a, b) = (rows(old), rows(new));
    for ((record, field), o) in &a {
        let subject = format!("matrix {record}.{field}");
        let users = uses::interfaces_with_record(new, record);
        let Some(n) = b.get(&(record.clone(), field.clone())) else {
            out.push(
                "owner-changed",
                subject,
                format!("owner {} removed: the field is unowned", o.owner),
                users,
            );
            continue;
        };
        if o.owner != n.owner {
            out.push(
                "owner-changed",
                subject.clone(),
                format!("owner {} -> {}", o.owner, n.owner),
                users.clone(),
            );
        }
        for acc in &o.accept {
            match n.accept.iter().find(|x| x.system == acc.system) {
                None => out.push(
                    "writer-narrowed",
                    subject.clone(),
                    format!("accept {}{} removed", acc.system, accept_when(&acc.when)),
                    users.clone(),
                ),
                Some(x) if x.when != acc.when => {
                    // Dropping a condition only widens; anything else may refuse writes.
                    let rule = if x.when.is_none() {
                        "writer-added"
                    } else {
                        "writer-narrowed"
                    };
                    out.push(
                        rule,
                        subject.clone(),
                        format!(
                            "accept {}{} -> {}{}",
                            acc.system,
                            accept_when(&acc.when),
                            x.system,
                            accept_when(&x.when)
                        ),
                        users.clone(),
                    );
                }
                Some(_) => {}
            }
        }
        for acc in n
            .accept
            .iter()
            .filter(|x| !o.accept.iter().any(|y| y.system == x.system))
        {
            out.push(
                "writer-added",
                subject.clone(),
                format!("accept {}{} added", acc.system, accept_when(&acc.when)),
                users.clone(),
            );
        }
        if o.conflict != n.conflict || o.ordered_by != n.ordered_by {
            out.push(
                "conflict-rule-changed",
                subject.clone(),
                format!(
                    "conflict {} -> {}",
                    crate::english::conflict(o),
                    crate::english::conflict(n)
                ),
                users.clone(),
            );
        }
        if o.lock_from != n.lock_from {
            let position = |s: &Option<String>| {
                s.as_ref()
                    .and_then(|s| n.stages.iter().position(|x| x == s))
            };
            let earlier = match (position(&o.lock_from), position(&n.lock_from)) {
                (_, None) if n.lock_from.is_none() => false,
                (None, Some(_)) => true,
                (Some(a), Some(b)) => b < a,
                _ => true,
            };
            let t = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
            out.push(
                if earlier {
                    "lock-added"
                } else {
                    "lock-removed"
                },
                subject.clone(),
                format!("lock from {} -> {}", t(&o.lock_from), t(&n.lock_from)),
                users.clone(),
            );
        }
        if o.docs != n.docs {
            out.docs(subject);
        }
    }
    for ((record, field), n) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
        out.push(
            "owner-changed",
            format!("matrix {record}.{field}"),
            format!("now owned by {}", n.owner),
            uses::interfaces_with_record(new, record),
        );
    }
}

/// Usage codes from loosest to strictest.
fn usage_rank(u: &str) -> u8 {
    match u {
        "X" => 0,
        "O" | "" => 1,
        "RE" | "C" | "CE" => 2,
        "R" => 3,
        _ => 1,
    }
}

fn rule_text(r: &ir::ProfileRule) -> String {
    let mut t = format!(
        "{} {}",
        r.path.text,
        if r.usage.is_empty() { "O" } else { &r.usage }
    );
    if let Some(min) = r.min {
        t.push_str(&format!(
            " {min}..{}",
            r.max.map(|m| m.to_string()).unwrap_or_else(|| "*".into())
        ));
    }
    if let Some(l) = r.length {
        t.push_str(&format!(" length {l}"));
    }
    t
}

fn profile_users(estate: &Estate, profile: &str) -> Vec<String> {
    let mut out: Vec<String> = estate
        .interfaces
        .iter()
        .filter(|i| i.profile.as_deref() == Some(profile))
        .map(|i| i.name.clone())
        .collect();
    for m in &estate.mappings {
        for s in [&m.source, &m.target] {
            if matches!(s, ir::Schema::Hl7 { profile: Some(p), .. } if p == profile) {
                out.extend(uses::interfaces_with_mapping(estate, &m.name));
            }
        }
    }
    out
}

fn profiles(old: &Estate, new: &Estate, out: &mut Changes) {
    for o in &old.profiles {
        let Some(n) = new.profiles.iter().find(|p| p.name == o.name) else {
            continue; // An interface that used it reports `profile-changed`.
        };
        let subject = format!("profile {}", n.name);
        let users = profile_users(new, &n.name);
        if o.version != n.version {
            out.push(
                "profile-usage-tightened",
                subject.clone(),
                format!("HL7 version {} -> {}", o.version, n.version),
                users.clone(),
            );
        }
        for m in o.messages.iter().filter(|m| !n.messages.contains(m)) {
            out.push(
                "profile-usage-tightened",
                subject.clone(),
                format!("message type {m} no longer in the profile"),
                users.clone(),
            );
        }
        for orule in &o.rules {
            match n.rules.iter().find(|r| r.path.text == orule.path.text) {
                None => out.push(
                    "profile-usage-relaxed",
                    subject.clone(),
                    format!("{} removed", rule_text(orule)),
                    users.clone(),
                ),
                Some(nrule) if nrule != orule => {
                    let tighter = usage_rank(&nrule.usage) > usage_rank(&orule.usage)
                        || nrule.min.unwrap_or(0) > orule.min.unwrap_or(0)
                        || matches!((orule.max, nrule.max), (None, Some(_)))
                        || matches!((orule.max, nrule.max), (Some(a), Some(b)) if b < a)
                        || matches!((orule.length, nrule.length), (None, Some(_)))
                        || matches!((orule.length, nrule.length), (Some(a), Some(b)) if b < a)
                        || (nrule.table.is_some() && nrule.table != orule.table);
                    out.push(
                        if tighter {
                            "profile-usage-tightened"
                        } else {
                            "profile-usage-relaxed"
                        },
                        subject.clone(),
                        format!("{} -> {}", rule_text(orule), rule_text(nrule)),
                        users.clone(),
                    );
                }
                Some(_) => {}
            }
        }
        for nrule in n
            .rules
            .iter()
            .filter(|r| !o.rules.iter().any(|x| x.path.text == r.path.text))
        {
            let tighter = usage_rank(&nrule.usage) > usage_rank("O")
                || nrule.max.is_some()
                || nrule.length.is_some();
            out.push(
                if tighter {
                    "profile-usage-tightened"
                } else {
                    "profile-usage-relaxed"
                },
                subject.clone(),
                format!("{} added", rule_text(nrule)),
                users.clone(),
            );
        }
        for seg in o
            .segments
            .iter()
            .filter(|s| !n.segments.iter().any(|x| x.id == s.id))
        {
            out.push(
                "profile-usage-tightened",
                subject.clone(),
                format!("local segment {} removed", seg.id),
                users.clone(),
            );
        }
        for seg in n
            .segments
            .iter()
            .filter(|s| !o.segments.iter().any(|x| x.id == s.id))
        {
            out.push(
                "profile-usage-relaxed",
                subject.clone(),
                format!("local segment {} added", seg.id),
                users.clone(),
            );
        }
    }
}

/// A mapping's outputs: target (with its loop prefix) -> source and conditions, as text.
fn outputs(body: &[Stmt], prefix: &str, cond: &str, out: &mut BTreeMap<String, String>) {
    for s in body {
        match s {
            Stmt::Assign {
                target,
                values,
                clear,
                ..
            } => {
                let t = format!("{prefix}{}", ir_text::target(target));
                let v: Vec<String> = values.iter().map(ir_text::expr).collect();
                let clear = if *clear { " clear" } else { "" };
                out.insert(t, format!("{}{clear}{cond}", v.join(", ")));
            }
            Stmt::For {
                target,
                source,
                body,
                ..
            } => {
                let over = ir_text::iter_source(source);
                let p = format!("{prefix}{}[each {over}].", ir_text::target(target));
                outputs(body, &p, cond, out);
            }
            Stmt::When {
                cond: c,
                then,
                otherwise,
                ..
            } => {
                let c = ir_text::expr(c);
                outputs(then, prefix, &format!("{cond} when {c}"), out);
                outputs(otherwise, prefix, &format!("{cond} unless {c}"), out);
            }
        }
    }
}

fn mappings(old: &Estate, new: &Estate, out: &mut Changes) {
    for o in &old.mappings {
        let Some(n) = new.mappings.iter().find(|m| m.name == o.name) else {
            continue; // Interfaces that ran it report `transforms-changed`.
        };
        let subject = format!("mapping {}", n.name);
        let users = uses::interfaces_with_mapping(new, &n.name);
        if (&o.source, &o.target) != (&n.source, &n.target) {
            out.push(
                "mapping-schema-changed",
                subject.clone(),
                "source or target schema changed".into(),
                users.clone(),
            );
        } else if o.partial != n.partial {
            // What the sender's message writes changes: the fields it leaves out were
            // writes of nothing, and are now no writes (or the other way round).
            out.push(
                "mapping-schema-changed",
                subject.clone(),
                if n.partial {
                    "now writes its record in part: the fields it leaves out come from the stored record"
                } else {
                    "now writes its whole record: the fields it leaves out are unset"
                }
                .into(),
                users.clone(),
            );
        }
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        outputs(&o.body, "", "", &mut a);
        outputs(&n.body, "", "", &mut b);
        keyed(
            &a,
            &b,
            [
                "mapping-output-removed",
                "mapping-source-changed",
                "mapping-output-added",
            ],
            |t, was, now| match (was, now) {
                (Some(src), None) => format!("{t} <- {src} removed"),
                (Some(src), Some(s)) => format!("{t} <- {src} is now {t} <- {s}"),
                (_, s) => format!("{t} <- {} added", s.map(String::as_str).unwrap_or("")),
            },
            (&subject, &users),
            out,
        );
        if o.docs != n.docs {
            out.docs(subject);
        }
    }
}

pub fn diff(old: &Estate, new: &Estate, out: &mut Changes) {
    records(old, new, out);
    codesets(old, new, out);
    codemaps(old, new, out);
    matrix(old, new, out);
    profiles(old, new, out);
    mappings(old, new, out);
}
