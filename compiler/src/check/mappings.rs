//! Mappings (DTLs): both schemas exist, every target belongs to the target schema, every
//! value has a type that may be written there, conditions are boolean, `for each` walks
//! a list, and required record fields are set. Returns what each mapping reads and writes.

use super::exprs::{Read, Scope};
use super::fhirpaths::FhirCtx;
use super::profiles::check_version;
use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use crate::types::Ty;
use accord_dsl::ast::{IterSource, MapStmt, MapStmtKind, MapTarget, SchemaKind, SchemaRef};
use accord_dsl::Span;

/// What a mapping reads or produces.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaTy {
    Hl7 {
        version: String,
        message: Option<String>,
        profile: Option<usize>,
    },
    Fhir(String),
    Record(usize),
    Unknown,
}

/// A record field a mapping sets: record, top-level field, the statement that sets it.
#[derive(Debug, Clone)]
pub struct Write {
    pub record: usize,
    pub field: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct MappingFacts {
    pub source: SchemaTy,
    pub target: SchemaTy,
    pub writes: Vec<Write>,
    pub reads: Vec<Read>,
}

#[derive(Clone)]
enum Target {
    Record(usize),
    Hl7,
    Fhir(FhirCtx),
    Unknown,
}

fn fhir_root(s: &SchemaTy) -> Option<FhirCtx> {
    match s {
        SchemaTy::Fhir(r) => Some(FhirCtx {
            root: r.clone(),
            prefix: vec![],
        }),
        _ => None,
    }
}

pub(super) fn check(c: &mut Checker) -> Vec<MappingFacts> {
    let mut out = vec![];
    for (_, d) in c.m.mappings.iter() {
        let source = schema(c, &d.node.source);
        let target = schema(c, &d.node.target);
        let scope = Scope {
            hl7: matches!(source, SchemaTy::Hl7 { .. }),
            record: if let SchemaTy::Record(r) = source {
                Some(r)
            } else {
                None
            },
            element: None,
            record_heads: false,
            stored: true,
            iteration: false,
            fhir: fhir_root(&source),
            hl7_ctx: c.hl7_ctx_for_schema(&d.node.source.kind),
            target_hl7: None,
        };
        let target_ctx = c.hl7_ctx_for_schema(&d.node.target.kind);
        let tgt = match target {
            SchemaTy::Record(r) => Target::Record(r),
            SchemaTy::Hl7 { .. } => Target::Hl7,
            SchemaTy::Fhir(_) => Target::Fhir(fhir_root(&target).unwrap_or(FhirCtx {
                root: String::new(),
                prefix: vec![],
            })),
            SchemaTy::Unknown => Target::Unknown,
        };
        let mut facts = MappingFacts {
            source,
            target,
            writes: vec![],
            reads: vec![],
        };
        let scope = Scope {
            target_hl7: target_ctx,
            ..scope
        };
        // A partial mapping leaves the fields it does not write to the stored record
        // (`ownership::check_partial` checks that something completes them).
        let whole = d.node.partial.is_none();
        body(
            c,
            &d.node.body,
            &tgt,
            &scope,
            &mut facts,
            d.name.span,
            whole,
        );
        out.push(facts);
    }
    out
}

fn schema(c: &mut Checker, s: &SchemaRef) -> SchemaTy {
    match &s.kind {
        SchemaKind::Hl7 { version, message } => {
            check_version(c, version);
            SchemaTy::Hl7 {
                version: version.text.clone(),
                message: Some(message.text.clone()),
                profile: None,
            }
        }
        SchemaKind::Hl7Profile(p) => match c.lookup(p, Kind::Profile) {
            Some(id) => {
                let prof = c.m.profiles.get(id).node;
                SchemaTy::Hl7 {
                    version: prof.version.text.clone(),
                    message: None,
                    profile: Some(id),
                }
            }
            None => SchemaTy::Unknown,
        },
        SchemaKind::Fhir(r) => {
            if c.check_fhir_resource(r) {
                SchemaTy::Fhir(r.name.clone())
            } else {
                SchemaTy::Unknown
            }
        }
        SchemaKind::Record(r) => match c.lookup(r, Kind::Record) {
            Some(id) => SchemaTy::Record(id),
            None => SchemaTy::Unknown,
        },
    }
}

fn body(
    c: &mut Checker,
    stmts: &[MapStmt],
    tgt: &Target,
    scope: &Scope,
    facts: &mut MappingFacts,
    owner: Span,
    whole: bool,
) {
    let mut written: Vec<String> = vec![];
    body_inner(c, stmts, tgt, scope, facts, &mut written);
    if let (Target::Record(r), true) = (tgt, whole) {
        let r = *r;
        let missing: Vec<String> = c.m.record_fields[r]
            .iter()
            .filter(|f| {
                !matches!(f.ty, Ty::Optional(_) | Ty::List(_))
                    && !written.iter().any(|w| w == f.name)
            })
            .map(|f| f.name.to_string())
            .collect();
        if !missing.is_empty() {
            let rname = c.record_name(r).to_string();
            c.push(diag::required_fields_not_set(owner, &rname, &missing));
        }
    }
}

fn body_inner(
    c: &mut Checker,
    stmts: &[MapStmt],
    tgt: &Target,
    scope: &Scope,
    facts: &mut MappingFacts,
    written: &mut Vec<String>,
) {
    for s in stmts {
        match &s.kind {
            MapStmtKind::Assign { target, values, .. } => {
                if let (Target::Fhir(ctx), MapTarget::Path(p)) = (tgt, target) {
                    assign_fhir(c, ctx, p, values, scope, facts);
                    continue;
                }
                let Some(place) = target_type(c, target, tgt, scope, facts, written) else {
                    for v in values {
                        c.type_of(v, scope, &mut facts.reads);
                    }
                    continue;
                };
                let hl7 = matches!(tgt, Target::Hl7);
                if values.len() > 1 {
                    let elem = match place.list_element() {
                        Some(e) => e.clone(),
                        None if hl7 || place.is_unknown() => place.clone(),
                        None => {
                            let t = c.ty_name(&place);
                            c.push(diag::several_values_single_target(
                                target.span(),
                                values.len(),
                                &t,
                            ));
                            Ty::Unknown
                        }
                    };
                    for v in values {
                        let t = c.type_of(v, scope, &mut facts.reads);
                        check_assign(c, &t, &elem, hl7, v.span, target.span());
                    }
                } else if let Some(v) = values.first() {
                    let t = c.type_of(v, scope, &mut facts.reads);
                    // A single value may fill a list of one.
                    let ok_as_element = place.list_element().is_some_and(|e| t.assignable_to(e))
                        && t.list_element().is_none();
                    if !ok_as_element {
                        check_assign(c, &t, &place, hl7, v.span, target.span());
                    }
                }
            }
            MapStmtKind::For {
                target,
                source,
                body: inner,
                value,
            } => {
                let place = match (tgt, target) {
                    (Target::Fhir(_), MapTarget::Path(_)) => None,
                    _ => target_type(c, target, tgt, scope, facts, written),
                };
                // `for each SOURCE: value` fills a record's list of values.
                let values_of = match (tgt, place.as_ref().map(|p| p.base().clone())) {
                    (Target::Record(_), Some(Ty::List(el)))
                        if !matches!(el.base(), Ty::Record(_)) =>
                    {
                        Some(*el)
                    }
                    (Target::Record(_), Some(Ty::Unknown)) => Some(Ty::Unknown),
                    _ => None,
                };
                let inner_tgt = match (tgt, place.as_ref().map(|p| p.base().clone())) {
                    _ if value.is_some() => Target::Unknown,
                    (Target::Record(_), Some(Ty::List(el))) => match el.base() {
                        Ty::Record(e) => Target::Record(*e),
                        _ => {
                            let t = c.ty_name(&Ty::List(el.clone()));
                            c.push(diag::for_each_not_record_list(target.span(), &t));
                            Target::Unknown
                        }
                    },
                    (Target::Record(_), Some(other)) if other != Ty::Unknown => {
                        let t = c.ty_name(&other);
                        c.push(diag::for_each_not_record_list(target.span(), &t));
                        Target::Unknown
                    }
                    (Target::Hl7, _) => Target::Hl7,
                    (Target::Fhir(ctx), _) => match target {
                        MapTarget::Path(p) if !refuse_filters(c, p) => Target::Unknown,
                        MapTarget::Path(p) => fhir_for_each(c, ctx, p)
                            .map(Target::Fhir)
                            .unwrap_or(Target::Unknown),
                        other => {
                            c.push(diag::target_not_in_schema(
                                other.span(),
                                "a FHIR resource",
                                "an element path such as `name`",
                            ));
                            Target::Unknown
                        }
                    },
                    _ => Target::Unknown,
                };
                let mut inner_scope = scope.clone();
                inner_scope.iteration = true;
                match source {
                    IterSource::Segment(t) | IterSource::Group(t) => {
                        if !scope.hl7 {
                            c.push(diag::hl7_path_without_message(t.span));
                        } else if let Some(ctx) = scope.hl7_ctx.clone() {
                            match source {
                                IterSource::Group(g) => c.check_hl7_group(&ctx, g),
                                _ => {
                                    c.check_hl7_path(&ctx, &segment_path(t));
                                }
                            }
                        }
                    }
                    IterSource::Repetitions(p) => {
                        if !scope.hl7 {
                            c.push(diag::hl7_path_without_message(p.span));
                        } else if p.component.is_some() || p.repetition.is_some() {
                            c.push(diag::for_each_field_part(p));
                        } else if let Some(ctx) = scope.hl7_ctx.clone() {
                            c.check_hl7_path(&ctx, p);
                        }
                    }
                    IterSource::Path(p)
                        if scope.fhir.is_some()
                            && scope.record.is_none()
                            && scope.element.is_none() =>
                    {
                        if let Some(ctx) = scope.fhir.as_ref() {
                            inner_scope.fhir = fhir_for_each(c, ctx, p);
                        }
                    }
                    IterSource::Path(p) => {
                        let ty = c.type_path(p, scope, &mut facts.reads);
                        match ty.list_element().map(|e| e.base().clone()) {
                            Some(Ty::Record(e)) => {
                                c.resolved.insert(p.span, super::Resolution::Element(e));
                                inner_scope.element = Some(e);
                            }
                            Some(Ty::Unknown) | None if ty.is_unknown() => {}
                            _ => {
                                let t = c.ty_name(&ty);
                                c.push(diag::for_each_not_record_list(p.span, &t));
                            }
                        }
                    }
                }
                if let Some(v) = value {
                    let t = c.type_of(v, &inner_scope, &mut facts.reads);
                    match &values_of {
                        Some(el) => check_assign(c, &t, el, false, v.span, target.span()),
                        None => {
                            let what = place
                                .as_ref()
                                .map(|p| c.ty_name(p))
                                .unwrap_or_else(|| "not a record field".into());
                            c.push(diag::for_each_value_not_value_list(target.span(), &what));
                        }
                    }
                    continue;
                }
                match inner_tgt {
                    Target::Record(_) => {
                        body(c, inner, &inner_tgt, &inner_scope, facts, s.span, true)
                    }
                    _ => body_inner(c, inner, &inner_tgt, &inner_scope, facts, &mut vec![]),
                }
            }
            MapStmtKind::When {
                cond,
                then,
                otherwise,
            } => {
                let t = c.type_of(cond, scope, &mut facts.reads);
                c.expect_boolean(&t, cond.span);
                // Fields set only under a condition do not count as always set.
                let mut scratch = written.clone();
                body_inner(c, then, tgt, scope, facts, &mut scratch);
                if let Some(o) = otherwise {
                    let mut other = written.clone();
                    body_inner(c, o, tgt, scope, facts, &mut other);
                    for f in scratch {
                        if other.contains(&f) && !written.contains(&f) {
                            written.push(f);
                        }
                    }
                }
            }
        }
    }
}

/// The type of the place a statement writes, recording record writes.
fn target_type(
    c: &mut Checker,
    target: &MapTarget,
    tgt: &Target,
    scope: &Scope,
    facts: &mut MappingFacts,
    written: &mut Vec<String>,
) -> Option<Ty> {
    match (tgt, target) {
        (&Target::Record(r), MapTarget::Path(p)) => {
            let ty = c.walk_fields(r, &p.segments)?;
            // Every record along the path is written: `patient.mrn` sets LabOrder.patient
            // and Patient.mrn.
            let mut rec = r;
            for seg in &p.segments {
                facts.writes.push(Write {
                    record: rec,
                    field: seg.name.name.clone(),
                    span: p.span,
                });
                match c.m.field(rec, &seg.name.name).map(|f| f.ty.base().clone()) {
                    Some(Ty::Record(next)) => rec = next,
                    _ => break,
                }
            }
            if let Some(first) = p.segments.first() {
                written.push(first.name.name.clone());
            }
            Some(ty)
        }
        (Target::Hl7, MapTarget::Hl7(p)) => {
            if let Some(ctx) = scope.target_hl7.clone() {
                c.check_hl7_path(&ctx, p);
            }
            Some(Ty::Text)
        }
        (Target::Hl7, MapTarget::Segment(seg)) => {
            if let Some(ctx) = scope.target_hl7.clone() {
                c.check_hl7_path(&ctx, &segment_path(seg));
            }
            Some(Ty::Text)
        }
        (Target::Fhir(_), MapTarget::Path(_)) | (Target::Unknown, _) => Some(Ty::Unknown),
        (&Target::Record(r), other) => {
            let rname = c.record_name(r).to_string();
            c.push(diag::target_not_in_schema(
                other.span(),
                &format!("the record {rname}"),
                "a field of the record, such as `family_name`",
            ));
            None
        }
        (Target::Hl7, other) => {
            c.push(diag::target_not_in_schema(
                other.span(),
                "an HL7 v2 message",
                "an HL7 path such as `PID-5.1`",
            ));
            None
        }
        (Target::Fhir(_), other) => {
            c.push(diag::target_not_in_schema(
                other.span(),
                "a FHIR resource",
                "an element path such as `name[0].family`",
            ));
            None
        }
    }
}

/// A value (or several, into a repeating element) written to a FHIR element.
fn assign_fhir(
    c: &mut Checker,
    ctx: &FhirCtx,
    p: &accord_dsl::ast::PathRef,
    values: &[accord_dsl::ast::Expr],
    scope: &Scope,
    facts: &mut MappingFacts,
) {
    if !refuse_filters(c, p) {
        return;
    }
    let place = c.fhir_place(ctx, p);
    let types: Vec<Ty> = values
        .iter()
        .map(|v| c.type_of(v, scope, &mut facts.reads))
        .collect();
    let Some(place) = place else { return };
    if values.len() > 1 && !place.list {
        c.push(diag::several_values_single_target(
            p.span,
            values.len(),
            &format!("FHIR `{}`", place.path),
        ));
        return;
    }
    for (v, t) in values.iter().zip(&types) {
        c.check_fhir_value(&place, t, v, p.span);
    }
}

/// Reports a `where` filter on a path a mapping writes; `true` when there is none.
fn refuse_filters(c: &mut Checker, p: &accord_dsl::ast::PathRef) -> bool {
    let Some(w) = p.segments.iter().find_map(|s| s.filter.as_ref()) else {
        return true;
    };
    c.push(diag::filter_misplaced(
        w,
        "on a path the mapping writes",
        "a write names its entry by index and sets the element the filter would read: `telecom[0].system <- \"phone\"` and `telecom[0].value <- phone`",
    ));
    false
}

/// The FHIR context inside `for each` over (or into) the repeating element at `p`.
fn fhir_for_each(c: &mut Checker, ctx: &FhirCtx, p: &accord_dsl::ast::PathRef) -> Option<FhirCtx> {
    let place = c.fhir_place(ctx, p)?;
    if !place.list {
        let last = p.segments.last()?;
        c.push(diag::fhir_for_each_single(
            &last.name,
            place.path,
            &place.card,
        ));
        return None;
    }
    let mut prefix = ctx.prefix.clone();
    prefix.extend(p.segments.iter().map(|s| s.name.name.clone()));
    Some(FhirCtx {
        root: ctx.root.clone(),
        prefix,
    })
}

/// `SEG-1`, standing for the segment itself in existence checks.
fn segment_path(seg: &accord_dsl::ast::Token) -> accord_dsl::ast::Hl7Path {
    accord_dsl::ast::Hl7Path {
        segment: seg.text.clone(),
        occurrence: None,
        field: 1,
        repetition: None,
        component: None,
        subcomponent: None,
        span: seg.span,
    }
}

fn check_assign(
    c: &mut Checker,
    value: &Ty,
    place: &Ty,
    hl7: bool,
    value_span: Span,
    target_span: Span,
) {
    let ok = if hl7 {
        value.writable_to_hl7()
    } else {
        value.assignable_to(place)
    };
    if ok {
        return;
    }
    let (found, wanted) = (
        c.ty_name(value),
        if hl7 {
            "an HL7 v2 field".to_string()
        } else {
            c.ty_name(place)
        },
    );
    let help = assign_help(c, value, place, hl7);
    c.push(diag::assign_mismatch(
        value_span,
        target_span,
        &found,
        &wanted,
        &help,
    ));
}

/// A hint that names the conversion that would fix a mismatch.
fn assign_help(c: &Checker, value: &Ty, place: &Ty, hl7: bool) -> String {
    let maps_between = |from: &Ty, to: &Ty| -> Vec<String> {
        c.m.codemaps
            .iter()
            .filter(|(id, _)| {
                let (f, t) = &c.m.codemap_types[*id];
                from.assignable_to(f) && (t.assignable_to(to) || (hl7 && t.writable_to_hl7()))
            })
            .map(|(_, d)| format!("`via {}`", d.name.name))
            .collect()
    };
    match (value.base(), place.base()) {
        (Ty::Code(_), _) if hl7 => {
            let maps = maps_between(value, &Ty::Text);
            if maps.is_empty() {
                "write a code map from this codeset to Text and use `via <codemap>`".into()
            } else {
                format!("translate the code with a code map: {}", maps.join(" or "))
            }
        }
        (Ty::Text | Ty::Identifier, Ty::Code(_)) | (Ty::Code(_), Ty::Code(_)) => {
            let maps = maps_between(value, place);
            if maps.is_empty() {
                "translate the value with a code map (`value via <codemap>`)".into()
            } else {
                format!("translate the value with a code map: {}", maps.join(" or "))
            }
        }
        (Ty::Text | Ty::Identifier, Ty::Date) => "convert the HL7 value with `date(...)`".into(),
        (Ty::Text | Ty::Identifier, Ty::DateTime) => {
            "convert the HL7 value with `datetime(...)`".into()
        }
        (Ty::Text | Ty::Identifier, Ty::Integer) => "convert the value with `integer(...)`".into(),
        (Ty::Text | Ty::Identifier, Ty::Decimal) => "convert the value with `decimal(...)`".into(),
        (Ty::Date | Ty::DateTime | Ty::Integer | Ty::Decimal | Ty::Boolean, Ty::Text) => {
            "convert the value with `text(...)` or `format_date(...)`".into()
        }
        (Ty::List(_), _) => "pick one element with `first(...)` or iterate with `for each`".into(),
        _ => "change the source expression or the field's type so they agree".into(),
    }
}
