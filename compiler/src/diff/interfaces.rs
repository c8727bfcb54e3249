//! Changes to interface contracts and what wires them: status, direction, endpoint,
//! messages, ACK and reply handling, keys, data minimisation, SLA, retention, transforms,
//! the routing rules that feed each interface, flows and systems.

use super::Changes;
use crate::english;
use crate::ir::{self, Estate, Interface, RouteTarget, Sla};
use crate::ir_text;

fn subject(i: &Interface) -> String {
    format!("interface {}", i.name)
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(" ")
    }
}

fn ack_text(a: &ir::Ack) -> String {
    match a.timeout_ms {
        Some(t) => format!("{} within {}", a.mode, english::duration(t)),
        None => a.mode.clone(),
    }
}

fn keys_text(keys: &[ir::Key]) -> String {
    let k: Vec<String> = keys.iter().map(english::key).collect();
    if k.is_empty() {
        "(none)".into()
    } else {
        k.join(", ")
    }
}

/// The endpoint settings that say where the connection goes.
const ADDRESS_KEYS: [&str; 5] = ["host", "port", "path", "url", "tls"];

fn setting_text(s: Option<&ir::Setting>) -> String {
    let Some(s) = s else {
        return "(unset)".into();
    };
    s.values
        .iter()
        .map(|v| {
            let value = ir_text::setting_value(&v.value);
            match &v.env {
                Some(e) => format!("{value} in {e}"),
                None => value,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn endpoint(old: &Estate, new: &Estate, o: &Interface, n: &Interface, out: &mut Changes) {
    let me = vec![n.name.clone()];
    if o.endpoint != n.endpoint {
        out.push(
            "endpoint-changed",
            subject(n),
            format!(
                "endpoint {} -> {}",
                o.endpoint.as_deref().unwrap_or("(none)"),
                n.endpoint.as_deref().unwrap_or("(none)")
            ),
            me,
        );
        return;
    }
    let Some(name) = &n.endpoint else { return };
    let (Some(oe), Some(ne)) = (
        old.endpoints.iter().find(|e| &e.name == name),
        new.endpoints.iter().find(|e| &e.name == name),
    ) else {
        return;
    };
    if oe.transport != ne.transport {
        out.push(
            "endpoint-changed",
            subject(n),
            format!(
                "endpoint {name} transport {} -> {}",
                oe.transport, ne.transport
            ),
            me.clone(),
        );
    }
    let mut keys: Vec<&str> = oe
        .settings
        .iter()
        .chain(&ne.settings)
        .map(|s| s.key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        let (a, b) = (
            oe.settings.iter().find(|s| s.key == k),
            ne.settings.iter().find(|s| s.key == k),
        );
        if a != b {
            let rule = if ADDRESS_KEYS.contains(&k) {
                "endpoint-changed"
            } else {
                "endpoint-setting-changed"
            };
            out.push(
                rule,
                subject(n),
                format!(
                    "endpoint {name} {k}: {} -> {}",
                    setting_text(a),
                    setting_text(b)
                ),
                me.clone(),
            );
        }
    }
}

fn status(o: &Interface, n: &Interface, out: &mut Changes) {
    if o.status == n.status {
        return;
    }
    let rule = match n.status.as_str() {
        "retired" => "interface-retired",
        "deprecated" => "interface-deprecated",
        _ => "interface-reinstated",
    };
    out.push(
        rule,
        subject(n),
        format!("status {} -> {}", o.status, n.status),
        vec![n.name.clone()],
    );
}

fn messages(o: &Interface, n: &Interface, out: &mut Changes) {
    for m in o.messages.iter().filter(|m| !n.messages.contains(m)) {
        out.push(
            "message-type-removed",
            subject(n),
            format!("message type {m} removed"),
            vec![n.name.clone()],
        );
    }
    for m in n.messages.iter().filter(|m| !o.messages.contains(m)) {
        out.push(
            "message-type-added",
            subject(n),
            format!("message type {m} added"),
            vec![n.name.clone()],
        );
    }
}

fn replies(o: &Interface, n: &Interface, out: &mut Changes) {
    let classes = |i: &Interface| -> Vec<String> {
        let mut c: Vec<String> = i.replies.iter().flat_map(|p| p.classes.clone()).collect();
        c.sort();
        c.dedup();
        c
    };
    let mut all = classes(o);
    all.extend(classes(n));
    all.sort();
    all.dedup();
    let policy = |i: &Interface, class: &str| -> String {
        match i
            .replies
            .iter()
            .find(|p| p.classes.iter().any(|c| c == class))
        {
            Some(p) => {
                let mut single = p.clone();
                single.classes = vec![class.to_string()];
                english::reply_policy(&single)
            }
            None => format!("(the engine's default for {class})"),
        }
    };
    for class in all {
        let (a, b) = (policy(o, &class), policy(n, &class));
        if a != b {
            out.push(
                "reply-handling-changed",
                subject(n),
                format!("{class}: {a} -> {b}"),
                vec![n.name.clone()],
            );
        }
    }
}

fn sends_only(o: &Interface, n: &Interface, out: &mut Changes) {
    let me = vec![n.name.clone()];
    match (&o.sends_only, &n.sends_only) {
        (None, None) => {}
        (None, Some(s)) => out.push(
            "sends-only-narrowed",
            subject(n),
            format!("now sends only {}.{{{}}}", s.record, s.fields.join(" ")),
            me,
        ),
        (Some(s), None) => out.push(
            "sends-only-widened",
            subject(n),
            format!(
                "no longer limited to {}.{{{}}}",
                s.record,
                s.fields.join(" ")
            ),
            me,
        ),
        (Some(a), Some(b)) => {
            for f in a.fields.iter().filter(|f| !b.fields.contains(f)) {
                out.push(
                    "sends-only-narrowed",
                    subject(n),
                    format!("no longer sends {}.{f}", a.record),
                    me.clone(),
                );
            }
            for f in b.fields.iter().filter(|f| !a.fields.contains(f)) {
                out.push(
                    "sends-only-widened",
                    subject(n),
                    format!("now also sends {}.{f}", b.record),
                    me.clone(),
                );
            }
        }
    }
}

fn sla(o: &Interface, n: &Interface, out: &mut Changes) {
    let delivered = |i: &Interface| {
        i.sla.iter().find_map(|s| match s {
            Sla::Delivered {
                percentile,
                under_ms,
            } => Some((*percentile, *under_ms)),
            _ => None,
        })
    };
    let backlog = |i: &Interface| {
        i.sla.iter().find_map(|s| match s {
            Sla::Backlog { under } => Some(*under),
            _ => None,
        })
    };
    let me = vec![n.name.clone()];
    let text = |s: Option<Sla>| {
        s.map(|s| english::sla(&s))
            .unwrap_or_else(|| "(none)".into())
    };
    let (od, nd) = (delivered(o), delivered(n));
    if od != nd {
        // Looser: no promise now, a longer time, or a lower percentile.
        let looser = match (od, nd) {
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((op, ot)), Some((np, nt))) => nt > ot || np < op,
            (None, None) => false,
        };
        let d = |x: Option<(u32, u64)>| {
            text(x.map(|(percentile, under_ms)| Sla::Delivered {
                percentile,
                under_ms,
            }))
        };
        out.push(
            if looser {
                "sla-loosened"
            } else {
                "sla-tightened"
            },
            subject(n),
            format!("SLA {} -> {}", d(od), d(nd)),
            me.clone(),
        );
    }
    let (ob, nb) = (backlog(o), backlog(n));
    if ob != nb {
        let looser = match (ob, nb) {
            (Some(_), None) => true,
            (Some(a), Some(b)) => b > a,
            _ => false,
        };
        let b = |x: Option<u32>| text(x.map(|under| Sla::Backlog { under }));
        out.push(
            if looser {
                "sla-loosened"
            } else {
                "sla-tightened"
            },
            subject(n),
            format!("SLA {} -> {}", b(ob), b(nb)),
            me.clone(),
        );
    }
    let quiet = |i: &Interface| {
        i.sla.iter().find_map(|s| match s {
            Sla::Quiet { under_ms } => Some(*under_ms),
            _ => None,
        })
    };
    let (oq, nq) = (quiet(o), quiet(n));
    if oq != nq {
        let looser = match (oq, nq) {
            (Some(_), None) => true,
            (Some(a), Some(b)) => b > a,
            _ => false,
        };
        let q = |x: Option<u64>| text(x.map(|under_ms| Sla::Quiet { under_ms }));
        out.push(
            if looser {
                "sla-loosened"
            } else {
                "sla-tightened"
            },
            subject(n),
            format!("SLA {} -> {}", q(oq), q(nq)),
            me,
        );
    }
}

fn retention(o: &Interface, n: &Interface, out: &mut Changes) {
    if o.retain_ms == n.retain_ms {
        return;
    }
    // No `retain` keeps messages for ever.
    let shorter = match (o.retain_ms, n.retain_ms) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => b < a,
        _ => false,
    };
    let t = |ms: Option<u64>| {
        ms.map(english::duration)
            .unwrap_or_else(|| "for ever".into())
    };
    out.push(
        if shorter {
            "retention-shortened"
        } else {
            "retention-lengthened"
        },
        subject(n),
        format!("retain {} -> {}", t(o.retain_ms), t(n.retain_ms)),
        vec![n.name.clone()],
    );
}

fn text_fields(o: &Interface, n: &Interface, out: &mut Changes) {
    let me = vec![n.name.clone()];
    for (what, a, b) in [
        ("owner", &o.owner, &n.owner),
        ("review", &o.review, &n.review),
    ] {
        if a != b {
            out.push(
                "governance-changed",
                subject(n),
                format!("{what} {a} -> {b}"),
                me.clone(),
            );
        }
    }
    if o.sunset != n.sunset {
        out.push(
            "governance-changed",
            subject(n),
            format!(
                "sunset {} -> {}",
                o.sunset.as_deref().unwrap_or("(none)"),
                n.sunset.as_deref().unwrap_or("(none)")
            ),
            me.clone(),
        );
    }
    for (what, a, b) in [
        ("purpose", o.purpose.clone(), n.purpose.clone()),
        ("doc comment", o.docs.clone(), n.docs.clone()),
        (
            "clinical impact",
            o.clinical_impact.clone().unwrap_or_default(),
            n.clinical_impact.clone().unwrap_or_default(),
        ),
    ] {
        if a != b {
            out.push(
                "docs-changed",
                subject(n),
                format!("{what} reworded"),
                me.clone(),
            );
        }
    }
}

fn one(old: &Estate, new: &Estate, o: &Interface, n: &Interface, out: &mut Changes) {
    let me = || vec![n.name.clone()];
    status(o, n, out);
    if (&o.from, &o.to) != (&n.from, &n.to) {
        out.push(
            "direction-changed",
            subject(n),
            format!("{} -> {} is now {} -> {}", o.from, o.to, n.from, n.to),
            me(),
        );
    }
    if o.pattern != n.pattern {
        out.push(
            "pattern-changed",
            subject(n),
            format!("pattern {} -> {}", o.pattern, n.pattern),
            me(),
        );
    }
    endpoint(old, new, o, n, out);
    messages(o, n, out);
    if o.profile != n.profile {
        let p = |x: &Option<String>| x.clone().unwrap_or_else(|| "(none)".into());
        out.push(
            "profile-changed",
            subject(n),
            format!("profile {} -> {}", p(&o.profile), p(&n.profile)),
            me(),
        );
    }
    if o.ack != n.ack {
        out.push(
            "ack-changed",
            subject(n),
            format!("ACK {} -> {}", ack_text(&o.ack), ack_text(&n.ack)),
            me(),
        );
    }
    replies(o, n, out);
    if o.idempotency != n.idempotency {
        out.push(
            "idempotency-key-changed",
            subject(n),
            format!(
                "idempotency {} -> {}",
                keys_text(&o.idempotency),
                keys_text(&n.idempotency)
            ),
            me(),
        );
    }
    if (&o.ordering, &o.ordering_also) != (&n.ordering, &n.ordering_also) {
        let k = |i: &Interface| {
            let keys: Vec<String> = i
                .ordering
                .iter()
                .chain(&i.ordering_also)
                .map(english::key)
                .collect();
            if keys.is_empty() {
                "(none)".to_string()
            } else {
                keys.join(", ")
            }
        };
        out.push(
            "ordering-key-changed",
            subject(n),
            format!("ordering per {} -> per {}", k(o), k(n)),
            me(),
        );
    }
    sends_only(o, n, out);
    sla(o, n, out);
    retention(o, n, out);
    if o.link != n.link {
        let l = |i: &Interface| {
            i.link
                .as_ref()
                .map(english::link)
                .unwrap_or_else(|| "no links".into())
        };
        let rule = if o.link.is_none() {
            "link-added"
        } else {
            "link-changed"
        };
        out.push(rule, subject(n), format!("{} -> {}", l(o), l(n)), me());
    }
    if o.split != n.split {
        let s = |i: &Interface| {
            i.split
                .as_ref()
                .map(|seg| format!("split per {seg}"))
                .unwrap_or_else(|| "whole messages".into())
        };
        out.push(
            "split-changed",
            subject(n),
            format!("{} -> {}", s(o), s(n)),
            me(),
        );
    }
    if o.merge != n.merge {
        let m = |i: &Interface| {
            i.merge
                .as_ref()
                .map(english::merge)
                .unwrap_or_else(|| "no merges".into())
        };
        out.push(
            "merge-changed",
            subject(n),
            format!("{} -> {}", m(o), m(n)),
            me(),
        );
    }
    for m in o.serves.iter().filter(|m| !n.serves.contains(m)) {
        out.push(
            "api-resource-removed",
            subject(n),
            format!("no longer serves {m}"),
            me(),
        );
    }
    for m in n.serves.iter().filter(|m| !o.serves.contains(m)) {
        out.push(
            "api-resource-added",
            subject(n),
            format!("now serves {m}"),
            me(),
        );
    }
    for m in o.accepts.iter().filter(|m| !n.accepts.contains(m)) {
        out.push(
            "api-update-removed",
            subject(n),
            format!("no longer accepts {m}"),
            me(),
        );
    }
    for m in n.accepts.iter().filter(|m| !o.accepts.contains(m)) {
        out.push(
            "api-update-added",
            subject(n),
            format!("now accepts {m}"),
            me(),
        );
    }
    if o.transforms != n.transforms {
        out.push(
            "transforms-changed",
            subject(n),
            format!(
                "transform {} -> {}",
                list(&o.transforms),
                list(&n.transforms)
            ),
            me(),
        );
    }
    text_fields(o, n, out);
}

/// The routing rules that send to `iface`, as comparable text.
fn feeding_rules(estate: &Estate, iface: &str) -> Vec<String> {
    let mut out = vec![];
    for r in &estate.routes {
        for rule in &r.rules {
            if rule
                .targets
                .iter()
                .any(|t| matches!(t, RouteTarget::Interface(n) if n == iface))
            {
                let messages = if rule.otherwise {
                    "otherwise".to_string()
                } else if rule.messages.is_empty() {
                    "any message".to_string()
                } else {
                    rule.messages.join(" | ")
                };
                let when = rule
                    .when
                    .as_ref()
                    .map(|w| format!(" when {}", ir_text::expr(w)))
                    .unwrap_or_default();
                out.push(format!(
                    "route {} from {}: {messages}{when}",
                    r.name, r.from
                ));
            }
        }
    }
    out
}

fn flows(old: &Estate, new: &Estate, out: &mut Changes) {
    for o in &old.flows {
        let affected = |f: &ir::Flow| vec![f.start.clone(), f.wait_for.clone()];
        match new.flows.iter().find(|f| f.name == o.name) {
            None => out.push(
                "flow-removed",
                format!("flow {}", o.name),
                format!("{} no longer waits for {}", o.start, o.wait_for),
                surviving(new, affected(o)),
            ),
            Some(n) => {
                let shape = |f: &ir::Flow| {
                    (
                        f.start.clone(),
                        english::key(&f.correlate),
                        f.wait_for.clone(),
                        f.within_ms,
                        f.on_timeout.clone(),
                        f.on_reply.clone(),
                        f.cancel_when.clone(),
                        f.on_cancel.clone(),
                        f.hold_early_ms,
                    )
                };
                if shape(o) != shape(n) {
                    out.push(
                        "flow-changed",
                        format!("flow {}", n.name),
                        format!(
                            "{} waits for {} within {} -> {} waits for {} within {}",
                            o.start,
                            o.wait_for,
                            english::duration(o.within_ms),
                            n.start,
                            n.wait_for,
                            english::duration(n.within_ms)
                        ),
                        surviving(new, affected(n)),
                    );
                }
                if o.docs != n.docs {
                    out.docs(format!("flow {}", n.name));
                }
            }
        }
    }
    for n in new
        .flows
        .iter()
        .filter(|f| !old.flows.iter().any(|o| o.name == f.name))
    {
        out.push(
            "flow-added",
            format!("flow {}", n.name),
            format!(
                "{} waits for {} within {}",
                n.start,
                n.wait_for,
                english::duration(n.within_ms)
            ),
            surviving(new, vec![n.start.clone(), n.wait_for.clone()]),
        );
    }
}

/// The names in `names` that are interfaces of `new`.
pub(super) fn surviving(new: &Estate, names: Vec<String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| new.interfaces.iter().any(|i| &i.name == n))
        .collect()
}

fn systems(old: &Estate, new: &Estate, out: &mut Changes) {
    for o in &old.systems {
        match new.systems.iter().find(|s| s.name == o.name) {
            None => out.push(
                "system-removed",
                format!("system {}", o.name),
                "removed".into(),
                vec![],
            ),
            Some(n) if (&o.docs, &o.properties) != (&n.docs, &n.properties) => out.push(
                "docs-changed",
                format!("system {}", n.name),
                "description or properties reworded".into(),
                vec![],
            ),
            Some(_) => {}
        }
    }
    for n in new
        .systems
        .iter()
        .filter(|s| !old.systems.iter().any(|o| o.name == s.name))
    {
        out.added("system-added", format!("system {}", n.name));
    }
}

pub fn diff(old: &Estate, new: &Estate, out: &mut Changes) {
    for o in &old.interfaces {
        match new.interfaces.iter().find(|n| n.name == o.name) {
            None => out.push(
                "interface-removed",
                subject(o),
                format!("{} -> {} removed", o.from, o.to),
                vec![],
            ),
            Some(n) => one(old, new, o, n, out),
        }
    }
    for n in new
        .interfaces
        .iter()
        .filter(|n| !old.interfaces.iter().any(|o| o.name == n.name))
    {
        out.push(
            "interface-added",
            subject(n),
            format!("{} -> {} added at version {}", n.from, n.to, n.version),
            vec![],
        );
    }
    for n in &new.interfaces {
        if !old.interfaces.iter().any(|o| o.name == n.name) {
            continue;
        }
        let (a, b) = (feeding_rules(old, &n.name), feeding_rules(new, &n.name));
        for r in a.iter().filter(|r| !b.contains(r)) {
            out.push(
                "route-narrowed",
                subject(n),
                format!("no longer sent by {r}"),
                vec![n.name.clone()],
            );
        }
        for r in b.iter().filter(|r| !a.contains(r)) {
            out.push(
                "route-widened",
                subject(n),
                format!("now also sent by {r}"),
                vec![n.name.clone()],
            );
        }
    }
    flows(old, new, out);
    systems(old, new, out);
    if old.timezone != new.timezone {
        let zone = |z: &Option<String>| z.clone().unwrap_or_else(|| "none".into());
        out.push(
            "timezone-changed",
            "estate".into(),
            format!(
                "local times were read in {}, now in {}",
                zone(&old.timezone),
                zone(&new.timezone)
            ),
            vec![],
        );
    }
    if old.docs != new.docs {
        out.docs("estate".into());
    }
}
