//! Mappings as Rust functions over the zero-copy message (or a record), with no
//! interpretation at run time. Every expression is typed here into one of three shapes:
//! an optional value (`Option<T>`: absent stays absent), a list (`Vec<T>`), or a condition
//! (`bool`). Record targets are filled as drafts and finished (required fields checked);
//! HL7 targets go through the builder; FHIR targets fill the structs `fhir_out` builds
//! from the paths they write, which serialise themselves.
//!
//! This file holds the generator's state and a mapping's function; the statements of each
//! target kind are in `to_record`, `to_hl7` and `to_fhir`, expressions in `exprs`, the
//! scopes of `for each` in `scope`, the crate's HL7 path statics in `paths`. Types and FHIR
//! places come from the IR (lowering resolved them); nothing here reads a dictionary.

use super::fhir_out::{self, Final, LeafTy, Place, Tree};
use super::{codes, names, types};
use crate::ir::{
    BinOp, Estate, Expr, Hl7Path, IterSource, Mapping, PathStep, Repetition, Schema, Stmt, Target,
    Type,
};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::cell::RefCell;

mod exprs;
mod paths;
mod scope;
mod to_fhir;
mod to_hl7;
mod to_record;

use scope::{hl7_scope, is_whole_record};

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

    /// Whether mapping `name` looks stored records up (`lookup(...)`), itself or through a
    /// mapping it applies: its function then takes the store (`records: &mut dyn
    /// rt::Steward`), and its callers pass theirs.
    pub fn uses_records(&self, name: &str) -> bool {
        crate::uses::looks_up_records(self.ir, name)
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
        let param = if self.uses_records(&m.name) {
            quote!(#param, records: &mut dyn rt::Steward)
        } else {
            param
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
            index: None,
        };
        match &m.target {
            Schema::Record { record } => {
                // A partial mapping gives only the fields it wrote (its chain completes
                // the rest from the stored record); a whole one checks the required.
                let (t, done) = if m.partial {
                    let t = names::ty(record);
                    (quote!(rt::Partial<#t>), quote!(partial))
                } else {
                    let t = names::ty(record);
                    (quote!(#t), quote!(finish))
                };
                let d = names::suffixed(record, "Draft");
                let body = self.stmts_record(&m.body, record, &quote!(out), &source_ctx);
                // Fields the sender cleared (`clear` and `""`), named in the partial.
                let (cleared, done) = if m.partial && clears(&m.body) {
                    (
                        quote!(let mut cleared: Vec<&'static str> = Vec::new();),
                        quote! {
                            let mut done = out.partial(#at)?;
                            for field in cleared {
                                done.clear(field);
                            }
                            Ok(done)
                        },
                    )
                } else {
                    (quote!(), quote!(out.#done(#at)))
                };
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
                            #cleared
                            #(#body)*
                            #done
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
                            #cleared
                            #(#body)*
                            #done
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
                let param = match (&m.source, self.uses_records(&m.name)) {
                    (Schema::Record { record }, true) => {
                        let t = names::ty(record);
                        quote!(src: &'a #t, records: &mut dyn rt::Steward)
                    }
                    (Schema::Record { record }, false) => {
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

    // ---- expressions ------------------------------------------------------------------------
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
    /// The innermost `for each`'s count of elements before the current one, when its
    /// body asks for `index()`.
    index: Option<proc_macro2::Ident>,
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

/// Whether any statement of `body` (in `when` blocks too) says `clear`.
fn clears(body: &[Stmt]) -> bool {
    body.iter().any(|s| match s {
        Stmt::Assign { clear, .. } => *clear,
        Stmt::For { body, .. } => clears(body),
        Stmt::When {
            then, otherwise, ..
        } => clears(then) || clears(otherwise),
    })
}
