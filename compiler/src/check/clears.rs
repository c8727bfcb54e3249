//! `clear` on a mapping statement: the HL7 v2 null `""` is a write of no value.
//!
//! - From HL7 v2 into a record, `phone <- PID-13.1 clear` clears the stored field when
//!   the sender puts `""` there. Only a mapping `-> partial R` can say so: its output
//!   names the fields it writes, and a clear is one of them (a whole record has no way to
//!   tell "cleared" from "not sent"). The field is an optional field at the top of the
//!   record, the statement is not inside `for each`, and its one value reads exactly one
//!   HL7 path (the one whose `""` counts).
//! - Into HL7 v2, `PID-19 <- nhs_number clear` sends an empty value as `""`, so the
//!   receiver deletes its copy instead of keeping it.
//!
//! Anything else is E0309: `clear` would parse and then do nothing.

use super::mappings::{MappingFacts, SchemaTy};
use super::Checker;
use crate::diagnostics as diag;
use crate::types::Ty;
use accord_dsl::ast::{Expr, ExprKind, Hl7Path, MapStmt, MapStmtKind, MapTarget, Mapping};

pub(super) fn check(c: &mut Checker, facts: &[MappingFacts]) {
    for ((_, d), f) in c.m.mappings.iter().zip(facts) {
        walk(c, d.node, f, &d.node.body, false);
    }
}

fn walk(c: &mut Checker, m: &Mapping, f: &MappingFacts, body: &[MapStmt], in_for: bool) {
    for s in body {
        match &s.kind {
            MapStmtKind::Assign {
                target,
                values,
                clear: Some(at),
            } => {
                if let Some((what, help)) = refusal(c, m, f, target, values, in_for) {
                    c.push(diag::bad_clear(*at, what, help));
                }
            }
            MapStmtKind::Assign { .. } => {}
            MapStmtKind::For { body, .. } => walk(c, m, f, body, true),
            MapStmtKind::When {
                then, otherwise, ..
            } => {
                walk(c, m, f, then, in_for);
                walk(c, m, f, otherwise.as_deref().unwrap_or_default(), in_for);
            }
        }
    }
}

/// Why `clear` cannot mean anything on this statement (what, help), or `None`.
fn refusal(
    c: &Checker,
    m: &Mapping,
    f: &MappingFacts,
    target: &MapTarget,
    values: &[Expr],
    in_for: bool,
) -> Option<(String, String)> {
    if values.len() > 1 {
        return Some((
            "`clear` on a statement of several values".into(),
            "`clear` applies to one value: write the list's values on their own lines, or leave `clear` out".into(),
        ));
    }
    let from_hl7 = matches!(f.source, SchemaTy::Hl7 { .. });
    match (&f.target, target) {
        (SchemaTy::Hl7 { .. }, MapTarget::Hl7(_)) => None,
        (SchemaTy::Hl7 { .. }, _) => Some((
            "`clear` on a whole segment".into(),
            "`clear` writes the HL7 null `\"\"` into one field or component: name it, as in `PID-19 <- nhs_number clear`".into(),
        )),
        (SchemaTy::Record(r), MapTarget::Path(p)) => {
            let record = c.record_name(*r).to_string();
            if !from_hl7 {
                return Some((
                    "`clear` in a mapping that does not read HL7 v2".into(),
                    "`clear` reads the HL7 null `\"\"` (\"delete this value\"); a record or FHIR resource has no such value".into(),
                ));
            }
            if m.partial.is_none() {
                return Some((
                    format!("`clear` in a mapping that writes the whole `{record}`"),
                    format!("a whole record cannot tell a cleared field from one that was not sent: make the mapping `-> partial {record}`, which carries only the fields it writes, and a clear among them"),
                ));
            }
            if in_for {
                return Some((
                    "`clear` inside `for each`".into(),
                    "a list is written whole: `clear` applies to a field of the record itself".into(),
                ));
            }
            if p.segments.len() > 1 {
                return Some((
                    "`clear` on a field of a nested record".into(),
                    "a nested record is written whole, so its fields are not cleared one by one: leave `clear` out".into(),
                ));
            }
            let field = &p.segments[0].name.name;
            let ty = c.m.record_fields[*r]
                .iter()
                .find(|x| x.name == field)
                .map(|x| x.ty.clone());
            if matches!(&ty, Some(t) if !matches!(t, Ty::Optional(_) | Ty::List(_))) {
                return Some((
                    format!("`clear` on `{record}.{field}`, which the record requires"),
                    format!("a required field always holds a value: make it optional (`{field}: ...?`) if the sender may delete it"),
                ));
            }
            let mut paths = vec![];
            for v in values {
                hl7_paths(v, &mut paths);
            }
            match paths.len() {
                1 => None,
                0 => Some((
                    "`clear` on a value that reads no HL7 field".into(),
                    "`clear` says which field's `\"\"` clears the target: the value must read one HL7 path".into(),
                )),
                _ => Some((
                    format!("`clear` on a value that reads {} HL7 paths", paths.len()),
                    "`clear` needs the one field whose `\"\"` clears the target: read one path here, or leave `clear` out".into(),
                )),
            }
        }
        _ => Some((
            "`clear` where no HL7 v2 null is read or written".into(),
            "`clear` means the HL7 null `\"\"`: from HL7 v2 into a `-> partial` record, or from anything into an HL7 v2 field".into(),
        )),
    }
}

/// The HL7 paths an expression reads, once each.
fn hl7_paths<'e>(e: &'e Expr, out: &mut Vec<&'e Hl7Path>) {
    match &e.kind {
        ExprKind::Hl7(p) => {
            if !out.iter().any(|q| q.to_string() == p.to_string()) {
                out.push(p);
            }
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| hl7_paths(a, out)),
        ExprKind::Via { expr, .. } | ExprKind::Not(expr) | ExprKind::Paren(expr) => {
            hl7_paths(expr, out)
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            hl7_paths(cond, out);
            hl7_paths(then, out);
            hl7_paths(otherwise, out);
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            hl7_paths(lhs, out);
            hl7_paths(rhs, out);
        }
        ExprKind::Lit(_) | ExprKind::Path(_) | ExprKind::Absent => {}
    }
}
