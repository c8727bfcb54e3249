//! Codesets as enums implementing the runtime's `Code` (their system, code text and
//! display; JSON, FHIR and ids come with it), and code maps as functions
//! whose `match` is total because the checker required a default.

use super::{names, types};
use crate::ir::{Codemap, CodemapDefault, Codeset, Estate, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub fn gen_codeset(c: &Codeset) -> TokenStream {
    let name = names::ty(&c.name);
    let codes: Vec<&str> = c.codes.iter().map(|x| x.code.as_str()).collect();
    let variants = names::variants(&codes);
    let displays: Vec<String> = c
        .codes
        .iter()
        .map(|x| x.display.clone().unwrap_or_else(|| x.code.clone()))
        .collect();
    let docs: Vec<String> = c.docs.lines().map(|l| format!(" {l}")).collect();
    let system = match &c.system {
        Some(s) => quote!(Some(#s)),
        None => quote!(None),
    };
    quote! {
        #(#[doc = #docs])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum #name { #(#variants,)* }

        impl rt::Code for #name {
            const SYSTEM: Option<&'static str> = #system;
            const ALL: &'static [#name] = &[#(#name::#variants,)*];

            fn code(self) -> &'static str {
                match self { #(#name::#variants => #codes,)* }
            }

            fn display(self) -> &'static str {
                match self { #(#name::#variants => #displays,)* }
            }
        }

        impl std::fmt::Display for #name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(rt::Code::code(*self))
            }
        }

        impl rt::fhir::IdPart for #name {}
    }
}

/// The Rust pattern or value for a code on one side of a code map.
fn code_value(ir: &Estate, side: &Type, code: &str) -> TokenStream {
    match types::base(side) {
        Type::Code { codeset } => {
            let cs = ir.codesets.iter().find(|c| &c.name == codeset);
            let codes: Vec<&str> = cs
                .map(|c| c.codes.iter().map(|x| x.code.as_str()).collect())
                .unwrap_or_default();
            let variants = names::variants(&codes);
            let i = codes.iter().position(|c| *c == code).unwrap_or(0);
            let (t, v) = (
                names::ty(codeset),
                &variants[i.min(variants.len().saturating_sub(1))],
            );
            quote!(#t::#v)
        }
        _ => quote!(#code),
    }
}

pub fn gen_codemap(ir: &Estate, m: &Codemap) -> TokenStream {
    let name = names::snake(&m.name);
    let from = types::rust(types::base(&m.from));
    let to = types::rust(types::base(&m.to));
    let cm = m.name.as_str();
    let textual_from = !matches!(types::base(&m.from), Type::Code { .. });
    let scrutinee = quote!(value);
    // Each entry's patterns and value; `_ => absent` maps make `Option`s of the values.
    let absent = matches!(m.default, CodemapDefault::Absent);
    let arms = m.entries.iter().map(|e| {
        let pats = e.from.iter().map(|c| code_value(ir, &m.from, c));
        let target = code_value(ir, &m.to, &e.to);
        let target = if matches!(types::base(&m.to), Type::Code { .. }) {
            target
        } else {
            quote!(String::from(#target))
        };
        if absent {
            quote! { #(#pats)|* => Ok(Some(#target)) }
        } else {
            quote! { #(#pats)|* => Ok(#target) }
        }
    });
    let default = match &m.default {
        CodemapDefault::Reject { message } => {
            let reason = message
                .clone()
                .unwrap_or_else(|| "no mapping for this code".into());
            let shown = if textual_from {
                quote!(value.to_string())
            } else {
                quote!(rt::Code::code(value).to_string())
            };
            quote! { _ => Err(rt::MapError { at, kind: rt::MapErrorKind::Rejected { codemap: #cm, value: #shown, reason: String::from(#reason) } }) }
        }
        CodemapDefault::Value { code } => {
            let v = code_value(ir, &m.to, code);
            let v = if matches!(types::base(&m.to), Type::Code { .. }) {
                v
            } else {
                quote!(String::from(#v))
            };
            quote! { _ => Ok(#v) }
        }
        CodemapDefault::Absent => quote! { _ => Ok(None) },
        CodemapDefault::Pass => {
            if textual_from {
                quote! { _ => Ok(value.to_string()) }
            } else if matches!(types::base(&m.to), Type::Code { .. }) {
                quote! { other => Ok(other) }
            } else {
                quote! { other => Ok(rt::Code::code(other).to_string()) }
            }
        }
    };
    let docs: Vec<String> = m.docs.lines().map(|l| format!(" {l}")).collect();
    // Text is taken borrowed, so a value read from a message needs no copy to be looked up.
    let by_ref = if textual_from {
        quote!(&str)
    } else {
        quote!(#from)
    };
    // Only a rejecting default reports where it failed.
    let at_param = if matches!(m.default, CodemapDefault::Reject { .. }) {
        quote!(at)
    } else {
        quote!(_at)
    };
    if let Some(name_str) = static_text_variant(m) {
        // Text results that are all literals: a `&'static str` variant for writes (no
        // allocation), and the owned one built on it.
        let arms = m.entries.iter().map(|e| {
            let pats = e.from.iter().map(|c| code_value(ir, &m.from, c));
            let target = e.to.as_str();
            quote! { #(#pats)|* => Ok(#target) }
        });
        let default = match &m.default {
            CodemapDefault::Value { code } => quote! { _ => Ok(#code) },
            CodemapDefault::Pass => quote! { other => Ok(rt::Code::code(other)) },
            // No static variant has `absent` (see `static_text_variant`).
            CodemapDefault::Reject { .. } | CodemapDefault::Absent => default,
        };
        let name_str = format_ident!("{name_str}");
        return quote! {
            #(#[doc = #docs])*
            pub fn #name(value: #by_ref, at: &'static str) -> Result<#to, rt::MapError> {
                #name_str(value, at).map(String::from)
            }
            /// The same code map, borrowing its literal results.
            pub fn #name_str(value: #by_ref, #at_param: &'static str) -> Result<&'static str, rt::MapError> {
                #[allow(clippy::match_single_binding, unreachable_patterns)]
                match #scrutinee { #(#arms,)* #default }
            }
        };
    }
    if absent {
        // A code not listed gives no value: the result is an `Option`.
        return quote! {
            #(#[doc = #docs])*
            pub fn #name(value: #by_ref, _at: &'static str) -> Result<Option<#to>, rt::MapError> {
                #[allow(clippy::match_single_binding, unreachable_patterns)]
                match #scrutinee { #(#arms,)* #default }
            }
        };
    }
    quote! {
        #(#[doc = #docs])*
        pub fn #name(value: #by_ref, #at_param: &'static str) -> Result<#to, rt::MapError> {
            #[allow(clippy::match_single_binding, unreachable_patterns)]
            match #scrutinee { #(#arms,)* #default }
        }
    }
}

/// The name of the `&'static str` variant of a code map whose results are all literal
/// text (a text target, and no `pass` of text input), or `None`.
pub fn static_text_variant(m: &Codemap) -> Option<String> {
    let text_to = matches!(types::base(&m.to), Type::Text | Type::Identifier);
    let textual_from = !matches!(types::base(&m.from), Type::Code { .. });
    let passes_text = matches!(m.default, CodemapDefault::Pass) && textual_from;
    let absent = matches!(m.default, CodemapDefault::Absent);
    (text_to && !passes_text && !absent).then(|| format!("{}_str", m.name))
}
