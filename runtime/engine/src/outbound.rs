//! Outbound operations: one sender per interface that delivers, in queue order, what the
//! processor queued for it: over MLLP (waiting for the peer's ACK within the contract's
//! timeout), to a folder (written atomically), or as an HTTP POST. Each reply is classified
//! and the contract's policy applied (see `replies`); the result is journalled before the
//! next message goes, so after a crash the message whose reply was not recorded is sent
//! again with the same control id, which lets the peer discard it.

use super::journal::queue::{self, choose_batch, Choice, Peers, BATCH};
use super::lanes::{Lane, Next};
use super::replies::{self, Decision};
use super::{config::ResolvedEndpoint, metrics, time, Engine, Outcome};
use accord_hl7::mllp::client::{ClientOptions, MllpClient};
use accord_hl7::mllp::MllpError;
use accord_runtime::spec::Interface;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The result of one attempt: the reply's class, its detail, the raw reply.
pub(super) struct Attempt {
    pub(super) class: String,
    pub(super) detail: Option<String>,
    pub(super) reply: Option<Vec<u8>>,
}

enum Transport {
    Mllp {
        address: String,
        client: Option<Box<MllpClient>>,
        options: ClientOptions,
    },
    File {
        dir: std::path::PathBuf,
    },
    Http {
        url: String,
        /// One client (and its connection pool) per operation.
        client: super::http::HttpClient,
        /// The endpoint's credentials as an `Authorization` header.
        credentials: super::credentials::Credentials,
    },
    /// A FHIR server's REST API at `base`.
    Fhir {
        base: String,
        client: super::http::HttpClient,
        credentials: super::credentials::Credentials,
    },
    /// A peer in process, as a scenario sets it up (`scenario`).
    Virtual(Arc<super::scenario::Peer>),
    Unsupported(String),
}

impl Transport {
    /// Takes the credentials of `e`, the endpoint's settings read again on SIGHUP, for
    /// the deliveries that follow; credentials that no longer build are not taken.
    fn take_credentials(&mut self, e: &ResolvedEndpoint) {
        let (Transport::Http { credentials, .. } | Transport::Fhir { credentials, .. }) = self
        else {
            return;
        };
        match super::credentials::Credentials::of(e) {
            Ok(c) => *credentials = c,
            Err(why) => tracing::error!(
                endpoint = %e.name,
                "SIGHUP: the endpoint keeps its credentials: {}",
                why.message
            ),
        }
    }

    /// How `iface` sends to `endpoint`, with the endpoint's TLS when it has some.
    fn of(
        endpoint: Option<&ResolvedEndpoint>,
        iface: &Interface,
        tls: Option<accord_hl7::tls::ClientTls>,
    ) -> Transport {
        let Some(e) = endpoint else {
            return Transport::Unsupported(format!("interface `{}` has no endpoint", iface.name));
        };
        let connect = e
            .timeout()
            .ok()
            .flatten()
            .unwrap_or(Duration::from_secs(10));
        let http = |tls| {
            super::http::client(tls, connect)
                .map_err(|why| format!("endpoint `{}`: TLS: {why}", e.name))
        };
        match e.transport.as_str() {
            "mllp" => match e.address() {
                Ok(address) => Transport::Mllp {
                    address,
                    client: None,
                    options: ClientOptions {
                        connect_timeout: e
                            .timeout()
                            .ok()
                            .flatten()
                            .unwrap_or(Duration::from_secs(10)),
                        max_frame: e.max_frame().ok().flatten().unwrap_or(16 << 20),
                        read_timeout: Duration::from_millis(iface.ack.timeout_ms.unwrap_or(30_000)),
                        tls,
                    },
                },
                Err(err) => Transport::Unsupported(err.message),
            },
            "file" => Transport::File {
                dir: e.get("path").unwrap_or("./var/out").into(),
            },
            "fhir" => match e.get("url") {
                Some(u) => match http(tls) {
                    Ok(client) => Transport::Fhir {
                        base: u.to_string(),
                        client,
                        credentials: match super::credentials::Credentials::of(e) {
                            Ok(c) => c,
                            Err(why) => return Transport::Unsupported(why.message),
                        },
                    },
                    Err(why) => Transport::Unsupported(why),
                },
                None => Transport::Unsupported(format!(
                    "endpoint `{}` has no url (the FHIR server's base)",
                    e.name
                )),
            },
            "http" | "https" => match e.get("url") {
                Some(u) => match http(tls) {
                    Ok(client) => Transport::Http {
                        url: u.to_string(),
                        client,
                        credentials: match super::credentials::Credentials::of(e) {
                            Ok(c) => c,
                            Err(why) => return Transport::Unsupported(why.message),
                        },
                    },
                    Err(why) => Transport::Unsupported(why),
                },
                None => Transport::Unsupported(format!("endpoint `{}` has no url", e.name)),
            },
            other => Transport::Unsupported(format!(
                "transport `{other}` of endpoint `{}` cannot send yet",
                e.name
            )),
        }
    }

    async fn send(&mut self, iface: &Interface, next: &Next) -> Attempt {
        match self {
            Transport::Mllp {
                address,
                client,
                options,
            } => {
                if client.is_none() {
                    match MllpClient::connect(address, options.clone()).await {
                        Ok(c) => *client = Some(Box::new(c)),
                        Err(e) => {
                            return Attempt {
                                class: "refused".into(),
                                detail: Some(e.to_string()),
                                reply: None,
                            }
                        }
                    }
                }
                let Some(c) = client.as_mut() else {
                    return Attempt {
                        class: "refused".into(),
                        detail: None,
                        reply: None,
                    };
                };
                if iface.ack.mode == "never" {
                    return match c.send_only(&next.payload).await {
                        Ok(()) => Attempt {
                            class: "AA".into(),
                            detail: None,
                            reply: None,
                        },
                        Err(e) => {
                            *client = None;
                            Attempt {
                                class: "refused".into(),
                                detail: Some(e.to_string()),
                                reply: None,
                            }
                        }
                    };
                }
                match c.send(&next.payload).await {
                    Ok(reply) => {
                        let (class, detail) = replies::classify(&reply, next.control_id.as_deref());
                        Attempt {
                            class,
                            detail,
                            reply: Some(reply.to_vec()),
                        }
                    }
                    Err(e) => {
                        // A late reply must not be read as the next message's: reconnect.
                        *client = None;
                        let class = if matches!(e, MllpError::ReplyTimeout { .. }) {
                            "timeout"
                        } else {
                            "refused"
                        };
                        Attempt {
                            class: class.into(),
                            detail: Some(e.to_string()),
                            reply: None,
                        }
                    }
                }
            }
            Transport::File { dir } => {
                let name = format!(
                    "{}-{:010}.{}",
                    iface.name,
                    next.id,
                    if next.payload.starts_with(b"MSH") {
                        "hl7"
                    } else {
                        "json"
                    }
                );
                let write = || -> std::io::Result<()> {
                    std::fs::create_dir_all(&*dir)?;
                    let tmp = dir.join(format!(".{name}.tmp"));
                    std::fs::write(&tmp, &next.payload)?;
                    std::fs::File::open(&tmp)?.sync_all()?;
                    std::fs::rename(&tmp, dir.join(&name))
                };
                match write() {
                    Ok(()) => Attempt {
                        class: "AA".into(),
                        detail: Some(format!("written to {}", dir.join(&name).display())),
                        reply: None,
                    },
                    Err(e) => Attempt {
                        class: "refused".into(),
                        detail: Some(format!("cannot write to {}: {e}", dir.display())),
                        reply: None,
                    },
                }
            }
            Transport::Http {
                url,
                client,
                credentials,
            } => {
                super::http::post(
                    client,
                    credentials,
                    url,
                    &next.payload,
                    Duration::from_millis(iface.ack.timeout_ms.unwrap_or(30_000)),
                )
                .await
            }
            Transport::Fhir {
                base,
                client,
                credentials,
            } => {
                super::http::fhir(
                    client,
                    credentials,
                    base,
                    &next.payload,
                    Duration::from_millis(iface.ack.timeout_ms.unwrap_or(30_000)),
                )
                .await
            }
            Transport::Virtual(peer) => {
                let reply = peer.answer(&next.payload);
                if iface.ack.mode == "never" {
                    return Attempt {
                        class: "AA".into(),
                        detail: None,
                        reply: None,
                    };
                }
                match reply {
                    Some(reply) => {
                        let (class, detail) = replies::classify(&reply, next.control_id.as_deref());
                        Attempt {
                            class,
                            detail,
                            reply: Some(reply),
                        }
                    }
                    None => Attempt {
                        class: "timeout".into(),
                        detail: Some("the peer did not answer".into()),
                        reply: None,
                    },
                }
            }
            Transport::Unsupported(why) => Attempt {
                class: "refused".into(),
                detail: Some(why.clone()),
                reply: None,
            },
        }
    }
}

pub(super) use Attempt as SendAttempt;

/// Runs an operation: one lane when it has no ordering key (strict arrival order), else
/// `limits.lanes` lanes, each with its own connection, a key always in the same lane.
pub async fn run(engine: Arc<Engine>, name: String) {
    let Some(iface) = engine.interface(&name).cloned() else {
        return;
    };
    let lanes = super::lanes_of(&iface, &engine.config);
    let suspended = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..lanes)
        .map(|lane| {
            tokio::spawn(run_lane(
                engine.clone(),
                iface.clone(),
                lane,
                suspended.clone(),
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// A lane's read connection, moved into a blocking task for each query.
struct LaneReader {
    store: super::journal::Store,
    conn: Option<super::journal::db::Conn>,
}

impl LaneReader {
    async fn next(&mut self, interface: &str, lane: u32, peers: &Peers) -> Result<Choice, String> {
        let conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let c = super::journal::open_read(&self.store).map_err(|e| e.to_string())?;
                queue::ready_lane_reader(&c.db()).map_err(|e| e.to_string())?;
                c
            }
        };
        let interface = interface.to_string();
        let peers = peers.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let r = choose_batch(&conn.db(), &interface, lane, &peers).map_err(|e| e.to_string());
            (conn, r)
        })
        .await
        .map_err(|e| e.to_string())?;
        // A connection that failed is opened afresh next time (a PostgreSQL server that
        // restarted has closed it).
        if result.is_ok() {
            self.conn = Some(conn);
        }
        result
    }
}

async fn run_lane(engine: Arc<Engine>, iface: Interface, lane: u32, suspended: Arc<AtomicBool>) {
    let name = iface.name.clone();
    let endpoint = iface
        .endpoint
        .as_ref()
        .and_then(|e| engine.config.endpoints.get(e));
    let tls = endpoint.and_then(|e| engine.config.tls.client(&e.name));
    let mut transport = Transport::of(endpoint, &iface, tls);
    // The SIGHUP reloads whose credentials this lane has taken (see `Reloaded`).
    let mut credentials_taken = engine.reloaded.generation();
    let lanes = engine.lanes.get(&name).cloned().unwrap_or_default();
    let Some(me) = lanes.get(lane as usize) else {
        return;
    };
    let peers = Peers {
        names: engine.order_peers(&name).to_vec(),
        lanes: engine.config.limits.lanes.max(1),
        endpoint: iface.endpoint.clone().unwrap_or_default(),
    };
    let may_copy = engine.sends_from_copies(&name);
    let mut reader = LaneReader {
        store: engine.journal.store().clone(),
        conn: None,
    };
    // Sending from the copy: the epoch it was entered under, and since when.
    let mut from_copy: Option<(u64, std::time::Instant)> = None;
    let lease = super::cluster::lane_lease(&name, lane);
    let cluster = &engine.cluster;
    loop {
        // When nodes share the journal, one of them runs the lane: the holder of its lease.
        // (Unparked before asking: a lease is handed over only while its lane is parked.)
        cluster.unpark(&lease);
        if !cluster.owns(&lease) {
            leave_copy(me, &mut from_copy);
            cluster.park(&lease);
            let _ = tokio::time::timeout(Duration::from_secs(1), me.wake.notified()).await;
            continue;
        }
        if suspended.load(Ordering::Acquire) {
            if lane == 0 {
                tracing::error!(interface = %name, "operation suspended by its reply policy; restart the production to resume");
            }
            std::future::pending::<()>().await;
        }
        // Whether this batch is all the lane had pending (read from the journal).
        let mut drained = false;
        let batch = if let Some((epoch, since)) = from_copy {
            match me.take(epoch, BATCH) {
                Some(batch) if !batch.is_empty() => batch,
                Some(_) => {
                    // Caught up: now and then, and after a second idle, the journal is read
                    // again for what operators queue from outside the production.
                    let woken = if since.elapsed() < REREAD_EVERY {
                        tokio::time::timeout(Duration::from_secs(1), me.wake.notified())
                            .await
                            .is_ok()
                    } else {
                        false
                    };
                    if !woken {
                        leave_copy(me, &mut from_copy);
                    }
                    continue;
                }
                None => {
                    leave_copy(me, &mut from_copy);
                    continue;
                }
            }
        } else {
            let epoch = me.epoch();
            match reader.next(&name, lane, &peers).await {
                Ok(Choice::Send {
                    batch,
                    drained: all,
                }) => {
                    drained = all;
                    batch
                }
                Ok(Choice::Wait(ms)) => {
                    cluster.park(&lease);
                    let _ =
                        tokio::time::timeout(Duration::from_millis(ms as u64), me.wake.notified())
                            .await;
                    continue;
                }
                Ok(Choice::Idle { seen, quiet }) => {
                    if may_copy && quiet && me.enter(epoch, seen) {
                        from_copy = Some((epoch, std::time::Instant::now()));
                        continue;
                    }
                    // Idle: look again each second, for what operators requeue from outside.
                    cluster.park(&lease);
                    let _ = tokio::time::timeout(Duration::from_secs(1), me.wake.notified()).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(interface = %name, error = %e, "cannot read the queue; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        };
        engine
            .metrics
            .taken
            .get_or_create(&metrics::TakenLabel {
                interface: name.clone(),
                from: if from_copy.is_some() {
                    "copy"
                } else {
                    "journal"
                }
                .into(),
            })
            .inc_by(batch.len() as u64);
        let may_send = || !suspended.load(Ordering::Acquire) && cluster.owns(&lease);
        let unsure = send_batch(
            &engine,
            &iface,
            &mut transport,
            &batch,
            &may_send,
            &suspended,
            &mut credentials_taken,
        )
        .await;
        // What waits for a retry, or was left unsent, is in the journal's queue, not the
        // copy's: the lane reads the journal again.
        if unsure {
            leave_copy(me, &mut from_copy);
        } else if drained && !may_copy {
            // Sent all it had: what was queued since has woken the lane (a wake while it
            // sent is kept), so reading now would mostly find nothing. With several nodes
            // a read is a transaction on the server: three nodes committed 15% fewer. Each
            // second the lane looks anyway, for what operators queue from outside.
            cluster.park(&lease);
            let _ = tokio::time::timeout(Duration::from_secs(1), me.wake.notified()).await;
        }
    }
}

/// Sends `batch` in order, each outcome recorded before the next message goes; a key
/// whose message must wait (a retry) holds back its later messages. Stops when `may_send`
/// says the lane is no longer this node's to run. Answers whether the lane must read the
/// journal again: something waits for a retry, or was left unsent.
async fn send_batch(
    engine: &Arc<Engine>,
    iface: &Interface,
    transport: &mut Transport,
    batch: &[Next],
    may_send: &(dyn Fn() -> bool + Sync),
    suspended: &AtomicBool,
    credentials_taken: &mut u64,
) -> bool {
    // Keys whose message in this batch must wait: their later messages wait too.
    let mut held: Vec<Option<String>> = vec![];
    for next in batch {
        // A lease that ran out (the journal unreachable) or is being handed over: the
        // rest of the batch is the next holder's.
        if !may_send() {
            return true;
        }
        if held.contains(&next.order_key) {
            continue;
        }
        let reloads = engine.reloaded.generation();
        if reloads != *credentials_taken {
            *credentials_taken = reloads;
            if let Some(e) = iface
                .endpoint
                .as_deref()
                .and_then(|e| engine.reloaded.endpoint(e))
            {
                transport.take_credentials(&e);
            }
        }
        let attempt = transport.send(iface, next).await;
        let attempts = next.attempts + 1;
        let decision = replies::decide(iface, &attempt.class, attempts);
        if decision.suspend {
            suspended.store(true, Ordering::Release);
        }
        if !record(engine, iface, next, &attempt, &decision, attempts).await {
            // The outcome is not known to be stored: read the queue again.
            return true;
        }
        if !matches!(decision.state, "completed" | "dead") {
            held.push(next.order_key.clone());
        }
    }
    !held.is_empty()
}

/// One lane of an operation whose peer is in process (`scenario`): each pass sends what
/// is due now, as a lane of the running production would, through the same queue reads,
/// reply policy and journal writes.
pub(crate) struct PeerLane {
    interface: Interface,
    lane: u32,
    transport: Transport,
    reader: LaneReader,
    peers: Peers,
    suspended: AtomicBool,
    credentials_taken: u64,
}

impl PeerLane {
    pub(crate) fn new(
        engine: &Engine,
        interface: Interface,
        lane: u32,
        peer: Arc<super::scenario::Peer>,
    ) -> PeerLane {
        let peers = Peers {
            names: engine.order_peers(&interface.name).to_vec(),
            lanes: engine.config.limits.lanes.max(1),
            endpoint: interface.endpoint.clone().unwrap_or_default(),
        };
        PeerLane {
            interface,
            lane,
            transport: Transport::Virtual(peer),
            reader: LaneReader {
                store: engine.journal.store().clone(),
                conn: None,
            },
            peers,
            suspended: AtomicBool::new(false),
            credentials_taken: engine.reloaded.generation(),
        }
    }

    /// Sends what is due now; whether anything was sent. A suspended operation (its reply
    /// policy said `suspend`) sends nothing more.
    pub(crate) async fn pass(&mut self, engine: &Arc<Engine>) -> Result<bool, String> {
        if self.suspended.load(Ordering::Acquire) {
            return Ok(false);
        }
        let batch = match self
            .reader
            .next(&self.interface.name, self.lane, &self.peers)
            .await?
        {
            Choice::Send { batch, .. } => batch,
            Choice::Wait(_) | Choice::Idle { .. } => return Ok(false),
        };
        let suspended = &self.suspended;
        let may_send = || !suspended.load(Ordering::Acquire);
        send_batch(
            engine,
            &self.interface,
            &mut self.transport,
            &batch,
            &may_send,
            suspended,
            &mut self.credentials_taken,
        )
        .await;
        Ok(true)
    }
}

/// How long a lane sends from its copy before, once it has caught up, it reads the
/// journal again.
const REREAD_EVERY: Duration = Duration::from_secs(1);

fn leave_copy(lane: &Lane, from_copy: &mut Option<(u64, std::time::Instant)>) {
    if from_copy.take().is_some() {
        lane.leave();
    }
}

async fn record(
    engine: &Arc<Engine>,
    iface: &Interface,
    next: &Next,
    attempt: &Attempt,
    d: &Decision,
    attempts: u32,
) -> bool {
    let now = time::now_ms();
    let label = metrics::Metrics::iface(&iface.name);
    if accord_hl7::ack::AckCode::parse(&attempt.class).is_some() {
        engine
            .metrics
            .acks
            .get_or_create(&metrics::AckLabel {
                interface: iface.name.clone(),
                direction: "received".into(),
                code: attempt.class.clone(),
            })
            .inc();
    }
    match d.state {
        "completed" => {
            engine.metrics.sent.get_or_create(&label).inc();
            let took = (now - next.received_at).max(0);
            engine
                .metrics
                .end_to_end
                .get_or_create(&label)
                .observe(took as f64 / 1000.0);
            engine
                .sla
                .delivered(&iface.name, next.origin.as_deref(), took, now);
        }
        "dead" => {
            engine
                .metrics
                .dead
                .get_or_create(&metrics::ReasonLabel {
                    interface: iface.name.clone(),
                    reason: d.reason.unwrap_or("nack").into(),
                })
                .inc();
            tracing::warn!(interface = %iface.name, id = next.id, class = %attempt.class, "message moved to the dead letter");
        }
        "retrying" => {
            tracing::info!(interface = %iface.name, id = next.id, class = %attempt.class, retry_in_ms = d.retry_in_ms.unwrap_or(0), "delivery will be retried")
        }
        _ => {}
    }
    for target in &d.alerts {
        engine.alert(
            target,
            &iface.name,
            &format!(
                "message {} answered {}: {}",
                next.id, attempt.class, d.state
            ),
        );
    }
    let (id, state, reason) = (next.id, d.state, d.reason);
    let next_at = d.retry_in_ms.map(|ms| now + ms as i64).unwrap_or(0);
    let detail = attempt.detail.clone();
    let reply = attempt.reply.clone();
    let class = attempt.class.clone();
    let alerts = d.alerts.clone();
    let send: Vec<(String, String)> = d
        .send
        .iter()
        .filter_map(|s| {
            engine
                .interface(s)
                .map(|i| (i.name.clone(), i.version.clone()))
        })
        .collect();
    let parent = next
        .parent
        .filter(|p| engine.is_waiting(*p, next.origin.as_deref()));
    let lanes = engine.config.limits.lanes;
    // Lost to a power failure, the outcome only makes the lane send the message again,
    // with the same control id: redoable.
    let settled = engine
        .journal
        .write_redoable(move |c| {
            let outcome = queue::Outcome {
                state,
                attempts,
                next_at,
                class: &class,
                reply: reply.as_deref(),
                reason,
                detail: detail.as_deref(),
            };
            let what = format!(
                "{class}{}{}",
                detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default(),
                if alerts.is_empty() {
                    String::new()
                } else {
                    format!(" (alert {})", alerts.join(", "))
                }
            );
            queue::record_outcome(c, id, &outcome, &what, now)?;
            for (iface, version) in &send {
                queue::queue_copy(c, id, iface, version, now, lanes)?;
            }
            let Some(parent) = parent else {
                return Ok(None);
            };
            let (pending, dead) = queue::deliveries_of(c, parent)?;
            Ok((pending == 0).then_some((parent, dead)))
        })
        .await;
    for target in &d.send {
        engine.wake_operation(target);
    }
    match settled {
        Ok(Some((parent, dead))) => engine.settle(
            parent,
            next.origin.as_deref(),
            Outcome {
                positive: dead == 0,
                text: if dead == 0 {
                    "delivered".into()
                } else {
                    format!("{dead} delivery(ies) failed; see the dead letter")
                },
                error: None,
            },
        ),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(interface = %iface.name, error = %e, "cannot record a delivery outcome");
            return false;
        }
    }
    true
}
