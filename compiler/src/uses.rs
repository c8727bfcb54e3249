//! Who uses what, derived from the IR: the mappings of an interface's transform chain, the
//! records and code maps they touch, and the interfaces a service's routes feed. The site
//! (which other interfaces share a record) and `accord diff` (which interface's version a
//! change to a record or code map must bump) both read the estate through these.

use crate::ir::{Estate, Expr, Interface, Mapping, RouteTarget, Schema, Stmt};
use std::collections::BTreeSet;

/// The mappings of `i`'s transform chain, in chain order, each followed by the mappings
/// it runs or refers to (`patient via patient_to_fhir`, `reference(...)`), once each.
pub fn mappings_of<'e>(estate: &'e Estate, i: &Interface) -> Vec<&'e Mapping> {
    let mut names: Vec<String> = vec![];
    for t in &i.transforms {
        let mut todo = vec![t.clone()];
        while let Some(n) = todo.pop() {
            if names.contains(&n) {
                continue;
            }
            let Some(m) = estate.mappings.iter().find(|m| m.name == n) else {
                continue;
            };
            names.push(n);
            let mut used = vec![];
            stmt_mappings(&m.body, &mut used);
            todo.extend(used.into_iter().rev());
        }
    }
    names
        .iter()
        .filter_map(|n| estate.mappings.iter().find(|m| &m.name == n))
        .collect()
}

/// Calls `f` with each expression of a list of statements (values and conditions, in
/// order, nested statements included).
pub fn each_expr<'e>(body: &'e [Stmt], f: &mut impl FnMut(&'e Expr)) {
    for s in body {
        match s {
            Stmt::Assign { values, .. } => values.iter().for_each(&mut *f),
            Stmt::For { body, value, .. } => {
                if let Some(v) = value {
                    f(v);
                }
                each_expr(body, f)
            }
            Stmt::When {
                cond,
                then,
                otherwise,
                ..
            } => {
                f(cond);
                each_expr(then, f);
                each_expr(otherwise, f);
            }
        }
    }
}

/// Whether `e` asks for `index()`.
pub fn calls_index(e: &Expr) -> bool {
    match e {
        Expr::Call { function, args } => function == "index" || args.iter().any(calls_index),
        Expr::Stored { keys, .. } | Expr::Reference { keys, .. } => keys.iter().any(calls_index),
        Expr::Not { value } | Expr::Lookup { value, .. } | Expr::Apply { value, .. } => {
            calls_index(value)
        }
        Expr::If {
            cond,
            then,
            otherwise,
        } => calls_index(cond) || calls_index(then) || calls_index(otherwise),
        Expr::Binary { lhs, rhs, .. } => calls_index(lhs) || calls_index(rhs),
        _ => false,
    }
}

/// Whether the statements of one `for each` (or its value, `for each SOURCE: value`) ask
/// for `index()`, outside the `for each` statements inside, which count their own.
pub fn asks_index(body: &[Stmt], value: Option<&Expr>) -> bool {
    value.is_some_and(calls_index)
        || body.iter().any(|s| match s {
            Stmt::Assign { values, .. } => values.iter().any(calls_index),
            Stmt::For { .. } => false,
            Stmt::When {
                cond,
                then,
                otherwise,
                ..
            } => calls_index(cond) || asks_index(then, None) || asks_index(otherwise, None),
        })
}

/// The mappings a list of statements runs or refers to.
fn stmt_mappings(body: &[Stmt], out: &mut Vec<String>) {
    each_expr(body, &mut |e| crate::ir_text::mappings_used(e, out));
}

/// The stored records a mapping looks up (`lookup(Patient.family_name, ...)`), in order,
/// once each.
pub fn stored_lookups(m: &Mapping) -> Vec<String> {
    let mut out = vec![];
    each_expr(&m.body, &mut |e| {
        crate::ir_text::stored_records(e, &mut out)
    });
    out
}

/// Whether mapping `name` looks stored records up, itself or through a mapping it runs.
pub fn looks_up_records(estate: &Estate, name: &str) -> bool {
    let mut todo = vec![name.to_string()];
    let mut seen = vec![];
    while let Some(n) = todo.pop() {
        if seen.contains(&n) {
            continue;
        }
        let Some(m) = estate.mappings.iter().find(|m| m.name == n) else {
            continue;
        };
        if !stored_lookups(m).is_empty() {
            return true;
        }
        stmt_mappings(&m.body, &mut todo);
        seen.push(n);
    }
    false
}

/// The interfaces the routes from `service` can send to, following routes into routes.
pub fn fed_by(estate: &Estate, service: &str) -> Vec<String> {
    let mut out = vec![];
    let mut routes: Vec<_> = estate.routes.iter().filter(|r| r.from == service).collect();
    let mut seen = BTreeSet::new();
    while let Some(r) = routes.pop() {
        if !seen.insert(r.name.clone()) {
            continue;
        }
        for rule in &r.rules {
            for t in &rule.targets {
                match t {
                    RouteTarget::Interface(n) if !out.contains(n) => out.push(n.clone()),
                    RouteTarget::Route(n) => {
                        routes.extend(estate.routes.iter().filter(|x| &x.name == n));
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn mapping_records(m: &Mapping, out: &mut BTreeSet<String>) {
    for s in [&m.source, &m.target] {
        if let Schema::Record { record } = s {
            out.insert(record.clone());
        }
    }
    out.extend(stored_lookups(m));
}

/// The records an interface carries: those its transforms read or produce, and for a
/// service, those of the interfaces its routes feed.
pub fn records_of(estate: &Estate, i: &Interface) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in mappings_of(estate, i) {
        mapping_records(m, &mut out);
    }
    for target in fed_by(estate, &i.name) {
        if let Some(t) = estate.interfaces.iter().find(|x| x.name == target) {
            for m in mappings_of(estate, t) {
                mapping_records(m, &mut out);
            }
        }
    }
    out
}

/// The code maps a list of statements looks codes up in, in order, once each.
pub fn lookups(body: &[Stmt], out: &mut Vec<String>) {
    each_expr(body, &mut |e| crate::ir_text::codemaps(e, out));
}

/// The code maps `i`'s transforms and route conditions look up.
pub fn codemaps_of(estate: &Estate, i: &Interface) -> BTreeSet<String> {
    let mut list = vec![];
    for m in mappings_of(estate, i) {
        lookups(&m.body, &mut list);
    }
    for r in estate.routes.iter().filter(|r| r.from == i.name) {
        for rule in &r.rules {
            if let Some(w) = &rule.when {
                crate::ir_text::codemaps(w, &mut list);
            }
        }
    }
    list.into_iter().collect()
}

/// The interfaces whose transforms use `mapping`, directly or through another mapping.
pub fn interfaces_with_mapping(estate: &Estate, mapping: &str) -> Vec<String> {
    estate
        .interfaces
        .iter()
        .filter(|i| mappings_of(estate, i).iter().any(|m| m.name == mapping))
        .map(|i| i.name.clone())
        .collect()
}

/// The interfaces that carry `record` (see [`records_of`]).
pub fn interfaces_with_record(estate: &Estate, record: &str) -> Vec<String> {
    estate
        .interfaces
        .iter()
        .filter(|i| records_of(estate, i).contains(record))
        .map(|i| i.name.clone())
        .collect()
}

/// The interfaces whose mappings look codes up in `codemap`.
pub fn interfaces_with_codemap(estate: &Estate, codemap: &str) -> Vec<String> {
    estate
        .interfaces
        .iter()
        .filter(|i| codemaps_of(estate, i).contains(codemap))
        .map(|i| i.name.clone())
        .collect()
}
