//! Several production nodes on one PostgreSQL journal: which of the estate's work this
//! node does now. Every node runs every inbound service; each lane of each operation, the
//! processor and the timers (flow timeouts, retention) are run by one node at a time, the
//! holder of their lease (`journal/cluster.rs`). A thread of the node's own, on its own
//! connection, beats the node's heart and renews its leases every `BEAT`, takes the leases
//! nobody holds (lanes up to the node's fair share of them, so a node that joins gets
//! work), hands over what is above its share once the task using it has stopped, and
//! acts on the notices other nodes send ([`Notice`]: something received or queued, a
//! message's outcome for a sender waiting here), which they send with their changes.
//!
//! A lease is the node's for `LEASE_MS` after a renewal, in the server's time. The node
//! counts it as its own for less (`MARGIN` less, from before it asked), so it has stopped
//! using a lease before anyone else can take it. A node killed loses its lanes to the
//! others `LEASE_MS` after its last renewal at most. A node that stops cleanly gives them
//! up at once.
//!
//! On a SQLite journal there is one production (`journal::lock`): it owns everything and
//! none of this runs.

use super::config::Config;
pub use super::journal::cluster::Notice;
use super::journal::cluster::{self as stored, Node};
use super::journal::db::Db;
use super::journal::pg::{self, PgConn, PgTarget};
use super::journal::Store;
use super::Engine;
use accord_runtime::spec::Spec;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lease lasts after its renewal, in the server's time. With renewals every
/// `BEAT` and `MARGIN` taken off, a node keeps using a lease for 1.75 s after asking:
/// three beats and a half of slack. (3 s before 2026-12-07: the failover test's p99
/// then reached 5.06 s on a loaded machine, against the 5 s target.)
pub const LEASE_MS: i64 = 2_500;
/// How often the node renews its leases and looks for others to take.
const BEAT: Duration = Duration::from_millis(500);
/// How much sooner than the server the node counts a lease as gone.
const MARGIN: Duration = Duration::from_millis(750);

/// A task that reports no progress ([`Cluster::pulse`]) for this long while its node holds
/// its lease is taken to be stuck: the node hands the lease over rather than keep renewing
/// it from its own thread while nothing is done under it.
const STUCK: Duration = Duration::from_secs(30);
/// How long a node does not take again a lease it handed over as stuck.
const SHUN: Duration = Duration::from_secs(60);

/// The processor's lease: one node decides on received messages, in arrival order.
pub const PROCESSOR: &str = "processor";
/// The timers' lease: flow timeouts and retention, run by one node.
pub const TIMERS: &str = "timers";

/// The lease of lane `lane` of operation `operation`.
pub fn lane_lease(operation: &str, lane: u32) -> String {
    format!("lane/{operation}/{lane}")
}

/// Who this node is.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Unique to this process: the name, the pid and the start time.
    pub id: String,
    /// As the operator named it (`run --node`, `ACCORD_NODE`), else the host's name.
    pub name: String,
}

impl Identity {
    pub fn new(name: Option<String>) -> Identity {
        let name = name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "node".into())
        });
        let id = format!("{name}:{}:{}", std::process::id(), super::time::now_ms());
        Identity { id, name }
    }
}

/// What this node does now.
pub struct Cluster {
    /// `None` on SQLite: this node does everything.
    node: Option<Identity>,
    /// The leases held, each until when (locally) it may be used.
    held: Mutex<HashMap<String, Instant>>,
    /// Leases being handed over: no longer used, given up once their task has stopped.
    releasing: Mutex<HashSet<String>>,
    /// Leases whose task is not using them now (between batches, or stopped).
    parked: Mutex<HashSet<String>>,
    /// When each task that reports its progress last did so (the processor, the timers).
    pulses: Mutex<HashMap<String, Instant>>,
    /// Leases this node handed over as stuck, and when.
    shunned: Mutex<HashMap<String, Instant>>,
    /// The node is stopping (`leave`): its thread takes and renews nothing more. Each
    /// beat holds this lock, so `leave` waits for a beat under way before it gives the
    /// leases up, and none is taken again after.
    leaving: Mutex<bool>,
}

impl Cluster {
    /// The one production of a SQLite journal.
    pub fn solo() -> Cluster {
        Cluster::with(None)
    }

    fn with(node: Option<Identity>) -> Cluster {
        Cluster {
            node,
            held: Mutex::default(),
            releasing: Mutex::default(),
            parked: Mutex::default(),
            pulses: Mutex::default(),
            shunned: Mutex::default(),
            leaving: Mutex::new(false),
        }
    }

    /// Whether other nodes may share the journal.
    pub fn clustered(&self) -> bool {
        self.node.is_some()
    }

    pub fn node(&self) -> Option<&Identity> {
        self.node.as_ref()
    }

    /// Whether this node may do the work of lease `name` now.
    pub fn owns(&self, name: &str) -> bool {
        if self.node.is_none() {
            return true;
        }
        let until = self.held.lock().ok().and_then(|h| h.get(name).copied());
        let releasing = self
            .releasing
            .lock()
            .map(|r| r.contains(name))
            .unwrap_or(true);
        until.is_some_and(|u| Instant::now() < u) && !releasing
    }

    /// Whether lease `name` is this node's on several nodes: its task is woken here,
    /// without a notice through the journal. False on SQLite, where nothing is leased
    /// and no notice is sent.
    pub fn runs_here(&self, name: &str) -> bool {
        self.node.is_some() && self.owns(name)
    }

    /// The task of lease `name` is not using it (it may be handed over).
    pub fn park(&self, name: &str) {
        if self.node.is_some() {
            if let Ok(mut p) = self.parked.lock() {
                p.insert(name.to_string());
            }
        }
    }

    /// The task of lease `name` is making progress (it calls this at least once a second,
    /// whether it holds the lease or not). A node whose task stops calling it while the
    /// node holds the lease hands the lease over after `STUCK`.
    pub fn pulse(&self, name: &str) {
        if self.node.is_some() {
            if let Ok(mut p) = self.pulses.lock() {
                p.insert(name.to_string(), Instant::now());
            }
        }
    }

    /// The leases held whose task has reported no progress for `STUCK`.
    fn stuck(&self) -> Vec<String> {
        let (Ok(held), Ok(pulses)) = (self.held.lock(), self.pulses.lock()) else {
            return vec![];
        };
        held.keys()
            .filter(|k| pulses.get(*k).is_some_and(|t| t.elapsed() > STUCK))
            .cloned()
            .collect()
    }

    /// Whether this node handed lease `name` over as stuck a short while ago.
    fn shuns(&self, name: &str) -> bool {
        self.shunned
            .lock()
            .map(|s| s.get(name).is_some_and(|t| t.elapsed() < SHUN))
            .unwrap_or(false)
    }

    /// The task of lease `name` is about to use it.
    pub fn unpark(&self, name: &str) {
        if self.node.is_some() {
            if let Ok(mut p) = self.parked.lock() {
                p.remove(name);
            }
        }
    }
}

/// Joins the nodes of `spec`'s estate on the configuration's PostgreSQL journal (its
/// migrations taken first): refused while live nodes run another estate or another lane
/// count. On SQLite, the one production.
pub fn join(spec: &Spec, config: &Config, identity: Identity) -> Result<Cluster, String> {
    let Store::Postgres(target) = &config.journal else {
        return Ok(Cluster::solo());
    };
    let conn = pg::connect(target).map_err(|e| e.to_string())?;
    let db = Db::Pg(&conn);
    super::journal::prepare(&db).map_err(|e| format!("journal {target}: {e}"))?;
    let me = Node {
        id: identity.id.clone(),
        name: identity.name.clone(),
        estate: spec.estate.clone(),
        version: spec.version.clone(),
        lanes: config.limits.lanes,
        lane_placement: if target.lanes_with_processor {
            "with-processor"
        } else {
            "spread"
        }
        .into(),
        started_at: 0,
        seen_at: 0,
        left_at: None,
        live: true,
    };
    let live: Vec<Node> = stored::nodes(&db, LEASE_MS)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|n| n.live)
        .collect();
    if let Some(other) = live.iter().find(|n| n.estate != me.estate) {
        return Err(format!(
            "the journal {target} is in use by a production of estate `{}` (node {})\n  = help: one journal serves one estate; give this one a database of its own",
            other.estate, other.name
        ));
    }
    if let Some(other) = live.iter().find(|n| n.lanes != me.lanes) {
        return Err(format!(
            "node {} runs {} lanes per operation on this journal, this node {}\n  = help: every node of an estate runs the same `[limits] lanes`; to change it, stop every node first",
            other.name, other.lanes, me.lanes
        ));
    }
    if let Some(other) = live.iter().find(|n| n.lane_placement != me.lane_placement) {
        return Err(format!(
            "node {} places the lanes `{}` on this journal, this node `{}`\n  = help: every node of an estate sets the same `[journal] lane_placement`; to change it, stop every node first",
            other.name, other.lane_placement, me.lane_placement
        ));
    }
    stored::join(&db, &me).map_err(|e| e.to_string())?;
    drop(conn);
    Ok(Cluster::with(Some(identity)))
}

/// The leases of `engine`'s estate: every lane of every running operation, the
/// processor, and the timers.
fn leases_of(engine: &Engine) -> (Vec<String>, Vec<String>) {
    let mut lanes = vec![];
    for i in engine
        .spec
        .interfaces
        .iter()
        .filter(|i| i.role == accord_runtime::spec::Role::Operation && i.status != "retired")
    {
        for lane in 0..super::lanes_of(i, &engine.config) {
            lanes.push(lane_lease(&i.name, lane));
        }
    }
    (lanes, vec![PROCESSOR.to_string(), TIMERS.to_string()])
}

/// Starts the node's thread (nothing on SQLite).
pub fn start(engine: Arc<Engine>) {
    let (Some(node), Store::Postgres(target)) = (
        engine.cluster.node().cloned(),
        engine.config.journal.clone(),
    ) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("accord-cluster".into())
        .spawn(move || Beat::new(engine, node, target).run());
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the cluster thread");
    }
}

/// The node's thread: its connection, and what it knows of the leases.
struct Beat {
    engine: Arc<Engine>,
    node: Identity,
    target: Arc<PgTarget>,
    conn: Option<PgConn>,
    lanes: Vec<String>,
    singletons: Vec<String>,
}

impl Beat {
    fn new(engine: Arc<Engine>, node: Identity, target: Arc<PgTarget>) -> Beat {
        let (mut lanes, singletons) = leases_of(&engine);
        // Nodes start asking for lanes at different places, so they seldom ask for the
        // same one at once.
        let turn = node.id.bytes().map(usize::from).sum::<usize>() % lanes.len().max(1);
        lanes.rotate_left(turn);
        Beat {
            engine,
            node,
            target,
            conn: None,
            lanes,
            singletons,
        }
    }

    fn run(mut self) {
        loop {
            let started = Instant::now();
            let engine = self.engine.clone();
            let leaving = engine.cluster.leaving.lock();
            let ticked = match leaving {
                Ok(ref l) if **l => Ok(BEAT),
                _ => self.tick(started),
            };
            drop(leaving);
            let due = ticked.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cluster: cannot reach the journal; the node's leases run out unless it comes back");
                self.conn = None;
                BEAT
            });
            // Notices are acted on as they come; the next beat is due a beat later, or
            // sooner when another node's lease runs out first.
            loop {
                let left = due.saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                self.listen(left);
            }
        }
    }

    /// Connects (again) if the node has no connection, and listens for notices on it.
    fn connect(&mut self) -> Result<(), String> {
        if self.conn.as_ref().is_none_or(PgConn::is_closed) {
            let c = pg::connect(&self.target).map_err(|e| e.to_string())?;
            Db::Pg(&c)
                .execute_batch(&format!("LISTEN {}", stored::CHANNEL))
                .map_err(|e| e.to_string())?;
            self.conn = Some(c);
        }
        Ok(())
    }

    /// One beat: renew, hand over, take. Answers when the next beat is due: a beat
    /// later, or just after another node's lease runs out, if one will before then.
    fn tick(&mut self, started: Instant) -> Result<Duration, String> {
        self.connect()?;
        let id = self.node.id.clone();
        let conn = self.conn.as_ref().ok_or("no connection")?;
        let db = Db::Pg(conn);
        let err = |e: super::journal::db::DbError| e.to_string();
        let until = started + Duration::from_millis(LEASE_MS as u64) - MARGIN;
        let mut renewed: HashSet<String> = stored::beat(&db, &id, LEASE_MS, PROCESSOR)
            .map_err(err)?
            .into_iter()
            .collect();
        // The lanes and timers count as renewed now, before the processor's lease, whose
        // renewal waits while the processor writes a batch (it holds its lease's row).
        if let Ok(mut held) = self.engine.cluster.held.lock() {
            for k in &renewed {
                held.insert(k.clone(), until);
            }
        }
        if stored::renew(&db, &id, PROCESSOR, LEASE_MS).map_err(err)? {
            renewed.insert(PROCESSOR.to_string());
        }
        let lost: Vec<String> = {
            let mut held = self.engine.cluster.held.lock().map_err(|e| e.to_string())?;
            let lost = held
                .keys()
                .filter(|k| !renewed.contains(*k))
                .cloned()
                .collect();
            held.retain(|k, _| renewed.contains(k));
            for k in &renewed {
                held.insert(k.clone(), until);
            }
            lost
        };
        for name in &lost {
            tracing::warn!(lease = %name, "cluster: lease lost");
            wake(&self.engine, name);
        }
        let live: HashSet<String> = stored::nodes(&db, LEASE_MS)
            .map_err(err)?
            .into_iter()
            .filter(|n| n.live)
            .map(|n| n.id)
            .collect();
        let leases = stored::leases(&db).map_err(err)?;
        let due = next_beat(&leases, &id, started.elapsed());
        let mut holders: HashMap<String, String> = leases
            .into_iter()
            .map(|(name, node, _)| (name, node))
            .collect();
        let cluster = &self.engine.cluster;
        // The once-only tasks nobody holds, before the lanes: with the lanes placed with
        // the processor, the node that takes the processor takes its lanes in this beat.
        let free_singletons: Vec<String> = self
            .singletons
            .iter()
            .filter(|s| !holders.contains_key(*s) && !cluster.shuns(s))
            .cloned()
            .collect();
        let mut gained = self.take(&db, &free_singletons)?;
        for name in &gained {
            holders.insert(name.clone(), id.clone());
        }
        // Each operation's lanes shared out: what is above this node's share goes, once
        // its lane has stopped; free lanes are taken up to the share.
        let plan = if self.target.lanes_with_processor {
            follow_processor(&self.lanes, &holders, &id)
        } else {
            share_out(&self.lanes, &holders, &live, &id)
        };
        if let Ok(mut r) = cluster.releasing.lock() {
            r.extend(plan.give.iter().cloned());
        }
        let ready: Vec<String> = {
            let parked = cluster.parked.lock().map_err(|e| e.to_string())?;
            let releasing = cluster.releasing.lock().map_err(|e| e.to_string())?;
            releasing
                .iter()
                .filter(|l| parked.contains(*l) || !renewed.contains(*l))
                .cloned()
                .collect()
        };
        for l in &ready {
            stored::release(&db, &id, l).map_err(err)?;
            if let Ok(mut h) = cluster.held.lock() {
                h.remove(l);
            }
            if let Ok(mut r) = cluster.releasing.lock() {
                r.remove(l);
            }
            tracing::info!(lease = %l, "cluster: lane handed over");
        }
        // A task that holds its lease but has stopped moving (its node's runtime starved,
        // a call that never returns) would keep every other node from doing its work while
        // this thread renews the lease: the lease goes to another node instead.
        for name in cluster.stuck() {
            tracing::error!(lease = %name, "cluster: the task of this lease has made no progress for {} s; handing the lease to another node", STUCK.as_secs());
            stored::release(&db, &id, &name).map_err(err)?;
            if let Ok(mut h) = cluster.held.lock() {
                h.remove(&name);
            }
            if let Ok(mut s) = cluster.shunned.lock() {
                s.insert(name.clone(), Instant::now());
            }
            if let Ok(mut p) = cluster.pulses.lock() {
                p.remove(&name);
            }
        }
        // The lanes of the plan.
        gained.extend(self.take(&db, &plan.take)?);
        for name in &gained {
            tracing::info!(lease = %name, "cluster: lease taken");
            wake(&self.engine, name);
        }
        Ok(due)
    }

    /// Asks for the leases `names`, nobody's at the last look: those this node got.
    fn take(&self, db: &Db, names: &[String]) -> Result<Vec<String>, String> {
        let mut gained = vec![];
        for name in names {
            let asked = Instant::now();
            if stored::take(db, &self.node.id, name, LEASE_MS).map_err(|e| e.to_string())? {
                let until = asked + Duration::from_millis(LEASE_MS as u64) - MARGIN;
                if let Ok(mut h) = self.engine.cluster.held.lock() {
                    h.insert(name.clone(), until);
                }
                gained.push(name.clone());
            }
        }
        Ok(gained)
    }

    /// Waits up to `wait` for other nodes' notices, and acts on them.
    fn listen(&mut self, wait: Duration) {
        let Some(conn) = self.conn.as_ref() else {
            std::thread::sleep(wait);
            return;
        };
        let payloads = match conn.notifications(wait) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: lost the notices' connection");
                self.conn = None;
                return;
            }
        };
        for p in payloads {
            match serde_json::from_str::<Notice>(&p) {
                Ok(Notice::Received) => self.engine.received.notify_one(),
                Ok(Notice::Queued { operation, lanes }) => {
                    self.engine.wake_lanes(&operation, &lanes)
                }
                Ok(Notice::Settled {
                    id,
                    positive,
                    text,
                    code,
                }) => {
                    self.engine.settle_here(
                        id,
                        super::Outcome {
                            positive,
                            text,
                            error: code.map(|c| (c, None)),
                        },
                    );
                }
                Err(_) => {}
            }
        }
    }
}

/// When node `me`'s next beat is due, `elapsed` into this one, from the leases held now
/// (`(name, holder, milliseconds left)`): a beat after this one began, or just after the
/// first lease of another node runs out, if one will before then. A live node renews its
/// leases every beat, so one with less than a beat left is a dead node's (or a stalled
/// one's): taken at once, not up to a beat late, it shortens the failover.
fn next_beat(leases: &[(String, String, i64)], me: &str, elapsed: Duration) -> Duration {
    let runs_out = leases
        .iter()
        .filter(|(_, node, _)| node != me)
        .filter_map(|(_, _, left)| u64::try_from(*left).ok())
        .map(|left| elapsed + Duration::from_millis(left + 5))
        .min();
    runs_out.map_or(BEAT, |at| at.min(BEAT))
}

/// What a node does with the lanes this beat.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    /// Lanes it holds beyond its share: handed over once their lane stops.
    give: Vec<String>,
    /// Free lanes it asks for.
    take: Vec<String>,
}

/// Shares out each operation's lanes (`lane/OP/N`, in the order this node asks for them)
/// among the `live` nodes, as seen by node `me` from who holds what (`holders`): a node
/// holds at most its ceiling share of each operation's lanes, and one above its floor
/// gives one up while another live node is below the floor. So every node that can have
/// a lane of an operation gets one, and a node that joins is given work.
fn share_out(
    lanes: &[String],
    holders: &HashMap<String, String>,
    live: &HashSet<String>,
    me: &str,
) -> Plan {
    let nodes = live.len().max(1);
    let mut by_op: Vec<(&str, Vec<&String>)> = vec![];
    for l in lanes {
        let op = l.rsplit_once('/').map_or(l.as_str(), |(op, _)| op);
        match by_op.iter_mut().find(|(o, _)| *o == op) {
            Some((_, v)) => v.push(l),
            None => by_op.push((op, vec![l])),
        }
    }
    let mut plan = Plan::default();
    for (_, group) in by_op {
        let (floor, ceil) = (group.len() / nodes, group.len().div_ceil(nodes));
        let mut counts: HashMap<&str, usize> = live.iter().map(|n| (n.as_str(), 0)).collect();
        for l in &group {
            if let Some(n) = holders.get(*l).and_then(|n| counts.get_mut(n.as_str())) {
                *n += 1;
            }
        }
        let mine: Vec<&String> = group
            .iter()
            .filter(|l| holders.get(**l).is_some_and(|n| n == me))
            .copied()
            .collect();
        let starved = counts.iter().any(|(n, c)| *n != me && *c < floor);
        let give = if mine.len() > ceil {
            mine.len() - ceil
        } else if mine.len() > floor && starved {
            1
        } else {
            0
        };
        plan.give
            .extend(mine.iter().rev().take(give).map(|l| (*l).clone()));
        let room = ceil.saturating_sub(mine.len() - give);
        plan.take.extend(
            group
                .iter()
                .filter(|l| !holders.contains_key(**l))
                .take(room)
                .map(|l| (*l).clone()),
        );
    }
    plan
}

/// Places every lane with the processor (`[journal] lane_placement = "with-processor"`),
/// as seen by node `me` from who holds what (`holders`): the node holding the processor's
/// lease takes every free lane; any other node gives up the lanes it holds, once they
/// have stopped. While nobody processes, nobody takes a lane: the node that takes the
/// processor takes them in the same beat.
fn follow_processor(lanes: &[String], holders: &HashMap<String, String>, me: &str) -> Plan {
    let processes = holders.get(PROCESSOR).is_some_and(|n| n == me);
    let mut plan = Plan::default();
    for l in lanes {
        match holders.get(l) {
            Some(n) if n == me && !processes => plan.give.push(l.clone()),
            None if processes => plan.take.push(l.clone()),
            _ => {}
        }
    }
    plan
}

/// Wakes the task of lease `name`, to start or stop using it.
fn wake(engine: &Engine, name: &str) {
    if name == PROCESSOR {
        engine.received.notify_one();
    } else if let Some((op, n)) = name.strip_prefix("lane/").and_then(|r| r.rsplit_once('/')) {
        let lane = n
            .parse::<usize>()
            .ok()
            .and_then(|n| engine.lanes.get(op).and_then(|l| l.get(n)));
        if let Some(lane) = lane {
            lane.wake.notify_one();
        }
    }
}

/// Tells the other nodes this node stops: its leases go at once.
pub fn leave(engine: &Engine) {
    let (Some(node), Store::Postgres(target)) = (engine.cluster.node(), &engine.config.journal)
    else {
        return;
    };
    // After the beat under way, if any: no lease is taken or renewed once they are given
    // up.
    let mut leaving = engine
        .cluster
        .leaving
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    *leaving = true;
    if let Ok(c) = pg::connect(target) {
        let _ = stored::leave(&Db::Pg(&c), &node.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(op: &str, n: u32) -> Vec<String> {
        (0..n).map(|i| lane_lease(op, i)).collect()
    }

    /// A held lease whose task stopped reporting progress is stuck; one whose task
    /// reports, or that has no task reporting, is not; a node that handed a lease over
    /// shuns it for a while.
    #[test]
    fn a_lease_whose_task_stopped_moving_is_stuck() {
        let c = Cluster::with(Some(Identity::new(Some("n1".into()))));
        let later = Instant::now() + Duration::from_secs(3);
        for name in [PROCESSOR, TIMERS, "lane/op/0"] {
            c.held.lock().unwrap().insert(name.to_string(), later);
        }
        c.pulse(TIMERS);
        let long_ago = Instant::now() - STUCK - Duration::from_secs(1);
        c.pulses
            .lock()
            .unwrap()
            .insert(PROCESSOR.to_string(), long_ago);
        assert_eq!(c.stuck(), vec![PROCESSOR.to_string()]);
        assert!(!c.shuns(PROCESSOR));
        c.shunned
            .lock()
            .unwrap()
            .insert(PROCESSOR.to_string(), Instant::now());
        assert!(c.shuns(PROCESSOR));
        c.shunned
            .lock()
            .unwrap()
            .insert(PROCESSOR.to_string(), Instant::now() - SHUN);
        assert!(!c.shuns(PROCESSOR));
        // On SQLite nothing is leased, so nothing reports.
        let solo = Cluster::solo();
        solo.pulse(PROCESSOR);
        assert!(solo.pulses.lock().unwrap().is_empty());
    }

    fn held(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(l, n)| (l.to_string(), n.to_string()))
            .collect()
    }

    fn live(nodes: &[&str]) -> HashSet<String> {
        nodes.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_node_takes_free_lanes_up_to_its_ceiling_share_of_each_operation() {
        let mut all = lanes("a", 4);
        all.extend(lanes("b", 1));
        let plan = share_out(&all, &HashMap::new(), &live(&["me", "x"]), "me");
        assert_eq!(plan.take, ["lane/a/0", "lane/a/1", "lane/b/0"]);
        assert!(plan.give.is_empty());
        // Alone, it takes everything.
        let plan = share_out(&all, &HashMap::new(), &live(&["me"]), "me");
        assert_eq!(plan.take.len(), 5);
    }

    #[test]
    fn the_next_beat_comes_just_after_another_nodes_lease_runs_out() {
        let lease = |name: &str, node: &str, left: i64| (name.to_string(), node.to_string(), left);
        let elapsed = Duration::from_millis(40);
        // Every lease renewed lately: a beat after this one began.
        let renewed = [lease("processor", "x", 2_400), lease("lane/a/0", "me", 100)];
        assert_eq!(next_beat(&renewed, "me", elapsed), BEAT);
        // Another node's lease runs out in 120 ms: the beat comes just after.
        let dying = [lease("processor", "x", 120), lease("lane/a/0", "x", 300)];
        assert_eq!(
            next_beat(&dying, "me", elapsed),
            Duration::from_millis(40 + 120 + 5)
        );
        assert_eq!(next_beat(&[], "me", elapsed), BEAT);
    }

    #[test]
    fn with_the_processor_every_lane_goes_to_the_node_that_processes() {
        let mut all = lanes("a", 2);
        all.extend(lanes("b", 1));
        // The processor's node takes every free lane, and leaves another's to run out.
        let holders = held(&[(PROCESSOR, "me"), ("lane/a/1", "x")]);
        let plan = follow_processor(&all, &holders, "me");
        assert_eq!(plan.take, ["lane/a/0", "lane/b/0"]);
        assert!(plan.give.is_empty());
        // Any other node gives up what it holds, and takes nothing.
        let plan = follow_processor(&all, &holders, "x");
        assert_eq!(plan.give, ["lane/a/1"]);
        assert!(plan.take.is_empty());
        // While nobody processes, nobody takes a lane.
        let plan = follow_processor(&all, &HashMap::new(), "me");
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn a_node_above_its_share_or_above_the_floor_while_another_starves_gives_lanes_up() {
        let all = lanes("a", 4);
        // It held everything; a second node joined: two go.
        let mine = held(&[
            ("lane/a/0", "me"),
            ("lane/a/1", "me"),
            ("lane/a/2", "me"),
            ("lane/a/3", "me"),
        ]);
        let plan = share_out(&all, &mine, &live(&["me", "x"]), "me");
        assert_eq!(plan.give, ["lane/a/3", "lane/a/2"]);
        // Two each, a third node with none: one goes, so the newcomer gets work.
        let split = held(&[
            ("lane/a/0", "me"),
            ("lane/a/1", "me"),
            ("lane/a/2", "x"),
            ("lane/a/3", "x"),
        ]);
        let plan = share_out(&all, &split, &live(&["me", "x", "y"]), "me");
        assert_eq!(plan.give, ["lane/a/1"]);
        assert!(plan.take.is_empty());
        // Settled at 2/1/1: nobody moves.
        let settled = held(&[
            ("lane/a/0", "me"),
            ("lane/a/1", "y"),
            ("lane/a/2", "x"),
            ("lane/a/3", "x"),
        ]);
        for n in ["me", "x", "y"] {
            assert_eq!(
                share_out(&all, &settled, &live(&["me", "x", "y"]), n),
                Plan::default()
            );
        }
        // A dead node's leases count as held until they run out, then are free.
        let dead = held(&[("lane/a/0", "gone"), ("lane/a/1", "gone")]);
        let plan = share_out(&all, &dead, &live(&["me"]), "me");
        assert_eq!(plan.take, ["lane/a/2", "lane/a/3"]);
    }
}
