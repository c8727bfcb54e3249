//! Interface contracts: required clauses and governance fields, known values, each clause
//! once, references that resolve, a transform chain whose types compose, data
//! minimisation (`sends only`), retry policies that end, and ACK settings that can work.

use super::exprs::Scope;
use super::records::check_props;
use super::{Checker, MappingFacts, SchemaTy};
use crate::builtins::{ACK_MODES, INTERFACE_PROPS, PATTERNS, STATUSES};
use crate::diagnostics as diag;
use crate::model::{lit_word, Kind};
use crate::suggest::did_you_mean;
use accord_dsl::ast::{
    Action, ActionKind, IfaceClause, IfaceClauseKind, Interface, KeyExpr, LitKind, Prop,
    RetryCount, SettingValue, SlaItem,
};
use accord_dsl::Span;

pub(super) fn check(c: &mut Checker, facts: &[MappingFacts]) {
    for (id, d) in c.m.interfaces.iter() {
        check_interface(c, id, d.node, d.name.span, facts);
    }
}

fn prop<'a>(i: &'a Interface, key: &str) -> Option<&'a Prop> {
    i.clauses.iter().find_map(|c| match &c.kind {
        IfaceClauseKind::Prop(p) if p.key.name == key => Some(p),
        _ => None,
    })
}

/// The discriminant used to find a clause given twice.
fn clause_key(k: &IfaceClauseKind) -> Option<&'static str> {
    Some(match k {
        IfaceClauseKind::Route { .. } => "from/to",
        IfaceClauseKind::Messages(_) => "messages",
        IfaceClauseKind::Ack { .. } => "ack",
        IfaceClauseKind::Idempotency(_) => "idempotency",
        IfaceClauseKind::Ordering(_) => "ordering",
        IfaceClauseKind::SendsOnly { .. } => "sends only",
        IfaceClauseKind::Sla(_) => "sla",
        IfaceClauseKind::Status { .. } => "status",
        IfaceClauseKind::Transform(_) => "transform",
        IfaceClauseKind::Serves(_) => "serves",
        IfaceClauseKind::Accepts(_) => "accepts",
        IfaceClauseKind::Retain(_) => "retain",
        IfaceClauseKind::Split(_) => "split",
        IfaceClauseKind::Link(_) => "link",
        IfaceClauseKind::Merge(_) => "merge",
        IfaceClauseKind::On { .. } | IfaceClauseKind::Prop(_) => return None,
    })
}

fn check_interface(
    c: &mut Checker,
    id: usize,
    i: &Interface,
    name_span: Span,
    facts: &[MappingFacts],
) {
    let props: Vec<Prop> = i
        .clauses
        .iter()
        .filter_map(|cl| match &cl.kind {
            IfaceClauseKind::Prop(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    check_props(c, &props, INTERFACE_PROPS, "interface");
    let mut seen: Vec<(&str, Span)> = vec![];
    for cl in &i.clauses {
        if let Some(k) = clause_key(&cl.kind) {
            if let Some((_, prev)) = seen.iter().find(|(s, _)| *s == k) {
                c.push(diag::duplicate_clause(cl.span, *prev, k));
            } else {
                seen.push((k, cl.span));
            }
        }
    }
    let has = |k: &str| seen.iter().any(|(s, _)| *s == k);
    if !has("from/to") {
        c.push(diag::missing_clause(
            name_span,
            "interface",
            "from ... to ...",
            "from trakcare to winpath via winpath_mllp",
        ));
    }
    // An API answers HTTP requests: it has no ACK to choose.
    let api = prop(i, "pattern").is_some_and(|p| lit_word(&p.value) == Some("api"));
    if !has("ack") && !api {
        c.push(diag::missing_clause(
            name_span,
            "interface",
            "ack",
            "ack: application within 30s",
        ));
    }
    check_governance(c, i, name_span);

    let pattern = match prop(i, "pattern") {
        None => {
            c.push(diag::missing_clause(
                name_span,
                "interface",
                "pattern",
                "pattern: event",
            ));
            None
        }
        Some(p) => {
            let v = lit_word(&p.value).unwrap_or("");
            if !PATTERNS.contains(&v) {
                c.push(diag::invalid_value(
                    p.value.span,
                    "pattern",
                    v,
                    PATTERNS,
                    did_you_mean(v, PATTERNS.iter().copied()),
                ));
            }
            if v == "request_response" || v == "query" {
                c.push(diag::pattern_not_available(p.value.span, v));
            }
            Some((v.to_string(), p.span))
        }
    };
    if let Some(p) = prop(i, "profile") {
        if let LitKind::Ident(name) = &p.value.kind {
            c.lookup(
                &accord_dsl::ast::Ident {
                    name: name.clone(),
                    span: p.value.span,
                },
                Kind::Profile,
            );
        }
    }

    for cl in &i.clauses {
        if let IfaceClauseKind::Sla(items) = &cl.kind {
            check_sla(c, items, cl.span);
        }
    }

    let mut endpoint_transport: Option<(String, Span)> = None;
    let mut ack: Option<(&str, Option<&accord_dsl::ast::Duration>, Span)> = None;
    for cl in &i.clauses {
        match &cl.kind {
            IfaceClauseKind::Route { from, to, via } => {
                c.lookup(from, Kind::System);
                c.lookup(to, Kind::System);
                if let Some(v) = via {
                    if let Some(eid) = c.lookup(v, Kind::Endpoint) {
                        endpoint_transport = transport_of(c, eid).map(|t| (t, v.span));
                    }
                }
            }
            IfaceClauseKind::Ack { mode, within } => {
                if !ACK_MODES.contains(&mode.name.as_str()) {
                    c.push(diag::invalid_value(
                        mode.span,
                        "ack mode",
                        &mode.name,
                        ACK_MODES,
                        did_you_mean(&mode.name, ACK_MODES.iter().copied()),
                    ));
                }
                ack = Some((mode.name.as_str(), within.as_ref(), cl.span));
            }
            IfaceClauseKind::Status { status, sunset } => {
                if !STATUSES.contains(&status.name.as_str()) {
                    c.push(diag::invalid_value(
                        status.span,
                        "status",
                        &status.name,
                        STATUSES,
                        did_you_mean(&status.name, STATUSES.iter().copied()),
                    ));
                }
                if status.name == "deprecated" && sunset.is_none() {
                    c.push(diag::deprecated_without_sunset(cl.span));
                }
                if let Some(s) = sunset {
                    let valid = check_date(c, &s.text, s.span);
                    if valid && status.name != "retired" && s.text.as_str() < c.opts.today.as_str()
                    {
                        c.push(diag::sunset_passed(s.span, &s.text, &c.opts.today));
                    }
                }
            }
            IfaceClauseKind::On {
                classes,
                actions,
                then,
            } => {
                for a in actions.iter().chain(then) {
                    check_action(c, a);
                }
                if let Some(class) = classes.iter().find(|t| t.text == "invalid") {
                    check_on_invalid(c, i, class.span, actions.iter().chain(then), facts);
                }
            }
            IfaceClauseKind::Idempotency(keys) => keys.iter().for_each(|k| check_key(c, id, k)),
            IfaceClauseKind::Ordering(keys) => keys.iter().for_each(|k| check_key(c, id, k)),
            _ => {}
        }
    }
    check_ack(c, i, ack, pattern.as_ref(), endpoint_transport.as_ref());
    check_transforms(c, i, facts);
    let served = check_serves(c, i, name_span, pattern.as_ref());
    check_accepts(c, i, pattern.as_ref(), &served);
}

fn check_governance(c: &mut Checker, i: &Interface, name_span: Span) {
    for (key, example) in [
        ("owner", "owner: \"Integration Team\""),
        ("purpose", "purpose: \"...\""),
        ("review", "review: 2027-03-01"),
    ] {
        if prop(i, key).is_none() {
            c.push(diag::missing_governance(name_span, key, example));
        }
    }
    if let Some(p) = prop(i, "review") {
        match &p.value.kind {
            LitKind::Date(d) => {
                if check_date(c, d, p.value.span) && d.as_str() < c.opts.today.as_str() {
                    c.push(diag::review_overdue(p.value.span, d, &c.opts.today));
                }
            }
            _ => c.push(diag::invalid_date(p.value.span, &p.value_text())),
        }
    }
}

trait ValueText {
    fn value_text(&self) -> String;
}

impl ValueText for Prop {
    fn value_text(&self) -> String {
        match &self.value.kind {
            LitKind::Str(s) => s.value.clone(),
            LitKind::Int(n) => n.to_string(),
            LitKind::Decimal(s) | LitKind::Date(s) | LitKind::Semver(s) | LitKind::Ident(s) => {
                s.clone()
            }
            LitKind::Bool(b) => b.to_string(),
            LitKind::Duration(d) => d.text.clone(),
        }
    }
}

/// A real calendar date in `YYYY-MM-DD` form.
fn check_date(c: &mut Checker, d: &str, span: Span) -> bool {
    let parts: Vec<u32> = d.split('-').filter_map(|p| p.parse().ok()).collect();
    let valid = match parts.as_slice() {
        [y, m, day] => {
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let days = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            (1..=12).contains(m) && *day >= 1 && *day <= days[(*m - 1) as usize]
        }
        _ => false,
    };
    if !valid {
        c.push(diag::invalid_date(span, d));
    }
    valid
}

/// Retries end (or say `forever`) and `send` names an interface.
/// `on invalid` decides what happens to an outbound HL7 v2 message that breaks its
/// receiver's profile or structure: it is sent with a warning or dead-lettered, with
/// alerts. Mapping it again would give the same message, so nothing is retried.
fn check_on_invalid<'a>(
    c: &mut Checker,
    i: &Interface,
    class: Span,
    actions: impl Iterator<Item = &'a Action>,
    facts: &[MappingFacts],
) {
    for a in actions {
        let word = match &a.kind {
            ActionKind::Retry { .. } => Some("retry"),
            ActionKind::Send(_) => Some("send"),
            ActionKind::Simple(t) if matches!(t.text.as_str(), "complete" | "suspend") => {
                Some(t.text.as_str())
            }
            _ => None,
        };
        if let Some(word) = word {
            c.push(diag::invalid_handling(a.span, word));
        }
    }
    let last = i.clauses.iter().find_map(|cl| match &cl.kind {
        IfaceClauseKind::Transform(ms) => ms.last(),
        _ => None,
    });
    let output = last
        .and_then(|m| c.m.id(Kind::Mapping, &m.name))
        .and_then(|id| facts.get(id))
        .map(|f| &f.target);
    if matches!(output, Some(SchemaTy::Fhir(_) | SchemaTy::Record(_))) {
        c.push(diag::invalid_handling(class, "invalid"));
    }
}

/// Each SLA kind once, and a percentile the production can compute.
fn check_sla(c: &mut Checker, items: &[SlaItem], clause: Span) {
    let mut seen: Vec<(&str, Span)> = vec![];
    for item in items {
        let (kind, span) = match item {
            SlaItem::Delivered { percentile, .. } => {
                let n: Option<u32> = percentile.text.trim_start_matches('p').parse().ok();
                if !n.is_some_and(|n| (1..=100).contains(&n)) {
                    c.push(diag::sla_percentile(percentile.span, &percentile.text));
                }
                ("sla delivered", percentile.span)
            }
            SlaItem::Backlog(_) => ("sla backlog", clause),
            SlaItem::Quiet(d) => ("sla quiet", d.span),
        };
        match seen.iter().find(|(k, _)| *k == kind) {
            Some((_, prev)) => c.push(diag::duplicate_clause(span, *prev, kind)),
            None => seen.push((kind, span)),
        }
    }
}

pub(super) fn check_action(c: &mut Checker, a: &Action) {
    match &a.kind {
        ActionKind::Retry {
            count: RetryCount::Unbounded,
            ..
        } => c.push(diag::unbounded_retry(a.span)),
        ActionKind::Send(i) => {
            c.lookup(i, Kind::Interface);
        }
        _ => {}
    }
}

/// A key reads the inbound message (an HL7 path, checked against the interface's
/// profile or first transform) or a canonical record field.
pub(super) fn check_key(c: &mut Checker, interface: usize, k: &KeyExpr) {
    match k {
        KeyExpr::Path(p) => {
            let scope = Scope {
                record_heads: true,
                stored: false,
                ..Scope::default()
            };
            c.type_path(p, &scope, &mut vec![]);
        }
        KeyExpr::Hl7(p) => {
            if let Some(ctx) = c.hl7_ctx_for_interface(interface) {
                c.check_hl7_path(&ctx, p);
            }
        }
    }
}

fn transport_of(c: &Checker, endpoint: usize) -> Option<String> {
    let e = c.m.endpoints.get(endpoint).node;
    let s = e.settings.iter().find(|s| s.key.name == "transport")?;
    match &s.values.first()?.value {
        SettingValue::Lit(l) => lit_word(l).map(str::to_string),
        _ => None,
    }
}

/// An application ACK needs a timeout, a conversation (not a batch) and a transport that
/// carries replies; `ack: never` has no reply to handle.
fn check_ack(
    c: &mut Checker,
    i: &Interface,
    ack: Option<(&str, Option<&accord_dsl::ast::Duration>, Span)>,
    pattern: Option<&(String, Span)>,
    transport: Option<&(String, Span)>,
) {
    let Some((mode, within, span)) = ack else {
        return;
    };
    if mode == "application" {
        if within.is_none() {
            c.push(diag::application_ack_impossible(
                span,
                None,
                "an application ACK needs a timeout",
                "add `within 30s` (how long to wait for the downstream outcome)",
            ));
        }
        if let Some((p, pspan)) = pattern {
            if p == "batch" || p == "api" {
                c.push(diag::application_ack_impossible(
                    span,
                    Some((*pspan, format!("pattern `{p}` has no per-message reply"))),
                    "an application ACK cannot be delivered on this pattern",
                    "use `ack: commit` (or `never`) for batch and API interfaces",
                ));
            }
        }
        if let Some((t, tspan)) = transport {
            if t == "file" || t == "sftp" {
                c.push(diag::application_ack_impossible(
                    span,
                    Some((
                        *tspan,
                        format!("this endpoint's transport is `{t}`, which carries no reply"),
                    )),
                    "an application ACK cannot be delivered over this transport",
                    "use `ack: never` for file transports, or deliver over MLLP",
                ));
            }
        }
    }
    if mode == "never" {
        for cl in &i.clauses {
            if let IfaceClauseKind::On { classes, .. } = &cl.kind {
                for class in classes {
                    if !matches!(class.text.as_str(), "timeout" | "refused" | "invalid") {
                        c.push(diag::reply_handler_never_used(class, span));
                    }
                }
            }
        }
    }
    let mut handled: Vec<&accord_dsl::ast::Token> = vec![];
    for cl in &i.clauses {
        if let IfaceClauseKind::On { classes, .. } = &cl.kind {
            for class in classes {
                if let Some(prev) = handled.iter().find(|p| p.text == class.text) {
                    c.push(diag::duplicate_clause(
                        class.span,
                        prev.span,
                        &format!("on {}", class.text),
                    ));
                } else {
                    handled.push(class);
                }
            }
        }
    }
}

/// An API interface (`pattern: api`) serves FHIR resources, each made by a mapping from
/// a record the ownership matrix governs (the records the production stores); only an
/// API interface serves.
fn check_serves(
    c: &mut Checker,
    i: &Interface,
    name_span: Span,
    pattern: Option<&(String, Span)>,
) -> Vec<(String, String)> {
    let serves = i.clauses.iter().find_map(|cl| match &cl.kind {
        IfaceClauseKind::Serves(ms) => Some((ms, cl.span)),
        _ => None,
    });
    let is_api = pattern.is_some_and(|(p, _)| p == "api");
    let (maps, span) = match (serves, is_api) {
        (None, true) => {
            c.push(diag::api_without_serves(name_span));
            return vec![];
        }
        (None, false) => return vec![],
        (Some((_, span)), false) => {
            c.push(diag::serves_not_api(span, pattern.map(|(_, s)| *s)));
            return vec![];
        }
        (Some(x), true) => x,
    };
    let _ = span;
    let governed: Vec<String> =
        c.m.ownerships
            .iter()
            .map(|(o, _, _)| o.record.name.clone())
            .collect();
    let mut resources: Vec<String> = vec![];
    let mut served = vec![];
    for m in maps {
        let Some(id) = c.lookup(m, Kind::Mapping) else {
            continue;
        };
        let decl = c.m.mappings.get(id).node;
        match (&decl.source.kind, &decl.target.kind) {
            (accord_dsl::ast::SchemaKind::Record(r), accord_dsl::ast::SchemaKind::Fhir(res)) => {
                if !governed.contains(&r.name) {
                    c.push(diag::served_record_not_stored(m, &r.name));
                }
                if resources.contains(&res.name) {
                    c.push(diag::served_twice(m, &res.name));
                }
                resources.push(res.name.clone());
                served.push((res.name.clone(), r.name.clone()));
            }
            _ => c.push(diag::served_not_record_to_fhir(m)),
        }
    }
    served
}

/// An API interface's write-back (`accepts:`): each mapping reads a FHIR resource into a
/// governed record that the interface also serves (the answer to an update is the
/// resource as stored), one per resource type.
fn check_accepts(
    c: &mut Checker,
    i: &Interface,
    pattern: Option<&(String, Span)>,
    served: &[(String, String)],
) {
    let Some((maps, span)) = i.clauses.iter().find_map(|cl| match &cl.kind {
        IfaceClauseKind::Accepts(ms) => Some((ms, cl.span)),
        _ => None,
    }) else {
        return;
    };
    if pattern.is_none_or(|(p, _)| p != "api") {
        c.push(diag::serves_not_api(span, pattern.map(|(_, s)| *s)));
        return;
    }
    let mut seen: Vec<String> = vec![];
    for m in maps {
        let Some(id) = c.lookup(m, Kind::Mapping) else {
            continue;
        };
        let decl = c.m.mappings.get(id).node;
        match (&decl.source.kind, &decl.target.kind) {
            (accord_dsl::ast::SchemaKind::Fhir(res), accord_dsl::ast::SchemaKind::Record(r)) => {
                let stored =
                    c.m.ownerships
                        .iter()
                        .any(|(o, _, _)| o.record.name == r.name);
                if !stored {
                    // A create: journalled, then sent on by the interface's routes.
                    if !super::api::routed(c, &i.name.name).contains(&res.name) {
                        c.push(diag::accepted_neither_stored_nor_routed(
                            m, &res.name, &r.name,
                        ));
                    }
                } else if !served
                    .iter()
                    .any(|(sr, rec)| sr == &res.name && rec == &r.name)
                {
                    c.push(diag::accepted_not_served(m, &res.name, &r.name));
                }
                if seen.contains(&res.name) {
                    c.push(diag::served_twice(m, &res.name));
                }
                seen.push(res.name.clone());
            }
            _ => c.push(diag::accepted_not_fhir_to_record(m)),
        }
    }
}

/// The transforms compose (each one's output is the next one's input); the first reads
/// the inbound message; only `sends only` fields leave in the outbound payload.
fn check_transforms(c: &mut Checker, i: &Interface, facts: &[MappingFacts]) {
    let Some(cl) = i
        .clauses
        .iter()
        .find(|cl| matches!(cl.kind, IfaceClauseKind::Transform(_)))
    else {
        return;
    };
    let IfaceClauseKind::Transform(maps) = &cl.kind else {
        return;
    };
    let ids: Vec<Option<usize>> = maps.iter().map(|m| c.lookup(m, Kind::Mapping)).collect();
    if let (Some(Some(first)), Some(name)) = (ids.first(), maps.first()) {
        // Interfaces receive HL7 v2 (MLLP, drop folders), or what an API's clients create
        // when an API route feeds them: the first transform reads that.
        let fed = super::api::fed(c, &i.name.name);
        let why = match &facts[*first].source {
            SchemaTy::Fhir(res) if fed.contains(res) => None,
            SchemaTy::Fhir(_) | SchemaTy::Record(_) if fed.is_empty() => Some(format!(
                "the first transform must read the inbound message (HL7 v2), but `{}` reads {}",
                name.name,
                schema_name(c, &facts[*first].source)
            )),
            SchemaTy::Unknown => None,
            SchemaTy::Hl7 { .. } if fed.is_empty() => None,
            other => Some(format!(
                "an API route sends this interface the FHIR {} its clients create, but `{}` reads {}",
                fed.join(" or "),
                name.name,
                schema_name(c, other)
            )),
        };
        if let Some(why) = why {
            c.push(diag::transform_chain_mismatch(name.span, None, &why));
        }
    }
    for w in 0..maps.len().saturating_sub(1) {
        let (Some(a), Some(b)) = (ids[w], ids[w + 1]) else {
            continue;
        };
        let (out, inp) = (&facts[a].target, &facts[b].source);
        let composes = match (out, inp) {
            (SchemaTy::Record(x), SchemaTy::Record(y)) => x == y,
            (SchemaTy::Hl7 { .. }, SchemaTy::Hl7 { .. })
            | (SchemaTy::Fhir(_), SchemaTy::Fhir(_)) => true,
            (SchemaTy::Unknown, _) | (_, SchemaTy::Unknown) => true,
            _ => false,
        };
        if !composes {
            let (o, n) = (schema_name(c, out), schema_name(c, inp));
            c.push(diag::transform_chain_mismatch(
                maps[w + 1].span,
                Some(maps[w].span),
                &format!(
                    "`{}` produces {o} but `{}` reads {n}",
                    maps[w].name,
                    maps[w + 1].name
                ),
            ));
        }
    }
    check_sends_only(c, i, &ids, facts);
}

fn schema_name(c: &Checker, s: &SchemaTy) -> String {
    match s {
        SchemaTy::Record(r) => format!("the record {}", c.record_name(*r)),
        SchemaTy::Hl7 { .. } => "an HL7 v2 message".into(),
        SchemaTy::Fhir(r) => format!("the FHIR resource {r}"),
        SchemaTy::Unknown => "an unknown schema".into(),
    }
}

fn check_sends_only(c: &mut Checker, i: &Interface, ids: &[Option<usize>], facts: &[MappingFacts]) {
    let Some((clause, record, fields)) =
        i.clauses
            .iter()
            .find_map(|cl: &IfaceClause| match &cl.kind {
                IfaceClauseKind::SendsOnly { record, fields } => Some((cl, record, fields)),
                _ => None,
            })
    else {
        return;
    };
    let Some(rid) = c.lookup(record, Kind::Record) else {
        return;
    };
    for f in fields {
        if c.m.field(rid, &f.name).is_none() {
            let names: Vec<&str> = c.m.record_fields[rid].iter().map(|x| x.name).collect();
            c.push(diag::unknown_field(
                f,
                &record.name,
                did_you_mean(&f.name, names),
            ));
        }
    }
    let allowed: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    for id in ids.iter().flatten() {
        let f = &facts[*id];
        if f.source != SchemaTy::Record(rid) || matches!(f.target, SchemaTy::Record(_)) {
            continue;
        }
        let mut reported: Vec<&str> = vec![];
        for r in &f.reads {
            if r.record == rid
                && !allowed.contains(&r.field.as_str())
                && !reported.contains(&r.field.as_str())
            {
                reported.push(&r.field);
                c.push(diag::sends_outside_minimum(
                    r.span,
                    &record.name,
                    &r.field,
                    clause.span,
                ));
            }
        }
    }
}
