//! Tests in the language: each has a message to start from, and everything it names (the
//! entry interface or route, route targets, mappings and their fields, codes) exists; a
//! message file must exist when the caller can tell.

use super::exprs::Scope;
use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use crate::suggest::did_you_mean;
use crate::types::Ty;
use accord_dsl::ast::{Expectation, ExprKind, GivenSource, KeyExpr, TestStmtKind};

pub(super) fn check(c: &mut Checker) {
    for (t, _, span) in c.m.tests.clone() {
        let mut given = false;
        for s in &t.stmts {
            match &s.kind {
                TestStmtKind::Given { source, at } => {
                    given = true;
                    if let Some(a) = at {
                        test_ref(c, a, &[Kind::Interface, Kind::Route]);
                    }
                    message_file(c, source, span);
                }
                TestStmtKind::Expect(Expectation::Routed { to, .. }) => {
                    test_ref(c, to, &[Kind::Interface, Kind::Route, Kind::Flow]);
                }
                TestStmtKind::Expect(Expectation::Value {
                    path: KeyExpr::Path(p),
                    value,
                }) => {
                    let head = &p.segments[0].name;
                    let Some(mid) = test_ref(c, head, &[Kind::Mapping]) else {
                        continue;
                    };
                    let target = &c.m.mappings.get(mid).node.target;
                    let rid = match &target.kind {
                        accord_dsl::ast::SchemaKind::Record(r) => c.m.id(Kind::Record, &r.name),
                        _ => None,
                    };
                    let (Some(rid), true) = (rid, p.segments.len() > 1) else {
                        continue;
                    };
                    let Some(ty) = c.walk_fields(rid, &p.segments[1..]) else {
                        continue;
                    };
                    check_value(c, &ty, value);
                }
                TestStmtKind::Expect(_) => {}
            }
        }
        if !given {
            c.push(diag::missing_clause(
                t.name.span,
                "test",
                "given",
                "given hl7 file(\"samples/adt_a01.hl7\") at trakcare_adt_in",
            ));
        }
    }
}

/// A message file named by a test or a scenario exists, when the caller can tell (E0512).
pub(super) fn message_file(c: &mut Checker, source: &GivenSource, span: accord_dsl::Span) {
    if let (GivenSource::File(f), Some(exists)) = (source, c.opts.file_exists.as_ref()) {
        if !exists(span.file, &f.value) {
            c.push(diag::test_file_missing(f));
        }
    }
}

fn test_ref(c: &mut Checker, i: &accord_dsl::ast::Ident, kinds: &[Kind]) -> Option<usize> {
    match c.m.names.get(i.name.as_str()) {
        Some(&(k, id)) if kinds.contains(&k) => Some(id),
        _ => {
            let mut candidates = vec![];
            for k in kinds {
                candidates.extend(c.m.names_of(*k));
            }
            let nouns: Vec<&str> = kinds.iter().map(|k| k.noun()).collect();
            c.push(diag::test_unknown_reference(
                i,
                &nouns,
                did_you_mean(&i.name, candidates),
            ));
            None
        }
    }
}

/// The expected value fits the field: a code of its codeset, or a literal of its type.
fn check_value(c: &mut Checker, ty: &Ty, value: &accord_dsl::ast::Expr) {
    if let (Ty::Code(cs), ExprKind::Path(p)) = (ty.base(), &value.kind) {
        if p.segments.len() == 1 {
            let name = &p.segments[0].name;
            if c.m.has_code(*cs, &name.name) {
                c.resolved.insert(
                    p.span,
                    super::Resolution::Code {
                        codeset: *cs,
                        code: name.name.clone(),
                    },
                );
            } else {
                let set = c.m.codesets.get(*cs).name.name.clone();
                let hint = did_you_mean(&name.name, c.m.codeset_codes[*cs].iter().copied());
                c.push(diag::unknown_code(name, &set, hint));
            }
            return;
        }
    }
    let vt = c.type_of(value, &Scope::default(), &mut vec![]);
    if !vt.assignable_to(ty) {
        let (found, wanted) = (c.ty_name(&vt), c.ty_name(ty));
        c.push(diag::assign_mismatch(
            value.span,
            value.span,
            &found,
            &wanted,
            "expect a value of the field's type",
        ));
    }
}
