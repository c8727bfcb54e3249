//! Typing of expressions (mapping sources, conditions, route rules, test values) in a
//! [`Scope`] that says what may be read: an HL7 v2 message, a source record, the element
//! of a `for each`, or records by name. Records every record field it reads, for the
//! `sends only` check.

use super::{Checker, Resolution};
use crate::builtins::{call_type, CallError, FUNCTIONS};
use crate::diagnostics as diag;
use crate::model::Kind;
use crate::suggest::did_you_mean;
use crate::types::Ty;
use accord_dsl::ast::{
    BinOp, Expr, ExprKind, Hl7Path, LitKind, MapStmtKind, MapTarget, PathRef, PathSeg, Repetition,
    SchemaKind,
};
use accord_dsl::Span;

#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// HL7 v2 paths read the message.
    pub hl7: bool,
    /// The record that bare field paths read.
    pub record: Option<usize>,
    /// The element record of the innermost `for each` over a record list.
    pub element: Option<usize>,
    /// `Record.field` paths read a canonical record by name (routes, keys).
    pub record_heads: bool,
    /// Paths read this FHIR resource (from the `for each` element, when there is one).
    pub fhir: Option<super::fhirpaths::FhirCtx>,
    /// What HL7 paths are checked against, when the version and message are known.
    pub hl7_ctx: Option<std::rc::Rc<super::hl7paths::Hl7Ctx>>,
    /// The same for the HL7 paths a mapping writes.
    pub target_hl7: Option<std::rc::Rc<super::hl7paths::Hl7Ctx>>,
    /// Stored records may be looked up (`lookup(...)`): in mappings only.
    pub stored: bool,
    /// Inside a `for each`: `index()` is the current element's place.
    pub iteration: bool,
}

/// A record field read by an expression: record, top-level field, where.
#[derive(Debug, Clone)]
pub struct Read {
    pub record: usize,
    pub field: String,
    pub span: Span,
}

impl Checker<'_, '_> {
    pub fn type_of(&mut self, e: &Expr, scope: &Scope, reads: &mut Vec<Read>) -> Ty {
        match &e.kind {
            // No value: it takes the type of the branch it stands beside.
            ExprKind::Absent => Ty::Unknown,
            ExprKind::Lit(l) => match &l.kind {
                LitKind::Str(_) | LitKind::Ident(_) => Ty::Text,
                LitKind::Int(_) => Ty::Integer,
                LitKind::Decimal(_) => Ty::Decimal,
                LitKind::Bool(_) => Ty::Boolean,
                LitKind::Date(_) => Ty::Date,
                LitKind::Duration(_) | LitKind::Semver(_) => Ty::Text,
            },
            ExprKind::Hl7(p) => self.type_hl7_path(p, scope),
            ExprKind::Path(p) => self.type_path(p, scope, reads),
            ExprKind::Paren(inner) => self.type_of(inner, scope, reads),
            ExprKind::Not(inner) => {
                let t = self.type_of(inner, scope, reads);
                self.expect_boolean(&t, inner.span);
                Ty::Boolean
            }
            ExprKind::Call { func, args } if func.name == "reference" => {
                self.type_reference(func, args, e.span, scope, reads)
            }
            ExprKind::Call { func, args } if func.name == "lookup" => {
                self.type_stored(args, e.span, scope, reads)
            }
            ExprKind::Call { func, args } if func.name == "index" && !scope.iteration => {
                args.iter().for_each(|a| {
                    self.type_of(a, scope, reads);
                });
                self.push(diag::index_outside_for_each(func));
                Ty::Integer
            }
            ExprKind::Via { expr, map } if self.m.id(Kind::Mapping, &map.name).is_some() => {
                self.type_apply(expr, map, scope, reads)
            }
            ExprKind::Call { func, args } => {
                let tys: Vec<Ty> = args.iter().map(|a| self.type_of(a, scope, reads)).collect();
                match call_type(&func.name, &tys) {
                    Ok(t) => {
                        if let ("format_date", [value, _]) = (func.name.as_str(), &tys[..]) {
                            self.check_date_pattern(value, &args[1]);
                        }
                        // The reason is part of the contract: written out, not computed.
                        let literal = |a: &Expr| matches!(&a.kind, ExprKind::Lit(l) if matches!(l.kind, LitKind::Str(_)));
                        if let ("require", [_, reason]) = (func.name.as_str(), &args[..]) {
                            if !literal(reason) {
                                self.push(diag::call_argument(
                                    func,
                                    reason.span,
                                    "the reason, as text in quotes",
                                    "a computed value",
                                    signature(&func.name),
                                ));
                            }
                        }
                        t
                    }
                    Err(CallError::Unknown) => {
                        self.push(diag::unknown_function(
                            func,
                            did_you_mean(&func.name, FUNCTIONS.iter().map(|f| f.0)),
                        ));
                        Ty::Unknown
                    }
                    Err(CallError::Arity(expected)) => {
                        self.push(diag::call_arity(
                            func,
                            e.span,
                            expected,
                            signature(&func.name),
                        ));
                        Ty::Unknown
                    }
                    Err(CallError::Argument { index, expected }) => {
                        let found = self.ty_name(&tys[index]);
                        self.push(diag::call_argument(
                            func,
                            args[index].span,
                            expected,
                            &found,
                            signature(&func.name),
                        ));
                        Ty::Unknown
                    }
                }
            }
            ExprKind::Via { expr, map } => {
                let t = self.type_of(expr, scope, reads);
                let Some(id) = self.lookup(map, Kind::Codemap) else {
                    return Ty::Unknown;
                };
                let (from, to) = self.m.codemap_types[id].clone();
                let element = t.list_element().cloned();
                let input = element.clone().unwrap_or(t.clone());
                if !input.assignable_to(&from) {
                    let (found, wanted) = (self.ty_name(&input), self.ty_name(&from));
                    self.push(diag::via_type_mismatch(expr.span, map, &found, &wanted));
                }
                if element.is_some() {
                    Ty::List(Box::new(to))
                } else {
                    to
                }
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.type_of(cond, scope, reads);
                self.expect_boolean(&c, cond.span);
                let a = self.type_of(then, scope, reads);
                let b = self.type_of(otherwise, scope, reads);
                if matches!(otherwise.kind, ExprKind::Absent) {
                    a.base().clone()
                } else if a.assignable_to(&b) {
                    b.base().clone()
                } else if b.assignable_to(&a) {
                    a.base().clone()
                } else {
                    let (ta, tb) = (self.ty_name(&a), self.ty_name(&b));
                    self.push(diag::branch_mismatch(then.span, otherwise.span, &ta, &tb));
                    Ty::Unknown
                }
            }
            ExprKind::Binary {
                op: op @ (BinOp::And | BinOp::Or),
                lhs,
                rhs,
            } => {
                let _ = op;
                for side in [lhs, rhs] {
                    let t = self.type_of(side, scope, reads);
                    self.expect_boolean(&t, side.span);
                }
                Ty::Boolean
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.type_of_operand(lhs, rhs, scope, reads);
                let r = self.type_of_operand(rhs, lhs, scope, reads);
                let ordered = !matches!(op, BinOp::Eq | BinOp::Ne);
                let ok = l.comparable(&r)
                    && !(ordered
                        && matches!(
                            l.base(),
                            Ty::Boolean | Ty::Code(_) | Ty::Record(_) | Ty::List(_)
                        ));
                if !ok {
                    let (tl, tr) = (self.ty_name(&l), self.ty_name(&r));
                    self.push(diag::comparison_mismatch(
                        lhs.span,
                        rhs.span,
                        op.as_str(),
                        &tl,
                        &tr,
                    ));
                }
                Ty::Boolean
            }
        }
    }

    /// One side of a comparison. A bare name compared with a code is a code of that
    /// codeset (`sex == male`), not a field.
    fn type_of_operand(
        &mut self,
        side: &Expr,
        other: &Expr,
        scope: &Scope,
        reads: &mut Vec<Read>,
    ) -> Ty {
        if let ExprKind::Path(p) = &side.kind {
            if p.segments.len() == 1 && p.segments[0].index.is_none() {
                let mut probe = Checker {
                    m: self.m,
                    opts: self.opts,
                    diags: vec![],
                    resolved: Default::default(),
                };
                let other_ty = probe.type_of(other, scope, &mut vec![]);
                if let Ty::Code(cs) = other_ty.base() {
                    let name = &p.segments[0].name;
                    if self.m.has_code(*cs, &name.name) {
                        self.resolved.insert(
                            p.span,
                            Resolution::Code {
                                codeset: *cs,
                                code: name.name.clone(),
                            },
                        );
                        return other_ty.base().clone();
                    }
                    if self.resolve_in_scope(p, scope).is_none() {
                        let set = self.m.codesets.get(*cs).name.name.clone();
                        let hint =
                            did_you_mean(&name.name, self.m.codeset_codes[*cs].iter().copied());
                        self.push(diag::unknown_code(name, &set, hint));
                        return Ty::Unknown;
                    }
                }
            }
        }
        self.type_of(side, scope, reads)
    }

    /// A literal `format_date` pattern uses only its tokens (E0423); `value` is the type
    /// of the date it writes.
    fn check_date_pattern(&mut self, value: &Ty, pattern: &Expr) {
        let ExprKind::Lit(l) = &pattern.kind else {
            return;
        };
        let LitKind::Str(s) = &l.kind else {
            return;
        };
        let with_time = !matches!(value.base(), Ty::Date);
        if let Some((at, why)) =
            accord_runtime::mapping::functions::date_pattern_problem(&s.value, with_time)
        {
            // The letters themselves when the literal has no escapes to shift them.
            let span = if s.raw == s.value {
                let run = s.value[at..]
                    .chars()
                    .take_while(|c| c.is_alphabetic())
                    .map(char::len_utf8)
                    .sum::<usize>()
                    .max(1);
                Span {
                    file: s.span.file,
                    start: s.span.start + 1 + at as u32,
                    end: s.span.start + 1 + (at + run) as u32,
                }
            } else {
                s.span
            };
            self.push(diag::date_pattern(span, &why));
        }
    }

    pub fn expect_boolean(&mut self, t: &Ty, span: Span) {
        if !matches!(t.base(), Ty::Boolean | Ty::Unknown) {
            let found = self.ty_name(t);
            self.push(diag::condition_not_boolean(span, &found));
        }
    }

    pub fn type_hl7_path(&mut self, p: &Hl7Path, scope: &Scope) -> Ty {
        if !scope.hl7 {
            self.push(diag::hl7_path_without_message(p.span));
            return Ty::Unknown;
        }
        if let Some(ctx) = scope.hl7_ctx.clone() {
            self.check_hl7_path(&ctx, p);
        }
        if matches!(p.repetition, Some(Repetition::All)) {
            Ty::List(Box::new(Ty::Text))
        } else {
            Ty::Text
        }
    }

    /// Which record a path reads, and from which segment on, without reporting.
    fn resolve_in_scope<'p>(
        &self,
        p: &'p PathRef,
        scope: &Scope,
    ) -> Option<(usize, &'p [PathSeg])> {
        let head = &p.segments.first()?.name.name;
        if let Some(el) = scope.element {
            if self.m.field(el, head).is_some() {
                return Some((el, &p.segments));
            }
        }
        if let Some(r) = scope.record {
            if self.m.field(r, head).is_some() {
                return Some((r, &p.segments));
            }
            if *head == self.m.records.get(r).name.name && p.segments.len() > 1 {
                return Some((r, &p.segments[1..]));
            }
        }
        if scope.record_heads && p.segments.len() > 1 {
            if let Some(r) = self.m.id(Kind::Record, head) {
                return Some((r, &p.segments[1..]));
            }
        }
        None
    }

    pub fn type_path(&mut self, p: &PathRef, scope: &Scope, reads: &mut Vec<Read>) -> Ty {
        if let (Some(ctx), None, None) = (&scope.fhir, scope.record, scope.element) {
            return self.type_fhir_read(ctx, p);
        }
        // `Codeset.code`: a code written out (`FhirContactPointUse.home`).
        if let Some(cs) = self.codeset_code_path(p, scope) {
            let code = &p.segments[1].name;
            if !self.m.codeset_codes[cs].contains(&code.name.as_str()) {
                let set = self.m.codesets.get(cs).name.name.clone();
                let hint = did_you_mean(&code.name, self.m.codeset_codes[cs].iter().copied());
                self.push(diag::unknown_code(code, &set, hint));
            }
            self.resolved.insert(
                p.span,
                Resolution::Code {
                    codeset: cs,
                    code: code.name.clone(),
                },
            );
            return Ty::Code(cs);
        }
        // The record in scope by its own name is the whole record (`Allergy via m`).
        if let ([only], Some(r)) = (&p.segments[..], scope.element.or(scope.record)) {
            let name = &only.name.name;
            if only.index.is_none()
                && *name == self.m.records.get(r).name.name
                && self.m.field(r, name).is_none()
            {
                for f in &self.m.record_fields[r] {
                    reads.push(Read {
                        record: r,
                        field: f.name.to_string(),
                        span: p.span,
                    });
                }
                return Ty::Record(r);
            }
        }
        match self.resolve_in_scope(p, scope) {
            Some((record, segs)) => {
                if let Some(first) = segs.first() {
                    reads.push(Read {
                        record,
                        field: first.name.name.clone(),
                        span: p.span,
                    });
                }
                self.walk_fields(record, segs).unwrap_or(Ty::Unknown)
            }
            None => {
                let head = &p.segments[0].name;
                let record = scope.element.or(scope.record);
                match record {
                    Some(r) if !(scope.record_heads && p.segments.len() > 1) => {
                        let fields: Vec<&str> =
                            self.m.record_fields[r].iter().map(|f| f.name).collect();
                        let rname = self.record_name(r).to_string();
                        self.push(diag::unknown_field(
                            head,
                            &rname,
                            did_you_mean(&head.name, fields),
                        ));
                    }
                    _ if scope.record_heads && p.segments.len() > 1 => {
                        self.lookup(head, Kind::Record);
                    }
                    _ => self.push(diag::path_outside_scope(p, scope.hl7)),
                }
                Ty::Unknown
            }
        }
    }

    /// The type at the end of a field path that starts in `record`. Reports the first
    /// segment that does not exist.
    pub fn walk_fields(&mut self, record: usize, segs: &[PathSeg]) -> Option<Ty> {
        let mut current = Ty::Record(record);
        for seg in segs {
            if let Some(w) = &seg.filter {
                self.push(diag::filter_misplaced(
                    w,
                    "on a record path",
                    "a record's list is read by index (`given_names[0]`) or whole; filters pick entries of FHIR lists",
                ));
                return None;
            }
            let rec = match current.base() {
                Ty::Record(r) => *r,
                Ty::List(inner) if seg.index.is_none() => match inner.base() {
                    Ty::Record(r) => *r,
                    _ => return Some(Ty::Unknown),
                },
                Ty::Unknown => return Some(Ty::Unknown),
                _ => {
                    let found = self.ty_name(&current);
                    self.push(diag::not_a_record(&seg.name, &found));
                    return None;
                }
            };
            let Some(f) = self.m.field(rec, &seg.name.name) else {
                let fields: Vec<&str> = self.m.record_fields[rec].iter().map(|f| f.name).collect();
                let rname = self.record_name(rec).to_string();
                self.push(diag::unknown_field(
                    &seg.name,
                    &rname,
                    did_you_mean(&seg.name.name, fields),
                ));
                return None;
            };
            current = f.ty.clone();
            if seg.index.is_some() {
                current = match current.list_element() {
                    Some(e) => e.clone(),
                    None => {
                        let found = self.ty_name(&current);
                        self.push(diag::index_on_non_list(&seg.name, &found));
                        return None;
                    }
                };
            }
        }
        Some(current)
    }
}

fn signature(name: &str) -> &'static str {
    FUNCTIONS
        .iter()
        .find(|f| f.0 == name)
        .map(|f| f.1)
        .unwrap_or("")
}

impl Checker<'_, '_> {
    /// `value via mapping`: the mapping must read a canonical record of the value's type
    /// and make a FHIR resource or a record; a list applies it to each element.
    fn type_apply(
        &mut self,
        value: &Expr,
        map: &accord_dsl::ast::Ident,
        scope: &Scope,
        reads: &mut Vec<Read>,
    ) -> Ty {
        let t = self.type_of(value, scope, reads);
        let Some(id) = self.m.id(Kind::Mapping, &map.name) else {
            return Ty::Unknown;
        };
        let decl = self.m.mappings.get(id).node;
        let source = match &decl.source.kind {
            SchemaKind::Record(r) => self.m.id(Kind::Record, &r.name),
            _ => None,
        };
        let Some(source) = source else {
            self.push(diag::apply_mapping(
                map,
                value.span,
                "it reads an HL7 v2 message or a FHIR resource",
                None,
            ));
            return Ty::Unknown;
        };
        if decl.partial.is_some() {
            self.push(diag::apply_mapping(
                map,
                value.span,
                "it writes a partial record, which only a transform chain completes from the stored record",
                None,
            ));
            return Ty::Unknown;
        }
        let result = match &decl.target.kind {
            SchemaKind::Fhir(r) => Ty::Resource(r.name.clone()),
            SchemaKind::Record(r) => match self.m.id(Kind::Record, &r.name) {
                Some(r) => Ty::Record(r),
                None => Ty::Unknown,
            },
            _ => {
                self.push(diag::apply_mapping(
                    map,
                    value.span,
                    "it writes an HL7 v2 message, which is not a value",
                    None,
                ));
                return Ty::Unknown;
            }
        };
        let element = t.list_element().cloned();
        let input = element.clone().unwrap_or(t.clone());
        if !input.assignable_to(&Ty::Record(source)) {
            let found = self.ty_name(&input);
            let wanted = self.record_name(source).to_string();
            self.push(diag::apply_mapping(
                map,
                value.span,
                &format!("it reads {wanted}, and this is {found}"),
                Some(&wanted),
            ));
            return Ty::Unknown;
        }
        if element.is_some() {
            Ty::List(Box::new(result))
        } else {
            result
        }
    }

    /// `reference(mapping, key, ...)`: the mapping makes a FHIR resource from a record
    /// with key fields and lets the engine give it its id; the keys are that record's,
    /// in order and of their types.
    fn type_reference(
        &mut self,
        func: &accord_dsl::ast::Ident,
        args: &[Expr],
        span: Span,
        scope: &Scope,
        reads: &mut Vec<Read>,
    ) -> Ty {
        let named = match args.first().map(|a| &a.kind) {
            Some(ExprKind::Path(p)) if p.segments.len() == 1 => Some(&p.segments[0].name),
            _ => None,
        };
        let Some(name) = named else {
            self.push(diag::bad_reference(
                args.first().map(|a| a.span).unwrap_or(span),
                "the first argument names a mapping into FHIR".into(),
                "write `reference(patient_to_fhir, mrn)`: the mapping, then the record's key values".into(),
            ));
            return Ty::Text;
        };
        let Some(id) = self.lookup(name, Kind::Mapping) else {
            return Ty::Text;
        };
        let decl = self.m.mappings.get(id).node;
        let record = match (&decl.source.kind, &decl.target.kind) {
            (SchemaKind::Record(r), SchemaKind::Fhir(_)) => self.m.id(Kind::Record, &r.name),
            _ => None,
        };
        let Some(record) = record else {
            self.push(diag::bad_reference(
                name.span,
                format!(
                    "`{}` does not map a canonical record to a FHIR resource",
                    name.name
                ),
                "a reference points at a resource whose id comes from a record's key fields".into(),
            ));
            return Ty::Text;
        };
        let sets_id = decl.body.iter().any(|s| {
            matches!(&s.kind, MapStmtKind::Assign { target: MapTarget::Path(p), .. }
                if p.segments.len() == 1 && p.segments[0].name.name == "id")
        });
        let keys = self.key_fields(record);
        let rname = self.record_name(record).to_string();
        if sets_id || keys.is_empty() {
            let (why, help) = if sets_id {
                (
                    format!("`{}` sets the resource's `id` itself", name.name),
                    format!("remove its `id <- ...` line, so the engine makes the id from {rname}'s key fields and references to it agree"),
                )
            } else {
                (
                    format!("{rname} has no key field to make the resource's id from"),
                    format!("mark the fields that identify a {rname} with `key`"),
                )
            };
            self.push(diag::bad_reference(name.span, why, help));
            return Ty::Text;
        }
        let given = &args[1..];
        let list = keys
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if given.len() != keys.len() {
            self.push(diag::bad_reference(
                span,
                format!(
                    "{rname} has {} ({list}), and this gives {}",
                    plural(keys.len(), "key field"),
                    plural(given.len(), "value"),
                ),
                format!("give the key values in the order of {rname}'s fields: {list}"),
            ));
            return Ty::Text;
        }
        self.check_key_values(given, &keys, &rname, scope, reads, diag::bad_reference);
        let _ = func;
        Ty::Text
    }
}

impl Checker<'_, '_> {
    /// `lookup(Record.field, key, ...)`: the field of a stored record. Only mappings look
    /// records up (the production runs them with its store); the record is one it keeps
    /// (a matrix and key fields), the field one the matrix keeps, and the keys are the
    /// record's key values, in order and of their types. Its type is the field's, with no
    /// value when nothing is stored.
    fn type_stored(
        &mut self,
        args: &[Expr],
        span: Span,
        scope: &Scope,
        reads: &mut Vec<Read>,
    ) -> Ty {
        let refuse = |c: &mut Self, at: Span, what: String, help: String| {
            c.push(diag::bad_lookup(at, what, help));
            Ty::Unknown
        };
        if !scope.stored {
            return refuse(
                self,
                span,
                "stored records are looked up only in mappings".into(),
                "look the record up in the mapping that needs the value; routes, flows and tests read the message".into(),
            );
        }
        let head = match args.first().map(|a| &a.kind) {
            Some(ExprKind::Path(p)) if p.segments.len() >= 2 => Some(p),
            _ => None,
        };
        let Some(p) = head else {
            return refuse(
                self,
                args.first().map_or(span, |a| a.span),
                "the first argument names a stored record's field".into(),
                "write `lookup(Patient.family_name, PID-3.1)`: the record and field, then the record's key values".into(),
            );
        };
        let Some(rid) = self.lookup(&p.segments[0].name, Kind::Record) else {
            return Ty::Unknown;
        };
        let Some(field_ty) = self.walk_fields(rid, &p.segments[1..]) else {
            return Ty::Unknown;
        };
        let rname = self.record_name(rid).to_string();
        let field = p.segments[1..]
            .iter()
            .map(|s| s.name.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let keys = self.key_fields(rid);
        let kept = self.kept_fields(rid);
        if kept.is_empty() || keys.is_empty() {
            return refuse(
                self,
                p.span,
                format!("the production keeps no `{rname}` to look up"),
                format!("it keeps the records under the ownership matrix with a key: give `{rname}` a `key` field and an `ownership {rname} {{ ... }}` matrix"),
            );
        }
        let covered = kept.iter().any(|k| {
            *k == field
                || k.starts_with(&format!("{field}."))
                || field.starts_with(&format!("{k}."))
        });
        if !covered {
            return refuse(
                self,
                p.span,
                format!("the matrix does not keep `{rname}.{field}`, so the production stores no value to look up"),
                format!("give `{field}` a row in `ownership {rname}`, or read it from the message"),
            );
        }
        let given = &args[1..];
        let list = keys
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if given.len() != keys.len() {
            return refuse(
                self,
                span,
                format!(
                    "{rname} is found by {} ({list}), and this gives {}",
                    plural(keys.len(), "key field"),
                    plural(given.len(), "value"),
                ),
                format!(
                    "give the key values after the field, in the order of {rname}'s fields: {list}"
                ),
            );
        }
        self.check_key_values(given, &keys, &rname, scope, reads, diag::bad_lookup);
        field_ty
    }

    /// Each key value given (to `reference` or `lookup`) is of its key field's type;
    /// `refuse` makes the diagnostic for one that is not.
    fn check_key_values(
        &mut self,
        given: &[Expr],
        keys: &[(String, Ty)],
        record: &str,
        scope: &Scope,
        reads: &mut Vec<Read>,
        refuse: fn(Span, String, String) -> accord_dsl::Diagnostic,
    ) {
        for (arg, (key, ty)) in given.iter().zip(keys) {
            let t = self.type_of(arg, scope, reads);
            if !t.assignable_to(ty) {
                let (found, wanted) = (self.ty_name(&t), self.ty_name(ty));
                self.push(refuse(
                    arg.span,
                    format!("this is {found}, and the key `{key}` of {record} is {wanted}"),
                    format!("give the value of {record}'s `{key}` here"),
                ));
            }
        }
    }

    /// The key fields of record `rid`, with their types, in order.
    pub fn key_fields(&self, rid: usize) -> Vec<(String, Ty)> {
        self.m.record_fields[rid]
            .iter()
            .filter(|f| {
                f.decl
                    .constraints
                    .iter()
                    .any(|c| matches!(c.kind, accord_dsl::ast::ConstraintKind::Key))
            })
            .map(|f| (f.name.to_string(), f.ty.clone()))
            .collect()
    }

    /// The field paths the ownership matrices of record `rid` keep (what the production
    /// stores of it); empty when no matrix governs it.
    pub fn kept_fields(&self, rid: usize) -> Vec<String> {
        self.m
            .ownerships
            .iter()
            .filter(|(o, _, _)| self.m.id(Kind::Record, &o.record.name) == Some(rid))
            .flat_map(|(o, _, _)| o.fields.iter())
            .map(|f| {
                f.path
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect()
    }
}

/// `1 key field`, `2 key fields`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl Checker<'_, '_> {
    /// The codeset of a `Codeset.code` path: two plain segments, the first naming a
    /// codeset and not a field of the record in scope.
    pub fn codeset_code_path(&self, p: &PathRef, scope: &Scope) -> Option<usize> {
        let [head, code] = &p.segments[..] else {
            return None;
        };
        if head.index.is_some() || code.index.is_some() {
            return None;
        }
        let in_scope = [scope.element, scope.record]
            .into_iter()
            .flatten()
            .any(|r| self.m.field(r, &head.name.name).is_some());
        if in_scope {
            return None;
        }
        self.m.id(Kind::Codeset, &head.name.name)
    }
}
