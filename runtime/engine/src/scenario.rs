//! Scenarios (`accord test`): the production run in process on a journal of its own, with
//! virtual peers and a virtual clock. Messages are received through the same intake as
//! over MLLP (`inbound::receive`), decided by the same processor, delivered by the same
//! lanes' queue reads, reply policies and journal writes, with the transport replaced by
//! a [`Peer`] that answers as the scenario says; flows time out by the virtual clock. After
//! each step the production is run until it has nothing left to do now, so a scenario's
//! outcome does not depend on the machine's speed.
//!
//! What is not run: sockets, TLS, the admin listener, alerts' webhooks and mail (an alert
//! is counted and logged), retention, and nodes sharing a journal.

use super::config::{self, Config};
use super::inbound::{self, Fate};
use super::journal::{self, open_read, Journal, Store, SyncPolicy};
use super::operator::{self, Actor, Replay, Selection};
use super::outbound::PeerLane;
use super::process::{Pass, Processor};
use super::review::{self, Held};
use super::{acks, cluster, flows, time, Engine, Production};
use accord_hl7::ack::AckCode;
use accord_hl7::mllp::codec::Frame;
use accord_hl7::mllp::server::Reply;
use accord_hl7::Message;
use accord_runtime::scenario::{Scenario, Step, StepKind};
use accord_runtime::spec::{Role, Spec};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Where the virtual clock starts: Monday 5 January 2026, 09:00 UTC.
const EPOCH_MS: i64 = 1_767_603_600_000;

/// How a peer answers one message.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Code(AckCode),
    Nothing,
}

/// The system at the far end of an operation, in process: answers each message with the
/// next of its answers (the last one kept), and keeps what it received.
pub struct Peer {
    answers: Mutex<(Vec<Answer>, usize)>,
    received: Mutex<Vec<Vec<u8>>>,
}

impl Peer {
    fn new() -> Peer {
        Peer {
            answers: Mutex::new((vec![Answer::Code(AckCode::AA)], 0)),
            received: Mutex::default(),
        }
    }

    fn answer_with(&self, answers: Vec<Answer>) {
        if let Ok(mut a) = self.answers.lock() {
            *a = (answers, 0);
        }
    }

    /// Takes `payload`, and answers it: an ACK, or `None` for no reply at all.
    pub(crate) fn answer(&self, payload: &[u8]) -> Option<Vec<u8>> {
        if let Ok(mut r) = self.received.lock() {
            r.push(payload.to_vec());
        }
        let answer = match self.answers.lock() {
            Ok(mut a) => {
                let (list, at) = &mut *a;
                let answer = list
                    .get(*at)
                    .or(list.last())
                    .cloned()
                    .unwrap_or(Answer::Code(AckCode::AA));
                *at = (*at + 1).min(list.len().saturating_sub(1));
                answer
            }
            Err(_) => Answer::Code(AckCode::AA),
        };
        let code = match answer {
            Answer::Nothing => return None,
            Answer::Code(c) => c,
        };
        let now = time::now_ms();
        let text = (code != AckCode::AA && code != AckCode::CA).then_some("refused by the peer");
        Some(match Message::parse(payload) {
            Ok(msg) => acks::ack(&msg, code, text, vec![], "PEER", now),
            // Not HL7 (a FHIR or HTTP payload): an ACK that names no message.
            Err(_) => format!(
                "MSH|^~\\&|PEER||ACCORD||{}||ACK|PEER|P|2.5\rMSA|{code}|\r",
                time::hl7(now)
            )
            .into_bytes(),
        })
    }

    fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// A message sent by a step: the intake answering it, and the message's id while its
/// sender waits for the downstream outcome (application ACKs).
struct Sent {
    intake: JoinHandle<(Reply, Fate)>,
    waiting: Option<i64>,
    /// When it was sent, and how long its sender waits for an application ACK.
    at_ms: i64,
    timeout_ms: i64,
    ack: Option<Vec<u8>>,
}

/// One scenario's production.
struct Harness {
    engine: Arc<Engine>,
    processor: Processor,
    lanes: Vec<PeerLane>,
    peers: BTreeMap<String, Arc<Peer>>,
    sent: Vec<Sent>,
    root: PathBuf,
}

/// Runs `scenarios` (the compiler's JSON) on `production`, message files read from the
/// estate at `root`; prints each outcome and answers (passed, failed).
pub fn run(production: Production, scenarios: &str, root: &Path) -> (usize, usize) {
    let scenarios: Vec<Scenario> = match serde_json::from_str(scenarios) {
        Ok(s) => s,
        Err(e) => {
            println!("error: the scenarios do not read: {e}; rebuild with `accord build`");
            return (0, 1);
        }
    };
    let spec: Spec = match serde_json::from_str(production.spec) {
        Ok(s) => s,
        Err(e) => {
            println!("error: the production's wiring does not read: {e}");
            return (0, scenarios.len().max(1));
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for (i, s) in scenarios.iter().enumerate() {
        let dir = std::env::temp_dir().join(format!("accord-scenario-{}-{i}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let outcome = run_one(production, &spec, s, root, &dir);
        time::set_virtual(0);
        let _ = std::fs::remove_dir_all(&dir);
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("scenario {:?} ... ok", s.name);
            }
            Err((at, why)) => {
                failed += 1;
                println!("scenario {:?} ... FAILED\n  --> {at}\n  {why}", s.name);
            }
        }
    }
    (passed, failed)
}

/// A failure: where (the step's `file:line`) and why.
pub type Failure = (String, String);

/// Runs one scenario made by the tool (a case derived from the contract) on
/// `production`; the first failure, if any.
pub fn check(production: Production, scenario: &Scenario, root: &Path) -> Result<(), Failure> {
    let spec: Spec = serde_json::from_str(production.spec).map_err(|e| {
        (
            scenario.at.clone(),
            format!("the production's wiring does not read: {e}"),
        )
    })?;
    let dir = std::env::temp_dir().join(format!(
        "accord-derived-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = run_one(production, &spec, scenario, root, &dir);
    time::set_virtual(0);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Numbers the journals of [`check`]'s scenarios within one process.
static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn run_one(
    production: Production,
    spec: &Spec,
    s: &Scenario,
    root: &Path,
    dir: &Path,
) -> Result<(), Failure> {
    let at = |why: String| (s.at.clone(), why);
    let config = configure(production, spec, dir).map_err(at)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| at(format!("cannot start the async runtime: {e}")))?;
    time::set_virtual(EPOCH_MS);
    runtime.block_on(async {
        let mut h = Harness::start(production, spec.clone(), config, root)
            .await
            .map_err(at)?;
        for step in &s.steps {
            h.step(step).await.map_err(|why| (step.at.clone(), why))?;
        }
        Ok(())
    })
}

/// The production's configuration for a scenario: its `test` environment (else `dev`,
/// else the first that needs no file), on a journal of its own in `dir`, with nothing
/// sent to the outside (no admin listener, no alert routes).
fn configure(production: Production, spec: &Spec, dir: &Path) -> Result<Config, String> {
    let mut envs: Vec<&str> = ["test", "dev"]
        .into_iter()
        .filter(|e| spec.environments.iter().any(|x| x == e))
        .collect();
    envs.extend(
        spec.environments
            .iter()
            .map(String::as_str)
            .filter(|e| !["test", "dev"].contains(e)),
    );
    let mut first_error = None;
    for env in envs {
        match config::load(spec, production.config_schemas, env, None, dir) {
            Ok(mut c) => {
                c.journal = Store::Sqlite(dir.join("journal.db"));
                c.sync = SyncPolicy::Off;
                c.admin = None;
                c.alerts = Default::default();
                c.smtp = None;
                return Ok(c);
            }
            Err(errors) => {
                first_error.get_or_insert_with(|| {
                    let e = &errors[0];
                    format!(
                        "the production cannot be configured for environment `{env}`: {} ({})",
                        e.message, e.help
                    )
                });
            }
        }
    }
    Err(first_error.unwrap_or_else(|| "the estate declares no environment".into()))
}

impl Harness {
    async fn start(
        production: Production,
        spec: Spec,
        config: Config,
        root: &Path,
    ) -> Result<Harness, String> {
        let journal = Journal::open_store(&config.journal, config.sync, config.limits.lanes)
            .map_err(|e| e.to_string())?;
        let engine = Arc::new(Engine::new(
            spec,
            production,
            config,
            journal,
            cluster::Cluster::solo(),
        ));
        let mut peers = BTreeMap::new();
        let mut lanes = vec![];
        for i in engine
            .spec
            .interfaces
            .iter()
            .filter(|i| i.role == Role::Operation && i.status != "retired")
        {
            let peer = Arc::new(Peer::new());
            for lane in 0..super::lanes_of(i, &engine.config) {
                lanes.push(PeerLane::new(&engine, i.clone(), lane, peer.clone()));
            }
            peers.insert(i.name.clone(), peer);
        }
        let processor = Processor::start(&engine).await;
        Ok(Harness {
            engine,
            processor,
            lanes,
            peers,
            sent: vec![],
            root: root.to_path_buf(),
        })
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        match &step.kind {
            StepKind::Peer { operation, answers } => {
                let peer = self.peer(operation)?;
                let answers = answers
                    .iter()
                    .map(|a| match AckCode::parse(a) {
                        Some(c) => Answer::Code(c),
                        None => Answer::Nothing,
                    })
                    .collect();
                peer.answer_with(answers);
                Ok(())
            }
            StepKind::Send { file, inline, at } => {
                let bytes = match (file, inline) {
                    (Some(f), _) => std::fs::read(self.root.join(f))
                        .map_err(|e| format!("cannot read {f}: {e}"))?,
                    (None, Some(text)) => text.replace('\n', "\r").into_bytes(),
                    _ => vec![],
                };
                self.send(at, bytes).await?;
                self.settle().await
            }
            StepKind::Advance { ms } => {
                time::set_virtual(time::now_ms() + *ms as i64);
                self.time_out_senders();
                self.settle().await
            }
            StepKind::Resend { operation } => {
                let selection = Selection {
                    interface: Some(operation.clone()),
                    ..Selection::default()
                };
                let store = self.engine.journal.store().clone();
                let (spec, chains) = (self.engine.spec.clone(), self.engine.functions.chains());
                operator::resend(&store, &spec, chains, &selection, None, &actor())
                    .map_err(|e| e.to_string())?;
                self.settle().await
            }
            StepKind::Replay { operation } => {
                let replay = Replay {
                    interface: operation.clone(),
                    from_ms: None,
                    to_ms: None,
                    key: None,
                    version: None,
                    dry_run: false,
                };
                let store = self.engine.journal.store().clone();
                operator::replay(&store, &self.engine.spec, &replay, &actor())
                    .map_err(|e| e.to_string())?;
                self.settle().await
            }
            StepKind::Review { approve, queue } => {
                let held = Held {
                    ids: vec![],
                    queue: queue.clone(),
                };
                let store = self.engine.journal.store().clone();
                if *approve {
                    let (spec, chains) = (self.engine.spec.clone(), self.engine.functions.chains());
                    review::approve(&store, &spec, chains, &held, &actor())
                } else {
                    review::reject(&store, &held, &actor())
                }
                .map_err(|e| e.to_string())?;
                self.settle().await
            }
            StepKind::ExpectAck { code } => {
                let ack = self.last_ack().await?;
                let got = match &ack {
                    Some(bytes) => text_at(bytes, "MSA-1"),
                    None => "no ACK".into(),
                };
                if &got == code {
                    return Ok(());
                }
                let text = ack
                    .as_deref()
                    .map(|b| text_at(b, "MSA-3"))
                    .filter(|t| !t.is_empty())
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default();
                Err(format!(
                    "expected ACK {code} for the last message sent; the production answered {got}{text}"
                ))
            }
            StepKind::ExpectCount { count, state, at } => {
                let (state2, at2) = (state.clone(), at.clone());
                let n = self
                    .read(move |c| journal::query::count_in_state(c, &state2, at2.as_deref()))
                    .await?;
                if n as u64 == *count {
                    return Ok(());
                }
                let place = at
                    .as_deref()
                    .map(|a| format!(" at {a}"))
                    .unwrap_or_default();
                Err(format!(
                    "expected {count} message(s) {}{place}; the journal has {n}",
                    state_words(state)
                ))
            }
            StepKind::ExpectRecord {
                record,
                key,
                absent,
                field,
                equals,
            } => {
                let (r, k) = (record.clone(), key.clone());
                let fields = self
                    .read(move |c| journal::records::stored_fields(c, &r, &k))
                    .await?;
                match (fields.is_empty(), absent) {
                    (true, true) => return Ok(()),
                    (false, true) => {
                        return Err(format!(
                            "expected no stored {record} {key:?}; one is stored"
                        ))
                    }
                    (true, false) => {
                        return Err(format!("expected a stored {record} {key:?}; there is none"))
                    }
                    (false, false) => {}
                }
                let (Some(field), Some(equals)) = (field, equals) else {
                    return Ok(());
                };
                let got = match fields.get(field) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                };
                if &got == equals {
                    Ok(())
                } else {
                    Err(format!(
                        "expected {record} {key:?} to have {field} {equals:?}; it has {got:?}"
                    ))
                }
            }
            StepKind::ExpectLink {
                record,
                first,
                second,
                absent,
            } => {
                let (r, k) = (record.clone(), first.clone());
                let others = self
                    .read(move |c| journal::records::linked(c, &r, &k))
                    .await?;
                match (others.contains(second), absent) {
                    (true, false) | (false, true) => Ok(()),
                    (false, false) => Err(format!(
                        "expected {record} {first:?} to be linked with {second:?}; it is linked with {others:?}"
                    )),
                    (true, true) => Err(format!(
                        "expected {record} {first:?} not to be linked with {second:?}; it is"
                    )),
                }
            }
            StepKind::ExpectDecision {
                record,
                key,
                field,
                says,
            } => {
                let prefix = format!("{record} {key} {field}: ");
                let p = prefix.clone();
                let all = self.read(move |c| journal::query::decisions(c, &p)).await?;
                match all.last() {
                    Some(d) if d.contains(says.as_str()) => Ok(()),
                    Some(d) => Err(format!(
                        "expected the matrix to have {says} for {record} {key} {field}; it decided: {}",
                        &d[prefix.len()..]
                    )),
                    None => Err(format!(
                        "expected the matrix to have {says} for {record} {key} {field}; it made no decision on that field"
                    )),
                }
            }
            StepKind::ExpectFlow { flow, key, state } => {
                let (f, k) = (flow.clone(), key.clone());
                let got = self
                    .read(move |c| journal::flows::wait_state(c, &f, &k))
                    .await?;
                match got {
                    Some(s) if &s == state => Ok(()),
                    Some(s) => Err(format!(
                        "expected flow {flow} for key {key:?} to be {state}; it is {s}"
                    )),
                    None => Err(format!(
                        "expected flow {flow} for key {key:?} to be {state}; no wait was ever started for that key"
                    )),
                }
            }
            StepKind::ExpectReceived { operation, count } => {
                let got = self.peer(operation)?.received().len();
                if got as u64 == *count {
                    Ok(())
                } else {
                    Err(format!(
                        "expected the peer of {operation} to receive {count} message(s); it received {got}"
                    ))
                }
            }
            StepKind::ExpectValues {
                operation,
                path,
                values,
            } => {
                let got: Vec<String> = self
                    .peer(operation)?
                    .received()
                    .iter()
                    .map(|m| text_at(m, path))
                    .collect();
                if &got == values {
                    Ok(())
                } else {
                    Err(format!(
                        "expected the peer of {operation} to receive {path} {values:?}, in that order; it received {got:?}"
                    ))
                }
            }
        }
    }

    fn peer(&self, operation: &str) -> Result<Arc<Peer>, String> {
        self.peers.get(operation).cloned().ok_or_else(|| {
            format!("the production does not send to `{operation}` (retired, or not wired)")
        })
    }

    /// Receives `bytes` at the endpoint of service `at`, and waits until the message is
    /// in the journal (or answered without it).
    async fn send(&mut self, at: &str, bytes: Vec<u8>) -> Result<(), String> {
        let iface = self
            .engine
            .interface(at)
            .ok_or_else(|| format!("the production has no interface `{at}`"))?;
        let endpoint = iface
            .endpoint
            .clone()
            .ok_or_else(|| format!("`{at}` has no endpoint, so nothing is received through it"))?;
        let timeout_ms = iface.ack.timeout_ms.unwrap_or(30_000) as i64;
        let before: HashSet<i64> = self.waiting();
        let engine = self.engine.clone();
        let intake = tokio::spawn(async move {
            inbound::receive(&engine, &endpoint, Frame::Message(bytes.into()), "scenario").await
        });
        let mut sent = Sent {
            intake,
            waiting: None,
            at_ms: time::now_ms(),
            timeout_ms,
            ack: None,
        };
        let t = Instant::now();
        while !sent.intake.is_finished() {
            if let Some(id) = self.waiting().difference(&before).next() {
                sent.waiting = Some(*id);
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                return Err("the message was not taken into the journal within 10 s".into());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        self.sent.push(sent);
        // The endpoint picks the interface by the message, as it would in the hospital: a
        // message another contract takes is not the step the scenario means.
        let taken = self.read(journal::query::last_received_interface).await?;
        match taken {
            Some(name) if name != at && self.engine.interface(&name).is_some() => Err(format!(
                "the message was taken by `{name}`, not `{at}` (they share an endpoint; the message's MSH says which contract it falls under)"
            )),
            _ => Ok(()),
        }
    }

    /// The ids of the messages whose senders wait for their outcome now.
    fn waiting(&self) -> HashSet<i64> {
        self.engine
            .waiting
            .lock()
            .map(|w| w.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Senders waiting for an application ACK past their contract's timeout, by the
    /// virtual clock, are told there is no outcome yet, as the intake tells them by the
    /// wall clock.
    fn time_out_senders(&mut self) {
        let now = time::now_ms();
        for s in &mut self.sent {
            if let Some(id) = s.waiting {
                if now - s.at_ms >= s.timeout_ms {
                    self.engine
                        .settle_here(id, inbound::no_outcome(s.timeout_ms as u128));
                    s.waiting = None;
                }
            }
        }
    }

    /// The reply to the last message sent (`None`: none is sent, `ack: never`).
    async fn last_ack(&mut self) -> Result<Option<Vec<u8>>, String> {
        let waiting = self.waiting();
        let Some(last) = self.sent.last_mut() else {
            return Err("no message was sent".into());
        };
        if let Some(ack) = &last.ack {
            return Ok(Some(ack.clone()));
        }
        if last.waiting.is_some_and(|id| waiting.contains(&id)) {
            return Err(
                "the sender still waits for its application ACK: its message's outcome is not known yet (advance the clock past the ACK's timeout, or let the peers answer)".into(),
            );
        }
        let reply = tokio::time::timeout(Duration::from_secs(10), &mut last.intake)
            .await
            .map_err(|_| "the intake did not answer within 10 s".to_string())?
            .map_err(|e| format!("the intake failed: {e}"))?;
        let ack = match reply.0 {
            Reply::Frame(bytes) => Some(bytes),
            Reply::Nothing => None,
        };
        last.ack = ack.clone();
        Ok(ack)
    }

    /// Runs the production until it has nothing left to do now: received messages
    /// decided, due deliveries sent, expired waits timed out.
    async fn settle(&mut self) -> Result<(), String> {
        for _ in 0..10_000 {
            let mut busy = false;
            loop {
                match self.processor.pass(&self.engine).await {
                    Pass::Idle => break,
                    Pass::Done => busy = true,
                    Pass::Retry(_) => {
                        return Err(
                            "the processor could not write what it decided (see the log)".into(),
                        )
                    }
                }
            }
            for lane in &mut self.lanes {
                busy |= lane.pass(&self.engine).await?;
            }
            flows::tick(&self.engine).await;
            // Intakes told their outcome finish writing their ACKs.
            tokio::task::yield_now().await;
            if !busy && !self.received_waiting().await? {
                return Ok(());
            }
        }
        Err("the production did not come to rest within 10,000 rounds".into())
    }

    /// Whether messages wait in the journal for the processor (an operator's resend, a
    /// flow's follow-up).
    async fn received_waiting(&self) -> Result<bool, String> {
        let n = self
            .read(|c| journal::query::count_in_state(c, "received", None))
            .await?;
        Ok(n > 0)
    }

    /// `f` on a read connection of the scenario's journal.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&journal::db::Db) -> journal::db::DbResult<T> + Send + 'static,
    ) -> Result<T, String> {
        let store = self.engine.journal.store().clone();
        tokio::task::spawn_blocking(move || {
            let conn = open_read(&store).map_err(|e| e.to_string())?;
            f(&conn.db()).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

fn actor() -> Actor {
    Actor {
        name: "scenario".into(),
        why: Some("a step of the scenario".into()),
    }
}

fn state_words(state: &str) -> &str {
    match state {
        "dead" => "in the dead letter",
        "review" => "held for review",
        "rejected" => "rejected on receipt",
        "held" => "held for their flow's start",
        other => other,
    }
}

/// The text at HL7 path `path` of message `bytes` (empty when absent or not HL7).
fn text_at(bytes: &[u8], path: &str) -> String {
    Message::parse(bytes)
        .ok()
        .and_then(|m| super::key_of(&m, &[path.to_string()]))
        .unwrap_or_default()
}
