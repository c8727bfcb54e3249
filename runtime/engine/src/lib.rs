//! The production engine: what a generated production binary runs. The generated crate
//! hands it a [`Production`] (the wiring as a [`Spec`] and its generated route and mapping
//! functions); the engine checks the configuration, opens the journal and runs:
//!
//! ```text
//! MLLP/file --> inbound (parse, pick contract, validate, dedupe, journal, ACK)
//!           --> process (route, map, queue per operation, start/match flows)
//!           --> outbound (send, classify the reply, apply the contract's policy)
//! flows (timeouts) . admin HTTP (/health /ready /metrics) . gauges
//! ```
//!
//! Every step is a journal transaction, so a restart resumes where the process stopped:
//! received messages are routed, queued ones delivered, waits keep their deadlines.
//!
//! Only a generated production's `main.rs` links this crate; its library links the small
//! `accord-runtime`, and the compiler neither.

// Nothing panics on user input: no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod acks;
mod admin;
pub mod alerts;
mod api;
mod cli;
pub mod cluster;
pub mod config;
mod console;
mod credentials;
mod envelope;
mod flows;
mod folder;
mod http;
mod http_listener;
mod inbound;
pub mod journal;
mod jwt;
mod lanes;
mod metrics;
mod notices;
mod operator;
mod outbound;
mod process;

mod reloaded;
mod replies;
mod retention;
mod review;
pub mod scenario;
mod shown;
mod sla;
pub mod time;
pub mod tls;

pub use cli::main;

/// The memory allocator a production binary declares as its `#[global_allocator]`
/// (mimalloc; the generated `main.rs` names it). Measured on the performance page: the
/// engine allocates per message on every thread, and glibc's malloc was a tenth of its
/// CPU. `accord build` compiles it not to commit its arenas eagerly, so that the resident
/// memory stays what the production uses.
pub use mimalloc::MiMalloc as Allocator;

use accord_hl7::Message;
use accord_runtime::mapping::{MapError, Output};
use accord_runtime::spec::{Interface, Role, Spec};
use config::Config;
use journal::Journal;
use metrics::Metrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, Notify};

/// Routes: the targets of a message received on an interface (`None`: it has no routes).
pub type InboundFn = fn(&str, &Message) -> Result<Option<Vec<&'static str>>, MapError>;
/// Transforms: what an interface's chain makes of a message (`None`: it has none); each
/// record the ownership matrix governs passes the steward on the way.
pub type DeliverFn = fn(
    &str,
    &Message,
    &mut dyn accord_runtime::steward::Steward,
) -> Result<Option<Output>, MapError>;

/// Routes of an API interface: the interfaces a resource its client created goes to, by
/// resource type (`None`: no route takes what that interface's clients create).
pub type RoutedFn = fn(&str, &str) -> Option<Vec<&'static str>>;
/// Transforms from FHIR: what an interface's chain makes of a created resource (`None`:
/// its chain does not start from FHIR).
pub type DeliverFhirFn = fn(
    &str,
    &serde_json::Value,
    &mut dyn accord_runtime::steward::Steward,
) -> Result<Option<Output>, MapError>;

/// The facade: the FHIR resource (JSON bytes) an API interface makes of a stored record
/// for a resource type (`None`: it does not serve that type).
pub type ServeFn = fn(&str, &str, &serde_json::Value) -> Result<Option<Vec<u8>>, MapError>;
/// The facade's write-back: the stored record (as JSON) an API interface reads from a
/// client's resource (`None`: it does not accept that type).
pub type AcceptFn =
    fn(&str, &str, &serde_json::Value) -> Result<Option<serde_json::Value>, MapError>;

/// What the generated crate gives the engine.
#[derive(Clone, Copy)]
pub struct Production {
    /// The [`Spec`] as JSON.
    pub spec: &'static str,
    /// The configuration's JSON Schema per environment.
    pub config_schemas: &'static [(&'static str, &'static str)],
    pub inbound: InboundFn,
    pub deliver: DeliverFn,
    pub routed: RoutedFn,
    pub deliver_fhir: DeliverFhirFn,
    pub serve: ServeFn,
    pub accept: AcceptFn,
}

impl Production {
    /// Its transform chains, from HL7 v2 and from FHIR.
    pub fn chains(&self) -> Chains {
        Chains {
            deliver: self.deliver,
            deliver_fhir: self.deliver_fhir,
        }
    }
}

/// The generated transform chains: from a received HL7 v2 message, and from a resource an
/// API's client created.
#[derive(Clone, Copy)]
pub struct Chains {
    pub deliver: DeliverFn,
    pub deliver_fhir: DeliverFhirFn,
}

/// How a message's downstream processing ended, for application-level ACKs.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub positive: bool,
    pub text: String,
    /// How an ERR segment reports a negative outcome: the HL7 table 0357 code and the
    /// message path of the value at fault (a broken constraint's lineage); `None` is
    /// 207, application error, with no location.
    pub error: Option<(u16, Option<&'static str>)>,
}

/// The running production, shared by its tasks.
pub struct Engine {
    pub spec: Spec,
    pub functions: Production,
    pub config: Config,
    pub journal: Journal,
    pub metrics: Metrics,
    /// Posts alerts to the webhooks the configuration routes them to.
    pub alerts: alerts::Notifier,
    /// Wakes the processor when messages are received.
    pub received: Notify,
    /// What of the estate's work this node does (every lane and task on SQLite).
    pub cluster: cluster::Cluster,
    /// Each operation's lanes: a wake-up per lane, so each lane is woken (or finds the
    /// permit) whichever lane the message is in (one shared `Notify` woke a single lane,
    /// and the lane holding the message could sleep out its idle timeout), and the copy of
    /// what the processor queued for it (see `lanes`).
    lanes: HashMap<String, Arc<Vec<lanes::Lane>>>,
    /// Per operation, the operations that name it among their order peers: a delivery
    /// queued for it can hold theirs back, so their lanes read the journal again.
    holds_back: HashMap<String, Vec<String>>,
    /// Services waiting for a message's outcome to send an application ACK.
    pub waiting: Mutex<HashMap<i64, oneshot::Sender<Outcome>>>,
    pub ready: AtomicBool,
    /// Refusals of clients, logged once per client and interval.
    pub notices: notices::Notices,
    /// Delivery latencies and last-message times for the contracts' SLAs.
    pub sla: sla::Tracker,
    /// Endpoint settings read again on SIGHUP, for the operations' credentials.
    pub reloaded: reloaded::Reloaded,
    /// Per ordered operation, the operations to the same endpoint it shares ordering keys
    /// with, itself first when it names further keys (see [`Engine::order_peers`]).
    order_peers: HashMap<String, Vec<String>>,
    seq: AtomicU64,
    run_id: String,
}

impl Engine {
    pub fn new(
        spec: Spec,
        functions: Production,
        config: Config,
        journal: Journal,
        cluster: cluster::Cluster,
    ) -> Engine {
        let lanes = spec
            .interfaces
            .iter()
            .filter(|i| i.role == Role::Operation)
            .map(|i| {
                let lanes = (0..lanes_of(i, &config)).map(|_| lanes::Lane::default());
                (i.name.clone(), Arc::new(lanes.collect()))
            })
            .collect();
        let order_peers = order_peers(&spec);
        let mut holds_back: HashMap<String, Vec<String>> = HashMap::new();
        for (op, peers) in &order_peers {
            for peer in peers.iter().filter(|p| *p != op) {
                holds_back.entry(peer.clone()).or_default().push(op.clone());
            }
        }
        let mut metrics = Metrics::new();
        metrics.register_journal(journal.stats());
        let sla = sla::Tracker::new(&spec.interfaces, time::now_ms());
        let mut alerts =
            alerts::Notifier::new(config.alerts.clone()).with_smtp(config.smtp.clone());
        alerts.start(spec.estate.clone(), config.env.clone());
        Engine {
            spec,
            functions,
            config,
            journal,
            metrics,
            alerts,
            received: Notify::new(),
            cluster,
            lanes,
            holds_back,
            waiting: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
            notices: notices::Notices::default(),
            sla,
            reloaded: reloaded::Reloaded::default(),
            order_peers,
            seq: AtomicU64::new(0),
            run_id: format!("{:x}", time::now_ms()),
        }
    }

    /// The operations whose pending deliveries can hold back one of `interface`'s: those
    /// to the same endpoint whose ordering keys are read from a path it also reads
    /// (`per PID-3.1` and `per PID-3.1, MRG-1.1`: an update and a merge of one patient),
    /// and itself when it names further keys (another merge in another lane). Empty: its
    /// lanes alone keep its order.
    pub fn order_peers(&self, interface: &str) -> &[String] {
        self.order_peers
            .get(interface)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Raises alert `name` about `subject`: counted in the metrics, logged, and posted to
    /// its webhook when the configuration routes it (once while it repeats).
    pub fn alert(&self, name: &str, subject: &str, text: &str) {
        self.metrics.alert(name);
        tracing::warn!(alert = %name, subject = %subject, "ALERT: {text}");
        self.alerts.raise(name, subject, text);
    }

    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.spec.interfaces.iter().find(|i| i.name == name)
    }

    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A correlation id that follows a message across every hop: unique across restarts.
    pub fn correlation_id(&self) -> String {
        format!("{}-{}", self.run_id, self.next_seq())
    }

    fn lanes_of(&self, interface: &str) -> impl Iterator<Item = &lanes::Lane> {
        self.lanes.get(interface).into_iter().flat_map(|l| l.iter())
    }

    /// Wakes an operation's lanes after something other than the processor's copies
    /// (`Engine::queued_by_processor`) queued for it: its lanes read the journal again,
    /// and so do the lanes its deliveries can hold back.
    pub fn wake_operation(&self, interface: &str) {
        for lane in self.lanes_of(interface) {
            lane.stale();
            lane.wake.notify_one();
        }
        self.held_back_by(interface);
    }

    /// Wakes lanes `lanes` of `operation`, given deliveries by another node's processor
    /// (or this one's, through its notice); and the lanes those can hold back.
    pub fn wake_lanes(&self, operation: &str, lanes: &[u32]) {
        if let Some(all) = self.lanes.get(operation) {
            for n in lanes {
                if let Some(lane) = all.get(*n as usize) {
                    lane.stale();
                    lane.wake.notify_one();
                }
            }
        }
        self.held_back_by(operation);
    }

    /// Whether `operation`'s lanes can send from a copy: not one with further keys
    /// (merges), whose deliveries are always checked against other lanes' queues, nor
    /// when nodes share the journal (its ids, from one sequence for every node's writes,
    /// are not in commit order, which a copy's epoch counts on).
    fn sends_from_copies(&self, operation: &str) -> bool {
        !self.cluster.clustered() && !self.order_peers(operation).iter().any(|p| p == operation)
    }

    /// After the processor committed deliveries for `targets`: first the lanes they can
    /// hold back go stale, then each lane is given its copies (`(operation, lane,
    /// message)`, in commit order), then the targets' lanes are woken. In that order a
    /// held-back lane never takes a copy committed after the delivery that holds it.
    /// When nodes share the journal, the processor's notice wakes the lanes given
    /// deliveries, on whichever node runs them (this one included): nothing here.
    fn queued_by_processor(&self, targets: &[String], copies: Vec<(String, u32, lanes::Next)>) {
        if self.cluster.clustered() {
            return;
        }
        for t in targets {
            self.held_back_by(t);
        }
        for (op, lane, next) in copies {
            if let Some(lane) = self.lanes.get(&op).and_then(|l| l.get(lane as usize)) {
                lane.copy(next);
            }
        }
        for t in targets {
            for lane in self.lanes_of(t) {
                lane.wake.notify_one();
            }
        }
    }

    /// A delivery was queued for `interface`: the lanes it can hold back must see it.
    fn held_back_by(&self, interface: &str) {
        for op in self.holds_back.get(interface).into_iter().flatten() {
            for lane in self.lanes_of(op) {
                lane.stale();
            }
        }
    }

    /// Tells the service waiting on `inbound` (received by service `origin`) how its
    /// message ended: on this node, or (when nodes share the journal and none waits here)
    /// on whichever node received it.
    pub fn settle(&self, inbound: i64, origin: Option<&str>, outcome: Outcome) {
        if self.settle_here(inbound, outcome.clone()) || !self.waits_elsewhere(origin) {
            return;
        }
        let notice = cluster::Notice::Settled {
            id: inbound,
            positive: outcome.positive,
            text: outcome.text,
            code: outcome.error.map(|(c, _)| c),
        }
        .text();
        let sent = self
            .journal
            .write_redoable(move |c| journal::cluster::notify(c, &notice));
        tokio::spawn(async move {
            if let Err(e) = sent.await {
                tracing::warn!(error = %e, "cannot tell the other nodes a message's outcome");
            }
        });
    }

    /// Whether a sender of service `origin` may wait on another node for its message's
    /// outcome: nodes share the journal, and the service's ACKs can wait for it.
    fn waits_elsewhere(&self, origin: Option<&str>) -> bool {
        self.cluster.clustered()
            && origin
                .and_then(|o| self.interface(o))
                .is_some_and(|i| matches!(i.ack.mode.as_str(), "application" | "msh"))
    }

    /// Tells a service of this node waiting on `inbound` how its message ended; whether
    /// one was waiting.
    pub fn settle_here(&self, inbound: i64, outcome: Outcome) -> bool {
        let waiter = self
            .waiting
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&inbound));
        match waiter {
            Some(tx) => {
                let _ = tx.send(outcome);
                true
            }
            None => false,
        }
    }

    /// Whether a service may be waiting on `inbound` (received by service `origin`): one
    /// of this node, or, when nodes share the journal, perhaps one of another.
    pub fn is_waiting(&self, inbound: i64, origin: Option<&str>) -> bool {
        self.waits_elsewhere(origin)
            || self
                .waiting
                .lock()
                .map(|w| w.contains_key(&inbound))
                .unwrap_or(false)
    }
}

/// Values of HL7 paths in a message, for keys: the first value of each, joined by `|`.
pub fn key_of(msg: &Message, paths: &[String]) -> Option<String> {
    joined_key(&key_parts(msg, paths))
}

/// The parts of a key made of `paths`: the first value of each, as text (empty if absent).
fn key_parts(msg: &Message, paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            accord_hl7::Path::parse(p)
                .ok()
                .and_then(|path| msg.get(&path).ok().flatten())
                .and_then(|v| v.text().ok().map(|t| t.into_owned()))
                .unwrap_or_default()
        })
        .collect()
}

/// A key's parts joined by `|`; `None` when every part is empty (or there are none).
fn joined_key(parts: &[String]) -> Option<String> {
    if parts.iter().all(String::is_empty) {
        None
    } else {
        Some(parts.join("|"))
    }
}

/// Of a key's `parts` (made of `paths`), the one that is the control id (MSH-10), when
/// the key has one and it is not empty: every message with the same key has that part.
fn control_part(paths: &[String], parts: &[String]) -> Option<String> {
    paths
        .iter()
        .position(|p| matches!(p.trim(), "MSH-10" | "MSH-10.1"))
        .and_then(|i| parts.get(i))
        .filter(|v| !v.is_empty())
        .cloned()
}

/// The patient identifier used to search the journal: PID-3.1 of the first repetition.
pub fn patient_of(msg: &Message) -> Option<String> {
    key_of(msg, &["PID-3[1].1".to_string()])
}

/// [`Engine::order_peers`] of every ordered operation.
/// How many lanes an operation runs: `[limits] lanes` with an ordering key, else one
/// (strict arrival order).
pub fn lanes_of(operation: &Interface, config: &Config) -> u32 {
    if operation.ordering.is_some() {
        config.limits.lanes.max(1)
    } else {
        1
    }
}

fn order_peers(spec: &Spec) -> HashMap<String, Vec<String>> {
    let ordered: Vec<&Interface> = spec
        .interfaces
        .iter()
        .filter(|i| i.role == Role::Operation && i.ordering.is_some() && i.endpoint.is_some())
        .collect();
    let paths = |i: &Interface| -> Vec<String> {
        i.ordering.iter().chain(&i.ordering_also).cloned().collect()
    };
    let mut out = HashMap::new();
    for i in &ordered {
        let mine = paths(i);
        let mut peers: Vec<String> = vec![];
        if !i.ordering_also.is_empty() {
            peers.push(i.name.clone());
        }
        for o in ordered
            .iter()
            .filter(|o| o.name != i.name && o.endpoint == i.endpoint)
        {
            if paths(o).iter().any(|p| mine.contains(p)) {
                peers.push(o.name.clone());
            }
        }
        if !peers.is_empty() {
            out.insert(i.name.clone(), peers);
        }
    }
    out
}
