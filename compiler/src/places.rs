//! The last step of lowering: what the HL7 v2 and FHIR R4 dictionaries say about each place
//! a mapping reads or writes, written into the IR, so that code generation, the site and
//! diff read the IR alone and never the dictionaries.
//!
//! - An HL7 side gets its message structure (`ADT^A04` -> `ADT_A01`); each HL7 path in a
//!   mapping its dictionary name and data type; a `for each` over a group the segments
//!   the group covers and those an occurrence can begin with.
//! - Each step of a path on a FHIR side gets the element it reaches (definition path,
//!   type, cardinality, required binding, what a read gives), walked from the resource
//!   through the `for each` prefixes around it, exactly as the checker walked it.
//!
//! Runs only on checked, error-free estates; a place the dictionaries do not know (which
//! the checker has reported, or a local Z segment) is left without facts.

use crate::check::fhirpaths::reads_as;
use crate::ir::{
    Estate, Expr, FhirElement, Hl7Element, Hl7Path, IterSource, Mapping, PathStep, Schema, Stmt,
    Target, Type,
};
use crate::types::Ty;
use accord_hl7::dict::{self, Dictionary, Element};

/// Writes the dictionaries' facts into every mapping of `estate`.
pub fn resolve(estate: &mut Estate) {
    let profiles: Vec<(String, Option<String>)> = estate
        .profiles
        .iter()
        .map(|p| (p.name.clone(), p.messages.first().cloned()))
        .collect();
    for m in &mut estate.mappings {
        mapping(m, &profiles);
    }
}

/// One side of a mapping as a walk sees it.
#[derive(Clone, Default)]
struct Side {
    /// HL7 v2: the version's dictionary and the message structure.
    hl7: Option<(&'static Dictionary, Option<String>)>,
    /// FHIR: the resource and the element names walked so far by `for each`.
    fhir: Option<(String, Vec<String>)>,
}

fn side(schema: &mut Schema, profiles: &[(String, Option<String>)]) -> Side {
    match schema {
        Schema::Hl7 {
            version,
            message,
            profile,
            structure,
        } => {
            let Some(d) = dict::dictionary(version) else {
                return Side::default();
            };
            let message = message.clone().or_else(|| {
                let p = profile.as_ref()?;
                profiles.iter().find(|(n, _)| n == p)?.1.clone()
            });
            *structure = message
                .and_then(|m| d.structure_for(&m))
                .map(str::to_string);
            Side {
                hl7: Some((d, structure.clone())),
                fhir: None,
            }
        }
        Schema::Fhir { resource } => Side {
            hl7: None,
            fhir: Some((resource.clone(), vec![])),
        },
        Schema::Record { .. } => Side::default(),
    }
}

fn mapping(m: &mut Mapping, profiles: &[(String, Option<String>)]) {
    let source = side(&mut m.source, profiles);
    let target = side(&mut m.target, profiles);
    stmts(&mut m.body, &source, &target);
}

fn stmts(body: &mut [Stmt], source: &Side, target: &Side) {
    for s in body {
        match s {
            Stmt::Assign {
                target: t, values, ..
            } => {
                place(t, target);
                for v in values {
                    expr(v, source);
                }
            }
            Stmt::For {
                target: t,
                source: from,
                body,
                ..
            } => {
                let inner_source = iter_source(from, source);
                place(t, target);
                let inner_target = match t {
                    Target::Field { path } => deeper(target, path),
                    _ => target.clone(),
                };
                stmts(body, &inner_source, &inner_target);
            }
            Stmt::When {
                cond,
                then,
                otherwise,
                ..
            } => {
                expr(cond, source);
                stmts(then, source, target);
                stmts(otherwise, source, target);
            }
        }
    }
}

/// The side inside a `for each` over (or into) the FHIR list at `path`.
fn deeper(side: &Side, path: &[PathStep]) -> Side {
    let mut inner = side.clone();
    if let Some((_, prefix)) = &mut inner.fhir {
        prefix.extend(path.iter().map(|p| p.name.clone()));
    }
    inner
}

fn place(t: &mut Target, side: &Side) {
    match t {
        Target::Hl7 { path } => hl7(path, side),
        Target::Field { path } => fhir(path, side),
        Target::Segment { .. } => {}
    }
}

/// Fills what a `for each` iterates over; returns the source side of its body.
fn iter_source(from: &mut IterSource, side: &Side) -> Side {
    match from {
        IterSource::Group {
            group,
            segments,
            leaders,
        } => {
            if let Some(els) = side.hl7.as_ref().and_then(|(d, s)| {
                let s = s.as_deref()?;
                find_group(d.structure(s)?, group)
            }) {
                all_segments(els, segments);
                group_leaders(els, leaders);
            }
            if leaders.is_empty() {
                leaders.push("MSH".into());
            }
            side.clone()
        }
        IterSource::Repetitions { path } => {
            hl7(path, side);
            side.clone()
        }
        IterSource::Field { path } => {
            fhir(path, side);
            deeper(side, path)
        }
        IterSource::Segment { .. } => side.clone(),
    }
}

fn expr(e: &mut Expr, side: &Side) {
    match e {
        Expr::Hl7 { path } => hl7(path, side),
        Expr::Field { path } => fhir(path, side),
        Expr::Call { args, .. } => args.iter_mut().for_each(|a| expr(a, side)),
        Expr::Reference { keys, .. } | Expr::Stored { keys, .. } => {
            keys.iter_mut().for_each(|k| expr(k, side))
        }
        Expr::Lookup { value, .. } | Expr::Apply { value, .. } | Expr::Not { value } => {
            expr(value, side)
        }
        Expr::If {
            cond,
            then,
            otherwise,
        } => {
            expr(cond, side);
            expr(then, side);
            expr(otherwise, side);
        }
        Expr::Binary { lhs, rhs, .. } => {
            expr(lhs, side);
            expr(rhs, side);
        }
        Expr::Text { .. }
        | Expr::Integer { .. }
        | Expr::Decimal { .. }
        | Expr::Boolean { .. }
        | Expr::Date { .. }
        | Expr::Code { .. }
        | Expr::Absent => {}
    }
}

/// Each step of a FHIR path with the element it reaches.
fn fhir(path: &mut [PathStep], side: &Side) {
    let Some((root, prefix)) = &side.fhir else {
        return;
    };
    let mut names: Vec<&str> = prefix.iter().map(String::as_str).collect();
    names.extend(path.iter().map(|p| p.name.as_str()));
    let Ok(resolved) = accord_fhir::r4().resolve(root, &names) else {
        return;
    };
    let skip = resolved.len().saturating_sub(path.len());
    let facts: Vec<FhirElement> = resolved[skip..]
        .iter()
        .map(|s| FhirElement {
            path: s.element.path.to_string(),
            ty: s.ty.to_string(),
            min: s.element.min,
            max: s.element.max,
            required: s
                .element
                .binding
                .as_ref()
                .filter(|b| b.strength == "required")
                .map(|b| b.value_set.to_string()),
            reads_as: canonical(&reads_as(s.ty)),
        })
        .collect();
    for (step, fact) in path.iter_mut().zip(facts) {
        step.fhir = Some(fact);
    }
}

/// The IR's name for the canonical type a FHIR primitive reads as.
fn canonical(t: &Ty) -> Type {
    match t {
        Ty::Text => Type::Text,
        Ty::Boolean => Type::Boolean,
        Ty::Integer => Type::Integer,
        Ty::Decimal => Type::Decimal,
        Ty::Date => Type::Date,
        Ty::DateTime => Type::DateTime,
        _ => Type::Unknown,
    }
}

/// The dictionary's name and data type of an HL7 path: `Patient Identifier List / ID
/// Number` (`ST`) for `PID-3.1`.
fn hl7(path: &mut Hl7Path, side: &Side) {
    let Some((d, _)) = side.hl7 else {
        return;
    };
    let Some(field) = d.field(&path.segment, path.field as usize) else {
        return;
    };
    let mut name = field.name.to_string();
    let mut datatype = field.datatype;
    for position in [path.component, path.subcomponent].into_iter().flatten() {
        let Some(c) = d
            .components(datatype)
            .and_then(|cs| cs.iter().find(|x| x.position == position as usize))
        else {
            break;
        };
        name = format!("{name} / {}", c.name);
        datatype = c.datatype;
    }
    path.element = Some(Hl7Element {
        name,
        datatype: datatype.to_string(),
    });
}

fn find_group<'e>(els: &'e [Element], group: &str) -> Option<&'e [Element]> {
    els.iter().find_map(|e| match e {
        Element::Group { name, children, .. } if *name == group => Some(children.as_slice()),
        Element::Group { children, .. } => find_group(children, group),
        Element::Segment { .. } => None,
    })
}

/// Every segment in `els`, nested groups included.
fn all_segments(els: &[Element], out: &mut Vec<String>) {
    for e in els {
        match e {
            Element::Segment { id, .. } => out.push(id.to_string()),
            Element::Group { children, .. } => all_segments(children, out),
        }
    }
}

/// Pushes the segments `els` can begin with; true when a required element ends them.
fn group_leaders(els: &[Element], out: &mut Vec<String>) -> bool {
    for e in els {
        match e {
            Element::Segment { id, min, .. } => {
                out.push(id.to_string());
                if *min > 0 {
                    return true;
                }
            }
            Element::Group { children, min, .. } => {
                if group_leaders(children, out) && *min > 0 {
                    return true;
                }
            }
        }
    }
    false
}
