//! Routes and interface transform chains as functions, for the production and for the
//! estate's tests: `route_<name>(msg)` returns the targets a message is sent to (first
//! matching rule wins, as the checker assumes; a route target is followed), `inbound(i,
//! msg)` runs every route whose source is interface `i`, and `deliver(i, msg)` runs the
//! transform chain of interface `i` on the message.

use super::mappings::Gen;
use super::names;
use crate::ir::{Estate, Expr, RouteTarget, Schema};
use proc_macro2::TokenStream;
use quote::quote;

/// Route conditions may read the message (HL7 paths) only; a condition on a canonical
/// record needs the inbound transform, which the production wiring will provide.
pub(crate) fn reads_records(e: &Expr) -> bool {
    match e {
        Expr::Field { .. } => true,
        Expr::Stored { .. } => true,
        Expr::Call { args, .. } | Expr::Reference { keys: args, .. } => {
            args.iter().any(reads_records)
        }
        Expr::Lookup { value, .. } | Expr::Apply { value, .. } | Expr::Not { value } => {
            reads_records(value)
        }
        Expr::If {
            cond,
            then,
            otherwise,
        } => reads_records(cond) || reads_records(then) || reads_records(otherwise),
        Expr::Binary { lhs, rhs, .. } => reads_records(lhs) || reads_records(rhs),
        _ => false,
    }
}

/// `govern_lab_order` for record `LabOrder`.
fn governor(record: &str) -> proc_macro2::Ident {
    let mut name = String::from("govern");
    for c in record.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    if !record.starts_with(|c: char| c.is_ascii_uppercase()) {
        name.insert(6, '_');
    }
    quote::format_ident!("{}", name)
}

/// Whether `record` is governed by the ownership matrix or holds (in a field, an
/// optional field or a list) a record that is.
fn holds_governed(ir: &Estate, record: &str, seen: &mut Vec<String>) -> bool {
    if ir.ownership.iter().any(|o| o.record == record) {
        return true;
    }
    if seen.iter().any(|s| s == record) {
        return false;
    }
    seen.push(record.to_string());
    let Some(r) = ir.records.iter().find(|r| r.name == record) else {
        return false;
    };
    r.fields.iter().any(|f| match nested_record(&f.ty) {
        Some((inner, _)) => holds_governed(ir, &inner, seen),
        None => false,
    })
}

/// The record a field holds, and how: 0 one, 1 an optional one, 2 a list.
fn nested_record(t: &crate::ir::Type) -> Option<(String, u8)> {
    use crate::ir::Type;
    match t {
        Type::Record { record } => Some((record.clone(), 0)),
        Type::Optional { of } => match &**of {
            Type::Record { record } => Some((record.clone(), 1)),
            _ => None,
        },
        Type::List { of } => match super::types::base(of) {
            Type::Record { record } => Some((record.clone(), 2)),
            _ => None,
        },
        _ => None,
    }
}

/// How `govern_<record>` goes on after the record's own decision: each governed record
/// it holds, through that record's governor.
fn govern_nested(ir: &Estate, r: &crate::ir::Record) -> Vec<TokenStream> {
    r.fields
        .iter()
        .filter_map(|field| {
            let (inner, how) = nested_record(&field.ty)?;
            if !holds_governed(ir, &inner, &mut vec![]) {
                return None;
            }
            let (x, g) = (names::snake(&field.name), governor(&inner));
            Some(match how {
                0 => quote! { v.#x = #g(steward, at, v.#x)?; },
                1 => quote! { v.#x = match v.#x { Some(e) => Some(#g(steward, at, e)?), None => None }; },
                _ => quote! { v.#x = v.#x.into_iter().map(|e| #g(steward, at, e)).collect::<Result<Vec<_>, _>>()?; },
            })
        })
        .collect()
}

/// `govern_partial_patient` for record `Patient`.
fn partial_governor(record: &str) -> proc_macro2::Ident {
    quote::format_ident!(
        "govern_partial{}",
        governor(record).to_string().trim_start_matches("govern")
    )
}

/// `govern_<record>`: the record through the steward when the matrix governs it, then
/// each governed record it holds, so an admission's patient and each of its allergies
/// are kept and decided as records of their own. A record some mapping writes in part
/// also gets `govern_partial_<record>`, which decides the fields written and completes
/// the rest from the stored record.
fn gen_governors(ir: &Estate) -> TokenStream {
    let fns = ir
        .records
        .iter()
        .filter(|r| holds_governed(ir, &r.name, &mut vec![]))
        .map(|r| {
            let (f, t, name) = (
                governor(&r.name),
                names::ty(&r.name),
                r.name.as_str(),
            );
            let own = if ir.ownership.iter().any(|o| o.record == r.name) {
                quote! { let mut v = rt::govern(steward, #name, at, v)?; }
            } else {
                quote! { let mut v = v; }
            };
            let nested = govern_nested(ir, r);
            // Only a chain runs a partial mapping's governor.
            let chained = ir.interfaces.iter().flat_map(|i| &i.transforms).any(|t| {
                ir.mappings.iter().any(|m| {
                    &m.name == t
                        && m.partial
                        && matches!(&m.target, Schema::Record { record } if *record == r.name)
                })
            });
            let partial = chained
                .then(|| {
                    let p = partial_governor(&r.name);
                    let required = super::types::required_fields(r);
                    quote! {
                        #[allow(unused_mut)]
                        fn #p(steward: &mut dyn rt::Steward, at: &'static str, v: rt::Partial<#t>) -> Result<#t, rt::MapError> {
                            let mut v = rt::govern_partial(steward, #name, at, v, &[#(#required),*])?;
                            #(#nested)*
                            Ok(v)
                        }
                    }
                });
            quote! {
                #[allow(unused_mut)]
                fn #f(steward: &mut dyn rt::Steward, at: &'static str, v: #t) -> Result<#t, rt::MapError> {
                    #own
                    #(#nested)*
                    Ok(v)
                }
                #partial
            }
        });
    quote! { #(#fns)* }
}

/// The arm of `deliver` (from an HL7 v2 message) or `deliver_fhir` (from a resource an
/// API's client created) for interface `i`: its transform chain, when its first mapping
/// reads that.
fn deliver_arm(ir: &Estate, i: &crate::ir::Interface, from_fhir: bool) -> Option<TokenStream> {
    let n = i.name.as_str();
    let mut steps = vec![];
    let mut first = true;
    for t in &i.transforms {
        let m = ir.mappings.iter().find(|m| &m.name == t)?;
        let f = names::snake(t);
        // A mapping that looks stored records up reads them through the steward's store.
        let records = crate::uses::looks_up_records(ir, t).then(|| quote!(, &mut *steward));
        steps.push(match (&m.source, first) {
            (Schema::Hl7 { .. }, true) if !from_fhir => quote! { let v = #f(msg #records)?; },
            (Schema::Fhir { .. }, true) if from_fhir => {
                quote! { let v = #f(resource_json #records)?; }
            }
            (_, true) => return None,
            (Schema::Hl7 { .. }, false) => quote! {
                let parsed = rt::Message::parse(&v).map_err(|e| rt::MapError { at: #t, kind: rt::MapErrorKind::Read(e.to_string()) })?;
                let v = #f(&parsed #records)?;
            },
            // A resource read by a mapping from FHIR is read as JSON.
            (Schema::Fhir { .. }, false) => quote! {
                let v = rt::ToJson::to_json(&v);
                let v = #f(&v #records)?;
            },
            (_, false) => quote! { let v = #f(&v #records)?; },
        });
        // A record the matrix governs, or one holding governed records, passes the
        // steward before the next step.
        if let Schema::Record { record } = &m.target {
            if holds_governed(ir, record, &mut vec![]) {
                let at = format!("{}:{}", m.loc.file, m.loc.line);
                let g = if m.partial {
                    partial_governor(record)
                } else {
                    governor(record)
                };
                steps.push(quote! { let v = #g(steward, #at, v)?; });
            }
        }
        first = false;
    }
    let last = ir
        .mappings
        .iter()
        .find(|m| Some(&m.name) == i.transforms.last())?;
    // A profile naming several message types: the output keeps the inbound trigger.
    if let (
        Schema::Hl7 {
            message: None,
            profile: Some(p),
            ..
        },
        false,
    ) = (&last.target, from_fhir)
    {
        let types = ir
            .profiles
            .iter()
            .find(|x| &x.name == p)
            .map(|x| x.messages.clone())
            .unwrap_or_default();
        if types.len() > 1 {
            let at = format!("{}:{}", last.loc.file, last.loc.line);
            steps.push(
                quote! { let v = rt::conformance::carry_trigger(v, msg, &[#(#types),*], #at)?; },
            );
        }
    }
    let output = match &last.target {
        Schema::Hl7 { .. } => quote!(rt::Output::Hl7(v)),
        // A resource serialises itself, straight to bytes.
        Schema::Fhir { .. } => quote!(rt::Output::Json(rt::fhir::resource_to_vec(&v))),
        Schema::Record { .. } => {
            quote!(rt::Output::Json(rt::fhir::to_vec(&rt::ToJson::to_json(&v))))
        }
    };
    Some(quote! { #n => { #(#steps)* Ok(Some(#output)) } })
}

/// The arms of `routed`: for each API interface's routes, the interfaces a created
/// resource of each type goes to (first matching rule wins).
fn routed_arms(ir: &Estate) -> Vec<TokenStream> {
    ir.interfaces
        .iter()
        .filter(|i| i.pattern == "api")
        .filter_map(|i| {
            let rules: Vec<TokenStream> = ir
                .routes
                .iter()
                .filter(|r| r.from == i.name)
                .flat_map(|r| &r.rules)
                .map(|rule| {
                    let targets = rule.targets.iter().filter_map(|t| match t {
                        RouteTarget::Interface(n) => Some(quote! { #n, }),
                        _ => None,
                    });
                    let types = &rule.messages;
                    let test = if types.is_empty() {
                        quote!(true)
                    } else {
                        quote!([#(#types),*].contains(&resource))
                    };
                    quote! { if #test { return Some(vec![#(#targets)*]); } }
                })
                .collect();
            if rules.is_empty() {
                return None;
            }
            let n = i.name.as_str();
            Some(quote! { #n => { #(#rules)* Some(vec![]) } })
        })
        .collect()
}

pub fn gen_routes(ir: &Estate, gen: &Gen) -> TokenStream {
    let governors = gen_governors(ir);
    let routes = ir.routes.iter().map(|r| {
        let f = names::suffixed("route_", &r.name);
        let f = names::snake(&f.to_string());
        let at = format!("{}:{}", r.loc.file, r.loc.line);
        let rules: Vec<TokenStream> = r.rules.iter().map(|rule| {
            let targets = rule.targets.iter().map(|t| match t {
                RouteTarget::Interface(n) | RouteTarget::Flow(n) => quote! { out.push(#n); },
                RouteTarget::Route(n) => {
                    let g = names::snake(&format!("route_{n}"));
                    quote! { out.extend(#g(msg)?); }
                }
                RouteTarget::Discard => quote! {},
            });
            let types: Vec<String> = rule.messages.iter().map(|m| m.split('^').take(2).collect::<Vec<_>>().join("^")).collect();
            let type_test = (!types.is_empty()).then(|| quote!([#(#types),*].contains(&message_type.as_str())));
            let cond = match &rule.when {
                None => None,
                Some(e) if reads_records(e) => {
                    let msg = format!("{at}: route conditions on canonical records are generated with the production wiring");
                    Some(quote!(compile_error!(#msg)))
                }
                Some(e) => Some(gen.condition(e, &at)),
            };
            let test = match (type_test, cond) {
                (Some(t), Some(c)) => quote!(#t && (#c)),
                (Some(t), None) => t,
                (None, Some(c)) => c,
                (None, None) => quote!(true),
            };
            quote! {
                if #test {
                    #(#targets)*
                    return Ok(out);
                }
            }
        }).collect();
        let reads = gen.take_reads();
        quote! {
            /// The targets of a message under this route (first matching rule wins).
            #[allow(unused_variables, clippy::needless_borrow)]
            pub fn #f(msg: &rt::Message) -> Result<Vec<&'static str>, rt::MapError> {
                let scope = rt::Scope::whole(msg);
                #reads
                let (code, trigger, _) = msg.message_type();
                let message_type = format!("{}^{}", code.unwrap_or(""), trigger.unwrap_or(""));
                let mut out: Vec<&'static str> = vec![];
                #(#rules)*
                Ok(out)
            }
        }
    });
    let inbound_arms = ir
        .interfaces
        .iter()
        .filter(|i| i.pattern != "api")
        .filter_map(|i| {
            let rs: Vec<_> = ir
                .routes
                .iter()
                .filter(|r| r.from == i.name)
                .map(|r| names::snake(&format!("route_{}", r.name)))
                .collect();
            if rs.is_empty() {
                return None;
            }
            let n = i.name.as_str();
            Some(
                quote! { #n => { let mut out = vec![]; #(out.extend(#rs(msg)?);)* Ok(Some(out)) } },
            )
        });
    let deliver_arms = ir
        .interfaces
        .iter()
        .filter_map(|i| deliver_arm(ir, i, false));
    let deliver_fhir_arms = ir
        .interfaces
        .iter()
        .filter_map(|i| deliver_arm(ir, i, true));
    let routed_arms = routed_arms(ir);
    let serve_arms = ir.interfaces.iter().flat_map(|i| {
        i.serves.iter().filter_map(move |m| {
            let map = ir.mappings.iter().find(|x| &x.name == m)?;
            let (Schema::Record { record }, Schema::Fhir { resource }) = (&map.source, &map.target) else {
                return None;
            };
            let (n, f, t) = (i.name.as_str(), names::snake(m), names::ty(record));
            let at = format!("{}:{}", map.loc.file, map.loc.line);
            Some(quote! {
                (#n, #resource) => {
                    let r = <#t as rt::FromJson>::from_json(record).ok_or(rt::MapError {
                        at: #at,
                        kind: rt::MapErrorKind::Read(String::from("the stored record does not fit its type")),
                    })?;
                    Ok(Some(rt::fhir::resource_to_vec(&#f(&r)?)))
                }
            })
        })
    });
    let accept_arms = ir.interfaces.iter().flat_map(|i| {
        i.accepts.iter().filter_map(move |m| {
            let map = ir.mappings.iter().find(|x| &x.name == m)?;
            let (Schema::Fhir { resource }, Schema::Record { .. }) = (&map.source, &map.target)
            else {
                return None;
            };
            let (n, f) = (i.name.as_str(), names::snake(m));
            Some(quote! {
                (#n, #resource) => Ok(Some(rt::ToJson::to_json(&#f(resource_json)?)))
            })
        })
    });
    let accept_body = dispatch(
        quote!((interface, resource)),
        &accept_arms.collect::<Vec<_>>(),
        quote!(Ok(None)),
    );
    let serve_body = dispatch(
        quote!((interface, resource)),
        &serve_arms.collect::<Vec<_>>(),
        quote!(Ok(None)),
    );
    let inbound_body = dispatch(
        quote!(interface),
        &inbound_arms.collect::<Vec<_>>(),
        quote!(Ok(None)),
    );
    let routed_body = dispatch(quote!(interface), &routed_arms, quote!(None));
    let deliver_fhir_body = dispatch(
        quote!(interface),
        &deliver_fhir_arms.collect::<Vec<_>>(),
        quote!(Ok(None)),
    );
    let deliver_body = dispatch(
        quote!(interface),
        &deliver_arms.collect::<Vec<_>>(),
        quote!(Ok(None)),
    );
    quote! {
        #governors
        #(#routes)*

        /// The stored record (as JSON) API interface `interface` reads from a client's
        /// `resource`, or `None` when it does not accept that type.
        #[allow(unused_variables)]
        pub fn accept(interface: &str, resource: &str, resource_json: &rt::serde_json::Value) -> Result<Option<rt::serde_json::Value>, rt::MapError> {
            #accept_body
        }

        /// The FHIR resource API interface `interface` makes of a stored record (as JSON)
        /// for `resource`, or `None` when it does not serve that type.
        #[allow(unused_variables)]
        pub fn serve(interface: &str, resource: &str, record: &rt::serde_json::Value) -> Result<Option<Vec<u8>>, rt::MapError> {
            #serve_body
        }

        /// The targets of a message received on interface `interface` (its routes), or
        /// `None` when no route takes messages from it.
        #[allow(unused_variables)]
        pub fn inbound(interface: &str, msg: &rt::Message) -> Result<Option<Vec<&'static str>>, rt::MapError> {
            #inbound_body
        }

        /// The interfaces a resource of type `resource`, created by a client of API
        /// interface `interface`, is sent to (its routes), or `None` when no route takes
        /// what that interface's clients create.
        #[allow(unused_variables)]
        pub fn routed(interface: &str, resource: &str) -> Option<Vec<&'static str>> {
            #routed_body
        }

        /// Runs the transform chain of `interface` on a resource an API's client created,
        /// when the chain starts from FHIR: `Ok(None)` when it does not.
        #[allow(unused_variables)]
        pub fn deliver_fhir(interface: &str, resource_json: &rt::serde_json::Value, steward: &mut dyn rt::Steward) -> Result<Option<rt::Output>, rt::MapError> {
            #deliver_fhir_body
        }

        /// Runs the transform chain of `interface` on `msg` and returns what it produces:
        /// `Ok(None)` when the interface has no transform (the message passes unchanged).
        /// Each record the ownership matrix governs passes `steward` on the way.
        #[allow(unused_variables)]
        pub fn deliver(interface: &str, msg: &rt::Message, steward: &mut dyn rt::Steward) -> Result<Option<rt::Output>, rt::MapError> {
            #deliver_body
        }
    }
}

/// `match on { arms, _ => fallback }`, or `fallback` alone when there are no arms (an
/// estate without routes, APIs or transforms).
fn dispatch(on: TokenStream, arms: &[TokenStream], fallback: TokenStream) -> TokenStream {
    if arms.is_empty() {
        fallback
    } else {
        quote! {
            match #on {
                #(#arms,)*
                _ => #fallback,
            }
        }
    }
}
