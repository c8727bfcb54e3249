//! What an API interface takes in, as the other checks need it: the FHIR resources it
//! accepts (`accepts:` mappings), the resource types its routes send on (a create), and
//! the resource types routes from API interfaces feed into an operation. Lookups here
//! report nothing: the interface and route checks report unknown names once.

use super::Checker;
use crate::model::Kind;
use accord_dsl::ast::{IfaceClauseKind, LitKind, RouteRuleKind, RuleTypes, SchemaKind};

/// Whether interface `iface` is a FHIR facade (`pattern: api`).
pub(super) fn is_api(c: &Checker, iface: usize) -> bool {
    c.m.interfaces
        .get(iface)
        .node
        .clauses
        .iter()
        .any(|cl| match &cl.kind {
            IfaceClauseKind::Prop(p) if p.key.name == "pattern" => {
                matches!(&p.value.kind, LitKind::Ident(v) if v == "api")
            }
            _ => false,
        })
}

/// The (resource, record) pairs interface `iface` accepts, from its `accepts:` mappings
/// that read a FHIR resource into a record.
pub(super) fn accepted(c: &Checker, iface: usize) -> Vec<(String, String)> {
    let mut out = vec![];
    for cl in &c.m.interfaces.get(iface).node.clauses {
        let IfaceClauseKind::Accepts(maps) = &cl.kind else {
            continue;
        };
        for m in maps {
            let Some(&(Kind::Mapping, id)) = c.m.names.get(m.name.as_str()) else {
                continue;
            };
            let decl = c.m.mappings.get(id).node;
            if let (SchemaKind::Fhir(res), SchemaKind::Record(r)) =
                (&decl.source.kind, &decl.target.kind)
            {
                out.push((res.name.clone(), r.name.clone()));
            }
        }
    }
    out
}

/// Every (route rule resource type, target name) of the routes from interface `name`.
fn routed_pairs(c: &Checker, name: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    for (_, d) in c.m.routes.iter().filter(|(_, d)| d.node.from.name == name) {
        for rule in &d.node.rules {
            let RouteRuleKind::Match {
                types: Some(RuleTypes::List(ts)),
                targets,
                ..
            } = &rule.kind
            else {
                continue;
            };
            for t in ts {
                for target in targets {
                    out.push((t.text.clone(), target.name.clone()));
                }
            }
        }
    }
    out
}

/// The resource types the routes from interface `name` send on somewhere.
pub(super) fn routed(c: &Checker, name: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for (t, target) in routed_pairs(c, name) {
        if target != "discard" && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The FHIR resource types that routes from API interfaces send to interface `target`.
pub(super) fn fed(c: &Checker, target: &str) -> Vec<String> {
    let mut out = vec![];
    for (iid, d) in c.m.interfaces.iter() {
        if !is_api(c, iid) {
            continue;
        }
        for (t, to) in routed_pairs(c, &d.name.name) {
            if to == target && !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}
