//! The production's wiring as the runtime's [`Spec`]: which interfaces are inbound services
//! and which outbound operations, their ACK modes, reply policies, keys and profiles, the
//! flows, and every endpoint setting per environment. Built from the IR only; embedded in
//! the generated crate as JSON and read once by the engine at start.

use crate::ir::{self, Estate, Key, RouteTarget};
use accord_runtime::spec::{self, Role, Spec};

/// `file:line` of a place in the estate.
pub(super) fn loc(l: &ir::Loc) -> String {
    format!("{}:{}", l.file, l.line)
}

/// The system whose role is `engine`: interfaces to it are received by the production.
pub fn engine_system(ir: &Estate) -> Option<&str> {
    ir.systems
        .iter()
        .find(|s| s.properties.get("role").map(String::as_str) == Some("engine"))
        .map(|s| s.name.as_str())
}

/// What part interface `i` plays: a route's source (or an interface into the engine
/// system) is a service; a route's target is an operation; anything else is unwired.
pub fn role(ir: &Estate, i: &ir::Interface) -> Role {
    let targeted = ir.routes.iter().any(|r| {
        r.rules.iter().any(|rule| {
            rule.targets
                .iter()
                .any(|t| matches!(t, RouteTarget::Interface(n) if n == &i.name))
        })
    });
    // A reply policy's or a flow's `send x` queues for `x` as a route does.
    let sent_to = |actions: &[ir::Action]| {
        actions
            .iter()
            .any(|a| matches!(a, ir::Action::Send { interface } if interface == &i.name))
    };
    let followed_up = ir
        .flows
        .iter()
        .any(|f| sent_to(&f.on_timeout) || sent_to(&f.on_reply))
        || ir.interfaces.iter().any(|o| {
            o.replies
                .iter()
                .any(|r| sent_to(&r.actions) || sent_to(&r.then))
        });
    if targeted || followed_up {
        Role::Operation
    } else if ir.routes.iter().any(|r| r.from == i.name) || Some(i.to.as_str()) == engine_system(ir)
    {
        Role::Service
    } else {
        Role::Unwired
    }
}

fn hl7_key(k: &Key) -> Option<String> {
    match k {
        Key::Hl7 { path } => Some(path.text.clone()),
        Key::Field { .. } => None,
    }
}

fn action(a: &ir::Action) -> spec::Action {
    match a {
        ir::Action::Retry {
            times,
            forever,
            backoff_min_ms,
            backoff_max_ms,
            every_ms,
        } => spec::Action::Retry {
            times: *times,
            forever: *forever,
            backoff_min_ms: *backoff_min_ms,
            backoff_max_ms: *backoff_max_ms,
            every_ms: *every_ms,
        },
        ir::Action::DeadLetter => spec::Action::DeadLetter,
        ir::Action::Complete => spec::Action::Complete,
        ir::Action::Suspend => spec::Action::Suspend,
        ir::Action::Warn => spec::Action::Warn,
        ir::Action::Fail => spec::Action::Fail,
        ir::Action::Alert { target } => spec::Action::Alert {
            target: target.clone(),
        },
        ir::Action::Send { interface } => spec::Action::Send {
            interface: interface.clone(),
        },
    }
}

/// A profile as the runtime's validator reads it.
pub fn profile(p: &ir::Profile) -> spec::Profile {
    spec::Profile {
        name: p.name.clone(),
        version: p.version.clone(),
        rules: p
            .rules
            .iter()
            .map(|r| spec::ProfileRule {
                path: r.path.text.clone(),
                usage: r.usage.clone(),
                min: r.min,
                max: r.max,
                length: r.length,
            })
            .collect(),
        segments: p
            .segments
            .iter()
            .map(|s| spec::LocalSegment {
                id: s.id.clone(),
                usage: s.usage.clone(),
                fields: s
                    .fields
                    .iter()
                    .map(|f| spec::LocalField {
                        position: f.position,
                        name: f.name.clone(),
                        usage: f.usage.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn production_spec(ir: &Estate) -> Spec {
    Spec {
        estate: ir.name.clone(),
        version: ir.version.clone(),
        environments: ir.environments.iter().map(|e| e.name.clone()).collect(),
        production_environments: ir
            .environments
            .iter()
            .filter(|e| e.production)
            .map(|e| e.name.clone())
            .collect(),
        engine_system: engine_system(ir).map(str::to_string),
        endpoints: ir
            .endpoints
            .iter()
            .map(|e| spec::Endpoint {
                name: e.name.clone(),
                transport: e.transport.clone(),
                settings: e
                    .settings
                    .iter()
                    .map(|s| spec::Setting {
                        key: s.key.clone(),
                        values: s
                            .values
                            .iter()
                            .map(|v| spec::EnvValue {
                                env: v.env.clone(),
                                value: match &v.value {
                                    ir::SettingValue::Literal(x) => {
                                        spec::SettingValue::Literal(x.clone())
                                    }
                                    ir::SettingValue::Env(x) => spec::SettingValue::Env(x.clone()),
                                    ir::SettingValue::Secret(x) => {
                                        spec::SettingValue::Secret(x.clone())
                                    }
                                },
                            })
                            .collect(),
                        loc: loc(&e.loc),
                    })
                    .collect(),
                loc: loc(&e.loc),
            })
            .collect(),
        interfaces: ir
            .interfaces
            .iter()
            .map(|i| spec::Interface {
                name: i.name.clone(),
                version: i.version.clone(),
                role: role(ir, i),
                from: i.from.clone(),
                to: i.to.clone(),
                endpoint: i.endpoint.clone(),
                status: i.status.clone(),
                messages: i.messages.clone(),
                profile: i.profile.clone(),
                transforms: !i.transforms.is_empty(),
                chain: i.transforms.clone(),
                ack: spec::Ack {
                    mode: i.ack.mode.clone(),
                    timeout_ms: i.ack.timeout_ms,
                },
                replies: i
                    .replies
                    .iter()
                    .map(|r| spec::ReplyPolicy {
                        classes: r.classes.clone(),
                        actions: r.actions.iter().map(action).collect(),
                        then: r.then.iter().map(action).collect(),
                    })
                    .collect(),
                idempotency: i.idempotency.iter().filter_map(hl7_key).collect(),
                ordering: i.ordering.as_ref().and_then(hl7_key),
                ordering_also: i.ordering_also.iter().filter_map(hl7_key).collect(),
                retain_ms: i.retain_ms,
                split: i.split.clone(),
                sla: sla(&i.sla),
                sender: sender_identity(ir, &i.from),
                serves: i.serves.iter().filter_map(|m| served(ir, m)).collect(),
                accepts: i.accepts.iter().filter_map(|m| served(ir, m)).collect(),
                merge: i.merge.as_ref().map(|m| spec::Merge {
                    record: m.record.clone(),
                    retired: m.retired.text.clone(),
                    survivor: m.survivor.text.clone(),
                    loc: loc(&i.loc),
                }),
                link: i.link.as_ref().map(|l| spec::Link {
                    record: l.record.clone(),
                    first: l.first.text.clone(),
                    second: l.second.text.clone(),
                    loc: loc(&i.loc),
                }),
                loc: loc(&i.loc),
            })
            .collect(),
        profiles: ir.profiles.iter().map(profile).collect(),
        flows: ir
            .flows
            .iter()
            .filter_map(|f| {
                Some(spec::Flow {
                    name: f.name.clone(),
                    start: f.start.clone(),
                    correlate: hl7_key(&f.correlate)?,
                    wait_for: f.wait_for.clone(),
                    within_ms: f.within_ms,
                    on_timeout: f.on_timeout.iter().map(action).collect(),
                    on_reply: f.on_reply.iter().map(action).collect(),
                    cancel_when: f
                        .cancel_when
                        .iter()
                        .map(|c| (c.path.text.clone(), c.value.clone()))
                        .collect(),
                    on_cancel: f.on_cancel.iter().map(action).collect(),
                    hold_early_ms: f.hold_early_ms,
                    loc: loc(&f.loc),
                })
            })
            .collect(),
        matrices: matrices(ir),
        mappings: ir.mappings.iter().map(super::lineage::rows).collect(),
    }
}

/// What a message for a retired `record` key does, when an interface merges it (the
/// checker makes every merge of a record agree, E0522).
fn retired(ir: &Estate, record: &str) -> Option<spec::Retired> {
    let m = ir
        .interfaces
        .iter()
        .filter_map(|i| i.merge.as_ref())
        .find(|m| m.record == record)?;
    Some(match &m.policy {
        ir::MergePolicy::Follow => spec::Retired::Follow,
        ir::MergePolicy::Hold { queue } => spec::Retired::Hold {
            queue: queue.clone(),
        },
    })
}

/// The matrix rows grouped per record, for records that have a key (W0302 otherwise).
fn matrices(ir: &Estate) -> Vec<spec::Matrix> {
    let mut out: Vec<spec::Matrix> = vec![];
    for row in &ir.ownership {
        let Some(record) = ir.records.iter().find(|r| r.name == row.record) else {
            continue;
        };
        let keys: Vec<String> = record
            .fields
            .iter()
            .filter(|f| f.constraints.contains(&ir::Constraint::Key))
            .map(|f| f.name.clone())
            .collect();
        if keys.is_empty() || keys.contains(&row.field) {
            continue;
        }
        let i = match out.iter().position(|m| m.record == row.record) {
            Some(i) => i,
            None => {
                out.push(spec::Matrix {
                    record: row.record.clone(),
                    keys,
                    stages: row.stages.clone(),
                    stage_field: row.stage_field.clone(),
                    fields: vec![],
                    retired: retired(ir, &row.record),
                    unique: record
                        .fields
                        .iter()
                        .filter(|f| f.constraints.contains(&ir::Constraint::Unique))
                        .map(|f| f.name.clone())
                        .collect(),
                });
                out.len() - 1
            }
        };
        out[i].fields.push(spec::OwnedField {
            field: row.field.clone(),
            owner: row.owner.clone(),
            accept: row
                .accept
                .iter()
                .map(|a| spec::Acceptance {
                    system: a.system.clone(),
                    when: a.when.as_ref().map(|w| match w {
                        ir::AcceptWhen::Absent => spec::Condition::Absent,
                        ir::AcceptWhen::StageBefore { stage } => spec::Condition::StageBefore {
                            stage: stage.clone(),
                        },
                        ir::AcceptWhen::StageIn { stages } => spec::Condition::StageIn {
                            stages: stages.clone(),
                        },
                    }),
                })
                .collect(),
            conflict: match &row.conflict {
                ir::Conflict::OwnerWins => spec::Conflict::OwnerWins,
                ir::Conflict::Newest => spec::Conflict::Newest,
                ir::Conflict::Reject => spec::Conflict::Reject,
                ir::Conflict::Review { queue } => spec::Conflict::Review {
                    queue: queue.clone(),
                },
            },
            ordered_by: row.ordered_by.clone(),
            lock_from: row.lock_from.clone(),
            loc: loc(&row.loc),
        });
    }
    out
}

/// Who the sending system says it is: in MSH-3 and MSH-4, from its `hl7_application` and
/// `hl7_facility`, and in its TLS client certificates (`certificate_names`); `None` when
/// it declares none of them.
fn sender_identity(ir: &Estate, system: &str) -> Option<spec::SenderIdentity> {
    let s = ir.systems.iter().find(|s| s.name == system)?;
    let prop = |k: &str| s.properties.get(k).cloned();
    let (application, facility) = (prop("hl7_application"), prop("hl7_facility"));
    let certificate_names: Vec<String> = prop("certificate_names")
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    let declared = application.is_some() || facility.is_some() || !certificate_names.is_empty();
    declared.then(|| spec::SenderIdentity {
        system: system.to_string(),
        application,
        facility,
        certificate_names,
        loc: loc(&s.loc),
    })
}

/// What the engine needs to serve a resource: its type, the record it is made from, the
/// mapping, and the record's key fields (which make the resource's id).
fn served(ir: &Estate, mapping: &str) -> Option<spec::Served> {
    let m = ir.mappings.iter().find(|m| m.name == mapping)?;
    let (record, resource) = match (&m.source, &m.target) {
        (ir::Schema::Record { record }, ir::Schema::Fhir { resource })
        | (ir::Schema::Fhir { resource }, ir::Schema::Record { record }) => (record, resource),
        _ => return None,
    };
    let r = ir.records.iter().find(|r| &r.name == record)?;
    Some(spec::Served {
        resource: resource.clone(),
        record: record.clone(),
        mapping: mapping.to_string(),
        keys: r
            .fields
            .iter()
            .filter(|f| f.constraints.contains(&ir::Constraint::Key))
            .map(|f| f.name.clone())
            .collect(),
        patient: match &m.source {
            ir::Schema::Fhir { .. } => patient_link(&m.body),
            _ => None,
        },
    })
}

/// Where a mapping from FHIR reads the resource's patient: the record field a top-level
/// line fills straight from `subject` or `patient` (`.reference`, or `.identifier.value`).
fn patient_link(body: &[ir::Stmt]) -> Option<spec::PatientLink> {
    body.iter().find_map(|stmt| {
        let ir::Stmt::Assign { target, values, .. } = stmt else {
            return None;
        };
        let (ir::Target::Field { path: to }, [ir::Expr::Field { path: from }]) =
            (target, values.as_slice())
        else {
            return None;
        };
        let names: Vec<&str> = from.iter().map(|s| s.name.as_str()).collect();
        let element = match names.as_slice() {
            [p @ ("subject" | "patient"), "reference"] => format!("{p}.reference"),
            [p @ ("subject" | "patient"), "identifier", "value"] => {
                format!("{p}.identifier.value")
            }
            _ => return None,
        };
        match to.as_slice() {
            [field] if field.index.is_none() && from.iter().all(|s| s.index.is_none()) => {
                Some(spec::PatientLink {
                    field: field.name.clone(),
                    element,
                })
            }
            _ => None,
        }
    })
}

/// The `sla:` clause as the production measures it.
fn sla(items: &[ir::Sla]) -> spec::Sla {
    let mut out = spec::Sla::default();
    for s in items {
        match s {
            ir::Sla::Delivered {
                percentile,
                under_ms,
            } => out.delivered = Some((*percentile, *under_ms)),
            ir::Sla::Backlog { under } => out.backlog_under = Some(*under),
            ir::Sla::Quiet { under_ms } => out.quiet_ms = Some(*under_ms),
        }
    }
    out
}
