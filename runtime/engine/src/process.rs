//! The processor: takes received messages from the journal in arrival order, runs their
//! routes and each target's transform chain (the generated functions), and in one
//! transaction queues the results for the operations, starts or completes flow waits, and
//! marks the message processed. A crash before the commit leaves the message `received`,
//! so it is processed again after restart, exactly once in the journal.

use super::cluster::{Notice, PROCESSOR};
use super::journal::cluster as stored;
use super::journal::db::{Db, DbError, DbResult};
use super::journal::flows::{
    cancel_wait, complete_wait, hold_early, release_early, start_wait, wait_state, Waits,
};
use super::journal::processing::{self as storage, event, store_record, Received};
use super::journal::records::{self, JournalSteward, Merge, Note, RecordStore, Write};
use super::lanes::Next;
use super::{key_of, patient_of, time, Engine, Outcome};
use accord_hl7::Message;
use accord_runtime::mapping::{MapErrorKind, Output};
use accord_runtime::spec::{Action, Interface, Role, Spec};
use accord_runtime::steward::{Hold, Steward};
use std::sync::Arc;
use std::time::Duration;

/// What a transform chain reads: a received HL7 v2 message, or a resource an API's
/// client created (journalled as its JSON).
#[derive(Clone, Copy)]
pub(super) enum Source<'a> {
    Hl7(&'a Message<'a>),
    Fhir(&'a serde_json::Value),
}

impl Source<'_> {
    /// A created resource's type (`ServiceRequest`).
    fn resource_type(&self) -> Option<String> {
        match self {
            Source::Hl7(_) => None,
            Source::Fhir(v) => v["resourceType"].as_str().map(str::to_string),
        }
    }
}

/// A journalled payload, read as what it is: a JSON object is a created resource,
/// anything else an HL7 v2 message.
pub(super) enum Parsed<'a> {
    Hl7(Message<'a>),
    Fhir(serde_json::Value),
}

impl<'a> Parsed<'a> {
    pub(super) fn parse(payload: &'a [u8]) -> Result<Parsed<'a>, String> {
        if payload.first() == Some(&b'{') {
            serde_json::from_slice(payload)
                .map(Parsed::Fhir)
                .map_err(|e| format!("the resource is not JSON: {e}"))
        } else {
            Message::parse(payload)
                .map(Parsed::Hl7)
                .map_err(|e| e.to_string())
        }
    }

    pub(super) fn source(&self) -> Source<'_> {
        match self {
            Parsed::Hl7(m) => Source::Hl7(m),
            Parsed::Fhir(v) => Source::Fhir(v),
        }
    }
}

/// A message queued for an operation (or dead on arrival: its mapping failed).
pub(super) struct Queued {
    pub(super) interface: String,
    pub(super) version: String,
    pub(super) state: &'static str,
    pub(super) reason: Option<&'static str>,
    pub(super) detail: Option<String>,
    pub(super) message_type: Option<String>,
    pub(super) control_id: Option<String>,
    pub(super) patient_id: Option<String>,
    pub(super) order_key: Option<String>,
    /// The delivery's further ordering keys (`ordering: per A, B` gives B), with the
    /// endpoint whose operations share them. Its first key is `order_key`.
    pub(super) also_keys: Option<(String, Vec<String>)>,
    pub(super) payload: Vec<u8>,
    /// Record fields the matrix lets this delivery change, stored when it is queued.
    pub(super) writes: Vec<Write>,
    /// The matrix's notable decisions, recorded as events on the delivery.
    pub(super) notes: Vec<Note>,
    /// Alerts the contract raises for this delivery (`on invalid: ... alert "x"`).
    pub(super) alerts: Vec<String>,
    /// How an application ACK's ERR reports a failed mapping (`MapError::hl7_error`).
    pub(super) hl7_error: Option<(u16, Option<&'static str>)>,
}

/// Everything processing one message changes, applied in one transaction.
struct Change {
    inbound: i64,
    /// When the inbound message was received.
    received_at: i64,
    interface: String,
    correlation: String,
    state: &'static str,
    reason: Option<&'static str>,
    detail: Option<String>,
    queued: Vec<Queued>,
    /// A canonical record the inbound transform produced (stored with the message).
    record: Option<Vec<u8>>,
    /// The matrix's changes and decisions for that record.
    writes: Vec<Write>,
    notes: Vec<Note>,
    /// The merge the message makes (`merge:` on its interface).
    merge: Option<Merge>,
    /// An ADT^A24's link, or an A37's unlink (`link:`).
    link: Option<records::Link>,
    /// (flow, key, deadline) waits to start; the waits that this message ends.
    starts: Vec<(String, String, i64)>,
    ends: Vec<FlowEnd>,
    /// The waits this message cancels (`cancel when`), with what `on cancel` queues.
    cancels: Vec<FlowEnd>,
    /// The waits this message replies to before their start (`hold early`): its
    /// deliveries to the awaited interface, and what `on reply` queues, are held.
    early: Vec<Early>,
    /// How an application ACK's ERR reports a failed mapping (`MapError::hl7_error`).
    hl7_error: Option<(u16, Option<&'static str>)>,
}

/// A flow wait (flow, key) that a committed batch ended, and how: `reply` (the awaited
/// message arrived) or `cancel`.
type Ended = (String, String, &'static str);

/// A flow wait this message ends if it is still waiting, with what the flow's `on reply`
/// queues when it does (`send x`: this message mapped for `x`).
struct FlowEnd {
    flow: String,
    key: String,
    follow_ups: Vec<Queued>,
}

/// A reply held for the start of its flow's wait (`hold early within`), until `deadline`.
struct Early {
    end: FlowEnd,
    wait_for: String,
    deadline: i64,
}

/// What storing a batch gave: the ids of the deliveries given lane copies, the flow
/// waits it ended, and the operations whose held replies it released.
struct Applied {
    ids: Vec<i64>,
    ended: Vec<Ended>,
    released: Vec<String>,
}

/// The processor's batch was not written: this node's lease ran out while it decided.
#[derive(Debug)]
struct Fenced;

impl std::fmt::Display for Fenced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this node no longer holds the processor's lease; another node processes")
    }
}

impl std::error::Error for Fenced {}

/// What one pass of the processor did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Nothing was received.
    Idle,
    /// A batch was decided and written.
    Done,
    /// Nothing was written: try again after this long.
    Retry(Duration),
}

/// The processor's state between passes: the stored records and waits it read, and how
/// many passes in a row a stored record changed under.
pub(crate) struct Processor {
    store: RecordStore,
    waits: Waits,
    conflicts: u64,
}

impl Processor {
    /// A processor of `engine`'s journal, once the values of `unique` fields stored before
    /// are indexed.
    pub(crate) async fn start(engine: &Arc<Engine>) -> Processor {
        // Values stored before their field was made `unique` are indexed before anything is
        // decided against them.
        if engine.spec.matrices.iter().any(|m| !m.unique.is_empty()) {
            let engine = engine.clone();
            loop {
                let matrices = engine.spec.matrices.clone();
                match engine
                    .journal
                    .write(move |c| records::index_unique(c, &matrices))
                    .await
                {
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(
                                values = n,
                                "indexed the stored values of `unique` fields"
                            );
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot index the `unique` fields' stored values; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        Processor {
            store: RecordStore::new(engine.journal.store()),
            waits: Waits::new(engine.journal.store()),
            conflicts: 0,
        }
    }

    /// Decides on up to a batch of received messages, in arrival order, and writes what
    /// it decided in one transaction.
    pub(crate) async fn pass(&mut self, engine: &Arc<Engine>) -> Pass {
        let Processor {
            store,
            waits,
            conflicts,
        } = self;
        batch(engine, store, waits, conflicts).await
    }
}

pub async fn run(engine: Arc<Engine>) {
    let mut processor = Processor::start(&engine).await;
    let cluster = &engine.cluster;
    // Whether this node processed last time round, to say when that changes.
    let mut processing = false;
    loop {
        cluster.pulse(PROCESSOR);
        // When nodes share the journal, one of them processes, in arrival order.
        let owns = cluster.owns(PROCESSOR);
        if owns != processing && cluster.clustered() {
            processing = owns;
            if owns {
                tracing::info!("processor: this node processes the received messages now");
            } else {
                tracing::info!("processor: this node no longer processes");
            }
        }
        if !owns {
            let _ = tokio::time::timeout(Duration::from_secs(1), engine.received.notified()).await;
            continue;
        }
        match processor.pass(&engine).await {
            // Idle: look again each second, for what operators resend or replay from outside.
            Pass::Idle => {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), engine.received.notified()).await;
            }
            Pass::Done => {}
            Pass::Retry(wait) => tokio::time::sleep(wait).await,
        }
    }
}

async fn batch(
    engine: &Arc<Engine>,
    store: &mut RecordStore,
    waits: &mut Waits,
    conflicts: &mut u64,
) -> Pass {
    let batch = engine
        .journal
        .write_redoable(|c| Ok((storage::received(c, 256)?, records::change_number(c)?)))
        .await;
    let batch = match batch {
        Ok((b, version)) => {
            store.begin(version);
            b
        }
        Err(e) => {
            tracing::error!(error = %e, "processor cannot read the journal; retrying");
            return Pass::Retry(Duration::from_secs(1));
        }
    };
    if batch.is_empty() {
        return Pass::Idle;
    }
    let changes: Vec<Change> = batch
        .iter()
        .map(|m| process(engine, store, waits, m))
        .collect();
    if let Some(why) = store
        .take_unavailable()
        .or_else(|| waits.take_unavailable())
    {
        waits.committed();
        // Nothing is decided on a record that could not be read: the batch stays
        // received, and is processed again once the journal answers.
        store.committed();
        tracing::error!(error = %why, "processor cannot read the stored records; retrying");
        return Pass::Retry(Duration::from_secs(1));
    }
    let settled: Vec<(i64, String, Outcome)> = changes
        .iter()
        .filter(|c| {
            c.queued
                .iter()
                .all(|q| matches!(q.state, "dead" | "review" | "held"))
        })
        .map(|c| {
            // Held for review is accepted: a person decides, not the sender.
            // So is a reply held for its order (`hold early`): time decides.
            let positive = c.state != "dead"
                && c.queued
                    .iter()
                    .all(|q| q.state == "review" || q.state == "held");
            let text = c.detail.clone().unwrap_or_else(|| "processed".into());
            let error = c
                .hl7_error
                .or_else(|| c.queued.iter().find_map(|q| q.hl7_error));
            (
                c.inbound,
                c.interface.clone(),
                Outcome {
                    positive,
                    text,
                    error,
                },
            )
        })
        .collect();
    let counted: Vec<(String, Option<&'static str>, Vec<&'static str>)> = changes
        .iter()
        .flat_map(|c| {
            let own = (
                c.interface.clone(),
                (c.state == "dead").then_some(c.reason).flatten(),
                c.notes.iter().map(|n| n.verdict).collect(),
            );
            let hops = c.queued.iter().map(|q| {
                (
                    q.interface.clone(),
                    (q.state == "dead").then_some(q.reason).flatten(),
                    q.notes.iter().map(|n| n.verdict).collect(),
                )
            });
            std::iter::once(own).chain(hops)
        })
        .collect();
    let alerted: Vec<(String, String)> = changes
        .iter()
        .flat_map(|c| {
            c.queued
                .iter()
                .flat_map(|q| q.alerts.iter().map(|a| (a.clone(), q.interface.clone())))
        })
        .collect();
    let mut targets: Vec<String> = changes
        .iter()
        .flat_map(|c| c.queued.iter().map(|q| q.interface.clone()))
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let lanes = engine.config.limits.lanes;
    // The lanes' copies are made here, off the writer's thread; `apply` gives their ids.
    let mut copies: Vec<(String, u32, Next)> = changes
        .iter()
        .flat_map(|ch| ch.queued.iter().map(move |q| (ch, q)))
        .filter(|(_, q)| q.state == "queued" && engine.sends_from_copies(&q.interface))
        .map(|(ch, q)| {
            let next = Next {
                id: 0,
                parent: Some(ch.inbound),
                payload: q.payload.clone(),
                attempts: 0,
                received_at: ch.received_at,
                origin: Some(ch.interface.clone()),
                control_id: q.control_id.clone(),
                order_key: q.order_key.clone(),
            };
            let lane = super::journal::lane_of(q.order_key.as_deref(), lanes);
            (q.interface.clone(), lane, next)
        })
        .collect();
    // The lanes given deliveries, which the nodes running them are told of.
    let mut queued_lanes: std::collections::BTreeMap<&str, std::collections::BTreeSet<u32>> =
        Default::default();
    for q in changes.iter().flat_map(|ch| ch.queued.iter()) {
        queued_lanes
            .entry(&q.interface)
            .or_default()
            .insert(super::journal::lane_of(q.order_key.as_deref(), lanes));
    }
    // The lanes this node runs are woken here after the commit; a notice tells the
    // nodes that run the others (every listening node reads each notice in a
    // transaction of its own).
    let mut woken_here: Vec<(String, Vec<u32>)> = vec![];
    let mut notified: Vec<String> = vec![];
    for (t, lanes) in queued_lanes {
        let (here, elsewhere): (Vec<u32>, Vec<u32>) = lanes
            .into_iter()
            .partition(|l| engine.cluster.runs_here(&super::cluster::lane_lease(t, *l)));
        if !here.is_empty() {
            woken_here.push((t.to_string(), here));
        }
        if !elsewhere.is_empty() {
            notified.push(
                Notice::Queued {
                    operation: t.to_string(),
                    lanes: elsewhere,
                }
                .text(),
            );
        }
    }
    // The operations given copies, for `apply` to return their deliveries' ids.
    let mut copied: Vec<String> = copies.iter().map(|(op, _, _)| op.clone()).collect();
    copied.sort_unstable();
    copied.dedup();
    // The records the batch writes: read afresh by the next batch.
    let written: Vec<(String, String)> = changes
        .iter()
        .flat_map(|ch| {
            ch.writes
                .iter()
                .chain(ch.queued.iter().flat_map(|q| q.writes.iter()))
        })
        .map(|w| (w.record.clone(), w.key.clone()))
        .collect();
    let node = engine.cluster.node().map(|n| n.id.clone());
    let applied = engine
        .journal
        // Lost to a power failure, the messages are simply processed again.
        .write_redoable(move |c| {
            // A node whose lease ran out meanwhile writes nothing it decided: another
            // node processes these messages now.
            if let Some(node) = &node {
                if !stored::holds(c, node, PROCESSOR)? {
                    return Err(DbError::Refused(Box::new(Fenced)));
                }
            }
            let outcome = records::guarded(c, |c| {
                let before = records::change_number(c)?;
                let applied = apply(c, &changes, lanes, &copied)?;
                Ok((applied, before, records::change_number(c)?))
            })?;
            if outcome.is_ok() && node.is_some() {
                for t in &notified {
                    stored::notify(c, t)?;
                }
            }
            Ok(outcome)
        })
        .await;
    // Either way the overlay goes: committed, it is in the journal; failed, the batch
    // is processed again from the journal.
    match &applied {
        Ok(Ok((_, before, after))) => store.committed_at(*before, *after, &written),
        _ => store.committed(),
    }
    waits.committed();
    match applied {
        Ok(Ok((
            Applied {
                ids,
                ended,
                released,
            },
            _,
            _,
        ))) => {
            for operation in released {
                engine.wake_operation(&operation);
            }
            *conflicts = 0;
            debug_assert_eq!(ids.len(), copies.len());
            for ((_, _, next), id) in copies.iter_mut().zip(ids) {
                next.id = id;
            }
            replied(engine, &ended);
        }
        // A record changed under the batch (an API update, an operator command): the
        // batch is decided again against what is stored now.
        Ok(Err(conflict)) => {
            *conflicts += 1;
            tracing::info!(%conflict, "a stored record changed under the batch; processing it again");
            // Another writer keeps winning: let it finish before deciding again.
            let wait = if *conflicts > 3 {
                20 * (*conflicts).min(50)
            } else {
                0
            };
            return Pass::Retry(Duration::from_millis(wait));
        }
        Err(e) => {
            tracing::error!(error = %e, "processor cannot write the journal; retrying");
            return Pass::Retry(Duration::from_secs(1));
        }
    }
    for (interface, dead, decisions) in counted {
        if let Some(reason) = dead {
            let label = super::metrics::ReasonLabel {
                interface: interface.clone(),
                reason: reason.into(),
            };
            engine.metrics.dead.get_or_create(&label).inc();
        }
        for decision in decisions {
            let label = super::metrics::DecisionLabel {
                interface: interface.clone(),
                decision: decision.into(),
            };
            engine.metrics.ownership.get_or_create(&label).inc();
        }
    }
    for (alert, interface) in &alerted {
        engine.alert(
            alert,
            interface,
            "a message breaks the receiver's contract (`on invalid`)",
        );
    }
    engine.queued_by_processor(&targets, copies);
    for (operation, lanes) in &woken_here {
        engine.wake_lanes(operation, lanes);
    }
    for (id, origin, outcome) in settled {
        engine.settle(id, Some(&origin), outcome);
    }
    Pass::Done
}

/// What `m` queues for operation `target` (hop `hop` of its message): one delivery, or
/// with `split: per SEGMENT` one per part, each mapped on its own, with the part it was
/// made from.
fn queue_for(
    engine: &Engine,
    store: &mut RecordStore,
    target: &str,
    hop: usize,
    src: Source,
    m: &Received,
    writes: bool,
) -> Vec<(Queued, Option<Vec<u8>>)> {
    let split = engine.interface(target).and_then(|i| i.split.as_deref());
    let parts = match (split, src) {
        (Some(segment), Source::Hl7(msg)) => split_parts(msg, segment),
        _ => vec![],
    };
    if parts.is_empty() {
        return map_to_queued(engine, store, target, hop, None, src, m, writes)
            .map(|q| (q, None))
            .into_iter()
            .collect();
    }
    let mut out = vec![];
    for (k, bytes) in parts.into_iter().enumerate() {
        let Ok(part) = Message::parse(&bytes) else {
            continue;
        };
        let part_of = Some((k, bytes.as_slice()));
        if let Some(q) = map_to_queued(
            engine,
            store,
            target,
            hop,
            part_of,
            Source::Hl7(&part),
            m,
            writes,
        ) {
            out.push((q, Some(bytes.clone())));
        }
    }
    out
}

/// `m` mapped for operation `target`, hop `hop` of its message. `writes`: the record
/// writes the matrix allows are kept (a route's delivery); a flow's `on reply: send x`
/// follow-up keeps none, its records governed by the message's own routes.
#[allow(clippy::too_many_arguments)]
fn map_to_queued(
    engine: &Engine,
    store: &mut RecordStore,
    target: &str,
    hop: usize,
    part: Option<(usize, &[u8])>,
    src: Source,
    m: &Received,
    writes: bool,
) -> Option<Queued> {
    let iface = engine.interface(target)?;
    if iface.role != Role::Operation {
        return None;
    }
    // One control id per hop: the inbound's journal id and the target's place (and the
    // part's, for `split`). A part that fails holds the part, to be resent alone.
    let (control_id, payload) = match part {
        Some((k, bytes)) => (format!("AC{}.{}.{}", m.id, hop + 1, k + 1), bytes),
        None => (format!("AC{}.{}", m.id, hop + 1), m.payload.as_slice()),
    };
    let mut steward = JournalSteward::new(&engine.spec.matrices, &iface.from, store, false);
    let mut q = map_for(
        &engine.spec,
        engine.functions.chains(),
        iface,
        src,
        payload,
        &control_id,
        &mut steward,
    );
    q.notes = std::mem::take(&mut steward.notes);
    if writes && q.state == "queued" {
        q.writes = std::mem::take(&mut steward.writes);
        store.stage(&q.writes);
    }
    Some(q)
}

/// What `iface`'s transform chain makes of `msg`, ready to queue (or dead, reason `map`,
/// holding the inbound payload). Also used to resend a dead letter after a mapping fix.
#[allow(clippy::too_many_arguments)]
pub(super) fn map_for(
    spec: &Spec,
    chains: super::Chains,
    iface: &Interface,
    src: Source,
    inbound_payload: &[u8],
    control_id: &str,
    steward: &mut dyn Steward,
) -> Queued {
    let mut q = Queued {
        interface: iface.name.clone(),
        version: iface.version.clone(),
        state: "queued",
        reason: None,
        detail: None,
        message_type: None,
        control_id: None,
        patient_id: None,
        order_key: None,
        also_keys: None,
        payload: vec![],
        writes: vec![],
        notes: vec![],
        alerts: vec![],
        hl7_error: None,
    };
    let (mapped, msg) = match src {
        Source::Hl7(msg) => ((chains.deliver)(&iface.name, msg, steward), Some(msg)),
        Source::Fhir(v) => ((chains.deliver_fhir)(&iface.name, v, steward), None),
    };
    match mapped {
        Err(e) if matches!(e.kind, MapErrorKind::Ownership(_)) => {
            let MapErrorKind::Ownership(hold) = e.kind else {
                unreachable!("matched above")
            };
            // Held by the matrix: the inbound payload waits, to be mapped again when a
            // person approves it (review) or an operator resends it (reject).
            q.reason = Some("ownership");
            q.payload = inbound_payload.to_vec();
            match hold {
                Hold::Reject { detail } => {
                    q.state = "dead";
                    q.detail = Some(detail);
                }
                Hold::Review { queue, detail } => {
                    q.state = "review";
                    q.detail = Some(review_detail(queue.as_deref(), &detail));
                }
                // Never applied: the processor drops the batch (`take_unavailable`).
                Hold::Unavailable { detail } => {
                    q.state = "dead";
                    q.detail = Some(detail);
                }
            }
        }
        Err(e) => {
            q.state = "dead";
            q.reason = Some(failure_reason(&e.kind));
            q.hl7_error = Some(e.hl7_error());
            q.detail = Some(e.to_string());
            q.payload = inbound_payload.to_vec();
        }
        Ok(out) => {
            let bytes = match out {
                None => inbound_payload.to_vec(),
                Some(Output::Hl7(b)) => {
                    super::envelope::complete_header(b, msg, iface, control_id, time::now_ms())
                }
                Some(o @ Output::Json(_)) => o.into_bytes(),
            };
            // Keys and ids from what is sent when it is HL7, else from what was received.
            let sent = Message::parse(&bytes).ok();
            if let Some(out) = &sent {
                if let Some(held) = invalid(spec, iface, out, &mut q) {
                    q.payload = inbound_payload.to_vec();
                    q.state = "dead";
                    q.reason = Some("conformance");
                    q.detail = Some(held);
                    return q;
                }
            }
            let Some(from) = sent.as_ref().or(msg) else {
                q.message_type = src.resource_type();
                q.payload = bytes;
                return q;
            };
            let (code, trigger, _) = from.message_type();
            q.message_type = Some(format!("{}^{}", code.unwrap_or(""), trigger.unwrap_or("")));
            q.control_id = from.control_id().map(str::to_string);
            q.patient_id = patient_of(from);
            q.order_key = iface
                .ordering
                .as_ref()
                .and_then(|p| key_of(from, std::slice::from_ref(p)));
            if let Some(endpoint) = iface.endpoint.as_ref().filter(|_| iface.ordering.is_some()) {
                let keys: Vec<String> = iface
                    .ordering_also
                    .iter()
                    .filter_map(|p| key_of(from, std::slice::from_ref(p)))
                    .collect();
                if !keys.is_empty() {
                    q.also_keys = Some((endpoint.clone(), keys));
                }
            }
            q.payload = bytes;
        }
    }
    q
}

/// What `iface` is about to send, checked against its profile and the HL7 v2 structure
/// of its type: `None` when it conforms or the contract's `on invalid` says to send it
/// anyway (with a warning, noted on the delivery); else why it is dead-lettered.
fn invalid(spec: &Spec, iface: &Interface, out: &Message, q: &mut Queued) -> Option<String> {
    let problems = accord_runtime::conformance::problems(spec, iface, out, true);
    if problems.is_empty() {
        return None;
    }
    let what = problems
        .iter()
        .take(5)
        .map(|p| p.what.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let actions = iface
        .replies
        .iter()
        .find(|r| r.classes.iter().any(|c| c == "invalid"))
        .map(|r| r.actions.clone())
        .unwrap_or_else(|| accord_runtime::spec::default_actions("invalid"));
    let mut dead = false;
    for a in &actions {
        match a {
            Action::DeadLetter | Action::Fail => dead = true,
            Action::Alert { target } => q.alerts.push(target.clone()),
            _ => {}
        }
    }
    let why = format!("breaks the receiver's contract: {what}");
    if dead {
        return Some(why);
    }
    tracing::warn!(interface = %iface.name, problems = %what, "sent although it breaks the receiver's profile or HL7 structure (`on invalid: warn`)");
    q.detail = Some(format!("sent, but {why}"));
    None
}

/// A held message's detail: `[queue] why`, as `review list` reads it.
pub(super) fn review_detail(queue: Option<&str>, why: &str) -> String {
    format!("[{}] {why}", queue.unwrap_or("review"))
}

impl Change {
    /// Says why a mapping failed or the matrix held the message.
    fn reason_detail(&mut self, e: accord_runtime::mapping::MapError) {
        self.hl7_error = Some(e.hl7_error());
        self.detail = Some(match e.kind {
            MapErrorKind::Ownership(Hold::Review { queue, detail }) => {
                review_detail(queue.as_deref(), &detail)
            }
            _ => e.to_string(),
        });
    }
}

fn process(engine: &Engine, store: &mut RecordStore, waits: &mut Waits, m: &Received) -> Change {
    let mut change = Change {
        inbound: m.id,
        received_at: m.received_at,
        interface: m.interface.clone(),
        writes: vec![],
        notes: vec![],
        merge: None,
        link: None,
        correlation: m.correlation.clone(),
        state: "processed",
        reason: None,
        detail: None,
        queued: vec![],
        record: None,
        starts: vec![],
        ends: vec![],
        cancels: vec![],
        early: vec![],
        hl7_error: None,
    };
    let parsed = match Parsed::parse(&m.payload) {
        Ok(p) => p,
        Err(e) => {
            change.state = "dead";
            change.reason = Some("parse");
            change.detail = Some(e);
            return change;
        }
    };
    let src = parsed.source();
    if let Source::Hl7(msg) = src {
        // The records' identity first (`merge:`, `link:`): what would guess goes to a
        // person, dead-lettered with the reason.
        let mut identity = || -> Result<(), String> {
            if let Some((merge, note)) = merge_of(engine, store, &m.interface, msg)? {
                if let Some(merge) = merge {
                    store.stage_merge(&merge);
                    change.merge = Some(merge);
                }
                change.notes.push(note);
            }
            if let Some((link, note)) = link_of(engine, store, &m.interface, msg)? {
                change.link = Some(link);
                change.notes.push(note);
            }
            Ok(())
        };
        if let Err(why) = identity() {
            if let Some(merge) = change.merge.take() {
                store.unstage_merge(&merge);
            }
            change.state = "dead";
            change.reason = Some("ownership");
            change.detail = Some(why);
            return change;
        }
    }
    // For each delivery queued, the part of the message it was made from (`split`).
    let mut parts_of: Vec<Option<Vec<u8>>> = vec![];
    let targets = match src {
        Source::Hl7(msg) => (engine.functions.inbound)(&m.interface, msg),
        // What an API's client created goes where the API's routes send its type.
        Source::Fhir(_) => Ok((engine.functions.routed)(
            &m.interface,
            &src.resource_type().unwrap_or_default(),
        )),
    };
    match targets {
        Err(e) => {
            change.state = "dead";
            change.reason = Some("route");
            change.detail = Some(e.to_string());
        }
        Ok(Some(targets)) => {
            if targets.is_empty() {
                change.detail = Some("no route target: discarded".into());
            }
            for (hop, t) in targets.into_iter().enumerate() {
                for (q, part) in queue_for(engine, store, t, hop, src, m, true) {
                    if q.state == "dead" || q.state == "review" {
                        change.detail =
                            Some(format!("{t}: {}", q.detail.clone().unwrap_or_default()));
                    }
                    change.queued.push(q);
                    parts_of.push(part);
                }
            }
        }
        Ok(None) => {
            let from = engine.interface(&m.interface).map(|i| i.from.as_str());
            let mut steward = JournalSteward::new(
                &engine.spec.matrices,
                from.unwrap_or_default(),
                store,
                false,
            );
            let result = match src {
                Source::Hl7(msg) => (engine.functions.deliver)(&m.interface, msg, &mut steward),
                Source::Fhir(v) => (engine.functions.deliver_fhir)(&m.interface, v, &mut steward),
            };
            change.notes.append(&mut steward.notes);
            match result {
                Err(e) => {
                    (change.state, change.reason) = match &e.kind {
                        MapErrorKind::Ownership(Hold::Review { .. }) => {
                            ("review", Some("ownership"))
                        }
                        MapErrorKind::Ownership(_) => ("dead", Some("ownership")),
                        other => ("dead", Some(failure_reason(other))),
                    };
                    change.reason_detail(e);
                }
                Ok(out) => {
                    change.writes = std::mem::take(&mut steward.writes);
                    store.stage(&change.writes);
                    change.record = out.map(Output::into_bytes);
                }
            }
        }
    }
    if change.state == "dead" {
        // A message that goes nowhere merges nothing.
        if let Some(merge) = change.merge.take() {
            store.unstage_merge(&merge);
        }
    }
    let Source::Hl7(msg) = src else {
        return change;
    };
    let now = time::now_ms();
    for f in &engine.spec.flows {
        // Each delivery to the flow's start opens (or, `cancel when ORC-1 == "CA"`,
        // cancels) the wait of its own key: a part of a split message, its part's.
        let mut cancelled: Vec<String> = vec![];
        for (q, part) in change.queued.iter().zip(&parts_of) {
            if q.state != "queued" || q.interface != f.start {
                continue;
            }
            let parsed = part.as_deref().and_then(|b| Message::parse(b).ok());
            let from = parsed.as_ref().unwrap_or(msg);
            let Some(key) = key_of(from, std::slice::from_ref(&f.correlate)) else {
                continue;
            };
            let cancels = f.cancel_when.iter().any(|(path, value)| {
                key_of(from, std::slice::from_ref(path)).as_ref() == Some(value)
            });
            if cancels {
                if !cancelled.contains(&key) {
                    cancelled.push(key);
                }
            } else if !change
                .starts
                .iter()
                .any(|(n, k, _)| *n == f.name && *k == key)
            {
                waits.stage_start(&f.name, &key);
                change
                    .starts
                    .push((f.name.clone(), key, now + f.within_ms as i64));
            }
        }
        let ends = change
            .queued
            .iter()
            .any(|q| q.state == "queued" && q.interface == f.wait_for);
        // A flow's `send x` on reply or cancel: this message mapped for `x`.
        let follow_ups = |store: &mut RecordStore, actions: &[Action], hops: usize| {
            actions
                .iter()
                .filter_map(|a| match a {
                    Action::Send { interface } => Some(interface),
                    _ => None,
                })
                .enumerate()
                .flat_map(|(n, target)| {
                    queue_for(engine, store, target, hops + n, src, m, false)
                        .into_iter()
                        .map(|(q, _)| q)
                })
                .collect()
        };
        for key in cancelled {
            let hops = change.queued.len();
            let follow_ups = follow_ups(store, &f.on_cancel, hops);
            change.cancels.push(FlowEnd {
                flow: f.name.clone(),
                key,
                follow_ups,
            });
        }
        // A reply ends the wait of the message's own key.
        let Some(key) = key_of(msg, std::slice::from_ref(&f.correlate)) else {
            continue;
        };
        if ends {
            let hops = change.queued.len() + f.on_cancel.len();
            let mut follow_ups: Vec<Queued> = follow_ups(store, &f.on_reply, hops);
            let end = |follow_ups| FlowEnd {
                flow: f.name.clone(),
                key: key.clone(),
                follow_ups,
            };
            match f.hold_early_ms {
                // No start has opened this wait: the reply waits for it, held.
                Some(hold) if !waits.started(&f.name, &key) => {
                    let replies = change
                        .queued
                        .iter_mut()
                        .filter(|q| q.interface == f.wait_for);
                    for q in replies.chain(follow_ups.iter_mut()) {
                        if q.state == "queued" {
                            q.state = "held";
                        }
                    }
                    change.early.push(Early {
                        end: end(follow_ups),
                        wait_for: f.wait_for.clone(),
                        deadline: now + hold as i64,
                    });
                }
                _ => change.ends.push(end(follow_ups)),
            }
        }
    }
    change
}

/// `msg` cut into the parts an operation with `split: per SEGMENT` sends (see
/// `Message::split_per`), each with a control id of its own (MSH-10 and `-1`, `-2`...,
/// what a pass-through sends); none when the message has fewer than two occurrences, so
/// it goes whole.
fn split_parts(msg: &Message, segment: &str) -> Vec<Vec<u8>> {
    let parts = msg.split_per(segment);
    if parts.len() < 2 {
        return vec![];
    }
    let control = msg.control_id().unwrap_or_default().to_string();
    let msh10 = accord_hl7::Path::parse("MSH-10").ok();
    parts
        .into_iter()
        .enumerate()
        .map(|(k, bytes)| {
            let (Ok(part), Some(path)) = (Message::parse(&bytes), msh10.as_ref()) else {
                return bytes;
            };
            let mut b = accord_hl7::builder::MessageBuilder::from_message(&part);
            match b.set(path, &format!("{control}-{}", k + 1)) {
                Ok(()) => b.serialize(),
                Err(_) => bytes,
            }
        })
        .collect()
}

/// The link an ADT^A24 received on `interface` makes, or an A37 undoes (`link:`): `None`
/// for other messages. Two keys the message must name, different, neither retired by a
/// merge (a person decides which survivor is meant, never a guess).
fn link_of(
    engine: &Engine,
    store: &mut RecordStore,
    interface: &str,
    msg: &Message,
) -> Result<Option<(records::Link, Note)>, String> {
    let Some(clause) = engine.interface(interface).and_then(|i| i.link.as_ref()) else {
        return Ok(None);
    };
    let unlink = match msg.message_type() {
        (Some("ADT"), Some("A24"), _) => false,
        (Some("ADT"), Some("A37"), _) => true,
        _ => return Ok(None),
    };
    let record = &clause.record;
    let key = |path: &String| {
        key_of(msg, std::slice::from_ref(path)).ok_or_else(|| {
            format!(
                "link: the message names no {record} at {path} ({})",
                clause.loc
            )
        })
    };
    let (first, second) = (key(&clause.first)?, key(&clause.second)?);
    if first == second {
        return Err(format!(
            "link: the message links {record} {first} with itself ({} and {} are the same)",
            clause.first, clause.second
        ));
    }
    for k in [&first, &second] {
        let chain = store.merge_chain(record, k).map_err(|t| match t {
            records::MergeTrouble::Unavailable(e) | records::MergeTrouble::Broken(e) => {
                format!("link: {e}")
            }
        })?;
        if let Some(survivor) = chain.first() {
            return Err(format!(
                "link: {record} {k} was merged into {survivor}; a person decides whether the survivor is meant"
            ));
        }
    }
    let (verdict, text) = if unlink {
        (
            "unlinked",
            format!("{record} {first} and {second} unlinked"),
        )
    } else {
        ("linked", format!("{record} {first} linked with {second}"))
    };
    let link = records::Link {
        record: record.clone(),
        first,
        second,
        unlink,
    };
    Ok(Some((link, Note { verdict, text })))
}

/// The merge `msg` makes, received on `interface` (`merge:`), decided against the stored
/// merges: `None` when the message names no retired key; the merge to store (none if it
/// was already made) and what was decided, in words; or why it cannot be applied, which
/// dead-letters the message for a person (a retired key already merged into another
/// record, a survivor that was itself merged into the retired key): never a guess.
fn merge_of(
    engine: &Engine,
    store: &mut RecordStore,
    interface: &str,
    msg: &Message,
) -> Result<Option<(Option<Merge>, Note)>, String> {
    let Some(clause) = engine.interface(interface).and_then(|i| i.merge.as_ref()) else {
        return Ok(None);
    };
    let Some(retired) = key_of(msg, std::slice::from_ref(&clause.retired)) else {
        return Ok(None);
    };
    let record = &clause.record;
    let Some(survivor) = key_of(msg, std::slice::from_ref(&clause.survivor)) else {
        return Err(format!(
            "merge: the message retires {record} {retired} ({}) but names no survivor at {} ({})",
            clause.retired, clause.survivor, clause.loc
        ));
    };
    if survivor == retired {
        return Err(format!(
            "merge: the message merges {record} {retired} into itself ({} and {} are the same)",
            clause.retired, clause.survivor
        ));
    }
    let chain = |store: &mut RecordStore, key: &str| {
        store.merge_chain(record, key).map_err(|t| match t {
            records::MergeTrouble::Unavailable(e) | records::MergeTrouble::Broken(e) => {
                format!("merge: {e}")
            }
        })
    };
    let from_survivor = chain(store, &survivor)?;
    if from_survivor.contains(&retired) {
        return Err(format!(
            "merge: {record} {survivor} was itself merged into {retired}; merging {retired} into {survivor} would go round, so a person decides"
        ));
    }
    let merge = Merge {
        record: record.clone(),
        retired: retired.clone(),
        survivor: survivor.clone(),
    };
    match chain(store, &retired)?.first() {
        None => Ok(Some((
            Some(merge),
            Note {
                verdict: "merged",
                text: format!("{record} {retired} merged into {survivor}"),
            },
        ))),
        Some(first) if *first == survivor => Ok(Some((
            None,
            Note {
                verdict: "merged",
                text: format!("{record} {retired} was already merged into {survivor}: nothing to do"),
            },
        ))),
        Some(other) => Err(format!(
            "merge: {record} {retired} was already merged into {other}; this message merges it into {survivor}, so a person decides which is right"
        )),
    }
}

/// Stores a processed batch; returns the ids of the deliveries queued for the operations
/// in `copied` (those whose lanes get copies, see `lanes`), in the batch's order, and the
/// flow waits (flow, key) it ended.
fn apply(c: &Db, changes: &[Change], lanes: u32, copied: &[String]) -> DbResult<Applied> {
    let now = time::now_ms();
    let mut ids = Vec::with_capacity(copied.len());
    let mut completed = vec![];
    let mut released = vec![];
    let settled: Vec<storage::Settled> = changes
        .iter()
        .map(|ch| storage::Settled {
            id: ch.inbound,
            state: ch.state,
            reason: ch.reason,
            detail: ch.detail.as_deref(),
        })
        .collect();
    storage::settle_all(c, &settled, now)?;
    // The batch's deliveries at once, unless a flow queues follow-ups among them: those
    // are journalled in the order they are decided, which bounds their keys' order.
    let at_once = changes
        .iter()
        .all(|ch| ch.early.is_empty() && ch.cancels.is_empty() && ch.ends.is_empty());
    let mut journalled = if at_once {
        let all: Vec<storage::Delivery> = changes
            .iter()
            .flat_map(|ch| ch.queued.iter().map(move |q| delivery(ch, q, lanes)))
            .collect();
        storage::queue_all(c, &all, now)?
    } else {
        vec![]
    }
    .into_iter();
    for ch in changes {
        let summary = if ch.queued.is_empty() {
            ch.detail.clone()
        } else {
            Some(
                ch.queued
                    .iter()
                    .map(|q| format!("{} ({})", q.interface, q.state))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        event(c, ch.inbound, now, ch.state, summary.as_deref())?;
        if let Some(merge) = ch.merge.as_ref().filter(|_| ch.state != "dead") {
            records::store_merge(c, merge, ch.inbound, now)?;
        }
        if let Some(link) = ch.link.as_ref().filter(|_| ch.state != "dead") {
            records::store_link(c, link, ch.inbound, now)?;
        }
        records::store(c, &ch.writes, Some(ch.inbound), now)?;
        for n in &ch.notes {
            event(c, ch.inbound, now, "ownership", Some(&n.text))?;
        }
        if let Some(record) = &ch.record {
            store_record(c, ch.inbound, now, record)?;
        }
        let mut held = vec![];
        for q in &ch.queued {
            let id = match journalled.next() {
                Some(id) => {
                    queued_written(c, id, q, now)?;
                    id
                }
                None => insert_queued(c, ch, q, now, lanes)?,
            };
            if q.state == "queued" && copied.contains(&q.interface) {
                ids.push(id);
            }
            if q.state == "held" {
                held.push((id, q.interface.as_str()));
            }
        }
        for early in &ch.early {
            let flow = &early.end.flow;
            let key = &early.end.key;
            let mut mine: Vec<i64> = held
                .iter()
                .filter(|(_, i)| *i == early.wait_for)
                .map(|(id, _)| *id)
                .collect();
            for q in &early.end.follow_ups {
                mine.push(insert_queued(c, ch, q, now, lanes)?);
            }
            for id in mine {
                hold_early(c, flow, key, id, early.deadline)?;
            }
            event(
                c,
                ch.inbound,
                now,
                "flow-early",
                Some(&format!(
                    "{flow} key {key}: no start has opened this wait yet; held until it does, or {}",
                    time::iso(early.deadline)
                )),
            )?;
        }
        for (flow, key, deadline) in &ch.starts {
            start_wait(c, flow, key, ch.inbound, &ch.correlation, now, *deadline)?;
            let replies = release_early(c, flow, key, now)?;
            if replies.is_empty() {
                event(
                    c,
                    ch.inbound,
                    now,
                    "flow-started",
                    Some(&format!("{flow} waits for key {key}")),
                )?;
                continue;
            }
            // Its reply came first and was held: the wait is over as it begins.
            complete_wait(c, flow, key)?;
            let ids: Vec<String> = replies.iter().map(|(id, _)| id.to_string()).collect();
            event(
                c,
                ch.inbound,
                now,
                "flow-completed",
                Some(&format!(
                    "{flow} key {key}: its reply had come first and was held (message {}); released",
                    ids.join(", ")
                )),
            )?;
            completed.push((flow.clone(), key.clone(), "reply"));
            released.extend(replies.into_iter().map(|(_, i)| i));
        }
        for end in &ch.cancels {
            if cancel_wait(c, &end.flow, &end.key)? {
                event(
                    c,
                    ch.inbound,
                    now,
                    "flow-cancelled",
                    Some(&format!("{} key {}", end.flow, end.key)),
                )?;
                for q in &end.follow_ups {
                    insert_queued(c, ch, q, now, lanes)?;
                }
                completed.push((end.flow.clone(), end.key.clone(), "cancel"));
            } else {
                let was = wait_state(c, &end.flow, &end.key)?;
                event(
                    c,
                    ch.inbound,
                    now,
                    "flow-cancel",
                    Some(&format!(
                        "{} key {}: no wait to cancel ({}); sent as routed",
                        end.flow,
                        end.key,
                        was.map(|s| format!("it is {s}"))
                            .unwrap_or_else(|| "none was started".into())
                    )),
                )?;
            }
        }
        for end in &ch.ends {
            if complete_wait(c, &end.flow, &end.key)? {
                event(
                    c,
                    ch.inbound,
                    now,
                    "flow-completed",
                    Some(&format!("{} key {}", end.flow, end.key)),
                )?;
                for q in &end.follow_ups {
                    insert_queued(c, ch, q, now, lanes)?;
                }
                completed.push((end.flow.clone(), end.key.clone(), "reply"));
            } else if wait_state(c, &end.flow, &end.key)?.as_deref() == Some("cancelled") {
                // Sent as routed, but an operator reading the trace sees why no flow ended.
                event(
                    c,
                    ch.inbound,
                    now,
                    "flow-late",
                    Some(&format!(
                        "{} key {}: its wait was cancelled before this arrived",
                        end.flow, end.key
                    )),
                )?;
            }
        }
    }
    Ok(Applied {
        ids,
        ended: completed,
        released,
    })
}

/// Journals one delivery `ch` queued (or dead on arrival) with its ordering keys, events
/// and record writes; returns its id.
fn insert_queued(c: &Db, ch: &Change, q: &Queued, now: i64, lanes: u32) -> DbResult<i64> {
    let id = storage::queue(c, &delivery(ch, q, lanes), now)?;
    queued_written(c, id, q, now)?;
    Ok(id)
}

/// What journalling delivery `q` as `id` writes besides its row: its events and its
/// record writes.
fn queued_written(c: &Db, id: i64, q: &Queued, now: i64) -> DbResult<()> {
    event(c, id, now, q.state, q.detail.as_deref())?;
    for n in &q.notes {
        event(c, id, now, "ownership", Some(&n.text))?;
    }
    records::store(c, &q.writes, Some(id), now)
}

/// Delivery `q` of change `ch` as the journal stores it.
fn delivery<'a>(ch: &'a Change, q: &'a Queued, lanes: u32) -> storage::Delivery<'a> {
    storage::Delivery {
        correlation: &ch.correlation,
        parent: ch.inbound,
        interface: &q.interface,
        version: &q.version,
        state: q.state,
        message_type: q.message_type.as_deref(),
        control_id: q.control_id.as_deref(),
        patient_id: q.patient_id.as_deref(),
        order_key: q.order_key.as_deref(),
        reason: q.reason,
        detail: q.detail.as_deref(),
        payload: &q.payload,
        lane: super::journal::lane_of(q.order_key.as_deref(), lanes),
        also_keys: q
            .also_keys
            .as_ref()
            .map(|(endpoint, keys)| (endpoint.as_str(), keys.as_slice())),
    }
}

/// Runs a flow's `on reply` alerts and warnings once its wait has ended, and wakes the
/// operations its follow-ups were queued for.
fn replied(engine: &Engine, completed: &[Ended]) {
    for (name, key, how) in completed {
        let Some(flow) = engine.spec.flows.iter().find(|f| &f.name == name) else {
            continue;
        };
        let (actions, what) = if *how == "cancel" {
            (&flow.on_cancel, format!("{name} was cancelled ({key})"))
        } else {
            (
                &flow.on_reply,
                format!("{} arrived for flow {name} ({key})", flow.wait_for),
            )
        };
        for a in actions {
            match a {
                Action::Alert { target } => engine.alert(target, name, &what),
                Action::Warn => {
                    tracing::warn!(flow = %name, key = %key, "{what}");
                }
                Action::Send { interface } => engine.wake_operation(interface),
                _ => {}
            }
        }
    }
}

/// The dead letter's reason for a mapping that failed other than by the matrix: `constraint`
/// when a value breaks a record's constraint, else `map`.
pub(super) fn failure_reason(kind: &MapErrorKind) -> &'static str {
    match kind {
        MapErrorKind::Constraint { .. } => "constraint",
        MapErrorKind::Conformance(_) => "conformance",
        _ => "map",
    }
}
