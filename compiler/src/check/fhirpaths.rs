//! FHIR paths of mappings against the FHIR R4 dictionary (`accord-fhir`):
//! the resource exists (E0414), every element exists, with "did you mean" (E0414), a list
//! element is indexed before the path goes below it and a single one is not (E0415), the
//! value fits the element's type (E0416), and a value written to an element with a
//! required binding is a code of its value set (E0417): a codeset whose `system` and codes
//! the value set includes, or literal codes it lists.

use super::Checker;
use crate::diagnostics as diag;
use crate::types::Ty;
use accord_dsl::ast::{Expr, ExprKind, Ident, LitKind, PathRef, SegFilter};
use accord_dsl::Span;
use accord_fhir::{self as dict, Kind, PathProblem};

/// Where FHIR paths start: a resource (or data type) and the element names a `for each`
/// already walked into.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirCtx {
    pub root: String,
    pub prefix: Vec<String>,
}

/// What a FHIR element accepts.
#[derive(Debug, Clone)]
pub struct Place {
    /// The definition path (`Patient.name`, `HumanName.family`).
    pub path: &'static str,
    /// The element's type for this write (`string`, `HumanName`, `Reference(Patient)`).
    pub ty: &'static str,
    /// The element repeats and the path picked no element: a list (or one value) fits.
    pub list: bool,
    /// `Some(value set)` when the binding is required.
    pub required: Option<&'static str>,
    /// The element's cardinality, `0..*`.
    pub card: String,
}

/// The primitive types that hold text in JSON.
const TEXT_TYPES: [&str; 13] = [
    "string",
    "markdown",
    "uri",
    "url",
    "canonical",
    "id",
    "oid",
    "uuid",
    "base64Binary",
    "xhtml",
    "code",
    "time",
    "System.String",
];

/// The canonical type a FHIR primitive reads as; complex types are `Unknown`.
pub fn reads_as(ty: &str) -> Ty {
    match ty {
        t if TEXT_TYPES.contains(&t) => Ty::Text,
        "boolean" => Ty::Boolean,
        "integer" | "positiveInt" | "unsignedInt" => Ty::Integer,
        "decimal" => Ty::Decimal,
        "date" => Ty::Date,
        "dateTime" | "instant" => Ty::DateTime,
        _ => Ty::Unknown,
    }
}

/// Whether a value of canonical type `value` may be written to a FHIR element of `ty`.
fn accepts(ty: &str, value: &Ty) -> bool {
    let value = match value.base() {
        Ty::List(inner) => inner.base().clone(),
        other => other.clone(),
    };
    match (ty, &value) {
        (_, Ty::Unknown) => true,
        (t, Ty::Text | Ty::Identifier | Ty::Code(_)) if TEXT_TYPES.contains(&t) => true,
        ("boolean", Ty::Boolean) => true,
        ("integer" | "positiveInt" | "unsignedInt", Ty::Integer) => true,
        ("decimal", Ty::Integer | Ty::Decimal) => true,
        ("date", Ty::Date) => true,
        ("dateTime" | "instant", Ty::Date | Ty::DateTime) => true,
        // A resource another mapping makes: into `Bundle.entry.resource` and the like.
        (t, Ty::Resource(r)) => {
            t == r
                || t == "Resource"
                || (t == "DomainResource"
                    && !matches!(r.as_str(), "Bundle" | "Binary" | "Parameters"))
        }
        _ => false,
    }
}

/// A few element names of a structure for a hint: `` `family`, `given`, ... ``.
fn some_children(parent: &str) -> String {
    dict::r4()
        .child_names(parent)
        .into_iter()
        .filter(|n| !matches!(n.as_str(), "id" | "extension" | "modifierExtension"))
        .take(6)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How to turn a value into what a FHIR primitive holds.
fn conversion_hint(ty: &str) -> String {
    let how = match reads_as(ty) {
        Ty::Date => "convert it with `date(...)`",
        Ty::DateTime => "convert it with `date(...)` or `datetime(...)`",
        Ty::Integer => "convert it with `integer(...)`",
        Ty::Decimal => "convert it with `decimal(...)`",
        Ty::Boolean => "write a condition, such as `x == \"Y\"`",
        Ty::Text => "convert it with `text(...)`",
        _ => "write a value of the element's type",
    };
    format!(
        "FHIR {ty} holds a {}: {how}",
        match reads_as(ty) {
            Ty::Date => "date",
            Ty::DateTime => "date and time",
            Ty::Integer => "whole number",
            Ty::Decimal => "number",
            Ty::Boolean => "true or false",
            _ => "text",
        }
    )
}

fn cardinality(e: &dict::ElementDef) -> String {
    format!(
        "{}..{}",
        e.min,
        e.max.map(|m| m.to_string()).unwrap_or_else(|| "*".into())
    )
}

/// Literal codes an expression can only be: `"final"`, `if c then "final" else "amended"`,
/// `if c then "final" else absent`.
fn literal_codes(e: &Expr) -> Option<Vec<String>> {
    match &e.kind {
        ExprKind::Lit(l) => match &l.kind {
            LitKind::Str(s) => Some(vec![s.value.clone()]),
            _ => None,
        },
        ExprKind::Paren(inner) => literal_codes(inner),
        // No value at all: no code to check.
        ExprKind::Absent => Some(vec![]),
        ExprKind::If {
            then, otherwise, ..
        } => {
            let mut a = literal_codes(then)?;
            a.extend(literal_codes(otherwise)?);
            Some(a)
        }
        _ => None,
    }
}

impl Checker<'_, '_> {
    /// Checks the resource of a `fhir r4 NAME` schema; `false` when it is not one.
    pub fn check_fhir_resource(&mut self, name: &Ident) -> bool {
        let d = dict::r4();
        match d.definition(&name.name) {
            Some(def) if def.kind == Kind::Resource && !def.is_abstract => true,
            _ => {
                let hint = crate::suggest::did_you_mean(&name.name, d.resource_names());
                self.push(diag::fhir_unknown_resource(name, hint));
                false
            }
        }
    }

    /// Resolves `p` below `ctx`, reporting unknown elements and misplaced indexes.
    pub fn fhir_place(&mut self, ctx: &FhirCtx, p: &PathRef) -> Option<Place> {
        let d = dict::r4();
        let mut names: Vec<&str> = ctx.prefix.iter().map(String::as_str).collect();
        let first = names.len();
        names.extend(p.segments.iter().map(|s| s.name.name.as_str()));
        let steps = match d.resolve(&ctx.root, &names) {
            Ok(steps) => steps,
            Err(PathProblem::UnknownElement {
                at,
                parent,
                suggestion,
            }) if at >= first => {
                let seg = &p.segments[at - first];
                let choices = d.choices_for(&parent, &seg.name.name);
                let hint = match (suggestion, choices.as_slice()) {
                    (Some(s), _) => Some(format!("did you mean `{s}`?")),
                    (None, []) => None,
                    (None, [one]) => Some(format!("the choice element is written `{one}`")),
                    (None, many) => Some(format!(
                        "the choice element is written as one of {}",
                        many.iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                self.push(diag::fhir_unknown_element(&seg.name, &parent, hint));
                return None;
            }
            Err(PathProblem::BelowPrimitive { at, ty }) if at >= first => {
                let seg = &p.segments[at - first];
                self.push(diag::fhir_below_primitive(&seg.name, &ty));
                return None;
            }
            // A problem in the `for each` prefix was reported at the `for each`.
            Err(_) => return None,
        };
        let last = p.segments.len() - 1;
        for (i, seg) in p.segments.iter().enumerate() {
            let step = &steps[first + i];
            let e = step.element;
            let card = cardinality(e);
            if let Some(w) = &seg.filter {
                if !e.is_list() {
                    self.push(diag::filter_misplaced(
                        w,
                        &format!("on FHIR `{}`, which does not repeat ({card})", e.path),
                        &format!("read `{}` without `[...]`", seg.name.name),
                    ));
                    return None;
                }
                let mut entry: Vec<&str> = names[..=first + i].to_vec();
                entry.push(&w.element.name);
                if !self.filter_element_is_text(&ctx.root, &entry, step.ty, e.path, w) {
                    return None;
                }
                continue;
            }
            match (e.is_list(), seg.index) {
                (true, None) if i < last => {
                    self.push(diag::fhir_list_needs_index(&seg.name, e.path, &card));
                    return None;
                }
                (false, Some(_)) => {
                    self.push(diag::fhir_single_has_index(&seg.name, e.path, &card));
                    return None;
                }
                _ => {}
            }
        }
        let step = &steps[first + last];
        let binding = step.element.binding.as_ref();
        Some(Place {
            path: step.element.path,
            ty: step.ty,
            list: step.element.is_list() && !p.segments[last].picks_one(),
            required: binding
                .filter(|b| b.strength == "required")
                .map(|b| b.value_set),
            card: cardinality(step.element),
        })
    }

    /// Whether the entries of the list `path` (of type `ty`) have the text element the
    /// filter `w` compares (`entry`: the element names from `root` to it); reports it
    /// when not.
    fn filter_element_is_text(
        &mut self,
        root: &str,
        entry: &[&str],
        ty: &str,
        path: &str,
        w: &SegFilter,
    ) -> bool {
        let d = dict::r4();
        let name = w.element.name.as_str();
        match d.resolve(root, entry) {
            Ok(steps) => match steps.last() {
                Some(s) if TEXT_TYPES.contains(&s.ty) && !s.element.is_list() => true,
                Some(s) => {
                    let problem = format!(
                        "have `{name}` as {} `{}`, not a single text value",
                        if s.element.is_list() {
                            "a list of"
                        } else {
                            "a"
                        },
                        s.ty
                    );
                    self.push(diag::filter_element(w, path, &problem, None));
                    false
                }
                None => false,
            },
            Err(PathProblem::UnknownElement { suggestion, .. }) => {
                let hint = suggestion.map(|s| format!("did you mean `{s}`?"));
                let problem = format!("(`{ty}`) have no element `{name}`");
                self.push(diag::filter_element(w, path, &problem, hint));
                false
            }
            Err(_) => {
                let problem = format!("(`{ty}`) are primitive values, with no elements to compare");
                self.push(diag::filter_element(w, path, &problem, None));
                false
            }
        }
    }

    /// The canonical type of a FHIR element read by a mapping from FHIR.
    pub fn type_fhir_read(&mut self, ctx: &FhirCtx, p: &PathRef) -> Ty {
        match self.fhir_place(ctx, p) {
            Some(place) if place.list => Ty::List(Box::new(reads_as(place.ty))),
            Some(place) => reads_as(place.ty),
            None => Ty::Unknown,
        }
    }

    /// A value of type `value` (expression `e`) written to `place` (target `target`).
    pub fn check_fhir_value(&mut self, place: &Place, value: &Ty, e: &Expr, target: Span) {
        let d = dict::r4();
        if matches!(value.base(), Ty::List(_)) && !place.list {
            let found = self.ty_name(value);
            self.push(diag::fhir_value_mismatch(
                e.span,
                target,
                &found,
                place,
                "pick one element with `first(...)`, or write to a repeating element".into(),
            ));
            return;
        }
        if !accepts(place.ty, value) {
            let found = self.ty_name(value);
            let help = match d.definition(place.ty.split('(').next().unwrap_or(place.ty)) {
                Some(def) if def.kind != Kind::Primitive => format!(
                    "{} is a structure: write one of its elements, such as {}",
                    place.ty,
                    some_children(def.name)
                ),
                _ if place.ty == "BackboneElement" => format!(
                    "the element is a structure: write one of its elements, such as {}",
                    some_children(place.path)
                ),
                _ => conversion_hint(place.ty),
            };
            self.push(diag::fhir_value_mismatch(
                e.span, target, &found, place, help,
            ));
            return;
        }
        if let Some(vs) = place.required {
            self.check_binding(vs, place, value, e);
        }
    }

    fn check_binding(&mut self, vs: &'static str, place: &Place, value: &Ty, e: &Expr) {
        let Some(includes) = dict::r4().value_set(vs) else {
            return; // Codes the dictionary cannot list (filters, other packages).
        };
        let systems: Vec<&str> = includes.iter().map(|(s, _)| *s).collect();
        let in_set = |code: &str| includes.iter().any(|(_, codes)| codes.contains(&code));
        match value.base() {
            Ty::Code(cs) => {
                let set = self.m.codesets.get(*cs);
                let name = set.name.name.clone();
                let system = set
                    .node
                    .props
                    .iter()
                    .find(|(k, _)| k.name == "system")
                    .map(|(_, v)| v.value.clone());
                let problem = match system.as_deref() {
                    None => Some(format!("codeset `{name}` names no `system`")),
                    Some(s) if !systems.contains(&s) => {
                        Some(format!("codeset `{name}` is of the system {s}"))
                    }
                    Some(_) => {
                        let outside: Vec<String> = self.m.codeset_codes[*cs]
                            .iter()
                            .filter(|c| !in_set(c))
                            .map(|c| format!("`{c}`"))
                            .collect();
                        (!outside.is_empty()).then(|| {
                            format!(
                                "codeset `{name}` has codes outside the value set: {}",
                                outside.join(", ")
                            )
                        })
                    }
                };
                if let Some(problem) = problem {
                    self.push(diag::fhir_binding_not_met(
                        e.span, place, vs, &systems, &problem,
                    ));
                }
            }
            Ty::Text | Ty::Identifier => {
                let problem = match literal_codes(e) {
                    Some(codes) => {
                        let outside: Vec<String> = codes
                            .iter()
                            .filter(|c| !in_set(c))
                            .map(|c| format!("\"{c}\""))
                            .collect();
                        (!outside.is_empty())
                            .then(|| format!("{} is not in the value set", outside.join(", ")))
                    }
                    None => Some("a text value can hold any code".to_string()),
                };
                if let Some(problem) = problem {
                    self.push(diag::fhir_binding_not_met(
                        e.span, place, vs, &systems, &problem,
                    ));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_values_fit_fhir_primitives() {
        assert!(accepts("string", &Ty::Text));
        assert!(accepts("code", &Ty::Code(0)));
        assert!(accepts("dateTime", &Ty::Date));
        assert!(accepts("decimal", &Ty::Integer));
        assert!(!accepts("date", &Ty::Text));
        assert!(!accepts("HumanName", &Ty::Text));
        assert!(accepts("string", &Ty::List(Box::new(Ty::Text))));
        assert!(accepts("Resource", &Ty::Resource("Patient".into())));
        assert!(!accepts("Reference", &Ty::Resource("Patient".into())));
        assert!(!accepts("DomainResource", &Ty::Resource("Bundle".into())));
        assert_eq!(reads_as("instant"), Ty::DateTime);
        assert_eq!(reads_as("CodeableConcept"), Ty::Unknown);
    }
}
