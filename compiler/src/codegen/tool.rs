//! `src/bin/accord-tool.rs` of the generated crate: runs a mapping, or a chain of two
//! whose types meet (HL7 or FHIR -> record -> HL7/FHIR), on a message or resource file,
//! printing the result.
//! `accord map` builds and runs it, so what an analyst tries is the generated code itself.

use super::mappings::Gen;
use super::names;
use crate::ir::{Estate, Expect, Key, Schema, Test};
use proc_macro2::TokenStream;
use quote::quote;

/// One in-language test as a function: the message enters at its interface or route,
/// every routed interface's transforms run, then each expectation is checked.
fn gen_test(ir: &Estate, gen: &Gen, krate: &proc_macro2::Ident, i: usize, t: &Test) -> TokenStream {
    let f = names::snake(&format!("test_{i}"));
    let (given_f, run_f) = (
        names::snake(&format!("given_{i}")),
        names::snake(&format!("run_{i}")),
    );
    let Some(given) = t.given.first() else {
        return quote! { fn #f(_root: &str) -> Result<(), String> { Ok(()) } };
    };
    let read = match (&given.file, &given.inline) {
        (Some(file), _) => {
            quote! { let bytes = std::fs::read(format!("{}/{}", root, #file)).map_err(|e| format!("cannot read {}: {e}", #file))?; }
        }
        (None, Some(text)) => quote! { let bytes = #text.as_bytes().to_vec(); },
        _ => quote! { let bytes: Vec<u8> = vec![]; },
    };
    let entry = match &given.at {
        Some(name) if ir.routes.iter().any(|r| &r.name == name) => {
            let r = names::snake(&format!("route_{name}"));
            quote! { let routed: Vec<&'static str> = #krate::#r(msg).map_err(|e| e.to_string())?; }
        }
        Some(name) => {
            quote! { let routed: Vec<&'static str> = #krate::inbound(#name, msg).map_err(|e| e.to_string())?.unwrap_or_default(); }
        }
        None => quote! { let routed: Vec<&'static str> = vec![]; },
    };
    // The interface the message enters at: the one named, or the route's source.
    let interface = match &given.at {
        Some(name) => {
            let iface = ir
                .routes
                .iter()
                .find(|r| &r.name == name)
                .map_or(name.as_str(), |r| r.from.as_str());
            quote!(Some(#iface))
        }
        None => quote!(None),
    };
    let checks = t.expect.iter().map(|e| match e {
        Expect::Routed { to, negated: false } => quote! {
            if !routed.contains(&#to) { return Err(format!("expected the message to be routed to `{}`; it went to {:?}", #to, routed)); }
        },
        Expect::Routed { to, negated: true } => quote! {
            if routed.contains(&#to) { return Err(format!("expected the message not to be routed to `{}`; it went to {:?}", #to, routed)); }
        },
        Expect::Ack { code } => quote! {
            let ack = rt::answer::heard(&spec, interface, &msg, refused.is_some(), rejected.is_none());
            if ack != #code { return Err(format!("expected ACK {}, the production would answer {ack} ({})", #code, rejected.clone().unwrap_or_else(|| "stored".into()))); }
        },
        Expect::Rejected { reason } => {
            let reason = reason.clone().unwrap_or_default();
            quote! {
                match &rejected {
                    Some(r) if r.contains(#reason) => {}
                    Some(r) => return Err(format!("expected a rejection with {:?}, got: {r}", #reason)),
                    None => return Err(format!("expected a rejection with {:?}; the message was accepted", #reason)),
                }
            }
        }
        Expect::Value { path: Key::Field { path, .. }, equals, loc } => {
            let at = format!("{}:{}", loc.file, loc.line);
            let mapping = path.first().map(|p| p.name.clone()).unwrap_or_default();
            let m = names::snake(&mapping);
            // A test has no stored records: a lookup finds none.
            let records = crate::uses::looks_up_records(ir, &mapping)
                .then(|| quote!(, &mut rt::Unsupervised));
            // Read through the record's JSON, so an optional or repeated record on the
            // way is no value (`null`), not a field of an `Option` or a `Vec`.
            let steps = super::mappings::json_steps(path.get(1..).unwrap_or_default());
            let shown = crate::ir_text::steps(path);
            let expected = gen.test_value(equals, &at);
            // A message given at an interface or route is read by a mapping only through
            // the transform chain of an interface it is routed to: an expectation on a
            // mapping no route of the message runs fails, instead of running it anyway.
            let takers: Vec<&str> = ir
                .interfaces
                .iter()
                .filter(|i| i.transforms.first() == Some(&mapping))
                .map(|i| i.name.as_str())
                .collect();
            // A store-only feed (transforms, no route) runs its own chain.
            let stores: Vec<&str> = takers
                .iter()
                .copied()
                .filter(|t| !ir.routes.iter().any(|r| r.from == *t))
                .collect();
            let runs = quote! {
                let stored_here = interface.is_some_and(|i| [#(#stores),*].contains(&i));
                if interface.is_some() && !stored_here && !routed.iter().any(|r| [#(#takers),*].contains(r)) {
                    return Err(format!(
                        "{}: expected {}, but `{}` never runs for this message: it is routed to {:?}, and {}",
                        #at, #shown, #mapping, routed,
                        if [#(#takers),*].is_empty() { String::from("no interface's transform chain starts with it") } else { format!("only {:?} start their transform chain with it", [#(#takers),*]) }
                    ));
                }
            };
            quote! {
                #runs
                let out = #krate::#m(&msg #records).map_err(|e| format!("`{}` failed: {e}", #mapping))?;
                let whole = rt::ToJson::to_json(&out);
                let actual = rt::json_get(&whole, &[#(#steps),*]).cloned().unwrap_or(rt::serde_json::Value::Null);
                let expected = #expected;
                if actual != expected { return Err(format!("{}: expected {} == {expected}, found {actual}", #at, #shown)); }
            }
        }
        Expect::Value { path: Key::Hl7 { path }, equals, loc } => {
            let at = format!("{}:{}", loc.file, loc.line);
            let actual = gen.test_hl7(path, &at);
            let expected = gen.test_value(equals, &at);
            let shown = path.text.as_str();
            quote! {
                let (actual, expected) = (#actual, #expected);
                if actual != expected { return Err(format!("{}: expected {} == {expected}, found {actual}", #at, #shown)); }
            }
        }
    });
    quote! {
        /// The message test #i gives.
        #[allow(unused_variables)]
        fn #given_f(root: &str) -> Result<Vec<u8>, String> {
            #read
            Ok(bytes)
        }

        /// What becomes of `msg` given where test #i gives its message: refused on
        /// receipt (type, sender, profile) as the production refuses it, else routed and
        /// mapped for each target; (where it went, why it was refused, if it was).
        #[allow(unused_variables)]
        fn #run_f(spec: &rt::spec::Spec, msg: &rt::Message) -> Result<(Vec<&'static str>, Option<String>, Option<String>), String> {
            let interface: Option<&str> = #interface;
            let refused = interface.and_then(|i| rt::answer::refusal(spec, i, msg));
            #entry
            let routed: Vec<&'static str> = if refused.is_some() { vec![] } else { routed };
            let mut rejected: Option<String> = refused.clone();
            for target in &routed {
                match #krate::deliver(target, msg, &mut rt::Unsupervised) {
                    // A partial record needs the stored one, which a test has not: what
                    // it carries is checked by expectations on the mapping.
                    Err(rt::MapError { kind: rt::MapErrorKind::Unstored { .. }, .. }) | Ok(_) => {}
                    Err(e) => {
                        rejected.get_or_insert(e.to_string());
                    }
                }
            }
            Ok((routed, refused, rejected))
        }

        #[allow(unused_variables)]
        fn #f(root: &str) -> Result<(), String> {
            let bytes = #given_f(root)?;
            let msg = rt::Message::parse(&bytes).map_err(|e| format!("the test message does not parse: {e}"))?;
            let scope = rt::Scope::whole(&msg);
            let spec: rt::spec::Spec = rt::serde_json::from_str(#krate::SPEC).map_err(|e| e.to_string())?;
            let interface: Option<&str> = #interface;
            let (routed, refused, rejected) = #run_f(&spec, &msg)?;
            #(#checks)*
            Ok(())
        }
    }
}

pub fn gen_tool(ir: &Estate, crate_ident: &str) -> String {
    let krate = names::snake(crate_ident);
    let mut arms: Vec<TokenStream> = vec![];
    let output = |target: &Schema, value: TokenStream| -> TokenStream {
        match target {
            Schema::Hl7 { .. } => quote!(Output::Hl7(#value)),
            // A resource prints as it goes on the wire, in its own element order.
            Schema::Fhir { .. } => {
                quote!(Output::Json(rt::fhir::resource_to_string_pretty(&#value)))
            }
            Schema::Record { .. } => {
                quote!(Output::Json(rt::serde_json::to_string_pretty(&rt::ToJson::to_json(&#value)).unwrap_or_default()))
            }
        }
    };
    // A mapping (or a chain of two whose types meet) from HL7 v2 reads the file as a
    // message, one from FHIR as JSON.
    for m in ir
        .mappings
        .iter()
        .filter(|m| matches!(m.source, Schema::Hl7 { .. } | Schema::Fhir { .. }))
    {
        let (name, f) = (m.name.as_str(), names::snake(&m.name));
        let input = match m.source {
            Schema::Fhir { .. } => quote! {
                let msg = match input_json(&args[3], &bytes) { Ok(j) => j, Err(code) => return code };
            },
            _ => quote! {
                let msg = match input_hl7(&args[3], &bytes) { Ok(m) => m, Err(code) => return code };
            },
        };
        let out = output(&m.target, quote!(v));
        // `accord map` has no stored records: a lookup finds none.
        let records =
            |m: &str| crate::uses::looks_up_records(ir, m).then(|| quote!(, &mut rt::Unsupervised));
        let r = records(&m.name);
        arms.push(quote! { #name => { #input #krate::#f(&msg #r).map(|v| #out) } });
        // A partial record is completed from the stored record, which `accord map` has
        // not: it prints what the mapping carries, and starts no chain.
        if let (Schema::Record { record }, false) = (&m.target, m.partial) {
            for n in ir
                .mappings
                .iter()
                .filter(|n| matches!(&n.source, Schema::Record { record: r } if r == record))
            {
                let chain = format!("{},{}", m.name, n.name);
                let g = names::snake(&n.name);
                let rg = records(&n.name);
                let out = output(&n.target, quote!(v));
                // The second step's output may borrow the record, so it is printed while it lives.
                arms.push(quote! { #chain => { #input #krate::#f(&msg #r).and_then(|x| #krate::#g(&x #rg).map(|v| #out)) } });
            }
        }
    }
    let known: Vec<String> = ir
        .mappings
        .iter()
        .filter(|m| matches!(m.source, Schema::Hl7 { .. } | Schema::Fhir { .. }))
        .map(|m| m.name.clone())
        .collect();
    let known = known.join(", ");
    let gen = Gen::new(ir);
    let test_fns: Vec<TokenStream> = ir
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| gen_test(ir, &gen, &krate, i, t))
        .collect();
    let test_runs = ir.tests.iter().enumerate().map(|(i, t)| {
        let f = names::snake(&format!("test_{i}"));
        let (name, at) = (t.name.as_str(), format!("{}:{}", t.loc.file, t.loc.line));
        quote! {
            match #f(root) {
                Ok(()) => { passed += 1; println!("test {:?} ... ok", #name); }
                Err(e) => { failed += 1; println!("test {:?} ... FAILED\n  --> {}\n  {e}", #name, #at); }
            }
        }
    });
    // Scenarios run on the production itself (`accord_engine::scenario`), linked only
    // when the estate has some.
    let scenario_runs = (!ir.scenarios.is_empty()).then(|| {
        let json = super::scenarios::json(ir);
        let production = production(&krate);
        quote! {
            const SCENARIOS: &str = #json;
            let production = #production;
            let (p, f) = accord_engine::scenario::run(production, SCENARIOS, std::path::Path::new(root));
            passed += p;
            failed += f;
        }
    });
    let derived = super::derived::derive(ir);
    let derived_runs = derived.iter().map(|d| {
        let (given_f, run_f) = (
            names::snake(&format!("given_{}", d.test)),
            names::snake(&format!("run_{}", d.test)),
        );
        let name = format!("{}: {}", d.mapping, d.what);
        let (path, value, at, mapping) = (&d.path, &d.value, &d.at, &d.mapping);
        let takers = &d.takers;
        let baseline = ir.tests[d.test].name.as_str();
        let expect = match &d.refused {
            Some(fragment) => quote! {
                match &rejected {
                    Some(r) if r.contains(#fragment) => Ok(()),
                    Some(r) => Err(format!("expected a refusal with {:?}, got: {r}", #fragment)),
                    None => Err(format!("expected a refusal with {:?}; the message was accepted", #fragment)),
                }
            },
            None => quote! {
                match &rejected {
                    None => Ok(()),
                    Some(r) => Err(format!("expected the message to be accepted; it was refused: {r}")),
                }
            },
        };
        quote! {
            let outcome = (|| -> Result<Option<String>, String> {
                let bytes = #given_f(root)?;
                let msg = rt::Message::parse(&bytes).map_err(|e| format!("the test message does not parse: {e}"))?;
                // A message refused as it is cannot show what one change does.
                if let (_, _, Some(why)) = #run_f(&spec, &msg)? {
                    return Ok(Some(format!("the test's own message is refused ({why})")));
                }
                let mut b = rt::MessageBuilder::from_message(&msg);
                let path = rt::Path::parse(#path).map_err(|e| e.to_string())?;
                b.set(&path, #value).map_err(|e| format!("cannot set {}: {e}", #path))?;
                let changed = b.serialize();
                let msg = rt::Message::parse(&changed).map_err(|e| format!("the changed message does not parse: {e}"))?;
                let (routed, _, rejected) = #run_f(&spec, &msg)?;
                if !routed.iter().any(|r| [#(#takers),*].contains(r)) {
                    return Ok(Some(format!("`{}` does not run for the test's message (routed to {:?})", #mapping, routed)));
                }
                let checked: Result<(), String> = #expect;
                checked.map(|()| None)
            })();
            match outcome {
                Ok(None) => { passed += 1; println!("generated {:?} (from test {:?}) ... ok", #name, #baseline); }
                Ok(Some(why)) => { skipped += 1; println!("generated {:?} (from test {:?}) ... skipped: {why}", #name, #baseline); }
                Err(e) => { failed += 1; println!("generated {:?} (from test {:?}) ... FAILED\n  --> {}\n  {e}", #name, #baseline, #at); }
            }
        }
    });
    let write_runs = write_runs(ir, &krate);
    let paths_static = gen.path_statics();
    let tokens = quote! {
        //! Runs the estate's mappings on message files (`accord map`) and its tests (`accord test`).
        use accord_runtime::__private as rt;
        #[allow(unused_imports)]
        use #krate::*;
        use std::process::ExitCode;

        /// What a chain of mappings made (an estate without mappings to one kind never
        /// makes it).
        #[allow(dead_code)]
        enum Output {
            Hl7(Vec<u8>),
            Json(String),
        }

        #(#test_fns)*
        #paths_static

        /// The file as an HL7 v2 message, or the exit code after saying why it is not one
        /// (unused by an estate without mappings from HL7 v2).
        #[allow(dead_code)]
        fn input_hl7<'b>(file: &str, bytes: &'b [u8]) -> Result<rt::Message<'b>, ExitCode> {
            rt::Message::parse(bytes).map_err(|e| {
                eprintln!("error: {file}: {e} ({})", e.hint());
                ExitCode::from(2)
            })
        }

        /// The file as JSON (a FHIR resource), or the exit code after saying why it is not
        /// (unused by an estate without mappings from FHIR).
        #[allow(dead_code)]
        fn input_json(file: &str, bytes: &[u8]) -> Result<rt::serde_json::Value, ExitCode> {
            rt::serde_json::from_slice(bytes).map_err(|e| {
                eprintln!("error: {file} is not JSON: {e}");
                ExitCode::from(2)
            })
        }

        /// Runs the estate's tests; the estate root resolves their message files (an
        /// estate without tests counts nothing).
        #[allow(unused_mut, unused_variables)]
        fn run_tests(root: &str) -> ExitCode {
            let (mut passed, mut failed) = (0usize, 0usize);
            #(#test_runs)*
            #scenario_runs
            println!("{passed} passed, {failed} failed");
            if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
        }

        /// Runs the negative cases derived from the contract (`accord test --generated`):
        /// each test's message changed at one path, with the outcome the contract says.
        #[allow(unused_mut, unused_variables)]
        fn run_generated(root: &str) -> ExitCode {
            let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
            let spec: rt::spec::Spec = match rt::serde_json::from_str(#krate::SPEC) {
                Ok(s) => s,
                Err(e) => { eprintln!("error: the production's wiring does not read: {e}"); return ExitCode::from(2); }
            };
            #(#derived_runs)*
            #write_runs
            println!("{passed} passed, {failed} failed, {skipped} skipped (generated from the contract)");
            if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
        }

        // An estate without mappings answers every `map` with the list of none.
        #[allow(unreachable_code, unused_variables)]
        fn main() -> ExitCode {
            let args: Vec<String> = std::env::args().collect();
            if args.len() == 3 && args[1] == "test" {
                return run_tests(&args[2]);
            }
            if args.len() == 4 && args[1] == "test" && args[3] == "--generated" {
                return run_generated(&args[2]);
            }
            if args.len() < 4 || args[1] != "map" {
                eprintln!("usage: accord-tool map MAPPING[,MAPPING] FILE [--format json|hl7] | accord-tool test ESTATE_ROOT [--generated]");
                return ExitCode::from(2);
            }
            let format = args.get(5).cloned().unwrap_or_default();
            let bytes = match std::fs::read(&args[3]) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: cannot read `{}`: {e}", args[3]);
                    return ExitCode::from(2);
                }
            };
            let result: Result<Output, rt::MapError> = match args[2].as_str() {
                #(#arms,)*
                other => {
                    eprintln!("error: `{other}` is not a mapping from HL7 v2 or FHIR (or a chain `a,b`) of this estate; mappings: {}", #known);
                    return ExitCode::from(2);
                }
            };
            match result {
                Ok(Output::Hl7(bytes)) => {
                    let text = String::from_utf8_lossy(&bytes);
                    if format == "hl7" { print!("{text}"); } else { println!("{}", text.trim_end().replace('\r', "\n")); }
                    ExitCode::SUCCESS
                }
                Ok(Output::Json(text)) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    };
    let file = syn::parse2::<syn::File>(tokens.clone())
        .map(|f| prettyplease::unparse(&f))
        .unwrap_or_else(|e| format!("// generation error: {e}\n{tokens}"));
    format!("// @generated by accord. Do not edit.\n{file}")
}

/// The production as the engine takes it, built from the estate's crate `krate`.
fn production(krate: &proc_macro2::Ident) -> TokenStream {
    quote! {
        accord_engine::Production {
            spec: #krate::SPEC,
            config_schemas: #krate::CONFIG_SCHEMAS,
            inbound: #krate::inbound,
            deliver: #krate::deliver,
            routed: #krate::routed,
            deliver_fhir: #krate::deliver_fhir,
            serve: #krate::serve,
            accept: #krate::accept,
        }
    }
}

/// The derived cases of the ownership matrix (`derived_writes`), each run as a scenario
/// on the production: nothing when there are none, and then the tool links no engine
/// for them.
fn write_runs(ir: &Estate, krate: &proc_macro2::Ident) -> TokenStream {
    use super::derived_writes::Outcome;
    let cases = super::derived_writes::derive(ir);
    if cases.is_empty() {
        return quote!();
    }
    let runs = cases.iter().map(|c| {
        let (owner_given, writer_given) = (
            names::snake(&format!("given_{}", c.owner.test)),
            names::snake(&format!("given_{}", c.writer.test)),
        );
        let (name, at) = (&c.name, &c.at);
        let baselines = format!(
            "tests {:?} and {:?}",
            ir.tests[c.owner.test].name, ir.tests[c.writer.test].name
        );
        let (o, w) = (&c.owner, &c.writer);
        let (o_service, o_path, o_key) = (&o.service, &o.path, &o.key_path);
        let (w_service, w_path, w_key, w_plain) = (&w.service, &w.path, &w.key_path, w.key_plain);
        let (record, field) = (&c.record, &c.field);
        let (o_value, w_value) = (&c.owner_value, &c.writer_value);
        // Other fields of the tests' messages may be decided too (the writer's message
        // held for review by another field's rule): the case reads this field's decision
        // and stored value, not counts.
        let stored = match c.outcome {
            Outcome::TakesWriter => w_value,
            Outcome::KeepsOwner | Outcome::Dead | Outcome::Review => o_value,
        };
        let says = &c.says;
        let writer_first = o.partial;
        quote! {
            let outcome = (|| -> Result<Option<String>, String> {
                let (owner, writer) = (#owner_given(root)?, #writer_given(root)?);
                let Some(key) = read(&owner, #o_key)? else {
                    return Ok(Some("the owner's test message carries no key".into()));
                };
                let mut w_sets: Vec<(&str, &str)> = vec![(#w_path, #w_value)];
                let writer_key = read(&writer, #w_key)?;
                if writer_key.as_deref() != Some(key.as_str()) {
                    if !#w_plain {
                        return Ok(Some(format!("the two tests' messages are for different records ({key:?} and {writer_key:?})")));
                    }
                    w_sets.push((#w_key, key.as_str()));
                }
                let owner_msg = change(&owner, &[(#o_path, #o_value), ("MSH-10", "ACCORD-DERIVED-2")])?;
                let mut first = w_sets.clone();
                first.push(("MSH-10", "ACCORD-DERIVED-1"));
                let mut last = w_sets;
                last.push(("MSH-10", "ACCORD-DERIVED-3"));
                let send = |text: String, service: &str| rt::scenario::Step {
                    at: #at.into(),
                    kind: rt::scenario::StepKind::Send { file: None, inline: Some(text), at: service.into() },
                };
                let mut steps = vec![];
                if #writer_first {
                    steps.push(send(change(&writer, &first)?, #w_service));
                }
                steps.push(send(owner_msg, #o_service));
                steps.push(send(change(&writer, &last)?, #w_service));
                steps.extend([
                    rt::scenario::Step {
                        at: #at.into(),
                        kind: rt::scenario::StepKind::ExpectDecision {
                            record: #record.into(),
                            key: key.clone(),
                            field: #field.into(),
                            says: #says.into(),
                        },
                    },
                    rt::scenario::Step {
                        at: #at.into(),
                        kind: rt::scenario::StepKind::ExpectRecord {
                            record: #record.into(),
                            key,
                            absent: false,
                            field: Some(#field.into()),
                            equals: Some(#stored.into()),
                        },
                    },
                ]);
                let scenario = rt::scenario::Scenario { name: #name.into(), at: #at.into(), steps };
                accord_engine::scenario::check(production, &scenario, std::path::Path::new(root))
                    .map(|()| None)
                    .map_err(|(_, why)| why)
            })();
            match outcome {
                Ok(None) => { passed += 1; println!("generated {:?} (from {}) ... ok", #name, #baselines); }
                Ok(Some(why)) => { skipped += 1; println!("generated {:?} (from {}) ... skipped: {why}", #name, #baselines); }
                Err(e) => { failed += 1; println!("generated {:?} (from {}) ... FAILED\n  --> {}\n  {e}", #name, #baselines, #at); }
            }
        }
    });
    let production = production(krate);
    quote! {
        let production = #production;
        // The text at `path` of a test's message.
        let read = |bytes: &[u8], path: &str| -> Result<Option<String>, String> {
            let msg = rt::Message::parse(bytes).map_err(|e| format!("a test's message does not parse: {e}"))?;
            let p = rt::Path::parse(path).map_err(|e| e.to_string())?;
            rt::Scope::whole(&msg).text(&p, "derived").map_err(|e| e.to_string())
        };
        // A test's message with values set at paths, as text.
        let change = |bytes: &[u8], sets: &[(&str, &str)]| -> Result<String, String> {
            let msg = rt::Message::parse(bytes).map_err(|e| format!("a test's message does not parse: {e}"))?;
            let mut b = rt::MessageBuilder::from_message(&msg);
            for (path, value) in sets {
                let p = rt::Path::parse(path).map_err(|e| e.to_string())?;
                b.set(&p, value).map_err(|e| format!("cannot set {path}: {e}"))?;
            }
            Ok(String::from_utf8_lossy(&b.serialize()).into_owned())
        };
        #(#runs)*
    }
}
