//! `split: per SEGMENT` on an interface: the production sends one message per occurrence
//! of the segment. The interface is one the production sends to (a route's target, or a
//! `send` of a reply policy or flow), what it maps is HL7 v2 (a FHIR resource has no
//! segments), and the segment exists in the messages it takes (checked against its
//! profile or the HL7 schema its first transform reads). Anything else is E0426, or the
//! HL7 path diagnostics for a segment the messages cannot hold.

use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{Hl7Path, IfaceClauseKind, SchemaKind, Token};

pub(super) fn check(c: &mut Checker) {
    for (id, d) in c.m.interfaces.iter() {
        for cl in &d.node.clauses {
            let IfaceClauseKind::Split(segment) = &cl.kind else {
                continue;
            };
            let name = d.node.name.name.as_str();
            if !super::routes::sent_to(c, name) {
                c.push(diag::bad_split(
                    segment.span,
                    format!("`{name}` splits messages, but the production never sends to it"),
                    "`split` cuts what the production sends: make the interface a route's target, or remove `split`".into(),
                ));
                continue;
            }
            if reads_fhir(c, id) {
                c.push(diag::bad_split(
                    segment.span,
                    format!("`{name}` splits FHIR resources, which have no segments"),
                    "`split: per SEGMENT` cuts an HL7 v2 message; a resource goes whole".into(),
                ));
                continue;
            }
            if let Some(ctx) = c.hl7_ctx_for_interface(id) {
                c.check_hl7_path(&ctx, &segment_path(segment));
            }
        }
    }
}

/// Whether the first transform of interface `id` reads FHIR.
fn reads_fhir(c: &Checker, id: usize) -> bool {
    let first =
        c.m.interfaces
            .get(id)
            .node
            .clauses
            .iter()
            .find_map(|cl| match &cl.kind {
                IfaceClauseKind::Transform(ms) => ms.first(),
                _ => None,
            });
    first
        .and_then(|m| c.m.id(Kind::Mapping, &m.name))
        .is_some_and(|m| matches!(c.m.mappings.get(m).node.source.kind, SchemaKind::Fhir(_)))
}

/// The segment as a path (its first field), for the dictionary's checks.
fn segment_path(segment: &Token) -> Hl7Path {
    Hl7Path {
        segment: segment.text.clone(),
        occurrence: None,
        field: 1,
        repetition: None,
        component: None,
        subcomponent: None,
        span: segment.span,
    }
}
