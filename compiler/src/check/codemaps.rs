//! Code maps (lookup tables): an explicit default that comes last, source codes that
//! belong to the source codeset and appear once, target codes that belong to the target
//! codeset, and a pass-through default only where the value can pass unchanged.

use super::Checker;
use crate::diagnostics as diag;
use crate::suggest::did_you_mean;
use crate::types::Ty;
use accord_dsl::ast::{CodeName, CodemapRule, DefaultAction};

pub(super) fn check(c: &mut Checker) {
    for (id, d) in c.m.codemaps.iter() {
        let (from, to) = c.m.codemap_types[id].clone();
        for (side, ty, span) in [
            ("source", &from, d.node.from.span),
            ("target", &to, d.node.to.span),
        ] {
            if !matches!(
                ty.base(),
                Ty::Text | Ty::Identifier | Ty::Code(_) | Ty::Unknown
            ) {
                let name = c.ty_name(ty);
                c.push(diag::codemap_bad_type(span, side, &name));
            }
        }
        let mut seen: Vec<&CodeName> = vec![];
        let mut default_span = None;
        for rule in &d.node.rules {
            match rule {
                CodemapRule::Entry(e) => {
                    if let Some(ds) = default_span {
                        c.push(diag::codemap_entry_after_default(e.span, ds));
                    }
                    for s in &e.sources {
                        if let Some(prev) = seen.iter().find(|p| p.value == s.value) {
                            c.push(diag::codemap_duplicate_source(s, prev.span));
                        } else {
                            seen.push(s);
                        }
                        check_member(c, s, &from, "source");
                    }
                    check_member(c, &e.target, &to, "target");
                }
                CodemapRule::Default(def) => {
                    if let Some(prev) = default_span {
                        c.push(diag::duplicate_clause(def.span, prev, "_ (default)"));
                        continue;
                    }
                    default_span = Some(def.span);
                    match &def.action {
                        DefaultAction::Value(v) => check_member(c, v, &to, "target"),
                        DefaultAction::Pass => {
                            let passes = match (from.base(), to.base()) {
                                (_, Ty::Unknown) | (Ty::Unknown, _) => true,
                                (_, Ty::Text | Ty::Identifier) => true,
                                (a, b) => a == b,
                            };
                            if !passes {
                                let (f, t) = (c.ty_name(&from), c.ty_name(&to));
                                c.push(diag::codemap_pass_not_total(def.span, &f, &t));
                            }
                        }
                        DefaultAction::Reject(_) | DefaultAction::Absent => {}
                    }
                }
            }
        }
        if default_span.is_none() {
            c.push(diag::codemap_without_default(d.name, d.span));
        }
    }
}

/// A code written in a code map must belong to the codeset on that side.
fn check_member(c: &mut Checker, code: &CodeName, side_ty: &Ty, side: &str) {
    if let Ty::Code(cs) = side_ty.base() {
        if !c.m.has_code(*cs, &code.value) {
            let set = &c.m.codesets.get(*cs).name.name;
            let hint = did_you_mean(&code.value, c.m.codeset_codes[*cs].iter().copied());
            c.push(diag::code_not_in_codeset(
                code,
                set,
                side,
                hint,
                c.m.codesets.get(*cs).name.span,
            ));
        }
    }
}
