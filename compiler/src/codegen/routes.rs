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

pub fn gen_routes(ir: &Estate, gen: &Gen) -> TokenStream {
    let routes = ir.routes.iter().map(|r| {
        let f = names::suffixed("route_", &r.name);
        let f = names::snake(&f.to_string());
        let at = format!("{}:{}", r.loc.file, r.loc.line);
        let rules = r.rules.iter().map(|rule| {
            let targets = rule.targets.iter().map(|t| match t {
                RouteTarget::Interface(n) | RouteTarget::Flow(n) => quote! { out.push(#n); },
                RouteTarget::Route(n) => {
                    let g = names::snake(&format!("route_{n}"));
                    quote! { out.extend(#g(msg)?); }
                }
                RouteTarget::Discard => quote! {},
            });
            let types: Vec<String> = rule.messages.iter().map(|m| m.split('^').take(2).collect::<Vec<_>>().join("^")).collect();
            let type_test = if types.is_empty() { quote!(true) } else { quote!([#(#types),*].contains(&message_type.as_str())) };
            let cond = match &rule.when {
                None => quote!(true),
                Some(e) if reads_records(e) => {
                    let msg = format!("{at}: route conditions on canonical records are generated with the production wiring");
                    quote!(compile_error!(#msg))
                }
                Some(e) => gen.condition(e, &at),
            };
            quote! {
                if #type_test && (#cond) {
                    #(#targets)*
                    return Ok(out);
                }
            }
        });
        quote! {
            /// The targets of a message under this route (first matching rule wins).
            #[allow(unused_variables, clippy::needless_borrow)]
            pub fn #f(msg: &rt::Message) -> Result<Vec<&'static str>, rt::MapError> {
                let scope = rt::Scope::whole(msg);
                let (code, trigger, _) = msg.message_type();
                let message_type = format!("{}^{}", code.unwrap_or(""), trigger.unwrap_or(""));
                let mut out: Vec<&'static str> = vec![];
                #(#rules)*
                Ok(out)
            }
        }
    });
    let inbound_arms = ir.interfaces.iter().filter_map(|i| {
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
        Some(quote! { #n => { let mut out = vec![]; #(out.extend(#rs(msg)?);)* Ok(Some(out)) } })
    });
    let deliver_arms = ir.interfaces.iter().filter(|i| !i.transforms.is_empty()).filter_map(|i| {
        let n = i.name.as_str();
        let mut steps = vec![];
        let mut first = true;
        for t in &i.transforms {
            let m = ir.mappings.iter().find(|m| &m.name == t)?;
            let f = names::snake(t);
            steps.push(match (&m.source, first) {
                (Schema::Hl7 { .. }, true) => quote! { let v = #f(msg)?; },
                (Schema::Hl7 { .. }, false) => quote! {
                    let parsed = rt::Message::parse(&v).map_err(|e| rt::MapError { at: #t, kind: rt::MapErrorKind::Read(e.to_string()) })?;
                    let v = #f(&parsed)?;
                },
                (_, true) => return None,
                // A resource read by a mapping from FHIR is read as JSON.
                (Schema::Fhir { .. }, false) => quote! {
                    let v = rt::ToJson::to_json(&v);
                    let v = #f(&v)?;
                },
                (_, false) => quote! { let v = #f(&v)?; },
            });
            // A record the matrix governs passes the steward before the next step.
            if let Schema::Record { record } = &m.target {
                if ir.ownership.iter().any(|o| &o.record == record) {
                    let at = format!("{}:{}", m.loc.file, m.loc.line);
                    steps.push(quote! { let v = rt::govern(steward, #record, #at, v)?; });
                }
            }
            first = false;
        }
        let last = ir.mappings.iter().find(|m| Some(&m.name) == i.transforms.last())?;
        let output = match &last.target {
            Schema::Hl7 { .. } => quote!(rt::Output::Hl7(v)),
            // A resource serialises itself, straight to bytes.
            Schema::Fhir { .. } => quote!(rt::Output::Json(rt::fhir::to_vec(&v))),
            Schema::Record { .. } => quote!(rt::Output::Json(rt::fhir::to_vec(&rt::ToJson::to_json(&v)))),
        };
        Some(quote! { #n => { #(#steps)* Ok(Some(#output)) } })
    });
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
                    Ok(Some(rt::fhir::to_vec(&#f(&r)?)))
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
                (#n, #resource) => Ok(Some(rt::ToJson::to_json(&#f(resource_json)?))),
            })
        })
    });
    quote! {
        #(#routes)*

        /// The stored record (as JSON) API interface `interface` reads from a client's
        /// `resource`, or `None` when it does not accept that type.
        #[allow(unused_variables)]
        pub fn accept(interface: &str, resource: &str, resource_json: &serde_json::Value) -> Result<Option<serde_json::Value>, rt::MapError> {
            match (interface, resource) {
                #(#accept_arms)*
                _ => Ok(None),
            }
        }

        /// The FHIR resource API interface `interface` makes of a stored record (as JSON)
        /// for `resource`, or `None` when it does not serve that type.
        #[allow(unused_variables)]
        pub fn serve(interface: &str, resource: &str, record: &serde_json::Value) -> Result<Option<Vec<u8>>, rt::MapError> {
            match (interface, resource) {
                #(#serve_arms,)*
                _ => Ok(None),
            }
        }

        /// The targets of a message received on interface `interface` (its routes), or
        /// `None` when no route takes messages from it.
        #[allow(unused_variables)]
        pub fn inbound(interface: &str, msg: &rt::Message) -> Result<Option<Vec<&'static str>>, rt::MapError> {
            match interface {
                #(#inbound_arms,)*
                _ => Ok(None),
            }
        }

        /// Runs the transform chain of `interface` on `msg` and returns what it produces:
        /// `Ok(None)` when the interface has no transform (the message passes unchanged).
        /// Each record the ownership matrix governs passes `steward` on the way.
        #[allow(unused_variables)]
        pub fn deliver(interface: &str, msg: &rt::Message, steward: &mut dyn rt::Steward) -> Result<Option<rt::Output>, rt::MapError> {
            match interface {
                #(#deliver_arms,)*
                _ => Ok(None),
            }
        }
    }
}
