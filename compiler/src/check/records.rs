//! Records: constraints fit the field's type (`length` on text and lists, `range` on
//! numbers and dates, `pattern` on text), `check` names a known validator, ranges are
//! not empty, and system properties are known.

use super::Checker;
use crate::builtins::{ENVIRONMENT_PROPS, SYSTEM_PROPS, VALIDATORS};
use crate::diagnostics as diag;
use crate::suggest::did_you_mean;
use crate::types::Ty;
use accord_dsl::ast::{ConstraintKind, Prop, RangeLit};

pub(super) fn check(c: &mut Checker) {
    for rid in 0..c.m.record_fields.len() {
        for f in c.m.record_fields[rid].clone() {
            for con in &f.decl.constraints {
                let base = f.ty.base();
                let fits = match &con.kind {
                    ConstraintKind::Length(_) => base.is_textual() || matches!(base, Ty::List(_)),
                    ConstraintKind::Range(_) => {
                        base.is_numeric() || matches!(base, Ty::Date | Ty::DateTime)
                    }
                    ConstraintKind::Pattern(_) => base.is_textual(),
                    ConstraintKind::Check(_) => base.is_textual(),
                    ConstraintKind::Key => {
                        !matches!(base, Ty::List(_) | Ty::Record(_))
                            && !matches!(f.ty, Ty::Optional(_))
                    }
                    // One value per record, compared as stored.
                    ConstraintKind::Unique => !matches!(base, Ty::List(_) | Ty::Record(_)),
                };
                if !fits {
                    let ty = c.ty_name(&f.ty);
                    c.push(diag::constraint_type_mismatch(
                        con,
                        &f.decl.name.name,
                        &ty,
                        f.decl.ty.span,
                    ));
                    continue;
                }
                match &con.kind {
                    ConstraintKind::Check(v) if !VALIDATORS.iter().any(|(n, _)| *n == v.name) => {
                        c.push(diag::unknown_validator(
                            v,
                            did_you_mean(&v.name, VALIDATORS.iter().map(|x| x.0)),
                        ));
                    }
                    ConstraintKind::Length(r) | ConstraintKind::Range(r) => {
                        check_range(c, r, con.span)
                    }
                    ConstraintKind::Pattern(p) => {
                        if let Err(e) = regex::Regex::new(&p.value) {
                            c.push(diag::invalid_pattern(p.span, &e.to_string()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    for (_, d) in c.m.systems.iter() {
        check_props(c, &d.node.props, SYSTEM_PROPS, "system");
    }
    for (_, d) in c.m.environments.iter() {
        check_props(c, &d.node.props, ENVIRONMENT_PROPS, "environment");
    }
}

fn check_range(c: &mut Checker, r: &RangeLit, span: accord_dsl::Span) {
    let lo = r.lo.as_deref().and_then(|s| s.parse::<f64>().ok());
    let hi = r.hi.as_deref().and_then(|s| s.parse::<f64>().ok());
    if let (Some(lo), Some(hi)) = (lo, hi) {
        if lo > hi {
            c.push(diag::empty_range(span, &format!("{lo}"), &format!("{hi}")));
        }
    }
}

/// Every property key is one the item knows; each at most once.
pub(super) fn check_props(c: &mut Checker, props: &[Prop], known: &[&str], item: &str) {
    for (i, p) in props.iter().enumerate() {
        if !known.contains(&p.key.name.as_str()) {
            c.push(diag::unknown_property(
                &p.key,
                item,
                known,
                did_you_mean(&p.key.name, known.iter().copied()),
            ));
        } else if let Some(prev) = props[..i].iter().find(|q| q.key.name == p.key.name) {
            c.push(diag::duplicate_clause(p.span, prev.span, &p.key.name));
        }
    }
}
