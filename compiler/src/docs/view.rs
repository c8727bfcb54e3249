//! The site's pages as plain data (serde), built from the IR and the few facts the CLI
//! gathers (today's date, `accord check` warnings, the test messages' text). Templates only
//! lay these out, so every decision (review due, plain-English policies, shared records)
//! is made, and tested, here.

use super::mapping_table::{self, Row};
use super::matrix::{self, Grid};
use crate::english;
use crate::ir::{self, CodemapDefault, Estate, Interface, RouteTarget};
use crate::ir_text::type_text;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the site needs besides the IR. The CLI gathers it; the docs stage does no IO.
#[derive(Debug, Clone, Default)]
pub struct DocInputs {
    /// `YYYY-MM-DD`: review dates are due or overdue against it.
    pub today: String,
    /// Warnings `accord check` reports for the estate.
    pub warnings: Vec<Warning>,
    /// The text of each test message file, by its name relative to the estate root.
    pub examples: BTreeMap<String, String>,
    /// `accord doc --since REF`: the changes since REF, for the change log page.
    pub changes: Option<Changelog>,
}

/// The change log page: what `accord diff` reports between a revision and this estate.
#[derive(Debug, Clone, Serialize)]
pub struct Changelog {
    /// The revision compared with, as given (`main`, `v3.1.0`).
    pub since: String,
    pub report: crate::diff::Report,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangelogPage {
    pub since: String,
    pub old_version: String,
    pub new_version: String,
    pub groups: Vec<ChangeGroup>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeGroup {
    pub title: String,
    pub class: String,
    pub changes: Vec<ChangeRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeRow {
    pub rule: String,
    pub subject: String,
    pub detail: String,
    pub why: String,
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
    /// `file:line`.
    pub location: String,
}

/// Review dates this close (days) are shown as due.
pub const REVIEW_DUE_DAYS: i64 = 60;

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub name: String,
    pub version: String,
    pub docs: Vec<String>,
    pub today: String,
    pub environments: Vec<String>,
    pub systems: Vec<SystemView>,
    pub interfaces: Vec<Summary>,
    pub reviews: Vec<Summary>,
    pub warnings: Vec<Warning>,
    pub counts: BTreeMap<String, usize>,
    /// The revision of the change log page, when there is one.
    pub since: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemView {
    pub name: String,
    pub title: String,
    pub role: String,
    pub owner: String,
    pub docs: Vec<String>,
    pub sends: Vec<String>,
    pub receives: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Address {
    pub env: String,
    pub address: String,
}

/// One line of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub version: String,
    pub status: String,
    pub sunset: String,
    pub from: String,
    pub to: String,
    pub pattern: String,
    pub messages: Vec<String>,
    pub endpoint: String,
    pub addresses: Vec<Address>,
    pub owner: String,
    pub review: String,
    /// `ok`, `due` or `overdue`.
    pub review_state: String,
    pub sla: Vec<String>,
    /// `inbound service`, `outbound operation` or `not wired`.
    pub role: String,
    pub purpose: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterfacePage {
    pub summary: Summary,
    pub docs: Vec<String>,
    pub clinical_impact: String,
    pub role_text: String,
    pub profile: String,
    pub ack: String,
    pub replies: Vec<String>,
    pub default_replies: Vec<String>,
    pub idempotency: String,
    pub ordering: String,
    pub minimisation: Option<Minimisation>,
    pub retain: String,
    /// The merge clause in words (empty without one).
    pub merge: String,
    /// `link:`, in words; empty without.
    pub link: String,
    /// `split: per OBR`, in words; empty without.
    pub split: String,
    pub transforms: Vec<Transform>,
    pub routing: Vec<RuleView>,
    pub flows: Vec<String>,
    pub examples: Vec<Example>,
    /// The scenarios that send a message at this interface or look at what its peer
    /// received.
    pub scenarios: Vec<ScenarioView>,
    pub shares: Vec<Share>,
    pub loc: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Minimisation {
    pub record: String,
    pub sent: Vec<String>,
    pub withheld: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transform {
    pub name: String,
    pub docs: Vec<String>,
    pub source: String,
    pub target: String,
    pub rows: Vec<Row>,
    pub loc: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub route: String,
    pub from: String,
    pub messages: String,
    pub when: String,
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioView {
    pub name: String,
    pub docs: String,
    pub loc: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub test: String,
    pub file: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Share {
    pub record: String,
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodemapPage {
    pub name: String,
    pub docs: Vec<String>,
    pub from: String,
    pub to: String,
    pub entries: Vec<CodemapRow>,
    pub default: String,
    pub mappings: Vec<String>,
    pub interfaces: Vec<String>,
    pub conceptmap: String,
    pub loc: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodemapRow {
    pub from: Vec<String>,
    pub to: String,
    pub display: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    pub name: String,
    pub docs: Vec<String>,
    pub fields: Vec<FieldView>,
    pub interfaces: Vec<String>,
    pub loc: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    pub name: String,
    pub ty: String,
    pub constraints: String,
    pub docs: String,
}

/// Doc comments as paragraphs (blank lines separate them; lines within are joined).
pub fn paragraphs(docs: &str) -> Vec<String> {
    docs.split("\n\n")
        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn loc(l: &ir::Loc) -> String {
    format!("{}:{}", l.file, l.line)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (Howard Hinnant's `days_from_civil`).
fn days(date: &str) -> Option<i64> {
    let mut it = date.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `overdue` before today, `due` within [`REVIEW_DUE_DAYS`], otherwise `ok`.
pub fn review_state(review: &str, today: &str) -> &'static str {
    match (days(review), days(today)) {
        (Some(r), Some(t)) if r < t => "overdue",
        (Some(r), Some(t)) if r - t <= REVIEW_DUE_DAYS => "due",
        _ => "ok",
    }
}

/// The endpoint's address in each environment: `host:port`, a path or a URL; secrets
/// appear only as the name they are read from.
fn addresses(estate: &Estate, endpoint: &str) -> Vec<Address> {
    let Some(e) = estate.endpoints.iter().find(|e| e.name == endpoint) else {
        return vec![];
    };
    let value = |key: &str, env: &str| -> Option<String> {
        let s = e.settings.iter().find(|s| s.key == key)?;
        s.values
            .iter()
            .find(|v| v.env.as_deref() == Some(env))
            .or_else(|| s.values.iter().find(|v| v.env.is_none()))
            .map(|v| crate::ir_text::setting_value(&v.value))
    };
    estate
        .environments
        .iter()
        .map(|env| {
            let n = env.name.as_str();
            let address = match (
                value("host", n),
                value("port", n),
                value("path", n),
                value("url", n),
            ) {
                (_, _, _, Some(url)) => url,
                (Some(h), Some(p), _, _) => format!("{h}:{p}"),
                (None, Some(p), _, _) => format!("port {p}"),
                (_, _, Some(path), _) => path,
                (Some(h), None, None, None) => h,
                (None, None, None, None) => String::new(),
            };
            let tls = value("tls", n)
                .filter(|t| t != "off")
                .map(|t| format!(" (TLS {t})"))
                .unwrap_or_default();
            Address {
                env: env.name.clone(),
                address: format!("{} {address}{tls}", e.transport).trim().to_string(),
            }
        })
        .collect()
}

fn role(estate: &Estate, i: &Interface) -> &'static str {
    match crate::codegen::spec::role(estate, i) {
        accord_runtime::spec::Role::Service => "inbound service",
        accord_runtime::spec::Role::Operation => "outbound operation",
        accord_runtime::spec::Role::Unwired => "not wired",
    }
}

pub fn summary(estate: &Estate, i: &Interface, today: &str) -> Summary {
    Summary {
        name: i.name.clone(),
        version: i.version.clone(),
        status: i.status.clone(),
        sunset: i.sunset.clone().unwrap_or_default(),
        from: i.from.clone(),
        to: i.to.clone(),
        pattern: i.pattern.clone(),
        messages: i.messages.clone(),
        endpoint: i.endpoint.clone().unwrap_or_default(),
        addresses: i
            .endpoint
            .as_deref()
            .map(|e| addresses(estate, e))
            .unwrap_or_default(),
        owner: i.owner.clone(),
        review: i.review.clone(),
        review_state: review_state(&i.review, today).into(),
        sla: i.sla.iter().map(english::sla).collect(),
        role: role(estate, i).into(),
        purpose: i.purpose.clone(),
    }
}

pub fn overview(estate: &Estate, inputs: &DocInputs) -> Overview {
    let interfaces: Vec<Summary> = estate
        .interfaces
        .iter()
        .map(|i| summary(estate, i, &inputs.today))
        .collect();
    let mut reviews: Vec<Summary> = interfaces
        .iter()
        .filter(|s| s.review_state != "ok")
        .cloned()
        .collect();
    reviews.sort_by(|a, b| (&a.review, &a.name).cmp(&(&b.review, &b.name)));
    let systems = estate
        .systems
        .iter()
        .map(|s| SystemView {
            name: s.name.clone(),
            title: s.properties.get("name").cloned().unwrap_or_default(),
            role: s.properties.get("role").cloned().unwrap_or_default(),
            owner: s.properties.get("owner").cloned().unwrap_or_default(),
            docs: paragraphs(&s.docs),
            sends: estate
                .interfaces
                .iter()
                .filter(|i| i.from == s.name)
                .map(|i| i.name.clone())
                .collect(),
            receives: estate
                .interfaces
                .iter()
                .filter(|i| i.to == s.name)
                .map(|i| i.name.clone())
                .collect(),
        })
        .collect();
    let mut counts = BTreeMap::new();
    counts.insert("systems".to_string(), estate.systems.len());
    counts.insert("interfaces".to_string(), estate.interfaces.len());
    counts.insert("records".to_string(), estate.records.len());
    counts.insert("codemaps".to_string(), estate.codemaps.len());
    counts.insert("mappings".to_string(), estate.mappings.len());
    counts.insert("tests".to_string(), estate.tests.len());
    Overview {
        name: estate.name.clone(),
        version: estate.version.clone(),
        docs: paragraphs(&estate.docs),
        today: inputs.today.clone(),
        environments: estate.environments.iter().map(|e| e.name.clone()).collect(),
        systems,
        interfaces,
        reviews,
        warnings: inputs.warnings.clone(),
        counts,
        since: inputs.changes.as_ref().map(|c| c.since.clone()),
    }
}

fn target_text(t: &RouteTarget) -> String {
    match t {
        RouteTarget::Interface(n) => n.clone(),
        RouteTarget::Route(n) => format!("route {n}"),
        RouteTarget::Flow(n) => format!("flow {n}"),
        RouteTarget::Discard => "discard".into(),
    }
}

fn rule_view(r: &ir::Route, rule: &ir::RouteRule) -> RuleView {
    RuleView {
        route: r.name.clone(),
        from: r.from.clone(),
        messages: if rule.otherwise {
            "otherwise".into()
        } else if rule.messages.is_empty() {
            "any message".into()
        } else {
            rule.messages.join(" | ")
        },
        when: rule
            .when
            .as_ref()
            .map(crate::ir_text::expr)
            .unwrap_or_default(),
        targets: rule.targets.iter().map(target_text).collect(),
    }
}

/// The scenarios that exercise interface `i`: a message sent at it, or its peer.
fn scenarios(estate: &Estate, i: &Interface) -> Vec<ScenarioView> {
    use ir::StepKind as S;
    estate
        .scenarios
        .iter()
        .filter(|s| {
            s.steps.iter().any(|step| match &step.kind {
                S::Send { at, .. } => at == &i.name,
                S::Peer { operation, .. }
                | S::ExpectReceived { operation, .. }
                | S::ExpectValues { operation, .. }
                | S::Resend { operation }
                | S::Replay { operation } => operation == &i.name,
                _ => false,
            })
        })
        .map(|s| ScenarioView {
            name: s.name.clone(),
            docs: s.docs.clone(),
            loc: loc(&s.loc),
        })
        .collect()
}

fn examples(estate: &Estate, i: &Interface, inputs: &DocInputs) -> Vec<Example> {
    let mut out = vec![];
    for t in &estate.tests {
        let enters = |at: &Option<String>| match at.as_deref() {
            Some(at) if at == i.name => true,
            Some(at) => estate
                .routes
                .iter()
                .any(|r| r.name == at && r.from == i.name),
            None => false,
        };
        let reaches = t
            .expect
            .iter()
            .any(|e| matches!(e, ir::Expect::Routed { to, negated: false } if to == &i.name));
        for g in &t.given {
            if !(enters(&g.at) || reaches) {
                continue;
            }
            let (file, text) = match (&g.file, &g.inline) {
                (Some(f), _) => (f.clone(), inputs.examples.get(f).cloned()),
                (None, Some(text)) => ("inline".to_string(), Some(text.clone())),
                (None, None) => continue,
            };
            let Some(text) = text else { continue };
            let text = text.replace("\r\n", "\n").replace('\r', "\n");
            if out
                .iter()
                .any(|e: &Example| e.file == file && file != "inline")
            {
                continue;
            }
            out.push(Example {
                test: t.name.clone(),
                file,
                text: text.trim_end().to_string(),
            });
        }
    }
    out
}

pub fn interface_page(estate: &Estate, i: &Interface, inputs: &DocInputs) -> InterfacePage {
    let s = summary(estate, i, &inputs.today);
    let outbound = s.role == "outbound operation";
    let role_text = match s.role.as_str() {
        "inbound service" => format!(
            "Inbound service: the production receives {} messages from {} and journals them before it acknowledges.",
            if i.messages.is_empty() { "its".to_string() } else { i.messages.join(", ") },
            i.from
        ),
        "outbound operation" => format!(
            "Outbound operation: the production delivers to {} what the routes send here.",
            i.to
        ),
        _ => "Not wired: no route sends here and it does not feed the production.".into(),
    };
    let (replies, default_replies) = if outbound {
        english::reply_handling(i)
    } else {
        (
            i.replies.iter().map(english::reply_policy).collect(),
            vec![],
        )
    };
    let idempotency = if i.idempotency.is_empty() {
        String::new()
    } else {
        let keys: Vec<String> = i.idempotency.iter().map(english::key).collect();
        format!(
            "A message whose {} was seen before is answered with the first ACK and not processed again.",
            keys.join(" + ")
        )
    };
    let ordering = i
        .ordering
        .as_ref()
        .map(|k| {
            let mut s = format!(
                "Messages with the same {} are delivered in arrival order; different values run in parallel lanes.",
                english::key(k)
            );
            if !i.ordering_also.is_empty() {
                let also: Vec<String> = i.ordering_also.iter().map(english::key).collect();
                s.push_str(&format!(
                    " A message also waits for every earlier delivery to the same endpoint that shares its {} (a merge waits for both patients).",
                    also.join(" or ")
                ));
            }
            s
        })
        .unwrap_or_default();
    let minimisation = i.sends_only.as_ref().map(|so| {
        let all: Vec<String> = estate
            .records
            .iter()
            .find(|r| r.name == so.record)
            .map(|r| r.fields.iter().map(|f| f.name.clone()).collect())
            .unwrap_or_default();
        Minimisation {
            record: so.record.clone(),
            sent: so.fields.clone(),
            withheld: all.into_iter().filter(|f| !so.fields.contains(f)).collect(),
        }
    });
    // The chain's mappings, and those they run (a Bundle's entries).
    let transforms = crate::uses::mappings_of(estate, i)
        .into_iter()
        .map(|m| Transform {
            name: m.name.clone(),
            docs: paragraphs(&m.docs),
            source: mapping_table::schema_text(&m.source),
            target: if m.partial {
                format!(
                    "{}, in part (the fields it writes; the rest from the stored record)",
                    mapping_table::schema_text(&m.target)
                )
            } else {
                mapping_table::schema_text(&m.target)
            },
            rows: mapping_table::rows(estate, m),
            loc: loc(&m.loc),
        })
        .collect();
    let mut routing = vec![];
    for r in &estate.routes {
        for rule in &r.rules {
            let targets_me = rule
                .targets
                .iter()
                .any(|t| matches!(t, RouteTarget::Interface(n) if n == &i.name));
            if r.from == i.name || targets_me {
                routing.push(rule_view(r, rule));
            }
        }
    }
    let flows = estate
        .flows
        .iter()
        .filter(|f| f.start == i.name || f.wait_for == i.name)
        .map(|f| {
            let timeout: Vec<String> = f.on_timeout.iter().map(action_word).collect();
            let mut text = format!(
                "{}: every message of {} waits for {} (correlated by {}) within {}; on timeout: {}.",
                f.name,
                f.start,
                f.wait_for,
                english::key(&f.correlate),
                english::duration(f.within_ms),
                if timeout.is_empty() { "nothing".to_string() } else { timeout.join(", ") }
            );
            if let Some(ms) = f.hold_early_ms {
                text.push_str(&format!(
                    " A message for {} that comes before its start waits for it up to {}, then goes to the dead letter.",
                    f.wait_for,
                    english::duration(ms)
                ));
            }
            if !f.cancel_when.is_empty() {
                let when: Vec<String> = f
                    .cancel_when
                    .iter()
                    .map(|c| format!("{} is “{}”", c.path.text, c.value))
                    .collect();
                let then: Vec<String> = f.on_cancel.iter().map(action_word).collect();
                text.push_str(&format!(
                    " A message of {} whose {} cancels the wait instead; on cancel: {}.",
                    f.start,
                    when.join(" or "),
                    if then.is_empty() { "nothing".to_string() } else { then.join(", ") }
                ));
            }
            text
        })
        .collect();
    let mine = crate::uses::records_of(estate, i);
    let shares = mine
        .iter()
        .map(|rec| Share {
            record: rec.clone(),
            interfaces: estate
                .interfaces
                .iter()
                .filter(|o| o.name != i.name && crate::uses::records_of(estate, o).contains(rec))
                .map(|o| o.name.clone())
                .collect(),
        })
        .collect();
    InterfacePage {
        docs: paragraphs(&i.docs),
        clinical_impact: i.clinical_impact.clone().unwrap_or_default(),
        role_text,
        profile: i.profile.clone().unwrap_or_default(),
        ack: english::ack(&i.ack, outbound),
        replies,
        default_replies,
        idempotency,
        ordering,
        minimisation,
        retain: i
            .retain_ms
            .map(|ms| {
                format!(
                    "Raw messages are kept for {}, then purged.",
                    english::duration(ms)
                )
            })
            .unwrap_or_default(),
        merge: i
            .merge
            .as_ref()
            .map(|m| format!("A message that {}.", english::merge(m)))
            .unwrap_or_default(),
        link: i
            .link
            .as_ref()
            .map(|l| format!("A message that {}.", english::link(l)))
            .unwrap_or_default(),
        split: i
            .split
            .as_ref()
            .map(|s| {
                format!(
                    "One message is sent per {s} segment: each carries the segments before the first {s}, then its own {s} and the segments after it up to the next."
                )
            })
            .unwrap_or_default(),
        transforms,
        routing,
        flows,
        examples: examples(estate, i, inputs),
        scenarios: scenarios(estate, i),
        shares,
        loc: loc(&i.loc),
        summary: s,
    }
}

fn action_word(a: &ir::Action) -> String {
    match a {
        ir::Action::Alert { target } => format!("alert \u{201c}{target}\u{201d}"),
        ir::Action::DeadLetter => "dead letter".into(),
        ir::Action::Complete => "complete".into(),
        ir::Action::Suspend => "suspend".into(),
        ir::Action::Warn => "warn".into(),
        ir::Action::Fail => "fail".into(),
        ir::Action::Send { interface } => format!("send to {interface}"),
        ir::Action::Retry { .. } => "retry".into(),
    }
}

pub fn codemap_pages(estate: &Estate) -> Vec<CodemapPage> {
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &estate.mappings {
        let mut maps = vec![];
        crate::uses::lookups(&m.body, &mut maps);
        for c in maps {
            used.entry(c).or_default().push(m.name.clone());
        }
    }
    estate
        .codemaps
        .iter()
        .map(|c| {
            let mappings = used.get(&c.name).cloned().unwrap_or_default();
            let interfaces = estate
                .interfaces
                .iter()
                .filter(|i| i.transforms.iter().any(|t| mappings.contains(t)))
                .map(|i| i.name.clone())
                .collect();
            let display_of = |code: &str| -> String {
                let ir::Type::Code { codeset } = &c.to else {
                    return String::new();
                };
                estate
                    .codesets
                    .iter()
                    .find(|cs| &cs.name == codeset)
                    .and_then(|cs| cs.codes.iter().find(|x| x.code == code))
                    .and_then(|x| x.display.clone())
                    .unwrap_or_default()
            };
            CodemapPage {
                name: c.name.clone(),
                docs: paragraphs(&c.docs),
                from: type_text(&c.from),
                to: type_text(&c.to),
                entries: c
                    .entries
                    .iter()
                    .map(|e| CodemapRow {
                        from: e.from.clone(),
                        to: e.to.clone(),
                        display: display_of(&e.to),
                    })
                    .collect(),
                default: match &c.default {
                    CodemapDefault::Reject { message: Some(m) } => {
                        format!("Any other code is rejected: \u{201c}{m}\u{201d} (dead letter, reason map).")
                    }
                    CodemapDefault::Reject { message: None } => {
                        "Any other code is rejected (dead letter, reason map).".into()
                    }
                    CodemapDefault::Value { code } => format!("Any other code becomes {code}."),
                    CodemapDefault::Pass => "Any other code passes through unchanged.".into(),
                    CodemapDefault::Absent => "Any other code gives no value: the element is left out.".into(),
                },
                mappings,
                interfaces,
                conceptmap: format!("{}.conceptmap.json", c.name),
                loc: loc(&c.loc),
            }
        })
        .collect()
}

pub fn records(estate: &Estate) -> Vec<RecordView> {
    estate
        .records
        .iter()
        .map(|r| RecordView {
            name: r.name.clone(),
            docs: paragraphs(&r.docs),
            fields: r
                .fields
                .iter()
                .map(|f| FieldView {
                    name: f.name.clone(),
                    ty: type_text(&f.ty),
                    constraints: f
                        .constraints
                        .iter()
                        .map(crate::ir_text::constraint)
                        .collect::<Vec<_>>()
                        .join(", "),
                    docs: f.docs.clone(),
                })
                .collect(),
            interfaces: estate
                .interfaces
                .iter()
                .filter(|i| crate::uses::records_of(estate, i).contains(&r.name))
                .map(|i| i.name.clone())
                .collect(),
            loc: loc(&r.loc),
        })
        .collect()
}

pub fn changelog(c: &Changelog) -> ChangelogPage {
    use crate::diff::{render, rules, Class};
    let groups = [
        (Class::Breaking, "Breaking changes"),
        (Class::Compatible, "Compatible changes"),
        (Class::Documentation, "Documentation-only changes"),
    ]
    .into_iter()
    .map(|(class, title)| ChangeGroup {
        title: title.into(),
        class: class.as_str().into(),
        changes: c
            .report
            .changes
            .iter()
            .filter(|ch| ch.class == class)
            .map(|ch| ChangeRow {
                rule: ch.rule.into(),
                subject: ch.subject.clone(),
                detail: ch.detail.clone(),
                why: rules::rule(ch.rule).why.into(),
                interfaces: ch.interfaces.clone(),
            })
            .collect(),
    })
    .filter(|g| !g.changes.is_empty())
    .collect();
    ChangelogPage {
        since: c.since.clone(),
        old_version: c.report.old_version.clone(),
        new_version: c.report.new_version.clone(),
        groups,
        errors: c
            .report
            .errors
            .iter()
            .map(|e| {
                let (msg, help) = render::error_text(e);
                format!("{msg}: {help}.")
            })
            .collect(),
    }
}

pub fn grids(estate: &Estate) -> Vec<Grid> {
    matrix::grids(estate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_states() {
        assert_eq!(review_state("2026-11-30", "2026-12-01"), "overdue");
        assert_eq!(review_state("2027-01-15", "2026-12-01"), "due");
        assert_eq!(review_state("2027-03-01", "2026-12-01"), "ok");
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(days("2000-03-01"), Some(11_017));
    }

    #[test]
    fn paragraphs_join_lines() {
        assert_eq!(
            paragraphs("one\ntwo\n\nthree"),
            vec!["one two".to_string(), "three".to_string()]
        );
    }
}
