//! Mappings as Rust functions over the zero-copy message (or a record), with no
//! interpretation at run time. Every expression is typed here into one of three shapes:
//! an optional value (`Option<T>`: absent stays absent), a list (`Vec<T>`), or a condition
//! (`bool`). Record targets are filled as drafts and finished (required fields checked);
//! HL7 targets go through the builder; FHIR targets fill the structs `fhir_out` builds
//! from the paths they write, which serialise themselves.

use super::fhir_out::{self, Final, LeafTy, Place, Tree};
use super::{codes, names, types};
use crate::ir::{
    BinOp, Estate, Expr, Hl7Path, IterSource, Mapping, PathStep, Repetition, Schema, Stmt, Target,
    Type,
};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::cell::RefCell;

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Opt(Type),
    List(Type),
    Bool,
    /// A FHIR resource made by this mapping (`Option` of its struct).
    Res(String),
    /// A list of them.
    ResList(String),
}

/// What field paths read: the source record, or the element of a `for each`.
#[derive(Clone)]
struct RecordScope {
    var: TokenStream,
    record: String,
}

pub struct Gen<'a> {
    ir: &'a Estate,
    /// Every HL7 path of the crate, built once, each in a static named after it
    /// (`PID_3_1`).
    paths: RefCell<Vec<(Hl7Path, proc_macro2::Ident)>>,
    /// The whole-message reads of the mapping being generated (`paths` indexes): each is
    /// made once per message, however many statements read it (`reads[k]`).
    once: RefCell<Vec<usize>>,
    /// Which whole-message paths the statements of the mapping read, and where (a first,
    /// counting pass fills it); `cache` is then those read by more than one statement.
    seen: RefCell<std::collections::BTreeMap<usize, std::collections::BTreeSet<String>>>,
    cache: RefCell<Option<std::collections::BTreeSet<usize>>>,
}

fn loc(at: &crate::ir::Loc) -> String {
    format!("{}:{}", at.file, at.line)
}

impl<'a> Gen<'a> {
    pub fn new(ir: &'a Estate) -> Gen<'a> {
        Gen {
            ir,
            paths: RefCell::new(vec![]),
            once: RefCell::new(vec![]),
            seen: RefCell::default(),
            cache: RefCell::new(None),
        }
    }

    fn path_ref(&self, p: &Hl7Path) -> TokenStream {
        let name = self.path_static(self.path_index(p));
        quote!(#name)
    }

    fn path_index(&self, p: &Hl7Path) -> usize {
        let mut paths = self.paths.borrow_mut();
        // One static per path as written: the dictionary's name for it (which differs
        // between versions) does not change the runtime path.
        match paths.iter().position(|(q, _)| q.text == p.text) {
            Some(i) => i,
            None => {
                let mut name = path_name(&p.text);
                if paths.iter().any(|(_, n)| *n == name) {
                    name = format_ident!("{}_{}", name, paths.len());
                }
                paths.push((p.clone(), name));
                paths.len() - 1
            }
        }
    }

    /// The static that holds path `i`.
    fn path_static(&self, i: usize) -> proc_macro2::Ident {
        self.paths.borrow()[i].1.clone()
    }

    /// The statics of every path the crate's code read or wrote, each parsed once.
    pub fn path_statics(&self) -> TokenStream {
        let statics = self.paths.borrow().iter().map(|(p, name)| {
            let (doc, value) = (format!(" `{}`", p.text), super::path_literal(p));
            quote! {
                #[doc = #doc]
                static #name: std::sync::LazyLock<rt::Path> = std::sync::LazyLock::new(|| #value);
            }
        }).collect::<Vec<_>>();
        quote!(#(#statics)*)
    }

    /// A single HL7 value read in scope `sc`, as `Option<&str>`-like text borrowed from
    /// the message, and whether it goes through the function's `reads` cache: a
    /// whole-message value several statements read (the patient's MRN, read for the
    /// patient, the visit and each allergy) is found and unescaped once per message.
    fn read_str(&self, p: &Hl7Path, sc: &proc_macro2::Ident, at: &str) -> (TokenStream, bool) {
        let i = self.path_index(p);
        if sc != "scope" {
            let name = self.path_static(i);
            return (quote!(#sc.str(&#name, #at)?), false);
        }
        let cached = match &*self.cache.borrow() {
            Some(set) => set.contains(&i),
            None => {
                self.seen
                    .borrow_mut()
                    .entry(i)
                    .or_default()
                    .insert(at.to_string());
                false
            }
        };
        let name = self.path_static(i);
        if !cached {
            return (quote!(scope.str(&#name, #at)?), false);
        }
        let mut once = self.once.borrow_mut();
        let k = match once.iter().position(|&j| j == i) {
            Some(k) => k,
            None => {
                once.push(i);
                once.len() - 1
            }
        };
        (
            quote!(rt::once(&reads[#k], || scope.str(&#name, #at))?),
            true,
        )
    }

    /// The `reads` cache a mapping from HL7 v2 declares after its scope, sized by the
    /// reads generated since the last call (which starts the next mapping afresh).
    pub(crate) fn take_reads(&self) -> TokenStream {
        let n = std::mem::take(&mut *self.once.borrow_mut()).len();
        if n == 0 {
            return quote!();
        }
        quote!(let reads: [rt::Once<'_>; #n] = Default::default();)
    }

    fn record(&self, name: &str) -> Option<&crate::ir::Record> {
        self.ir.records.iter().find(|r| r.name == name)
    }

    fn field_type(&self, record: &str, field: &str) -> Type {
        self.record(record)
            .and_then(|r| r.fields.iter().find(|f| f.name == field))
            .map(|f| f.ty.clone())
            .unwrap_or(Type::Unknown)
    }

    /// Mapping `m` as a function. It is generated twice: the first pass finds the
    /// whole-message values that several statements read, and the second reads each of
    /// those once per message.
    pub fn gen_mapping(&self, m: &Mapping) -> TokenStream {
        self.seen.borrow_mut().clear();
        *self.cache.borrow_mut() = None;
        let _ = self.gen_mapping_pass(m);
        let shared = self
            .seen
            .borrow()
            .iter()
            .filter(|(_, at)| at.len() > 1)
            .map(|(i, _)| *i)
            .collect();
        *self.cache.borrow_mut() = Some(shared);
        self.once.borrow_mut().clear();
        let out = self.gen_mapping_pass(m);
        *self.cache.borrow_mut() = None;
        out
    }

    fn gen_mapping_pass(&self, m: &Mapping) -> TokenStream {
        let name = names::snake(&m.name);
        let docs: Vec<String> = m.docs.lines().map(|l| format!(" {l}")).collect();
        let at = loc(&m.loc);
        let (param, scope, rscope) = match &m.source {
            Schema::Hl7 { .. } => (
                quote!(msg: &rt::Message),
                quote!(let scope = rt::Scope::whole(msg);),
                None,
            ),
            Schema::Record { record } => {
                let t = names::ty(record);
                (
                    quote!(src: &#t),
                    quote!(),
                    Some(RecordScope {
                        var: quote!(src),
                        record: record.clone(),
                    }),
                )
            }
            Schema::Fhir { .. } => (quote!(src: &rt::serde_json::Value), quote!(), None),
        };
        let fscope = match &m.source {
            Schema::Fhir { .. } => Some(FhirScope { var: quote!(src) }),
            _ => None,
        };
        let source_ctx = SourceCtx {
            source: rscope.clone(),
            rscope,
            fscope,
            hl7: vec![],
            nesting: 0,
        };
        match &m.target {
            Schema::Record { record } => {
                let t = names::ty(record);
                let d = names::suffixed(record, "Draft");
                let body = self.stmts_record(&m.body, record, &quote!(out), &source_ctx);
                let reads = self.take_reads();
                let lineage = super::lineage::of_mapping(self.ir, m);
                if lineage.is_empty() {
                    return quote! {
                        #(#[doc = #docs])*
                        #[allow(unused_variables, clippy::needless_borrow, clippy::redundant_clone)]
                        pub fn #name(#param) -> Result<#t, rt::MapError> {
                            #scope
                            #reads
                            let mut out = #d::default();
                            #(#body)*
                            out.finish(#at)
                        }
                    };
                }
                // A value that breaks a constraint is reported at the message path it
                // was read from.
                let traced = lineage.iter().map(|(field, path)| quote!((#field, #path)));
                quote! {
                    #(#[doc = #docs])*
                    #[allow(unused_variables, clippy::needless_borrow, clippy::redundant_clone)]
                    pub fn #name(#param) -> Result<#t, rt::MapError> {
                        const LINEAGE: &[(&str, &str)] = &[#(#traced),*];
                        let mapped = || -> Result<#t, rt::MapError> {
                            #scope
                            #reads
                            let mut out = #d::default();
                            #(#body)*
                            out.finish(#at)
                        };
                        mapped().map_err(|e| e.traced(LINEAGE))
                    }
                }
            }
            Schema::Hl7 {
                version,
                message,
                profile,
                ..
            } => {
                let message = message
                    .clone()
                    .or_else(|| {
                        profile
                            .as_ref()
                            .and_then(|p| self.ir.profiles.iter().find(|x| &x.name == p))
                            .and_then(|p| p.messages.first().cloned())
                    })
                    .unwrap_or_default();
                let mut parts = message.split('^');
                let (code, trigger) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let header = [
                    (Hl7Path::field("MSH", 9, Some(1)), code),
                    (Hl7Path::field("MSH", 9, Some(2)), trigger),
                    (Hl7Path::field("MSH", 12, None), version.as_str()),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(p, v)| {
                    let path = self.path_ref(&p);
                    quote! { rt::write(&mut b, &#path, #v, #at)?; }
                });
                let body = self.stmts_hl7(&m.body, &source_ctx, &quote!(None));
                let reads = self.take_reads();
                quote! {
                    #(#[doc = #docs])*
                    #[allow(unused_variables, clippy::needless_borrow, clippy::redundant_clone)]
                    pub fn #name(#param) -> Result<Vec<u8>, rt::MapError> {
                        #scope
                        #reads
                        // Segments in the structure's order, whatever order the lines write them.
                        static ORDER: std::sync::LazyLock<Vec<&'static str>> =
                            std::sync::LazyLock::new(|| rt::hl7::dict::segment_order(#version, #message));
                        let mut b = rt::MessageBuilder::new(Default::default()).ordered(ORDER.as_slice());
                        #(#header)*
                        #(#body)*
                        Ok(b.serialize())
                    }
                }
            }
            Schema::Fhir { resource } => {
                // The first walk builds the output's structs, the second fills them.
                let mut tree = Tree::new(&m.name, resource);
                self.fhir_id(m, &mut tree);
                self.stmts_fhir(&m.body, &source_ctx, &mut tree, 0, &quote!(out), &[]);
                for (_, _, entry) in tree.bundle_entries() {
                    tree.ensure_entry_fields(entry);
                }
                let id = self.fhir_id(m, &mut tree);
                let body = self.stmts_fhir(&m.body, &source_ctx, &mut tree, 0, &quote!(out), &[]);
                let reads = self.take_reads();
                let complete = tree.complete_entries();
                let (root, items) = (tree.root_name(), tree.items());
                // The resource borrows the source record's text.
                let param = match &m.source {
                    Schema::Record { record } => {
                        let t = names::ty(record);
                        quote!(src: &'a #t)
                    }
                    _ => param,
                };
                quote! {
                    #items

                    #(#[doc = #docs])*
                    // The output is filled line by line, in the mapping's order.
                    #[allow(unused_variables, clippy::needless_borrow, clippy::redundant_clone, clippy::field_reassign_with_default)]
                    pub fn #name<'a>(#param) -> Result<#root<'a>, rt::MapError> {
                        #scope
                        #reads
                        let mut out = #root::default();
                        #id
                        #(#body)*
                        #complete
                        Ok(out)
                    }
                }
            }
        }
    }

    /// The resource's `id` from the source record's key fields (`patient-100001`), unless
    /// the mapping sets `id` itself: the same record always gives the same id, so updates
    /// replace rather than duplicate, and two records never share one.
    fn fhir_id(&self, m: &Mapping, tree: &mut Tree) -> TokenStream {
        let Schema::Record { record } = &m.source else {
            return quote!();
        };
        let sets_id = m.body.iter().any(|s| {
            matches!(s, Stmt::Assign { target: Target::Field { path }, .. }
                if path.len() == 1 && path[0].name == "id")
        });
        let Some(r) = self.ir.records.iter().find(|r| &r.name == record) else {
            return quote!();
        };
        let keys: Vec<_> = r
            .fields
            .iter()
            .filter(|f| f.constraints.contains(&crate::ir::Constraint::Key))
            .map(|f| names::snake(&f.name))
            .collect();
        if sets_id || keys.is_empty() {
            return quote!();
        }
        let id = PathStep {
            name: "id".into(),
            index: None,
            filter: None,
            fhir: None,
        };
        let end = Final::Value {
            ty: LeafTy::text(),
            list: false,
        };
        match tree.place(0, &quote!(out), &[], &[id], end) {
            Place::Opt { place, .. } => quote! {
                #place = Some(rt::fhir::Str::Owned(rt::fhir::id(#record, &[#(&src.#keys),*])));
            },
            _ => quote!(),
        }
    }

    // ---- statements -------------------------------------------------------------------------

    fn stmts_record(
        &self,
        body: &[Stmt],
        record: &str,
        out: &TokenStream,
        ctx: &SourceCtx,
    ) -> Vec<TokenStream> {
        body.iter()
            .map(|s| self.stmt_record(s, record, out, ctx))
            .collect()
    }

    fn stmt_record(
        &self,
        s: &Stmt,
        record: &str,
        out: &TokenStream,
        ctx: &SourceCtx,
    ) -> TokenStream {
        match s {
            Stmt::Assign {
                target: Target::Field { path },
                values,
                loc: l,
                ..
            } => {
                let at = loc(l);
                let (place, ty) = self.draft_place(out, record, path);
                let is_list = matches!(types::base(&ty), Type::List { .. });
                let vals: Vec<(TokenStream, Shape)> =
                    values.iter().map(|v| self.expr(v, ctx, &at)).collect();
                if is_list {
                    let elem = match types::base(&ty) {
                        Type::List { of } => (**of).clone(),
                        _ => Type::Unknown,
                    };
                    if vals.len() == 1 && matches!(vals[0].1, Shape::List(_)) {
                        let v = &vals[0].0;
                        return quote! { #place = #v; };
                    }
                    let pushes = vals.iter().map(|(v, shape)| {
                        let v = convert(v, shape, &elem);
                        quote! { #place.extend(#v); }
                    });
                    quote! { #(#pushes)* }
                } else {
                    let (v, shape) = &vals[0];
                    let v = convert(v, shape, types::base(&ty));
                    quote! { if let Some(v) = #v { #place = Some(v); } }
                }
            }
            Stmt::For {
                target: Target::Field { path },
                source,
                body,
                loc: l,
                ..
            } => {
                let at = loc(l);
                let (place, ty) = self.draft_place(out, record, path);
                let Type::List { of } = types::base(&ty).clone() else {
                    return quote!();
                };
                let Type::Record { record: elem } = types::base(&of).clone() else {
                    return quote!();
                };
                let d = names::suffixed(&elem, "Draft");
                let (pat, iter, inner_ctx) = self.iteration(source, ctx);
                // One name per nesting depth, so an inner element never hides an outer one.
                let el = format_ident!("el{}", inner_ctx.depth());
                let inner = self.stmts_record(body, &elem, &quote!(#el), &inner_ctx);
                quote! {
                    for #pat in #iter {
                        let mut #el = #d::default();
                        #(#inner)*
                        #place.push(#el.finish(#at)?);
                    }
                }
            }
            Stmt::When {
                cond,
                then,
                otherwise,
                loc: l,
                ..
            } => {
                let (c, _) = self.expr(cond, ctx, &loc(l));
                let t = self.stmts_record(then, record, out, ctx);
                let o = self.stmts_record(otherwise, record, out, ctx);
                if_else(&c, &t, &o)
            }
            _ => quote!(),
        }
    }

    /// `out.a.b` as a place in drafts (nested records are drafts created on first write),
    /// and the field's type.
    fn draft_place(
        &self,
        out: &TokenStream,
        record: &str,
        path: &[PathStep],
    ) -> (TokenStream, Type) {
        let mut place = out.clone();
        let mut rec = record.to_string();
        let mut ty = Type::Unknown;
        for (i, step) in path.iter().enumerate() {
            let f = names::snake(&step.name);
            ty = self.field_type(&rec, &step.name);
            place = quote!(#place.#f);
            if i + 1 < path.len() {
                if let Type::Record { record: next } = types::base(&ty) {
                    rec = next.clone();
                    place = quote!(#place.get_or_insert_with(Default::default));
                }
            }
        }
        (place, ty)
    }

    /// What a `for each` binds and iterates, and the context inside it.
    fn iteration(
        &self,
        source: &IterSource,
        ctx: &SourceCtx,
    ) -> (TokenStream, TokenStream, SourceCtx) {
        let (pat, iter, mut inner) = self.iteration_of(source, ctx);
        inner.nesting = ctx.nesting + 1;
        (pat, iter, inner)
    }

    fn iteration_of(
        &self,
        source: &IterSource,
        ctx: &SourceCtx,
    ) -> (TokenStream, TokenStream, SourceCtx) {
        match source {
            IterSource::Segment { segment } => {
                let outer = hl7_scope(ctx, segment);
                let var = format_ident!("scope{}", ctx.hl7.len() + 1);
                let mut inner = ctx.clone();
                inner.hl7.push((var.clone(), vec![segment.clone()]));
                (
                    quote!(#var),
                    quote!(#outer.each_segment(#segment).into_iter()),
                    inner,
                )
            }
            IterSource::Repetitions { path } => {
                let outer = hl7_scope(ctx, &path.segment);
                let var = format_ident!("scope{}", ctx.hl7.len() + 1);
                let mut inner = ctx.clone();
                inner.hl7.push((var.clone(), vec![path.segment.clone()]));
                let p = self.path_ref(path);
                (
                    quote!(#var),
                    quote!(#outer.each_repetition(&#p).into_iter()),
                    inner,
                )
            }
            IterSource::Group {
                segments, leaders, ..
            } => {
                let last = leaders.last().map(String::as_str).unwrap_or("MSH");
                let outer = hl7_scope(ctx, last);
                let var = format_ident!("scope{}", ctx.hl7.len() + 1);
                let mut inner = ctx.clone();
                inner.hl7.push((var.clone(), segments.clone()));
                (
                    quote!(#var),
                    quote!(#outer.each_group(&[#(#leaders),*]).into_iter()),
                    inner,
                )
            }
            IterSource::Field { path } if ctx.rscope.is_none() && ctx.fscope.is_some() => {
                let Some(fs) = ctx.fscope.clone() else {
                    return (quote!(item), quote!(std::iter::empty::<()>()), ctx.clone());
                };
                let (var, steps) = (&fs.var, json_steps(path));
                let inner = SourceCtx {
                    fscope: Some(FhirScope { var: quote!(item) }),
                    ..ctx.clone()
                };
                (
                    quote!(item),
                    quote!(rt::json_get(#var, &[#(#steps),*]).and_then(|v| v.as_array()).into_iter().flatten()),
                    inner,
                )
            }
            IterSource::Field { path } => {
                let rs = ctx.rscope.clone();
                let (access, elem) = match &rs {
                    Some(r) => {
                        // Every element at the end of the path: a list on the way is
                        // walked too (`reports.observations`: each observation of each
                        // report), an absent record gives none.
                        let var = &r.var;
                        let mut iter = quote!(std::iter::once(#var));
                        let mut rec = r.record.clone();
                        for s in path {
                            let f = names::snake(&s.name);
                            let ty = self.field_type(&rec, &s.name);
                            match types::base(&ty) {
                                Type::List { of } => {
                                    iter = quote!(#iter.flat_map(|r| r.#f.iter()));
                                    if let Type::Record { record } = types::base(of) {
                                        rec = record.clone();
                                    }
                                }
                                Type::Record { record } => {
                                    iter = if matches!(ty, Type::Optional { .. }) {
                                        quote!(#iter.filter_map(|r| r.#f.as_ref()))
                                    } else {
                                        quote!(#iter.map(|r| &r.#f))
                                    };
                                    rec = record.clone();
                                }
                                _ => {}
                            }
                        }
                        (iter, rec)
                    }
                    None => (quote!(std::iter::empty::<()>()), String::new()),
                };
                let inner = SourceCtx {
                    rscope: Some(RecordScope {
                        var: quote!(item),
                        record: elem,
                    }),
                    ..ctx.clone()
                };
                (quote!(item), quote!(#access), inner)
            }
        }
    }

    fn stmts_hl7(
        &self,
        body: &[Stmt],
        ctx: &SourceCtx,
        occurrence: &TokenStream,
    ) -> Vec<TokenStream> {
        body.iter()
            .map(|s| self.stmt_hl7(s, ctx, occurrence))
            .collect()
    }

    fn stmt_hl7(&self, s: &Stmt, ctx: &SourceCtx, occurrence: &TokenStream) -> TokenStream {
        match s {
            Stmt::Assign {
                target: Target::Hl7 { path },
                values,
                loc: l,
                ..
            } => {
                let at = loc(l);
                let p = self.path_ref(path);
                let place = if occurrence.to_string() == "None" {
                    quote!(#p)
                } else {
                    quote!(rt::hl7::path::at_occurrence(&#p, #occurrence))
                };
                let vals: Vec<(TokenStream, Shape)> =
                    values.iter().map(|v| self.expr(v, ctx, &at)).collect();
                let writes = vals.iter().enumerate().map(|(k, (v, shape))| match shape {
                    // The checker lets no FHIR resource into an HL7 field.
                    Shape::Res(_) | Shape::ResList(_) => quote!(),
                    Shape::List(_) => quote! {
                        for (rep, v) in #v.iter().enumerate() {
                            rt::write(&mut b, &rt::hl7::path::at_repetition(&#place, rep + 1), &rt::ToHl7::to_hl7(v), #at)?;
                        }
                    },
                    Shape::Bool => quote! {
                        rt::write(&mut b, &#place, if #v { "Y" } else { "N" }, #at)?;
                    },
                    Shape::Opt(_) => {
                        let target = if vals.len() > 1 { quote!(rt::hl7::path::at_repetition(&#place, #k + 1)) } else { place.clone() };
                        // Literals, message text and record fields are written from where
                        // they are, without a copy.
                        if let Expr::Text { value } = &values[k] {
                            return quote! { rt::write(&mut b, &#target, #value, #at)?; };
                        }
                        let borrowed = match &values[k] {
                            Expr::Field { path } => self.field_place(path, ctx).map(|(cur, _)| cur),
                            Expr::Lookup { codemap, value } => self.lookup_static(codemap, value, ctx, &at),
                            other => self.text_ref(other, ctx, &at),
                        };
                        if let Some(r) = borrowed {
                            return quote! {
                                if let Some(v) = #r {
                                    rt::write(&mut b, &#target, &rt::ToHl7::to_hl7(v), #at)?;
                                }
                            };
                        }
                        quote! {
                            if let Some(v) = #v {
                                rt::write(&mut b, &#target, &rt::ToHl7::to_hl7(&v), #at)?;
                            }
                        }
                    }
                });
                quote! { #(#writes)* }
            }
            Stmt::For {
                target: Target::Segment { .. },
                source,
                body,
                ..
            } => {
                let (pat, iter, inner_ctx) = self.iteration(source, ctx);
                let inner = self.stmts_hl7(body, &inner_ctx, &quote!(Some(k + 1)));
                quote! {
                    for (k, #pat) in #iter.enumerate() {
                        #(#inner)*
                    }
                }
            }
            Stmt::When {
                cond,
                then,
                otherwise,
                loc: l,
                ..
            } => {
                let (c, _) = self.expr(cond, ctx, &loc(l));
                let t = self.stmts_hl7(then, ctx, occurrence);
                let o = self.stmts_hl7(otherwise, ctx, occurrence);
                if_else(&c, &t, &o)
            }
            _ => quote!(),
        }
    }

    /// The statements of a mapping into FHIR, writing below object `obj` of `tree`
    /// (whose Rust place is `base`, and FHIR element path `prefix`).
    fn stmts_fhir(
        &self,
        body: &[Stmt],
        ctx: &SourceCtx,
        tree: &mut Tree,
        obj: usize,
        base: &TokenStream,
        prefix: &[String],
    ) -> Vec<TokenStream> {
        body.iter()
            .map(|s| self.stmt_fhir(s, ctx, tree, obj, base, prefix))
            .collect()
    }

    fn stmt_fhir(
        &self,
        s: &Stmt,
        ctx: &SourceCtx,
        tree: &mut Tree,
        obj: usize,
        base: &TokenStream,
        prefix: &[String],
    ) -> TokenStream {
        match s {
            Stmt::Assign {
                target: Target::Field { path },
                values,
                loc: l,
                ..
            } => {
                let at = loc(l);
                let vals: Vec<(TokenStream, Shape)> =
                    values.iter().map(|v| self.expr(v, ctx, &at)).collect();
                let list =
                    vals.len() > 1 || matches!(vals[0].1, Shape::List(_) | Shape::ResList(_));
                let ty = self.leaf_ty(&vals[0].1);
                let place = tree.place(obj, base, prefix, path, Final::Value { ty, list });
                match place {
                    Place::Opt { place, ty } => {
                        let (v, shape) = &vals[0];
                        // A literal into text is borrowed, not copied, and so is a text
                        // field of the source record.
                        if let (true, Expr::Text { value }) = (ty.is_text(), &values[0]) {
                            return quote! { #place = Some(rt::fhir::Str::Borrowed(#value)); };
                        }
                        // So is a choice between literals (`if c then "IMP" else "AMB"`).
                        if let (
                            true,
                            Expr::If {
                                cond,
                                then,
                                otherwise,
                            },
                        ) = (ty.is_text(), &values[0])
                        {
                            let lit = |e: &Expr| match e {
                                Expr::Text { value } => {
                                    Some(quote!(Some(rt::fhir::Str::Borrowed(#value))))
                                }
                                Expr::Absent => Some(quote!(None)),
                                _ => None,
                            };
                            if let (Some(a), Some(b)) = (lit(then), lit(otherwise)) {
                                let (c, _) = self.expr(cond, ctx, &at);
                                return quote! {
                                    if let Some(x) = if #c { #a } else { #b } { #place = Some(x); }
                                };
                            }
                        }
                        if let (true, Expr::Field { path }) = (ty.is_text(), &values[0]) {
                            if let Some((cur, Type::Text | Type::Identifier)) =
                                self.field_place(path, ctx)
                            {
                                return quote! {
                                    if let Some(x) = #cur { #place = Some(rt::fhir::Str::Borrowed(x.as_str())); }
                                };
                            }
                        }
                        let wrap = |x: TokenStream| {
                            if ty.any {
                                quote!(rt::ToJson::to_json(&#x))
                            } else if ty.is_text() {
                                quote!(rt::fhir::Str::from(#x))
                            } else {
                                x
                            }
                        };
                        match shape {
                            Shape::Bool => {
                                let x = wrap(quote!(#v));
                                quote! { #place = Some(#x); }
                            }
                            Shape::List(_) | Shape::ResList(_) => {
                                let x = wrap(quote!(x));
                                quote! { if let Some(x) = #v.into_iter().next() { #place = Some(#x); } }
                            }
                            _ => {
                                let x = wrap(quote!(x));
                                quote! { if let Some(x) = #v { #place = Some(#x); } }
                            }
                        }
                    }
                    Place::List { place, ty } => {
                        let parts = vals.iter().map(|(v, shape)| {
                            let items = match shape {
                                Shape::Bool => quote!(Some(#v)),
                                _ => quote!(#v),
                            };
                            if ty.any {
                                quote! { l.extend(#items.into_iter().map(|x| rt::ToJson::to_json(&x))); }
                            } else {
                                quote! { l.extend(#items); }
                            }
                        });
                        quote! { #place = { let mut l = Vec::new(); #(#parts)* l }; }
                    }
                    Place::Each { .. } => quote!(),
                }
            }
            Stmt::For {
                target: Target::Field { path },
                source,
                body,
                ..
            } => {
                let stmt = s as *const Stmt as usize;
                let Place::Each { place, obj: child } =
                    tree.place(obj, base, prefix, path, Final::Each { stmt })
                else {
                    return quote!();
                };
                let (pat, iter, inner_ctx) = self.iteration(source, ctx);
                let mut inner_prefix = prefix.to_vec();
                inner_prefix.extend(path.iter().map(|p| p.name.clone()));
                let el = format_ident!("el{}", child);
                let inner =
                    self.stmts_fhir(body, &inner_ctx, tree, child, &quote!(#el), &inner_prefix);
                let t = tree.obj_name(child);
                quote! {
                    for #pat in #iter {
                        let mut #el = #t::default();
                        #(#inner)*
                        #place.push(#el);
                    }
                }
            }
            Stmt::When {
                cond,
                then,
                otherwise,
                loc: l,
                ..
            } => {
                let (c, _) = self.expr(cond, ctx, &loc(l));
                let t = self.stmts_fhir(then, ctx, tree, obj, base, prefix);
                let o = self.stmts_fhir(otherwise, ctx, tree, obj, base, prefix);
                if_else(&c, &t, &o)
            }
            _ => quote!(),
        }
    }

    /// The Rust type a FHIR leaf holds for values of `shape`.
    fn leaf_ty(&self, shape: &Shape) -> LeafTy {
        match shape {
            Shape::Bool => LeafTy::value(quote!(bool)),
            Shape::Opt(Type::Text | Type::Identifier | Type::Unknown) => LeafTy::text(),
            Shape::Opt(t) | Shape::List(t) => LeafTy::value(types::rust(types::base(t))),
            Shape::Res(m) | Shape::ResList(m) => {
                let s = fhir_out::resource_struct(m);
                LeafTy {
                    rust: quote!(#s<'a>),
                    resource: Some(s),
                    any: false,
                }
            }
        }
    }

    /// A route rule's condition over the whole message.
    pub fn condition(&self, e: &Expr, at: &str) -> TokenStream {
        let ctx = SourceCtx {
            source: None,
            rscope: None,
            fscope: None,
            hl7: vec![],
            nesting: 0,
        };
        let (t, shape) = self.expr(e, &ctx, at);
        match shape {
            Shape::Bool => t,
            Shape::Opt(_) | Shape::Res(_) => quote!((#t).is_some()),
            Shape::List(_) | Shape::ResList(_) => quote!(!(#t).is_empty()),
        }
    }

    /// An expected value in a test, as JSON (codes by their code text).
    pub fn test_value(&self, e: &Expr, at: &str) -> TokenStream {
        let ctx = SourceCtx {
            source: None,
            rscope: None,
            fscope: None,
            hl7: vec![],
            nesting: 0,
        };
        let (t, _) = self.expr(e, &ctx, at);
        quote!(rt::ToJson::to_json(&(#t)))
    }

    /// An HL7 value of the test message, as JSON.
    pub fn test_hl7(&self, p: &Hl7Path, at: &str) -> TokenStream {
        let r = self.path_ref(p);
        quote!(rt::ToJson::to_json(&scope.text(&#r, #at).map_err(|e| e.to_string())?))
    }

    // ---- expressions ------------------------------------------------------------------------

    fn expr(&self, e: &Expr, ctx: &SourceCtx, at: &str) -> (TokenStream, Shape) {
        match e {
            Expr::Text { value } => (quote!(Some(String::from(#value))), Shape::Opt(Type::Text)),
            Expr::Integer { value } => (quote!(Some(#value as i64)), Shape::Opt(Type::Integer)),
            Expr::Decimal { value } => (
                quote!(rt::Decimal::parse(#value)),
                Shape::Opt(Type::Decimal),
            ),
            Expr::Boolean { value } => (quote!(#value), Shape::Bool),
            Expr::Date { value } => (quote!(rt::Date::parse(#value)), Shape::Opt(Type::Date)),
            Expr::Code { codeset, code } => {
                let t = names::ty(codeset);
                let codes: Vec<&str> = self
                    .ir
                    .codesets
                    .iter()
                    .find(|c| &c.name == codeset)
                    .map(|c| c.codes.iter().map(|x| x.code.as_str()).collect())
                    .unwrap_or_default();
                let v = names::variants(&codes);
                let i = codes
                    .iter()
                    .position(|c| c == code)
                    .unwrap_or(0)
                    .min(v.len().saturating_sub(1));
                let var = &v[i];
                (
                    quote!(Some(#t::#var)),
                    Shape::Opt(Type::Code {
                        codeset: codeset.clone(),
                    }),
                )
            }
            Expr::Hl7 { path } => {
                let p = self.path_ref(path);
                let sc = hl7_scope(ctx, &path.segment);
                if matches!(path.repetition, Some(Repetition::All)) {
                    (quote!(#sc.texts(&#p, #at)?), Shape::List(Type::Text))
                } else {
                    let (r, once) = self.read_str(path, &sc, at);
                    if once {
                        (quote!(#r.map(String::from)), Shape::Opt(Type::Text))
                    } else {
                        // Read by this statement alone: the unescaped copy is kept.
                        (quote!(#sc.text(&#p, #at)?), Shape::Opt(Type::Text))
                    }
                }
            }
            Expr::Field { path } => self.field_expr(path, ctx),
            Expr::Apply { mapping, value } => self.apply(mapping, value, ctx, at),
            Expr::Reference { mapping, keys } => self.reference(mapping, keys, ctx, at),
            Expr::Lookup { codemap, value } => {
                let (v, shape) = self.expr(value, ctx, at);
                let cm = self.ir.codemaps.iter().find(|c| &c.name == codemap);
                let to = cm.map(|c| types::base(&c.to).clone()).unwrap_or(Type::Text);
                let textual =
                    cm.is_some_and(|c| !matches!(types::base(&c.from), Type::Code { .. }));
                let f = names::snake(codemap);
                let arg = if textual { quote!(&x) } else { quote!(x) };
                // A code map with `_ => absent` gives an `Option` itself.
                let absent =
                    cm.is_some_and(|c| matches!(c.default, crate::ir::CodemapDefault::Absent));
                let one = |x: TokenStream| {
                    if absent {
                        quote!(#f(#x, #at)?)
                    } else {
                        quote!(Some(#f(#x, #at)?))
                    }
                };
                if let (true, Some(r)) = (textual, self.text_ref(value, ctx, at)) {
                    let call = one(quote!(x));
                    return (
                        quote!(match #r { Some(x) => #call, None => None }),
                        Shape::Opt(to),
                    );
                }
                match shape {
                    Shape::List(_) if absent => (
                        quote!(#v.into_iter().filter_map(|x| #f(#arg, #at).transpose()).collect::<Result<Vec<_>, _>>()?),
                        Shape::List(to),
                    ),
                    Shape::List(_) => (
                        quote!(#v.into_iter().map(|x| #f(#arg, #at)).collect::<Result<Vec<_>, _>>()?),
                        Shape::List(to),
                    ),
                    _ => {
                        let call = one(arg.clone());
                        (
                            quote!(match #v { Some(x) => #call, None => None }),
                            Shape::Opt(to),
                        )
                    }
                }
            }
            Expr::If {
                cond,
                then,
                otherwise,
            } if matches!(**otherwise, Expr::Absent) => {
                // `else absent`: the value when the condition holds, else none.
                let (c, _) = self.expr(cond, ctx, at);
                let (a, sa) = self.expr(then, ctx, at);
                match sa {
                    Shape::Bool => (
                        quote!(if #c { Some(#a) } else { None }),
                        Shape::Opt(Type::Boolean),
                    ),
                    Shape::List(_) | Shape::ResList(_) => {
                        (quote!(if #c { #a } else { Vec::new() }), sa)
                    }
                    _ => (quote!(if #c { #a } else { None }), sa),
                }
            }
            Expr::Absent => (quote!(None::<String>), Shape::Opt(Type::Text)),
            Expr::If {
                cond,
                then,
                otherwise,
            } => {
                let (c, _) = self.expr(cond, ctx, at);
                let (a, sa) = self.expr(then, ctx, at);
                let (b, sb) = self.expr(otherwise, ctx, at);
                let b = if sa != sb {
                    convert(&b, &sb, shape_type(&sa))
                } else {
                    b
                };
                (quote!(if #c { #a } else { #b }), sa)
            }
            Expr::Not { value } => {
                let (v, _) = self.expr(value, ctx, at);
                (quote!(!(#v)), Shape::Bool)
            }
            Expr::Binary { op, lhs, rhs }
                if matches!(op, BinOp::Eq | BinOp::Ne)
                    && self.borrowed_text_pair(lhs, rhs, ctx, at).is_some() =>
            {
                // Text against a literal compares in place, without copying either side.
                let Some((a, b)) = self.borrowed_text_pair(lhs, rhs, ctx, at) else {
                    return (quote!(false), Shape::Bool);
                };
                let t = if *op == BinOp::Eq {
                    quote!((#a) == #b)
                } else {
                    quote!((#a) != #b)
                };
                (t, Shape::Bool)
            }
            Expr::Binary { op, lhs, rhs } => {
                let (a, sa) = self.expr(lhs, ctx, at);
                let (b, sb) = self.expr(rhs, ctx, at);
                let b = if sa != sb && sb != Shape::Bool {
                    convert(&b, &sb, shape_type(&sa))
                } else {
                    b
                };
                let t = match op {
                    BinOp::And => quote!((#a) && (#b)),
                    BinOp::Or => quote!((#a) || (#b)),
                    BinOp::Eq => quote!((#a) == (#b)),
                    BinOp::Ne => quote!((#a) != (#b)),
                    BinOp::Lt => quote!(matches!((&(#a), &(#b)), (Some(x), Some(y)) if x < y)),
                    BinOp::Le => quote!(matches!((&(#a), &(#b)), (Some(x), Some(y)) if x <= y)),
                    BinOp::Gt => quote!(matches!((&(#a), &(#b)), (Some(x), Some(y)) if x > y)),
                    BinOp::Ge => quote!(matches!((&(#a), &(#b)), (Some(x), Some(y)) if x >= y)),
                };
                (t, Shape::Bool)
            }
            Expr::Call { function, args } => self.call(function, args, ctx, at),
        }
    }

    /// A text value read in place (see `text_ref`) and a text literal, on either side of
    /// a comparison: (`Option<...>` of the value, `Some("literal")`).
    fn borrowed_text_pair(
        &self,
        lhs: &Expr,
        rhs: &Expr,
        ctx: &SourceCtx,
        at: &str,
    ) -> Option<(TokenStream, TokenStream)> {
        let (value, lit) = match (lhs, rhs) {
            (v, Expr::Text { value }) | (Expr::Text { value }, v)
                if !matches!(v, Expr::Text { .. }) =>
            {
                (v, value)
            }
            _ => return None,
        };
        let r = self.text_ref(value, ctx, at)?;
        Some((r, quote!(Some(#lit))))
    }

    /// `e` as an `Option<&str>`-like value read without copying (`Option<Cow<str>>`,
    /// `Option<&str>` or `Option<&String>`; callers use `.as_deref()` / deref coercion),
    /// when `e` is text that can be borrowed: an HL7 value, a text literal, or a text
    /// field of the source record. `None` when it must be computed.
    fn text_ref(&self, e: &Expr, ctx: &SourceCtx, at: &str) -> Option<TokenStream> {
        match e {
            Expr::Text { value } => Some(quote!(Some(#value))),
            Expr::Hl7 { path } if !matches!(path.repetition, Some(Repetition::All)) => {
                let sc = hl7_scope(ctx, &path.segment);
                let (r, _) = self.read_str(path, &sc, at);
                Some(quote!(#r.as_deref()))
            }
            Expr::Field { path } => {
                let (cur, ty) = self.field_place(path, ctx)?;
                matches!(ty, Type::Text | Type::Identifier)
                    .then(|| quote!(#cur.map(|s| s.as_str())))
            }
            _ => None,
        }
    }

    /// A code map lookup as `Option<&'static str>`, when the code map only gives literal
    /// text (its `_str` variant) and its input is a single value.
    fn lookup_static(
        &self,
        codemap: &str,
        value: &Expr,
        ctx: &SourceCtx,
        at: &str,
    ) -> Option<TokenStream> {
        let cm = self.ir.codemaps.iter().find(|c| c.name == codemap)?;
        let f = format_ident!("{}", codes::static_text_variant(cm)?);
        let textual = !matches!(types::base(&cm.from), Type::Code { .. });
        let arg = match (textual, self.text_ref(value, ctx, at)) {
            (true, Some(r)) => r,
            _ => {
                let (v, shape) = self.expr(value, ctx, at);
                if !matches!(shape, Shape::Opt(_)) {
                    return None;
                }
                if textual {
                    quote!(#v.as_deref())
                } else {
                    v
                }
            }
        };
        Some(quote!(match #arg { Some(x) => Some(#f(x, #at)?), None => None }))
    }

    /// A field of the source record as `Option<&T>` (no clone), with its type; `None`
    /// outside a record scope or for lists.
    fn field_place(&self, path: &[PathStep], ctx: &SourceCtx) -> Option<(TokenStream, Type)> {
        ctx.rscope.as_ref()?;
        let (cur, ty) = self.field_walk(path, ctx);
        match ty {
            Type::List { .. } | Type::Boolean => None,
            other => Some((cur, other)),
        }
    }

    /// A FHIR element read: its JSON value converted to the canonical type the checker
    /// gave it (from the R4 dictionary), a list when the path ends at a repeating element.
    fn fhir_field_expr(&self, path: &[PathStep], fs: &FhirScope) -> (TokenStream, Shape) {
        let (ty, list) = match path.last().and_then(|p| p.fhir.as_ref().map(|e| (p, e))) {
            Some((last, e)) => (
                match &e.reads_as {
                    // A complex element reads as its JSON text.
                    Type::Unknown => Type::Text,
                    t => t.clone(),
                },
                e.is_list() && !last.picks_one(),
            ),
            // The checker reported the path; the crate is never built from it.
            None => (Type::Text, false),
        };
        let (var, steps) = (&fs.var, json_steps(path));
        let get = quote!(rt::json_get(#var, &[#(#steps),*]));
        let rust = types::rust(&ty);
        match (list, &ty) {
            (true, _) => (
                quote!(#get.and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| <#rust as rt::FromJson>::from_json(x)).collect::<Vec<_>>()).unwrap_or_default()),
                Shape::List(ty),
            ),
            (false, Type::Boolean) => (
                quote!(#get.and_then(|v| v.as_bool()).unwrap_or(false)),
                Shape::Bool,
            ),
            (false, _) => (
                quote!(#get.and_then(|v| <#rust as rt::FromJson>::from_json(v))),
                Shape::Opt(ty),
            ),
        }
    }

    /// `value via mapping`: the mapping's function on the record (or on each).
    fn apply(
        &self,
        mapping: &str,
        value: &Expr,
        ctx: &SourceCtx,
        at: &str,
    ) -> (TokenStream, Shape) {
        // A field of the record in scope is borrowed (`Option<&T>`, or an iterator of
        // `&T`), not copied.
        let (v, shape) = match value {
            Expr::Field { path } if ctx.rscope.is_some() && !is_whole_record(path, ctx) => {
                match self.field_walk(path, ctx) {
                    (cur, Type::List { of }) => (
                        quote!(#cur.into_iter().flatten()),
                        Shape::List(types::base(&of).clone()),
                    ),
                    (cur, ty) => (cur, Shape::Opt(ty)),
                }
            }
            _ => self.expr(value, ctx, at),
        };
        let f = names::snake(mapping);
        let target = self
            .ir
            .mappings
            .iter()
            .find(|m| m.name == mapping)
            .map(|m| &m.target);
        let (one, many) = match target {
            Some(Schema::Record { record }) => {
                let t = Type::Record {
                    record: record.clone(),
                };
                (Shape::Opt(t.clone()), Shape::List(t))
            }
            _ => (
                Shape::Res(mapping.to_string()),
                Shape::ResList(mapping.to_string()),
            ),
        };
        match shape {
            Shape::List(_) => (
                quote!(#v.into_iter().map(|r| #f(&r)).collect::<Result<Vec<_>, _>>()?),
                many,
            ),
            _ => (
                quote!(match #v { Some(r) => Some(#f(&r)?), None => None }),
                one,
            ),
        }
    }

    /// `reference(mapping, keys...)`: `Type/id` with the id the mapping gives the record
    /// with these keys (`fhir_id` of its record's name and keys), when every key is there.
    fn reference(
        &self,
        mapping: &str,
        keys: &[Expr],
        ctx: &SourceCtx,
        at: &str,
    ) -> (TokenStream, Shape) {
        let m = self.ir.mappings.iter().find(|m| m.name == mapping);
        let (Some(Schema::Record { record }), Some(Schema::Fhir { resource })) =
            (m.map(|m| &m.source), m.map(|m| &m.target))
        else {
            return (quote!(None::<String>), Shape::Opt(Type::Text));
        };
        let ks = keys.iter().map(|k| {
            if let Expr::Field { path } = k {
                if let Some((cur, _)) = self.field_place(path, ctx) {
                    return cur;
                }
            }
            let (v, shape) = self.expr(k, ctx, at);
            match shape {
                Shape::Bool => quote!(Some(#v)),
                Shape::List(_) | Shape::ResList(_) => quote!(#v.into_iter().next()),
                _ => v,
            }
        });
        let vars: Vec<_> = (0..keys.len()).map(|i| format_ident!("k{}", i)).collect();
        (
            quote! {
                match (#(#ks,)*) {
                    (#(Some(#vars),)*) => Some(rt::fhir::reference_to(#resource, #record, &[#(&#vars),*])),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            },
            Shape::Opt(Type::Text),
        )
    }

    fn field_expr(&self, path: &[PathStep], ctx: &SourceCtx) -> (TokenStream, Shape) {
        if let (None, Some(fs)) = (&ctx.rscope, &ctx.fscope) {
            return self.fhir_field_expr(path, fs);
        }
        // The record in scope by its own name: the whole record (`Patient via m`).
        if let (Some(rs), [only]) = (&ctx.rscope, path) {
            let is_field = self
                .record(&rs.record)
                .is_some_and(|r| r.fields.iter().any(|f| f.name == only.name));
            if only.name == rs.record && only.index.is_none() && !is_field {
                let var = &rs.var;
                return (
                    quote!(Some(#var)),
                    Shape::Opt(Type::Record {
                        record: rs.record.clone(),
                    }),
                );
            }
        }
        if ctx.rscope.is_none() {
            return (quote!(None::<String>), Shape::Opt(Type::Text));
        }
        let (cur, ty) = self.field_walk(path, ctx);
        match ty {
            Type::List { of } => (
                quote!(#cur.cloned().unwrap_or_default()),
                Shape::List(types::base(&of).clone()),
            ),
            Type::Boolean => (quote!(#cur.copied().unwrap_or(false)), Shape::Bool),
            other => (quote!(#cur.cloned()), Shape::Opt(other)),
        }
    }

    /// A field path of the record in scope as an `Option<&T>` expression and the base type
    /// of `T`.
    fn field_walk(&self, path: &[PathStep], ctx: &SourceCtx) -> (TokenStream, Type) {
        let Some(mut rs) = ctx.rscope.as_ref() else {
            return (quote!(None::<&String>), Type::Text);
        };
        let has = |record: &str, field: &str| {
            self.record(record)
                .is_some_and(|r| r.fields.iter().any(|f| f.name == field))
        };
        if let (Some(src), Some(first)) = (&ctx.source, path.first()) {
            let by_name = first.name == src.record && path.len() > 1;
            if !has(&rs.record, &first.name) && (has(&src.record, &first.name) || by_name) {
                rs = src;
            }
        }
        let mut steps = path.to_vec();
        if steps.len() > 1
            && steps[0].name == rs.record
            && self
                .record(&rs.record)
                .is_some_and(|r| !r.fields.iter().any(|f| f.name == steps[0].name))
        {
            steps.remove(0);
        }
        // Walk the path: `cur` is an expression of type Option<&T> once anything optional
        // was crossed, else a plain place.
        let mut rec = rs.record.clone();
        let var = &rs.var;
        let mut cur = quote!(Some(&#var));
        let mut ty = Type::Record {
            record: rec.clone(),
        };
        for s in &steps {
            let f = names::snake(&s.name);
            ty = self.field_type(&rec, &s.name);
            cur = match &ty {
                Type::Optional { .. } => quote!(#cur.and_then(|r| r.#f.as_ref())),
                _ => quote!(#cur.map(|r| &r.#f)),
            };
            if let Some(i) = s.index {
                let ix = (i as usize).saturating_sub(1);
                cur = quote!(#cur.and_then(|l| l.get(#ix)));
                if let Type::List { of } = types::base(&ty) {
                    ty = (**of).clone();
                }
            }
            if let Type::Record { record } = types::base(&ty) {
                rec = record.clone();
            }
        }
        (cur, types::base(&ty).clone())
    }

    fn call(
        &self,
        function: &str,
        args: &[Expr],
        ctx: &SourceCtx,
        at: &str,
    ) -> (TokenStream, Shape) {
        let a: Vec<(TokenStream, Shape)> = args.iter().map(|x| self.expr(x, ctx, at)).collect();
        let v = |i: usize| a.get(i).map(|x| x.0.clone()).unwrap_or(quote!(None));
        let text = |i: usize| {
            a.get(i)
                .map(|(t, s)| convert(t, s, &Type::Text))
                .unwrap_or(quote!(None::<String>))
        };
        // Text arguments that functions only read are passed borrowed where possible.
        let borrowed = |i: usize| {
            args.get(i)
                .and_then(|e| self.text_ref(e, ctx, at))
                .unwrap_or_else(|| text(i))
        };
        let f = names::snake(function);
        match function {
            "date" | "datetime" | "integer" | "decimal" => {
                let ty = match function {
                    "date" => Type::Date,
                    "datetime" => Type::DateTime,
                    "integer" => Type::Integer,
                    _ => Type::Decimal,
                };
                let arg = borrowed(0);
                match (&self.ir.timezone, function) {
                    // Local times take the estate's zone.
                    (Some(zone), "datetime") => (
                        quote!(rt::f::datetime_in(#arg, #zone, #at)?),
                        Shape::Opt(ty),
                    ),
                    _ => (quote!(rt::f::#f(#arg, #at)?), Shape::Opt(ty)),
                }
            }
            "upper" | "lower" | "trim" => {
                let arg = text(0);
                (quote!(rt::f::#f(#arg)), Shape::Opt(Type::Text))
            }
            "identifier" => (text(0), Shape::Opt(Type::Identifier)),
            "text" => match &a[0].1 {
                Shape::Bool => {
                    let x = v(0);
                    (
                        quote!(Some(String::from(if #x { "true" } else { "false" }))),
                        Shape::Opt(Type::Text),
                    )
                }
                _ => {
                    let x = v(0);
                    (quote!(#x.map(|x| x.to_string())), Shape::Opt(Type::Text))
                }
            },
            "concat" => {
                let parts = (0..a.len()).map(text);
                (
                    quote!(rt::f::concat(vec![#(#parts),*])),
                    Shape::Opt(Type::Text),
                )
            }
            "substring" => {
                let (s, b, c) = (text(0), v(1), v(2));
                (quote!(rt::f::substring(#s, #b, #c)), Shape::Opt(Type::Text))
            }
            "replace" => {
                let (s, b, c) = (text(0), text(1), text(2));
                (quote!(rt::f::replace(#s, #b, #c)), Shape::Opt(Type::Text))
            }
            "exists" => {
                let x = v(0);
                match &a[0].1 {
                    Shape::List(_) | Shape::ResList(_) => (quote!(!#x.is_empty()), Shape::Bool),
                    Shape::Bool => (x, Shape::Bool),
                    Shape::Opt(_) | Shape::Res(_) => (quote!(#x.is_some()), Shape::Bool),
                }
            }
            "first" | "last" => {
                let x = v(0);
                match &a[0].1 {
                    Shape::List(t) => {
                        let m = names::snake(function);
                        (quote!(#x.#m().cloned()), Shape::Opt(t.clone()))
                    }
                    other => (x, other.clone()),
                }
            }
            "count" => {
                let x = v(0);
                match &a[0].1 {
                    Shape::List(_) => (quote!(Some(#x.len() as i64)), Shape::Opt(Type::Integer)),
                    _ => (
                        quote!(Some(i64::from(#x.is_some()))),
                        Shape::Opt(Type::Integer),
                    ),
                }
            }
            "coalesce" => {
                let first = v(0);
                let rest = (1..a.len()).map(|i| {
                    let t = convert(&a[i].0, &a[i].1, shape_type(&a[0].1));
                    quote!(.or(#t))
                });
                (quote!(#first #(#rest)*), a[0].1.clone())
            }
            "format_date" => {
                let (d, p) = (v(0), borrowed(1));
                match &a[0].1 {
                    Shape::Opt(Type::DateTime) => (
                        quote!(rt::f::format_datetime(#d, #p)),
                        Shape::Opt(Type::Text),
                    ),
                    _ => (quote!(rt::f::format_date(#d, #p)), Shape::Opt(Type::Text)),
                }
            }
            "join" => {
                let (l, s) = (v(0), text(1));
                (quote!(rt::f::join(#l, #s)), Shape::Opt(Type::Text))
            }
            "now" => (quote!(Some(rt::f::now())), Shape::Opt(Type::DateTime)),
            "today" => (quote!(Some(rt::f::today())), Shape::Opt(Type::Date)),
            other => {
                // The checker only lets built-in functions through.
                let msg = format!("unknown function `{other}`");
                (quote!(compile_error!(#msg)), Shape::Opt(Type::Text))
            }
        }
    }
}

/// Where HL7 paths and field paths read, inside a mapping.
#[derive(Clone)]
struct SourceCtx {
    /// The HL7 scopes of enclosing `for each` over segments or groups, outermost first:
    /// the variable and the segments it covers. A path reads the innermost scope that
    /// covers its segment, else the whole message (`PID-3` inside `for each AL1`).
    hl7: Vec<(proc_macro2::Ident, Vec<String>)>,
    /// How many `for each` enclose this point.
    nesting: usize,
    /// The record that bare field paths read: the mapping's source, or inside a `for
    /// each` over records the current element.
    rscope: Option<RecordScope>,
    /// The mapping's source record, which a path reads inside a `for each` when the
    /// element has no such field (the checker's rule: `ward` of the admission, inside
    /// `for each allergies`), or by its record name (`Admission.ward`).
    source: Option<RecordScope>,
    /// A FHIR resource (or, inside `for each`, one element of it) that paths read.
    fscope: Option<FhirScope>,
}

impl SourceCtx {
    fn depth(&self) -> usize {
        self.nesting
    }
}

/// A FHIR source: `var` is the `&rt::serde_json::Value` reads start from (the resource, or
/// the list entry of a `for each`); the IR's path steps carry the elements they reach.
#[derive(Clone)]
struct FhirScope {
    var: TokenStream,
}

/// Whether a one-step path names the record in scope itself (`Allergy`).
fn is_whole_record(path: &[PathStep], ctx: &SourceCtx) -> bool {
    matches!((path, &ctx.rscope), ([only], Some(rs)) if only.name == rs.record && only.index.is_none())
}

/// The scope an HL7 path into `segment` reads: the innermost `for each` that covers
/// the segment, else the whole message.
fn hl7_scope(ctx: &SourceCtx, segment: &str) -> proc_macro2::Ident {
    ctx.hl7
        .iter()
        .rev()
        .find(|(_, covers)| covers.iter().any(|s| s == segment))
        .map(|(v, _)| v.clone())
        .unwrap_or_else(|| format_ident!("scope"))
}

pub(super) fn json_steps(path: &[PathStep]) -> Vec<TokenStream> {
    path.iter()
        .map(|p| {
            let n = &p.name;
            match (&p.filter, p.index) {
                (Some(w), _) => {
                    let (element, value) = (&w.element, &w.value);
                    quote!(rt::JsonStep::Where(#n, #element, #value))
                }
                (None, Some(i)) => quote!(rt::JsonStep::Index(#n, #i as usize)),
                (None, None) => quote!(rt::JsonStep::Key(#n)),
            }
        })
        .collect()
}

fn shape_type(s: &Shape) -> &Type {
    match s {
        Shape::Opt(t) | Shape::List(t) => t,
        Shape::Bool => &Type::Boolean,
        Shape::Res(_) | Shape::ResList(_) => &Type::Unknown,
    }
}

/// A value of `shape` as an `Option` of `target`: identifiers and text are one type,
/// a bool becomes `Some(bool)`.
fn convert(v: &TokenStream, shape: &Shape, target: &Type) -> TokenStream {
    match (shape, target) {
        (Shape::Bool, _) => quote!(Some(#v)),
        (Shape::List(_), _) => quote!(#v.into_iter().next()),
        (Shape::Opt(Type::Integer), Type::Decimal) => {
            quote!(#v.and_then(|n| rt::Decimal::parse(&n.to_string())))
        }
        (Shape::Opt(Type::Date), Type::DateTime) => {
            quote!(#v.map(|d| rt::DateTime { date: d, hour: 0, minute: 0, second: 0, offset_minutes: None, has_time: false }))
        }
        _ => v.clone(),
    }
}

/// `if c { then } else { otherwise }`, without an empty `else`.
fn if_else(c: &TokenStream, then: &[TokenStream], otherwise: &[TokenStream]) -> TokenStream {
    if otherwise.iter().all(TokenStream::is_empty) {
        quote! { if #c { #(#then)* } }
    } else {
        quote! { if #c { #(#then)* } else { #(#otherwise)* } }
    }
}

/// The name of the static holding an HL7 path: its letters and digits in upper case,
/// each run joined by `_` (`PID-3[where 5 = "NH"].1` -> `PID_3_WHERE_5_NH_1`).
fn path_name(text: &str) -> proc_macro2::Ident {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    format_ident!("{}", words.join("_"))
}
