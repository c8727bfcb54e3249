//! IR types as Rust types: the record structs, and the drafts a mapping fills before it
//! checks that every required field is set.

use super::names;
use crate::ir::{Record, Type};
use proc_macro2::TokenStream;
use quote::quote;

/// The Rust type of a value of `t`.
pub fn rust(t: &Type) -> TokenStream {
    match t {
        Type::Text | Type::Identifier => quote!(String),
        Type::Integer => quote!(i64),
        Type::Decimal => quote!(rt::Decimal),
        Type::Boolean => quote!(bool),
        Type::Date => quote!(rt::Date),
        Type::DateTime => quote!(rt::DateTime),
        Type::Code { codeset } => {
            let n = names::ty(codeset);
            quote!(#n)
        }
        Type::Record { record } => {
            let n = names::ty(record);
            quote!(#n)
        }
        Type::List { of } => {
            let inner = rust(of);
            quote!(Vec<#inner>)
        }
        Type::Optional { of } => {
            let inner = rust(of);
            quote!(Option<#inner>)
        }
        Type::Unknown => quote!(String),
    }
}

/// The type without its `Optional` wrapper.
pub fn base(t: &Type) -> &Type {
    match t {
        Type::Optional { of } => base(of),
        other => other,
    }
}

/// The draft of a field: a list stays a list, a record is a draft, anything else is
/// `Option` until the mapping finishes.
pub fn draft(t: &Type) -> TokenStream {
    match base(t) {
        Type::List { of } => {
            let inner = rust(of);
            quote!(Vec<#inner>)
        }
        Type::Record { record } => {
            let d = names::suffixed(record, "Draft");
            quote!(Option<#d>)
        }
        other => {
            let inner = rust(other);
            quote!(Option<#inner>)
        }
    }
}

/// A constraint as the runtime checks it (`key` is not one it checks).
fn rule(c: &crate::ir::Constraint) -> Option<TokenStream> {
    use crate::ir::Constraint;
    let opt = |v: &Option<String>| match v {
        Some(s) => quote!(Some(#s)),
        None => quote!(None),
    };
    let num = |v: &Option<u64>| match v {
        Some(n) => quote!(Some(#n)),
        None => quote!(None),
    };
    Some(match c {
        // Kept by the production's steward against the stored records, not by a value.
        Constraint::Key | Constraint::Unique => return None,
        Constraint::Check { validator } => quote!(rt::Rule::Check(#validator)),
        Constraint::Length { min, max } => {
            let (min, max) = (num(min), num(max));
            quote!(rt::Rule::Length { min: #min, max: #max })
        }
        Constraint::Range { min, max } => {
            let (min, max) = (opt(min), opt(max));
            quote!(rt::Rule::Range { min: #min, max: #max })
        }
        Constraint::Pattern { regex } => quote!({
            static COMPILED: std::sync::OnceLock<Option<rt::Regex>> = std::sync::OnceLock::new();
            rt::Rule::Pattern(#regex, &COMPILED)
        }),
    })
}

/// The fields a record requires: neither optional nor lists (a list may be empty).
pub fn required_fields(r: &Record) -> Vec<&str> {
    r.fields
        .iter()
        .filter(|f| !matches!(f.ty, Type::Optional { .. } | Type::List { .. }))
        .map(|f| f.name.as_str())
        .collect()
}

/// `RecordDraft::partial`, for a record some mapping writes in part: the key fields are
/// required, each field written is checked against its constraints and carried, a field
/// left unset is left out (a nested record written is written whole).
fn gen_partial(r: &Record) -> TokenStream {
    let name = names::ty(&r.name);
    let fields = r.fields.iter().map(|f| {
        let n = names::snake(&f.name);
        let (key, fname) = (f.name.as_str(), format!("{}.{}", r.name, f.name));
        let value = match (&f.ty, base(&f.ty)) {
            (_, Type::List { .. }) => quote!(self.#n),
            (_, Type::Record { .. }) => quote!(self.#n.map(|d| d.finish(at)).transpose()?),
            _ if f.constraints.contains(&crate::ir::Constraint::Key) => {
                quote!(rt::required(self.#n, at, #fname)?)
            }
            _ => quote!(self.#n),
        };
        let rules: Vec<TokenStream> = f.constraints.iter().filter_map(rule).collect();
        let constrain = (!rules.is_empty()).then(|| {
            quote! { rt::constrain(at, #fname, &v, &[#(#rules),*])?; }
        });
        quote! {
            let v = rt::ToJson::to_json(&#value);
            #constrain
            out.set(#key, v);
        }
    });
    quote! {
        /// What a mapping `-> partial` carries: its key, and the fields it wrote.
        #[allow(unused_variables)]
        pub fn partial(self, at: &'static str) -> Result<rt::Partial<#name>, rt::MapError> {
            let mut out = rt::Partial::default();
            #(#fields)*
            Ok(out)
        }
    }
}

/// `struct Record`, `struct RecordDraft` and `RecordDraft::finish` (and
/// `RecordDraft::partial` when a mapping writes the record in `partial`).
pub fn gen_record(r: &Record, partial: bool) -> TokenStream {
    let partial = partial.then(|| gen_partial(r));
    let name = names::ty(&r.name);
    let draft_name = names::suffixed(&r.name, "Draft");
    let docs: Vec<String> = r.docs.lines().map(|l| format!(" {l}")).collect();
    let fields = r.fields.iter().map(|f| {
        let n = names::snake(&f.name);
        let t = rust(&f.ty);
        let fdocs: Vec<String> = f.docs.lines().map(|l| format!(" {l}")).collect();
        quote! { #(#[doc = #fdocs])* pub #n: #t }
    });
    let draft_fields = r.fields.iter().map(|f| {
        let n = names::snake(&f.name);
        let t = draft(&f.ty);
        quote! { pub #n: #t }
    });
    let finish = r.fields.iter().map(|f| {
        let n = names::snake(&f.name);
        let fname = format!("{}.{}", r.name, f.name);
        match (&f.ty, base(&f.ty)) {
            (_, Type::List { .. }) => quote! { #n: self.#n },
            (Type::Optional { .. }, Type::Record { .. }) => {
                quote! { #n: self.#n.map(|d| d.finish(at)).transpose()? }
            }
            (_, Type::Record { .. }) => {
                quote! { #n: rt::required(self.#n, at, #fname)?.finish(at)? }
            }
            (Type::Optional { .. }, _) => quote! { #n: self.#n },
            _ => quote! { #n: rt::required(self.#n, at, #fname)? },
        }
    });
    let constrained = r.fields.iter().filter_map(|f| {
        let rules: Vec<TokenStream> = f.constraints.iter().filter_map(rule).collect();
        if rules.is_empty() {
            return None;
        }
        let n = names::snake(&f.name);
        let fname = format!("{}.{}", r.name, f.name);
        Some(quote! {
            rt::constrain(at, #fname, &rt::ToJson::to_json(&self.#n), &[#(#rules),*])?;
        })
    });
    let json_fields = r.fields.iter().map(|f| {
        let n = names::snake(&f.name);
        let key = f.name.as_str();
        quote! { obj.insert(String::from(#key), rt::ToJson::to_json(&self.#n)); }
    });
    let from_json_fields = r.fields.iter().map(|f| {
        let n = names::snake(&f.name);
        let key = f.name.as_str();
        quote! { #n: rt::FromJson::from_json(obj.get(#key).unwrap_or(&rt::serde_json::Value::Null))? }
    });
    quote! {
        #(#[doc = #docs])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct #name { #(#fields,)* }

        impl rt::FromJson for #name {
            fn from_json(v: &rt::serde_json::Value) -> Option<Self> {
                let obj = v.as_object()?;
                Some(#name { #(#from_json_fields,)* })
            }
        }

        impl rt::ToJson for #name {
            fn to_json(&self) -> rt::serde_json::Value {
                let mut obj = rt::serde_json::Map::new();
                #(#json_fields)*
                rt::serde_json::Value::Object(obj)
            }
        }

        impl rt::FhirValue for #name {
            fn write<S: rt::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                rt::serde::Serialize::serialize(&rt::ToJson::to_json(self), s)
            }
        }

        /// A record being filled by a mapping.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct #draft_name { #(#draft_fields,)* }

        impl #draft_name {
            /// The record, or the first required field left unset, or the first value
            /// that breaks a constraint of the record.
            #[allow(unused_variables)]
            pub fn finish(self, at: &'static str) -> Result<#name, rt::MapError> {
                let record = #name { #(#finish,)* };
                record.constrain(at)?;
                Ok(record)
            }

            #partial
        }

        impl #name {
            /// Checks the record's `length`, `range`, `pattern` and `check` constraints.
            #[allow(unused_variables)]
            pub fn constrain(&self, at: &'static str) -> Result<(), rt::MapError> {
                #(#constrained)*
                Ok(())
            }
        }
    }
}
