//! The source-of-truth matrix: each field named once with exactly one owner, known
//! systems, conflict rules and workflow stages; and no interface writes a field that the
//! matrix does not let its sending system write.

use super::{Checker, MappingFacts, SchemaTy};
use crate::builtins::CONFLICT_RULES;
use crate::diagnostics as diag;
use crate::model::Kind;
use crate::suggest::did_you_mean;
use crate::types::Ty;
use accord_dsl::ast::{AcceptCond, ConflictRule, Ident, IfaceClauseKind, OwnClauseKind, Ownership};
use accord_dsl::Span;
use std::collections::HashMap;

/// One row of the matrix after checking: who may write a field.
pub struct Row {
    pub owner: Option<(String, Span)>,
    pub accepted: Vec<String>,
    pub span: Span,
}

pub(super) fn check(c: &mut Checker, facts: &[MappingFacts]) {
    let mut rows: HashMap<(usize, String), Row> = HashMap::new();
    for (o, _, _) in c.m.ownerships.clone() {
        let Some(rid) = c.lookup(&o.record, Kind::Record) else {
            continue;
        };
        let stages: Vec<&str> = o.stages.iter().map(|s| s.name.as_str()).collect();
        check_stage_source(c, o, rid, &stages);
        check_record_key(c, o, rid);
        for f in &o.fields {
            if c.walk_fields(
                rid,
                &f.path
                    .iter()
                    .map(|i| accord_dsl::ast::PathSeg {
                        name: i.clone(),
                        index: None,
                        filter: None,
                    })
                    .collect::<Vec<_>>(),
            )
            .is_none()
            {
                continue;
            }
            let key = (
                rid,
                f.path
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
            );
            let mut owners: Vec<&Ident> = vec![];
            let mut accepted = vec![];
            for clause in &f.clauses {
                match &clause.kind {
                    OwnClauseKind::Owner(sys) => {
                        for s in sys {
                            c.lookup(s, Kind::System);
                            owners.push(s);
                        }
                    }
                    OwnClauseKind::Accept { systems, when } => {
                        for s in systems {
                            c.lookup(s, Kind::System);
                            accepted.push(s.name.clone());
                        }
                        match when {
                            Some(AcceptCond::StageBefore(st)) => check_stage(c, st, &stages),
                            Some(AcceptCond::StageIn(sts)) => {
                                sts.iter().for_each(|st| check_stage(c, st, &stages))
                            }
                            _ => {}
                        }
                    }
                    OwnClauseKind::Conflict(ConflictRule::Named(n, _))
                        if !CONFLICT_RULES.contains(&n.name.as_str()) =>
                    {
                        c.push(diag::invalid_value(
                            n.span,
                            "conflict rule",
                            &n.name,
                            CONFLICT_RULES,
                            did_you_mean(&n.name, CONFLICT_RULES.iter().copied()),
                        ));
                    }
                    OwnClauseKind::Conflict(ConflictRule::Named(n, Some(by))) => {
                        check_event_time(c, rid, n, by)
                    }
                    OwnClauseKind::Lock(st) => check_stage(c, st, &stages),
                    _ => {}
                }
            }
            if owners.len() > 1 {
                c.push(diag::two_owners(&key.1, owners[0], owners[1]));
            }
            if owners.is_empty() {
                c.push(diag::field_without_owner(f.span, &key.1));
            }
            if let Some(prev) = rows.get(&key) {
                match (&prev.owner, owners.first()) {
                    (Some((prev_owner, prev_span)), Some(o)) if prev_owner != &o.name => {
                        let prev_ident = Ident {
                            name: prev_owner.clone(),
                            span: *prev_span,
                        };
                        c.push(diag::two_owners(&key.1, &prev_ident, o));
                    }
                    _ => c.push(diag::duplicate_clause(f.span, prev.span, &key.1)),
                }
                continue;
            }
            rows.insert(
                key,
                Row {
                    owner: owners.first().map(|o| (o.name.clone(), o.span)),
                    accepted,
                    span: f.span,
                },
            );
        }
    }
    check_interface_writes(c, facts, &rows);
    check_partial(c, facts, &rows);
    check_unique(c, &rows);
}

/// `unique`: the production compares a new value with the stored records, so the field is
/// one the matrix keeps, of a record found by its key, and not that key (a key is one
/// record by definition).
fn check_unique(c: &mut Checker, rows: &HashMap<(usize, String), Row>) {
    for rid in 0..c.m.record_fields.len() {
        let record = c.m.records.get(rid).name.name.clone();
        for f in c.m.record_fields[rid].clone() {
            let kinds: Vec<&accord_dsl::ast::ConstraintKind> =
                f.decl.constraints.iter().map(|k| &k.kind).collect();
            let Some(unique) = f
                .decl
                .constraints
                .iter()
                .find(|k| matches!(k.kind, accord_dsl::ast::ConstraintKind::Unique))
            else {
                continue;
            };
            let name = f.decl.name.name.clone();
            let problem = if kinds
                .iter()
                .any(|k| matches!(k, accord_dsl::ast::ConstraintKind::Key))
            {
                Some((
                    format!("`{record}.{name}` is the record's key, which is one record already"),
                    "leave out `unique`: no two stored records share a key".to_string(),
                ))
            } else if c.key_fields(rid).is_empty() {
                Some((
                    format!("`{record}` has no key, so the production stores none of it to compare `{name}` with"),
                    format!("give `{record}` a `key` field and an ownership matrix"),
                ))
            } else if !rows.contains_key(&(rid, name.clone())) {
                Some((
                    format!("the production does not store `{record}.{name}`, so it cannot keep it unique"),
                    format!("give `{name}` a row in `ownership {record}`: the production stores the fields the matrix governs"),
                ))
            } else {
                None
            };
            if let Some((what, help)) = problem {
                c.push(diag::bad_unique(unique.span, what, help));
            }
        }
    }
}

/// `-> partial Record`: the production completes what the mapping does not write from
/// the stored record, so the record must be one it keeps (a matrix and a key), the
/// mapping must write the key that finds it, and every required field it leaves out
/// must be one the matrix keeps.
fn check_partial(c: &mut Checker, facts: &[MappingFacts], rows: &HashMap<(usize, String), Row>) {
    let m = c.m;
    for (mid, d) in m.mappings.iter() {
        let Some(word) = d.node.partial else { continue };
        let target = d.node.target.span;
        let rid = match facts[mid].target {
            SchemaTy::Record(r) => r,
            SchemaTy::Unknown => continue,
            _ => {
                c.push(diag::partial_update(
                    word,
                    "only a record can be written in part",
                    "HL7 v2 messages and FHIR resources are written whole",
                    "drop `partial`, or map into a record the matrix keeps and map that record on",
                ));
                continue;
            }
        };
        let record = c.record_name(rid).to_string();
        let fields = &m.record_fields[rid];
        let keys = c.key_fields(rid);
        let is_key = |f: &crate::model::FieldInfo| keys.iter().any(|(k, _)| k == f.name);
        let governed = rows.keys().any(|(r, _)| *r == rid);
        if !governed || keys.is_empty() {
            c.push(diag::partial_update(
                target,
                &format!("`{record}` is not kept by the production, so nothing completes a partial one"),
                "no stored record to complete it from",
                &format!(
                    "the production keeps records under the ownership matrix with a key: give `{record}` a `key` field and an `ownership {record} {{ ... }}` matrix, or write it whole"
                ),
            ));
            continue;
        }
        let written: Vec<&str> = facts[mid]
            .writes
            .iter()
            .filter(|w| w.record == rid)
            .map(|w| w.field.as_str())
            .collect();
        for f in fields.iter().filter(|f| !written.contains(&f.name)) {
            let kept = rows.keys().any(|(r, path)| {
                *r == rid && (path == f.name || path.starts_with(&format!("{}.", f.name)))
            });
            if is_key(f) {
                c.push(diag::partial_update(
                    target,
                    &format!("a partial `{record}` must carry its key, and this mapping never writes `{}`", f.name),
                    "the stored record is found by its key",
                    &format!("write the key: `{} <- ...`", f.name),
                ));
            } else if !matches!(f.ty, Ty::Optional(_) | Ty::List(_)) && !kept {
                c.push(diag::partial_update(
                    target,
                    &format!(
                        "required field `{record}.{}` is not written here, and the matrix does not keep it",
                        f.name
                    ),
                    "nothing completes this field",
                    &format!(
                        "write `{}` in this mapping, give it a row in `ownership {record}` so the stored record keeps it, or make it optional",
                        f.name
                    ),
                ));
            }
        }
    }
}

/// `from field` names a field that can hold the stages; stage rules without it warn.
fn check_stage_source(c: &mut Checker, o: &Ownership, rid: usize, stages: &[&str]) {
    let Some(sf) = &o.stage_field else {
        let first_use = o.fields.iter().flat_map(|f| &f.clauses).find(|cl| {
            matches!(
                cl.kind,
                OwnClauseKind::Lock(_)
                    | OwnClauseKind::Accept {
                        when: Some(AcceptCond::StageBefore(_) | AcceptCond::StageIn(_)),
                        ..
                    }
            )
        });
        if let Some(cl) = first_use {
            c.push(diag::stages_without_source(&o.record, cl.span));
        }
        return;
    };
    let Some(field) = c.m.field(rid, &sf.name) else {
        let fields: Vec<&str> = c.m.record_fields[rid].iter().map(|f| f.name).collect();
        let hint = did_you_mean(&sf.name, fields);
        c.push(diag::unknown_field(sf, &o.record.name, hint));
        return;
    };
    let ty = field.ty.base().clone();
    match ty {
        Ty::Text | Ty::Identifier | Ty::Unknown => {}
        Ty::Code(cs) => {
            let missing: Vec<&str> = stages
                .iter()
                .copied()
                .filter(|st| !c.m.has_code(cs, st))
                .collect();
            if !missing.is_empty() {
                c.push(diag::stage_field_type(sf, "", &missing));
            }
        }
        other => {
            let found = c.ty_name(&other);
            c.push(diag::stage_field_type(sf, &found, &[]));
        }
    }
}

/// The production finds the stored record by its key; without one the matrix is
/// compile-time only.
fn check_record_key(c: &mut Checker, o: &Ownership, rid: usize) {
    let has_key = c.m.record_fields[rid].iter().any(|f| {
        f.decl
            .constraints
            .iter()
            .any(|k| matches!(k.kind, accord_dsl::ast::ConstraintKind::Key))
    });
    if !has_key {
        c.push(diag::matrix_without_key(&o.record, &o.record.name));
    }
}

fn check_stage(c: &mut Checker, st: &Ident, stages: &[&str]) {
    if !stages.contains(&st.name.as_str()) {
        c.push(diag::unknown_stage(
            st,
            stages,
            did_you_mean(&st.name, stages.iter().copied()),
        ));
    }
}

/// Every record field that an interface's transforms set must be one its sending system
/// owns or is accepted for.
fn check_interface_writes(
    c: &mut Checker,
    facts: &[MappingFacts],
    rows: &HashMap<(usize, String), Row>,
) {
    for (_, d) in c.m.interfaces.iter() {
        let Some((from, from_span)) = d.node.clauses.iter().find_map(|cl| match &cl.kind {
            IfaceClauseKind::Route { from, .. } => Some((from.name.clone(), from.span)),
            _ => None,
        }) else {
            continue;
        };
        let transforms: Vec<&Ident> = d
            .node
            .clauses
            .iter()
            .filter_map(|cl| match &cl.kind {
                IfaceClauseKind::Transform(ms) => Some(ms.iter()),
                _ => None,
            })
            .flatten()
            .collect();
        let mut reported: Vec<(usize, String)> = vec![];
        for t in transforms {
            let Some(mid) = c.m.id(Kind::Mapping, &t.name) else {
                continue;
            };
            for w in &facts[mid].writes {
                let key = (w.record, w.field.clone());
                let Some(row) = rows.get(&key) else { continue };
                let is_key = c.m.field(w.record, &w.field).is_some_and(|f| {
                    f.decl
                        .constraints
                        .iter()
                        .any(|k| matches!(k.kind, accord_dsl::ast::ConstraintKind::Key))
                });
                if is_key {
                    continue;
                }
                let allowed = row.owner.as_ref().is_some_and(|(o, _)| *o == from)
                    || row.accepted.contains(&from);
                if !allowed && !reported.contains(&key) {
                    reported.push(key.clone());
                    let field = format!("{}.{}", c.record_name(w.record), w.field);
                    let owner = row.owner.as_ref().map(|o| o.0.clone()).unwrap_or_default();
                    c.push(diag::write_not_allowed(
                        w.span,
                        &field,
                        &from,
                        &d.name.name,
                        from_span,
                        row.span,
                        &owner,
                        &row.accepted,
                    ));
                }
            }
        }
    }
}

/// `conflict newest by FIELD`: only `newest` is ordered, by a Date or DateTime field of the
/// record (the event time its mapping reads, such as EVN-2).
fn check_event_time(c: &mut Checker, rid: usize, rule: &Ident, by: &[Ident]) {
    let span = Span {
        file: rule.span.file,
        start: by.first().map_or(rule.span.start, |i| i.span.start),
        end: by.last().map_or(rule.span.end, |i| i.span.end),
    };
    if rule.name != "newest" {
        c.push(diag::event_time(
            rule.span,
            &format!("`conflict {}` does not order writes by time", rule.name),
            "write `conflict newest by FIELD`, or drop `by ...`",
        ));
        return;
    }
    let segs: Vec<accord_dsl::ast::PathSeg> = by
        .iter()
        .map(|i| accord_dsl::ast::PathSeg {
            name: i.clone(),
            index: None,
            filter: None,
        })
        .collect();
    match c.walk_fields(rid, &segs) {
        Some(t) if matches!(t.base(), Ty::Date | Ty::DateTime | Ty::Unknown) => {}
        Some(t) => {
            let found = c.ty_name(&t);
            c.push(diag::event_time(
                span,
                &format!("writes are ordered by a Date or DateTime field, and this is {found}"),
                "name the record's event time field, filled from the message's (`updated_at <- datetime(EVN-2)`)",
            ));
        }
        None => {}
    }
}
