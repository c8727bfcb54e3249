//! The Rust shape of a mapping's FHIR output. The paths a mapping into FHIR writes
//! (`identifier[0].value`, `name[0].given`, a `for each` into `identifier`) describe a
//! tree of JSON objects and arrays; this module builds that tree as structs, one per
//! object, with the field types of the values written there, and generates each struct's
//! `Serialize` impl. The structs write FHIR JSON straight to the serializer: empty
//! objects, empty array elements and empty arrays are left out (FHIR allows none of
//! them), fixed indexes come before `for each` elements, and `resourceType` and `id`
//! come first.
//!
//! `mappings.rs` walks the statements twice through [`Tree::place`]: the first walk
//! builds the tree (and settles each leaf's type), the second generates the statements
//! that fill it, with the same places.

use super::names;
use crate::ir::PathStep;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

/// A single slot not yet used as a leaf or an object.
const UNSET: usize = usize::MAX;

/// The Rust type a leaf holds.
#[derive(Debug, Clone)]
pub struct LeafTy {
    pub rust: TokenStream,
    /// The resource struct when the leaf holds a resource made by another mapping.
    pub resource: Option<Ident>,
    /// Writes of different types met here; the leaf holds JSON.
    pub any: bool,
}

impl LeafTy {
    pub fn value(rust: TokenStream) -> LeafTy {
        LeafTy {
            rust,
            resource: None,
            any: false,
        }
    }

    /// Text: borrowed for literals, owned for values (`rt::fhir::Str`).
    pub fn text() -> LeafTy {
        LeafTy::value(quote!(rt::fhir::Str<'a>))
    }

    pub fn is_text(&self) -> bool {
        !self.any && self.rust.to_string() == LeafTy::text().rust.to_string()
    }

    fn same(&self, other: &LeafTy) -> bool {
        self.rust.to_string() == other.rust.to_string()
    }

    fn field_ty(&self) -> TokenStream {
        if self.any {
            quote!(rt::serde_json::Value)
        } else {
            self.rust.clone()
        }
    }
}

#[derive(Debug)]
struct Obj {
    name: Ident,
    /// The JSON path of this object, for its doc comment.
    path: String,
    slots: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    key: String,
    field: Ident,
    kind: SlotKind,
}

#[derive(Debug)]
enum SlotKind {
    Leaf(LeafTy),
    Object(usize),
    Array(Vec<Elem>),
}

#[derive(Debug)]
enum Elem {
    /// `name[i]`: a value or an object at a fixed position.
    Fixed {
        index: usize,
        field: Ident,
        item: Item,
    },
    /// The elements of one `for each` (identified by the statement).
    Each {
        stmt: usize,
        field: Ident,
        obj: usize,
    },
    /// A list value written whole (`given <- given_names`).
    List { field: Ident, leaf: LeafTy },
}

#[derive(Debug)]
enum Item {
    Leaf(LeafTy),
    Object(usize),
}

/// What a path ends in.
pub enum Final {
    /// A value of this type; `list` when the value is a list.
    Value { ty: LeafTy, list: bool },
    /// The elements of a `for each` statement (its address, stable for both walks).
    Each { stmt: usize },
}

/// Where a statement writes.
pub enum Place {
    /// An `Option` field: `place = Some(v)`.
    Opt { place: TokenStream, ty: LeafTy },
    /// A `Vec` field written whole.
    List { place: TokenStream, ty: LeafTy },
    /// A `Vec` of element structs of this object.
    Each { place: TokenStream, obj: usize },
}

/// The tree of one mapping's output; object 0 is the resource.
pub struct Tree {
    resource: String,
    objs: Vec<Obj>,
}

impl Tree {
    pub fn new(mapping: &str, resource: &str) -> Tree {
        Tree {
            resource: resource.to_string(),
            objs: vec![Obj {
                name: root_name(mapping),
                path: resource.to_string(),
                slots: vec![],
            }],
        }
    }

    pub fn root_name(&self) -> Ident {
        self.objs[0].name.clone()
    }

    pub fn obj_name(&self, obj: usize) -> Ident {
        self.objs[obj].name.clone()
    }

    /// The place `path` names below object `obj` (whose Rust place is `base` and whose
    /// FHIR element path from the resource is `prefix`), created on first use.
    pub fn place(
        &mut self,
        obj: usize,
        base: &TokenStream,
        prefix: &[String],
        path: &[PathStep],
        end: Final,
    ) -> Place {
        let mut obj = obj;
        let mut place = base.clone();
        let mut names: Vec<String> = prefix.to_vec();
        for (i, step) in path.iter().enumerate() {
            names.push(step.name.clone());
            let repeats = Tree::repeats(step);
            let last = i + 1 == path.len();
            let slot = self.slot(obj, &step.name, repeats);
            let field = self.objs[obj].slots[slot].field.clone();
            if !last {
                if repeats {
                    let (f, child) =
                        self.fixed_object(obj, slot, step.index.unwrap_or(0) as usize, &names);
                    place = quote!(#place.#f);
                    obj = child;
                } else {
                    let child = self.child_object(obj, slot, &names);
                    place = quote!(#place.#field);
                    obj = child;
                }
                continue;
            }
            return match end {
                Final::Each { stmt } => {
                    let (f, child) = self.each(obj, slot, stmt, &names);
                    Place::Each {
                        place: quote!(#place.#f),
                        obj: child,
                    }
                }
                Final::Value { ty, list } if repeats && step.index.is_none() && list => {
                    let (f, ty) = self.list(obj, slot, ty);
                    Place::List {
                        place: quote!(#place.#f),
                        ty,
                    }
                }
                Final::Value { ty, .. } if repeats => {
                    let (f, ty) = self.fixed_leaf(obj, slot, step.index.unwrap_or(0) as usize, ty);
                    Place::Opt {
                        place: quote!(#place.#f),
                        ty,
                    }
                }
                Final::Value { ty, .. } => {
                    let ty = self.leaf(obj, slot, ty);
                    Place::Opt {
                        place: quote!(#place.#field),
                        ty,
                    }
                }
            };
        }
        // An empty path writes nothing; the checker never lets one through.
        Place::Opt {
            place: quote!(_unused),
            ty: LeafTy::text(),
        }
    }

    /// Whether the element a step reaches repeats in R4 (an index on it says so when the
    /// step has no element: the id and Bundle fields the generator adds itself).
    fn repeats(step: &PathStep) -> bool {
        match &step.fhir {
            Some(e) => e.is_list(),
            None => step.index.is_some(),
        }
    }

    fn slot(&mut self, obj: usize, key: &str, repeats: bool) -> usize {
        let slots = &mut self.objs[obj].slots;
        if let Some(i) = slots.iter().position(|s| s.key == key) {
            return i;
        }
        slots.push(Slot {
            key: key.to_string(),
            field: names::snake(key),
            // A single slot becomes a leaf or an object at its first use.
            kind: if repeats {
                SlotKind::Array(vec![])
            } else {
                SlotKind::Object(UNSET)
            },
        });
        slots.len() - 1
    }

    fn new_obj(&mut self, names: &[String], suffix: &str) -> usize {
        let base = format!(
            "{}{}{}",
            self.objs[0].name,
            names
                .iter()
                .map(|n| crate::words::pascal(n))
                .collect::<String>(),
            suffix
        );
        let mut name = base.clone();
        let mut n = 2;
        while self.objs.iter().any(|o| o.name == name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.objs.push(Obj {
            name: Ident::new(&name, Span::call_site()),
            path: format!("{}.{}", self.resource, names.join(".")),
            slots: vec![],
        });
        self.objs.len() - 1
    }

    fn child_object(&mut self, obj: usize, slot: usize, names: &[String]) -> usize {
        match self.objs[obj].slots[slot].kind {
            SlotKind::Object(child) if child != UNSET => child,
            _ => {
                let child = self.new_obj(names, "");
                self.objs[obj].slots[slot].kind = SlotKind::Object(child);
                child
            }
        }
    }

    fn leaf(&mut self, obj: usize, slot: usize, ty: LeafTy) -> LeafTy {
        let kind = &mut self.objs[obj].slots[slot].kind;
        match kind {
            SlotKind::Leaf(have) => {
                if !have.same(&ty) {
                    have.any = true;
                }
                have.clone()
            }
            _ => {
                *kind = SlotKind::Leaf(ty.clone());
                ty
            }
        }
    }

    fn elems(&mut self, obj: usize, slot: usize) -> &mut Vec<Elem> {
        let kind = &mut self.objs[obj].slots[slot].kind;
        if !matches!(kind, SlotKind::Array(_)) {
            *kind = SlotKind::Array(vec![]);
        }
        match kind {
            SlotKind::Array(elems) => elems,
            _ => unreachable!("just made an array"),
        }
    }

    fn fixed_object(
        &mut self,
        obj: usize,
        slot: usize,
        index: usize,
        names: &[String],
    ) -> (Ident, usize) {
        let key = self.objs[obj].slots[slot].key.clone();
        let found = self.elems(obj, slot).iter().find_map(|e| match e {
            Elem::Fixed {
                index: i,
                field,
                item: Item::Object(o),
            } if *i == index => Some((field.clone(), *o)),
            _ => None,
        });
        if let Some(found) = found {
            return found;
        }
        let child = self.new_obj(names, &index.to_string());
        let field = format_ident!("{}_{}", key, index);
        self.elems(obj, slot).push(Elem::Fixed {
            index,
            field: field.clone(),
            item: Item::Object(child),
        });
        (field, child)
    }

    fn fixed_leaf(&mut self, obj: usize, slot: usize, index: usize, ty: LeafTy) -> (Ident, LeafTy) {
        let key = self.objs[obj].slots[slot].key.clone();
        for e in self.elems(obj, slot).iter_mut() {
            if let Elem::Fixed {
                index: i,
                field,
                item: Item::Leaf(have),
            } = e
            {
                if *i == index {
                    if !have.same(&ty) {
                        have.any = true;
                    }
                    return (field.clone(), have.clone());
                }
            }
        }
        let field = format_ident!("{}_{}", key, index);
        self.elems(obj, slot).push(Elem::Fixed {
            index,
            field: field.clone(),
            item: Item::Leaf(ty.clone()),
        });
        (field, ty)
    }

    fn list(&mut self, obj: usize, slot: usize, ty: LeafTy) -> (Ident, LeafTy) {
        let key = self.objs[obj].slots[slot].key.clone();
        for e in self.elems(obj, slot).iter_mut() {
            if let Elem::List { field, leaf } = e {
                if !leaf.same(&ty) {
                    leaf.any = true;
                }
                return (field.clone(), leaf.clone());
            }
        }
        let field = format_ident!("{}_list", key);
        self.elems(obj, slot).push(Elem::List {
            field: field.clone(),
            leaf: ty.clone(),
        });
        (field, ty)
    }

    fn each(&mut self, obj: usize, slot: usize, stmt: usize, names: &[String]) -> (Ident, usize) {
        let key = self.objs[obj].slots[slot].key.clone();
        let found = self.elems(obj, slot).iter().find_map(|e| match e {
            Elem::Each {
                stmt: s,
                field,
                obj,
            } if *s == stmt => Some((field.clone(), *obj)),
            _ => None,
        });
        if let Some(found) = found {
            return found;
        }
        let n = self
            .elems(obj, slot)
            .iter()
            .filter(|e| matches!(e, Elem::Each { .. }))
            .count()
            + 1;
        let child = self.new_obj(names, &format!("Each{n}"));
        let field = format_ident!("{}_each{}", key, n);
        self.elems(obj, slot).push(Elem::Each {
            stmt,
            field: field.clone(),
            obj: child,
        });
        (field, child)
    }

    /// The Bundle entries that hold a resource, as (Rust place of the entry or of its
    /// `Vec`, is a `Vec`, element object). Their `fullUrl` and `request` are completed
    /// after the mapping's own lines run.
    pub fn bundle_entries(&self) -> Vec<(TokenStream, bool, usize)> {
        self.bundle_entries_of(&quote!(out))
    }

    /// [`Tree::bundle_entries`], as places of `recv` (`out` in the mapping, `self` in the
    /// `Resource` impl).
    fn bundle_entries_of(&self, recv: &TokenStream) -> Vec<(TokenStream, bool, usize)> {
        if self.resource != "Bundle" {
            return vec![];
        }
        let Some(entry) = self.objs[0].slots.iter().find(|s| s.key == "entry") else {
            return vec![];
        };
        let SlotKind::Array(elems) = &entry.kind else {
            return vec![];
        };
        elems
            .iter()
            .filter_map(|e| match e {
                Elem::Fixed {
                    field,
                    item: Item::Object(o),
                    ..
                } => Some((quote!(#recv.#field), false, *o)),
                Elem::Each { field, obj, .. } => Some((quote!(#recv.#field), true, *obj)),
                _ => None,
            })
            .filter(|(_, _, o)| self.resource_leaf(*o).is_some())
            .collect()
    }

    /// The `resource` leaf of an entry object, when it holds a mapping's resource.
    fn resource_leaf(&self, obj: usize) -> Option<&LeafTy> {
        self.objs[obj].slots.iter().find_map(|s| match &s.kind {
            SlotKind::Leaf(l) if s.key == "resource" && l.resource.is_some() && !l.any => Some(l),
            _ => None,
        })
    }

    /// Makes sure an entry object has `fullUrl` and `request.method`/`request.url`
    /// text leaves, for completion.
    pub fn ensure_entry_fields(&mut self, obj: usize) {
        let text = || Final::Value {
            ty: LeafTy::text(),
            list: false,
        };
        let step = |name: &str| PathStep {
            name: name.to_string(),
            index: None,
            filter: None,
            fhir: None,
        };
        let prefix = vec!["entry".to_string()];
        let base = quote!(x);
        self.place(obj, &base, &prefix, &[step("fullUrl")], text());
        self.place(
            obj,
            &base,
            &prefix,
            &[step("request"), step("method")],
            text(),
        );
        self.place(obj, &base, &prefix, &[step("request"), step("url")], text());
        // `fullUrl` first, as the specification's examples have it.
        let slots = &mut self.objs[obj].slots;
        if let Some(i) = slots.iter().position(|s| s.key == "fullUrl") {
            let s = slots.remove(i);
            slots.insert(0, s);
        }
    }

    /// Code run after a Bundle mapping's lines: each entry holding a resource gets a
    /// stable `fullUrl`, and in a transaction or batch a `request` to update it at its id,
    /// unless the mapping wrote them itself.
    pub fn complete_entries(&self) -> TokenStream {
        let entries = self.bundle_entries();
        if entries.is_empty() {
            return quote!();
        }
        let requests = self.has_requests(&quote!(out));
        let fill = entries.iter().map(|(place, many, obj)| {
            let request = self.objs[*obj].slots.iter().find_map(|s| match s.kind {
                SlotKind::Object(c) if s.key == "request" && c != UNSET => Some((s.field.clone(), c)),
                _ => None,
            });
            let request = match request {
                Some((field, c)) if self.text_leaf(c, "method") && self.text_leaf(c, "url") => quote! {
                    if requests {
                        let (method, url) = rt::fhir::entry_request(ty, id);
                        if e.#field.method.is_none() { e.#field.method = Some(rt::fhir::Str::Borrowed(method)); }
                        if e.#field.url.is_none() { e.#field.url = Some(url.into()); }
                    }
                },
                _ => quote!(),
            };
            let full_url = if self.text_leaf(*obj, "fullUrl") {
                quote! { if e.fullUrl.is_none() { e.fullUrl = rt::fhir::entry_full_url(ty, id).map(Into::into); } }
            } else {
                quote!()
            };
            let body = quote! {
                if let Some(r) = &e.resource {
                        let (ty, id) = (rt::fhir::Resource::resource_type(r), rt::fhir::Resource::id(r));
                    #full_url
                    #request
                }
            };
            if *many {
                quote! { for e in #place.iter_mut() { #body } }
            } else {
                quote! { { let e = &mut #place; #body } }
            }
        });
        quote! {
            let requests = #requests;
            #(#fill)*
        }
    }

    /// Whether the Bundle held by `recv` is a transaction or batch (its `type`, when the
    /// mapping writes one).
    fn has_requests(&self, recv: &TokenStream) -> TokenStream {
        match self.objs[0].slots.iter().find(|s| s.key == "type") {
            Some(Slot {
                field,
                kind: SlotKind::Leaf(l),
                ..
            }) if !l.any => quote!(rt::fhir::bundle_has_requests(&#recv.#field)),
            _ => quote!(false),
        }
    }

    /// A Bundle's `Resource::local_entries`: outside a transaction or batch, the type and
    /// id of each entry's resource (their references are written as the entries'
    /// `fullUrl`s).
    fn local_entries(&self) -> TokenStream {
        let entries = self.bundle_entries_of(&quote!(self));
        if entries.is_empty() {
            return quote!();
        }
        let requests = self.has_requests(&quote!(self));
        let each = entries.iter().map(|(place, many, _)| {
            let body = quote! {
                if let Some(r) = &e.resource {
                    if let Some(id) = rt::fhir::Resource::id(r) {
                        out.push((rt::fhir::Resource::resource_type(r), id));
                    }
                }
            };
            if *many {
                quote! { for e in #place.iter() { #body } }
            } else {
                quote! { { let e = &#place; #body } }
            }
        });
        quote! {
            fn local_entries(&self) -> Vec<(&'static str, &str)> {
                let mut out = vec![];
                if #requests {
                    return out;
                }
                #(#each)*
                out
            }
        }
    }

    fn text_leaf(&self, obj: usize, key: &str) -> bool {
        self.objs[obj]
            .slots
            .iter()
            .any(|s| s.key == key && matches!(&s.kind, SlotKind::Leaf(l) if !l.any && l.is_text()))
    }

    /// The structs, their `Serialize` impls, and for the resource `Resource` and `ToJson`.
    pub fn items(&self) -> TokenStream {
        let structs = (0..self.objs.len()).map(|i| self.struct_item(i));
        let root = self.root_name();
        let resource = &self.resource;
        let id = if self.text_leaf(0, "id") {
            quote!(self.id.as_deref())
        } else {
            quote!(None)
        };
        let local = self.local_entries();
        // A Bundle's JSON is what goes on the wire, its local references included.
        let to_json = if local.is_empty() {
            quote!(rt::serde_json::to_value(self).unwrap_or_default())
        } else {
            quote!(rt::serde_json::from_slice(&rt::fhir::resource_to_vec(self)).unwrap_or_default())
        };
        quote! {
            #(#structs)*

            impl rt::fhir::Resource for #root<'_> {
                fn resource_type(&self) -> &'static str { #resource }
                fn id(&self) -> Option<&str> { #id }
                #local
            }

            impl rt::ToJson for #root<'_> {
                fn to_json(&self) -> rt::serde_json::Value {
                    #to_json
                }
            }

            impl rt::FhirValue for #root<'_> {
                fn write<S: rt::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    rt::serde::Serialize::serialize(self, s)
                }
            }
        }
    }

    fn struct_item(&self, i: usize) -> TokenStream {
        let o = &self.objs[i];
        let name = &o.name;
        let doc = if i == 0 {
            format!(" The `{}` resource this mapping writes.", o.path)
        } else {
            format!(" `{}`.", o.path)
        };
        let mut fields = vec![];
        let mut empties = vec![];
        let mut entries = vec![];
        let mut seqs = vec![];
        for s in &o.slots {
            let (key, field) = (&s.key, &s.field);
            match &s.kind {
                SlotKind::Leaf(l) => {
                    let t = l.field_ty();
                    fields.push(quote!(pub #field: Option<#t>));
                    empties.push(quote!(self.#field.is_none()));
                    entries.push(quote! {
                        if let Some(v) = &self.#field { m.serialize_entry(#key, &rt::Fhir(v))?; }
                    });
                }
                SlotKind::Object(child) => {
                    if *child == UNSET {
                        continue;
                    }
                    let t = &self.objs[*child].name;
                    fields.push(quote!(pub #field: #t<'a>));
                    empties.push(quote!(self.#field.is_empty()));
                    entries.push(quote! {
                        if !self.#field.is_empty() { m.serialize_entry(#key, &self.#field)?; }
                    });
                }
                SlotKind::Array(elems) => {
                    let seq = format_ident!("{}Seq{}", name, crate::words::pascal(key));
                    let mut items = vec![];
                    let (mut elem_empty, mut elem_filled) = (vec![], vec![]);
                    for e in elems {
                        match e {
                            Elem::Fixed { field, item, .. } => match item {
                                Item::Leaf(l) => {
                                    let t = l.field_ty();
                                    fields.push(quote!(pub #field: Option<#t>));
                                    elem_empty.push(quote!(self.#field.is_none()));
                                    elem_filled.push(quote!(self.#field.is_some()));
                                    items.push(quote! {
                                        if let Some(v) = &o.#field { q.serialize_element(&rt::Fhir(v))?; }
                                    });
                                }
                                Item::Object(c) => {
                                    let t = &self.objs[*c].name;
                                    fields.push(quote!(pub #field: #t<'a>));
                                    elem_empty.push(quote!(self.#field.is_empty()));
                                    elem_filled.push(quote!(!self.#field.is_empty()));
                                    items.push(quote! {
                                        if !o.#field.is_empty() { q.serialize_element(&o.#field)?; }
                                    });
                                }
                            },
                            Elem::Each { field, obj, .. } => {
                                let t = &self.objs[*obj].name;
                                fields.push(quote!(pub #field: Vec<#t<'a>>));
                                elem_empty.push(quote!(self.#field.iter().all(|e| e.is_empty())));
                                elem_filled.push(quote!(self.#field.iter().any(|e| !e.is_empty())));
                                items.push(quote! {
                                    for e in o.#field.iter().filter(|e| !e.is_empty()) { q.serialize_element(e)?; }
                                });
                            }
                            Elem::List { field, leaf } => {
                                let t = leaf.field_ty();
                                fields.push(quote!(pub #field: Vec<#t>));
                                elem_empty.push(quote!(self.#field.is_empty()));
                                elem_filled.push(quote!(!self.#field.is_empty()));
                                items.push(quote! {
                                    for v in &o.#field { q.serialize_element(&rt::Fhir(v))?; }
                                });
                            }
                        }
                    }
                    empties.push(all(&elem_empty));
                    let filled = any(&elem_filled);
                    entries.push(quote! {
                        if #filled { m.serialize_entry(#key, &#seq(self))?; }
                    });
                    seqs.push(quote! {
                        struct #seq<'s, 'a>(&'s #name<'a>);
                        impl rt::serde::Serialize for #seq<'_, '_> {
                            fn serialize<S: rt::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                                use rt::serde::ser::SerializeSeq;
                                let o = self.0;
                                let mut q = s.serialize_seq(None)?;
                                #(#items)*
                                q.end()
                            }
                        }
                    });
                }
            }
        }
        let is_empty = all(&empties);
        let resource_type = if i == 0 {
            let r = &self.resource;
            quote!(m.serialize_entry("resourceType", #r)?;)
        } else {
            quote!()
        };
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, Default, PartialEq)]
            #[allow(non_snake_case)]
            pub struct #name<'a> {
                #(#fields,)*
                /// What the text borrows from: the mapping's source record.
                #[doc(hidden)]
                pub _source: std::marker::PhantomData<&'a ()>,
            }

            impl #name<'_> {
                /// Whether nothing was written here (an empty object is left out).
                pub fn is_empty(&self) -> bool {
                    #is_empty
                }
            }

            impl rt::serde::Serialize for #name<'_> {
                fn serialize<S: rt::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    use rt::serde::ser::SerializeMap;
                    let mut m = s.serialize_map(None)?;
                    #resource_type
                    #(#entries)*
                    m.end()
                }
            }

            #(#seqs)*
        }
    }
}

/// `a && b && ...`, or `true` for none.
fn all(conds: &[TokenStream]) -> TokenStream {
    match conds {
        [] => quote!(true),
        [first, rest @ ..] => quote!(#first #(&& #rest)*),
    }
}

/// `a || b || ...`, or `false` for none.
fn any(conds: &[TokenStream]) -> TokenStream {
    match conds {
        [] => quote!(false),
        [first, rest @ ..] => quote!(#first #(|| #rest)*),
    }
}

/// `patient_to_fhir` -> `PatientToFhirResource`.
fn root_name(mapping: &str) -> Ident {
    Ident::new(
        &format!("{}Resource", crate::words::pascal(mapping)),
        Span::call_site(),
    )
}

/// The Rust type of the resource a mapping into FHIR produces.
pub fn resource_struct(mapping: &str) -> Ident {
    root_name(mapping)
}
