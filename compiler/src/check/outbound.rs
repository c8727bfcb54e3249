//! Outbound conformance at check time, from the same HL7 v2 dictionary and profiles the
//! production validates against: what a mapping to HL7 v2 never writes that the structure
//! of its message type or its target profile requires (W0402, MSH aside: the production
//! fills the header), what it writes that the profile says is not supported, and message
//! types an interface carries that its last mapping would relabel or cannot send (W0403).

use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{
    IfaceClauseKind, Interface, MapStmt, MapStmtKind, MapTarget, Mapping, ProfileItem, SchemaKind,
};
use accord_hl7::dict::{self, Dictionary, Element};

pub(super) fn check(c: &mut Checker) {
    for (_, d) in c.m.mappings.iter() {
        check_mapping(c, d.node, d.name.span);
    }
    for (_, d) in c.m.interfaces.iter() {
        check_carried_types(c, d.node);
    }
}

/// The HL7 v2 target of a mapping: its version, the message types it can produce and
/// the profile's rules (path, usage).
struct Target {
    version: String,
    types: Vec<String>,
    /// (segment, field, usage) of the target profile's rules.
    rules: Vec<(String, u32, String)>,
    /// The profile's name, when the target is one.
    profile: Option<String>,
}

fn target(c: &Checker, m: &Mapping) -> Option<Target> {
    match &m.target.kind {
        SchemaKind::Hl7 { version, message } => Some(Target {
            version: version.text.clone(),
            types: vec![message.text.clone()],
            rules: vec![],
            profile: None,
        }),
        SchemaKind::Hl7Profile(p) => {
            let id = c.m.id(Kind::Profile, &p.name)?;
            let prof = c.m.profiles.get(id).node;
            Some(Target {
                version: prof.version.text.clone(),
                types: prof.messages.iter().map(|t| t.text.clone()).collect(),
                rules: prof
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        ProfileItem::Rule(r) => {
                            Some((r.path.segment.clone(), r.path.field, r.usage.text.clone()))
                        }
                        ProfileItem::Segment(_) => None,
                    })
                    .collect(),
                profile: Some(p.name.clone()),
            })
        }
        _ => None,
    }
}

/// What a mapping writes: (segment, field), field `None` for a segment it builds with
/// `for each` (counted as written whatever branch writes it).
fn writes(stmts: &[MapStmt], out: &mut Vec<(String, Option<u32>)>) {
    for s in stmts {
        match &s.kind {
            MapStmtKind::Assign { target, .. } => push_target(target, out),
            MapStmtKind::For { target, body, .. } => {
                push_target(target, out);
                writes(body, out);
            }
            MapStmtKind::When {
                then, otherwise, ..
            } => {
                writes(then, out);
                writes(otherwise.as_deref().unwrap_or_default(), out);
            }
        }
    }
}

fn push_target(t: &MapTarget, out: &mut Vec<(String, Option<u32>)>) {
    match t {
        MapTarget::Hl7(p) => out.push((p.segment.clone(), Some(p.field))),
        MapTarget::Segment(s) => out.push((s.text.clone(), None)),
        MapTarget::Path(_) => {}
    }
}

fn check_mapping(c: &mut Checker, m: &Mapping, name: accord_dsl::Span) {
    let Some(t) = target(c, m) else {
        return;
    };
    let Some(d) = dict::dictionary(&t.version) else {
        return;
    };
    let mut written = vec![];
    writes(&m.body, &mut written);
    let segment_written = |id: &str| written.iter().any(|(s, _)| s == id);
    let field_written = |id: &str, f: u32| {
        written
            .iter()
            .any(|(s, field)| s == id && *field == Some(f))
    };
    let mut missing: Vec<String> = vec![];
    for ty in &t.types {
        let Some(structure) = d.structure_for(ty).and_then(|s| d.structure(s)) else {
            continue;
        };
        segments_missing(structure, &segment_written, true, &mut missing);
    }
    let mut segments: Vec<&str> = written.iter().map(|(s, _)| s.as_str()).collect();
    segments.sort_unstable();
    segments.dedup();
    for seg in segments.into_iter().filter(|s| *s != "MSH") {
        for f in fields_required(d, seg) {
            if !field_written(seg, f) {
                missing.push(format!("{seg}-{f}"));
            }
        }
    }
    let mut unsupported = vec![];
    for (seg, field, usage) in &t.rules {
        let place = format!("{seg}-{field}");
        match usage.as_str() {
            "R" if seg != "MSH" && !field_written(seg, *field) => missing.push(place),
            "X" if field_written(seg, *field) => unsupported.push(place),
            _ => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    missing.retain(|m| seen.insert(m.clone()));
    if !missing.is_empty() || !unsupported.is_empty() {
        let receiver = t
            .profile
            .as_ref()
            .map(|p| format!("profile `{p}`"))
            .unwrap_or_else(|| t.types.join(", "));
        c.push(diag::outbound_incomplete(
            name,
            &m.name.name,
            &receiver,
            &missing,
            &unsupported,
        ));
    }
}

/// The required segments (`min > 0`) of `elements` that are never written; a group
/// counts when it is required or the mapping writes one of its segments. A choice
/// (`ORDER_DETAIL`'s one of OBR, RQD, ...) is left to the validator at run time.
fn segments_missing(
    elements: &[Element],
    written: &dyn Fn(&str) -> bool,
    required: bool,
    out: &mut Vec<String>,
) {
    for e in elements {
        match e {
            Element::Segment { id, min, .. } => {
                if required && *min > 0 && *id != "MSH" && !written(id) {
                    out.push(format!("segment {id}"));
                }
            }
            Element::Group {
                name,
                min,
                children,
                ..
            } => {
                if *name == "CHOICE" {
                    continue;
                }
                let active = (required && *min > 0) || any_written(children, written);
                segments_missing(children, written, active, out);
            }
        }
    }
}

fn any_written(elements: &[Element], written: &dyn Fn(&str) -> bool) -> bool {
    elements.iter().any(|e| match e {
        Element::Segment { id, .. } => written(id),
        Element::Group { children, .. } => any_written(children, written),
    })
}

fn fields_required(d: &Dictionary, segment: &str) -> Vec<u32> {
    d.segment(segment)
        .unwrap_or_default()
        .iter()
        .filter(|f| f.min > 0)
        .map(|f| f.position as u32)
        .collect()
}

/// `code^trigger` of a message type written with or without its structure.
fn trigger_level(t: &str) -> String {
    t.split('^').take(2).collect::<Vec<_>>().join("^")
}

/// The message types `i` carries that its last mapping would send as another trigger of
/// the same message (an A08 sent as the A01 the mapping names), or that its target
/// profile does not name (the production dead-letters them).
fn check_carried_types(c: &mut Checker, i: &Interface) {
    let Some((carried, span)) = i.clauses.iter().find_map(|cl| match &cl.kind {
        IfaceClauseKind::Messages(ts) => Some((ts, cl.span)),
        _ => None,
    }) else {
        return;
    };
    let Some(chain) = i.clauses.iter().find_map(|cl| match &cl.kind {
        IfaceClauseKind::Transform(ms) => Some(ms),
        _ => None,
    }) else {
        return;
    };
    let mapping = |name: &str| {
        c.m.id(Kind::Mapping, name)
            .map(|id| c.m.mappings.get(id).node)
    };
    // Only a chain that starts from the HL7 message has its trigger to carry.
    let starts_hl7 = chain
        .first()
        .and_then(|m| mapping(&m.name))
        .is_some_and(|m| {
            matches!(
                m.source.kind,
                SchemaKind::Hl7 { .. } | SchemaKind::Hl7Profile(_)
            )
        });
    let Some(last) = chain.last().and_then(|m| mapping(&m.name)) else {
        return;
    };
    let Some(t) = target(c, last) else {
        return;
    };
    if !starts_hl7 {
        return;
    }
    let produced: Vec<String> = t.types.iter().map(|t| trigger_level(t)).collect();
    let code = |t: &str| t.split('^').next().unwrap_or("").to_string();
    let mut lost = vec![];
    for ty in carried.iter().map(|t| trigger_level(&t.text)) {
        if produced.contains(&ty) {
            continue;
        }
        let carries = t.profile.is_some() && produced.len() > 1;
        // Another message altogether (ORM in, OML out) is a deliberate conversion.
        if carries || produced.iter().any(|p| code(p) == code(&ty)) {
            lost.push(ty);
        }
    }
    if !lost.is_empty() {
        let carries = t.profile.is_some() && produced.len() > 1;
        c.push(diag::carried_type_lost(
            span,
            &last.name.name,
            &lost,
            &produced,
            carries,
        ));
    }
}
