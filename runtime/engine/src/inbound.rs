//! Inbound services: one MLLP listener per endpoint that receives messages. Each frame is
//! parsed, matched to the contract (interface) on that endpoint that carries its message
//! type, validated against the contract's profile, checked for duplicates by the contract's
//! idempotency key and journalled; only then is it acknowledged. Whatever is wrong with a
//! message, it is stored (as `rejected`, with the reason) and answered with a NACK carrying
//! ERR segments: nothing is dropped and the sender is never left waiting.

use super::acks;
use super::journal::inbound::{insert, record_ack, Row, Stored};
use super::journal::receipts::Receipt;
use super::{control_part, joined_key, key_of, key_parts, patient_of, time, Engine, Outcome};
use accord_hl7::ack::{AckCode, AckMode, ErrDetail, Severity};
use accord_hl7::mllp::codec::Frame;
use accord_hl7::mllp::server::{serve, ConnectionEvent, Reply, ServerOptions};
use accord_hl7::Message;
use accord_runtime::answer;
use accord_runtime::spec::{Interface, Role};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The interfaces received on `endpoint`.
pub fn services<'e>(engine: &'e Engine, endpoint: &str) -> Vec<&'e Interface> {
    engine
        .spec
        .interfaces
        .iter()
        .filter(|i| i.role == Role::Service && i.endpoint.as_deref() == Some(endpoint))
        .collect()
}

/// The largest frame `endpoint` takes: its `max_frame`, or `[limits] max_frame_bytes`.
fn max_frame(engine: &Engine, endpoint: &str) -> usize {
    engine
        .config
        .endpoints
        .get(endpoint)
        .and_then(|e| e.max_frame().ok().flatten())
        .unwrap_or(engine.config.limits.max_frame_bytes)
}

/// Serves `endpoint` on an already bound listener until the process ends.
pub async fn run(engine: Arc<Engine>, endpoint: String, listener: TcpListener) {
    let settings = engine.config.endpoints.get(&endpoint).cloned();
    let settings = settings.as_ref();
    let limit = engine.config.limits.max_connections;
    let per_address = engine.config.limits.max_connections_per_address;
    let observer = engine.clone();
    let name = endpoint.clone();
    let on_event = move |e: ConnectionEvent| {
        let label = super::metrics::EndpointLabel {
            endpoint: name.clone(),
        };
        match e {
            ConnectionEvent::Opened(peer) => {
                observer.metrics.connections.get_or_create(&label).inc();
                tracing::debug!(endpoint = %name, %peer, "connection opened");
            }
            ConnectionEvent::Closed(peer) => {
                observer.metrics.connections.get_or_create(&label).dec();
                tracing::debug!(endpoint = %name, %peer, "connection closed");
            }
            ConnectionEvent::Refused(peer) => {
                observer
                    .metrics
                    .connections_refused
                    .get_or_create(&label)
                    .inc();
                if let Some(n) = observer.notices.note(peer.ip(), "connections") {
                    tracing::warn!(endpoint = %name, %peer, limit, refused = n, "connection refused: the endpoint already serves limits.max_connections connections");
                }
            }
            ConnectionEvent::TlsRefused(peer, why) => {
                observer.metrics.tls_refused.get_or_create(&label).inc();
                if let Some(n) = observer.notices.note(peer.ip(), "tls") {
                    tracing::warn!(endpoint = %name, %peer, refused = n, "TLS handshake refused: {}", super::shown::shown(&why));
                }
            }
            ConnectionEvent::RefusedAddress(peer) => {
                observer
                    .metrics
                    .connections_refused
                    .get_or_create(&label)
                    .inc();
                if let Some(n) = observer.notices.note(peer.ip(), "per-address") {
                    tracing::warn!(endpoint = %name, %peer, limit = per_address, refused = n, "connection refused: the address already holds limits.max_connections_per_address connections");
                }
            }
        }
    };
    let opts = ServerOptions {
        idle_timeout: settings
            .and_then(|e| e.timeout().ok().flatten())
            .unwrap_or(Duration::from_secs(engine.config.limits.idle_timeout_s)),
        max_frame: max_frame(&engine, &endpoint),
        max_connections: limit,
        max_per_address: per_address,
        on_event: Some(Arc::new(on_event)),
        handshake_timeout: Duration::from_secs(engine.config.limits.header_timeout_s),
        tls: engine.config.tls.server(&endpoint),
    };
    let served = serve(listener, opts, move |frame, peer| {
        let engine = engine.clone();
        let endpoint = endpoint.clone();
        async move { handle(&engine, &endpoint, frame, peer).await }
    })
    .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "listener stopped");
    }
}

/// Stores a message that will not be processed, counting it; the journal keeps it.
async fn store_rejected(engine: &Engine, row: Row) -> Fate {
    let reason = row.reason.unwrap_or("parse");
    engine
        .metrics
        .rejected
        .get_or_create(&super::metrics::ReasonLabel {
            interface: row.interface.clone(),
            reason: reason.to_string(),
        })
        .inc();
    tracing::warn!(interface = %row.interface, reason, control_id = row.control_id.as_deref().unwrap_or(""), "message rejected");
    match engine
        .journal
        .write(move |c| insert(c, &row, time::now_ms()))
        .await
    {
        Ok(_) => Fate::Rejected,
        Err(e) => {
            tracing::error!(error = %e, "could not journal a rejected message");
            Fate::NotStored
        }
    }
}

/// What became of a message: the file poller moves a file only once all of it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Stored,
    Rejected,
    NotStored,
}

fn reply_or_nothing(bytes: Vec<u8>, wanted: bool) -> Reply {
    if wanted {
        Reply::Frame(bytes)
    } else {
        Reply::Nothing
    }
}

pub async fn handle(engine: &Arc<Engine>, endpoint: &str, frame: Frame, peer: SocketAddr) -> Reply {
    receive(engine, endpoint, frame, &peer.to_string()).await.0
}

/// One message from any transport: its reply (for MLLP) and whether it is in the journal.
pub async fn receive(
    engine: &Arc<Engine>,
    endpoint: &str,
    frame: Frame,
    peer: &str,
) -> (Reply, Fate) {
    let now = time::now_ms();
    let ack_id = acks::ack_control_id(engine.next_seq());
    let unnamed = format!("{endpoint}?");
    let (bytes, oversized) = match &frame {
        Frame::Message(b) => (b.to_vec(), None),
        Frame::Oversized { head, size } => (head.to_vec(), Some(*size)),
    };
    let base = |state, reason, detail: String, ack: &[u8]| Row {
        correlation: engine.correlation_id(),
        interface: unnamed.clone(),
        version: String::new(),
        state,
        message_type: None,
        control_id: None,
        patient_id: None,
        idem_key: None,
        idem_control: None,
        order_key: None,
        peer: peer.to_string(),
        ack_code: Some("AR".into()),
        ack: Some(ack.to_vec()),
        reason: Some(reason),
        detail: Some(detail),
        payload: bytes.clone(),
    };
    if let Some(size) = oversized {
        let why = format!(
            "frame of {size} bytes exceeds the limit of {} bytes (the endpoint's max_frame, or limits.max_frame_bytes); its first {} bytes are kept",
            max_frame(engine, endpoint),
            bytes.len()
        );
        let nack = acks::reject_unparsed(&bytes, &why, 207, &ack_id, now);
        let fate = store_rejected(engine, base("rejected", "frame", why, &nack)).await;
        return (Reply::Frame(nack), fate);
    }
    let msg = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(e) => {
            let why = e.to_string();
            let nack = acks::reject_unparsed(&bytes, &why, 102, &ack_id, now);
            let fate = store_rejected(engine, base("rejected", "parse", why, &nack)).await;
            return (Reply::Frame(nack), fate);
        }
    };
    let (code, trigger, _) = msg.message_type();
    let message_type = format!("{}^{}", code.unwrap_or(""), trigger.unwrap_or(""));
    let candidates = services(engine, endpoint);
    let admitted = answer::admit(&engine.spec, &candidates, endpoint, &msg);
    let mode = AckMode::of(&msg);
    let mut row = base("received", "received", String::new(), &[]);
    row.message_type = Some(message_type);
    row.control_id = msg.control_id().map(str::to_string);
    let named = match &admitted {
        Ok(i) => Some(*i),
        Err(refusal) => refusal.interface,
    };
    if let Some(iface) = named {
        row.interface = iface.name.clone();
        row.version = iface.version.clone();
        row.patient_id = patient_of(&msg);
        let idem_parts = key_parts(&msg, &iface.idempotency);
        row.idem_key = joined_key(&idem_parts);
        row.idem_control = control_part(&iface.idempotency, &idem_parts);
        row.order_key = iface
            .ordering
            .as_ref()
            .and_then(|p| key_of(&msg, std::slice::from_ref(p)));
    }
    row.reason = None;
    row.detail = None;
    row.ack = None;
    row.ack_code = None;
    let iface = match admitted {
        Ok(iface) => iface,
        Err(refusal) => {
            let contract = named.map_or("commit", |i| i.ack.mode.as_str());
            let code = answer::reply_code(contract, mode, answer::Outcome::Refused)
                .unwrap_or(acks::commit_code(&msg, false));
            let nack = acks::ack(
                &msg,
                code,
                Some(&refusal.summary),
                refusal.errors,
                &ack_id,
                now,
            );
            row.state = "rejected";
            row.reason = Some(refusal.reason);
            row.detail = Some(refusal.detail);
            row.ack_code = Some(code.to_string());
            row.ack = Some(nack.clone());
            let fate = store_rejected(engine, row).await;
            return (Reply::Frame(nack), fate);
        }
    };

    // How to answer: from the contract, or from MSH-15/16 when the contract says `msh`
    // (one decision for the production, `accord test` and the book: `answer`).
    let contract = iface.ack.mode.as_str();
    let application = answer::waits_for_downstream(contract, mode);
    let at_commit = answer::reply_code(
        contract,
        mode,
        answer::Outcome::Accepted { downstream: None },
    );
    let wanted = at_commit.is_some();
    // Kept for duplicates even when not sent (`ack: never`, MSH-15 NE).
    let commit_code = at_commit.unwrap_or(acks::commit_code(&msg, true));
    let commit_ack =
        (!application).then(|| acks::ack(&msg, commit_code, None, vec![], &ack_id, now));
    row.ack_code = commit_ack.as_ref().map(|_| commit_code.to_string());
    row.ack = commit_ack.clone();
    let interface = iface.name.clone();
    let stored = store_received(engine, row, now).await;
    let id = match stored {
        Ok(Stored::New(id)) => id,
        Ok(Stored::Duplicate(first, ack)) => {
            engine
                .metrics
                .duplicates
                .get_or_create(&super::metrics::Metrics::iface(&interface))
                .inc();
            tracing::info!(interface = %interface, first, "duplicate answered with the first ACK");
            let ack = ack.unwrap_or_else(|| {
                acks::ack(
                    &msg,
                    answer::reply_code(contract, mode, answer::Outcome::Duplicate)
                        .unwrap_or(commit_code),
                    Some("duplicate: already received"),
                    vec![],
                    &ack_id,
                    now,
                )
            });
            return (Reply::Frame(ack), Fate::Stored);
        }
        Err(e) => {
            // Not durable: say so, so the sender keeps the message and retries.
            tracing::error!(error = %e, "journal write failed; message not accepted");
            let code = answer::reply_code(contract, mode, answer::Outcome::NotStored)
                .unwrap_or(AckCode::AE);
            let err = ErrDetail {
                code: 207,
                severity: Severity::Error,
                location: None,
                message: "the journal could not store the message; send it again".into(),
            };
            let nack = acks::ack(
                &msg,
                code,
                Some("not stored; retry"),
                vec![err],
                &ack_id,
                now,
            );
            return (Reply::Frame(nack), Fate::NotStored);
        }
    };
    engine
        .metrics
        .received
        .get_or_create(&super::metrics::Metrics::iface(&interface))
        .inc();
    engine.sla.heard(&interface, now);
    tracing::debug!(interface = %interface, id, "received");
    if !application {
        engine.received.notify_one();
        engine
            .metrics
            .acks
            .get_or_create(&super::metrics::AckLabel {
                interface,
                direction: "sent".into(),
                code: commit_code.to_string(),
            })
            .inc();
        return (
            reply_or_nothing(commit_ack.unwrap_or_default(), wanted),
            Fate::Stored,
        );
    }
    // Application ACK: wait for the downstream outcome within the contract's timeout.
    let (tx, rx) = tokio::sync::oneshot::channel();
    if let Ok(mut w) = engine.waiting.lock() {
        w.insert(id, tx);
    }
    engine.received.notify_one();
    let timeout = Duration::from_millis(iface.ack.timeout_ms.unwrap_or(30_000));
    let outcome = match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(o)) => o,
        _ => {
            if let Ok(mut w) = engine.waiting.lock() {
                w.remove(&id);
            }
            no_outcome(timeout.as_millis())
        }
    };
    let code = answer::reply_code(
        contract,
        mode,
        answer::Outcome::Accepted {
            downstream: Some(outcome.positive),
        },
    )
    .unwrap_or(AckCode::AE);
    let errors = if outcome.positive {
        vec![]
    } else {
        let (code, at) = outcome.error.unwrap_or((207, None));
        vec![ErrDetail {
            code,
            severity: Severity::Error,
            location: at.and_then(accord_hl7::ack::ErrLocation::of_path),
            message: outcome.text.clone(),
        }]
    };
    let ack = acks::ack(
        &msg,
        code,
        (!outcome.positive).then_some(outcome.text.as_str()),
        errors,
        &ack_id,
        time::now_ms(),
    );
    let stored_ack = ack.clone();
    let code_text = code.to_string();
    let _ = engine
        .journal
        .write(move |c| record_ack(c, id, &code_text, &stored_ack))
        .await;
    engine
        .metrics
        .acks
        .get_or_create(&super::metrics::AckLabel {
            interface,
            direction: "sent".into(),
            code: code.to_string(),
        })
        .inc();
    (Reply::Frame(ack), Fate::Stored)
}

/// What a sender waiting for an application ACK is told when no outcome came within
/// the contract's `timeout_ms`.
pub(crate) fn no_outcome(timeout_ms: u128) -> Outcome {
    Outcome {
        positive: false,
        text: format!(
            "no downstream outcome within {timeout_ms} ms; the message is kept and delivery continues"
        ),
        error: None,
    }
}

/// Stores a message received by a service (`journal::inbound::store_once`), and, when
/// another node processes the estate's messages, tells it at the commit; this node's
/// processor is woken in process by the caller. Only then: PostgreSQL holds its one lock on
/// notifications from a notifying transaction's commit until the commit is on disk, so
/// receipts that all notified committed one after another, whatever the writers.
pub(crate) async fn store_received(
    engine: &Engine,
    row: Row,
    now: i64,
) -> Result<Stored, super::journal::JournalError> {
    let tell_others = engine.cluster.clustered() && !engine.cluster.owns(super::cluster::PROCESSOR);
    engine
        .journal
        .receive(Receipt::new(row, now, tell_others))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_id_part_of_a_key_is_its_msh_10() {
        let msg = Message::parse(b"MSH|^~\\&|LAB|X|HUB|Y|20261202||ADT^A01|M42|P|2.5\rORC|NW|P7")
            .unwrap();
        let part = |ps: &[&str]| {
            let paths: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
            control_part(&paths, &key_parts(&msg, &paths))
        };
        assert_eq!(part(&["MSH-4", "MSH-10"]).as_deref(), Some("M42"));
        assert_eq!(msg.control_id(), Some("M42"));
        assert_eq!(part(&["ORC-2"]), None);
        assert_eq!(
            joined_key(&key_parts(&msg, &["MSH-4".into(), "MSH-10".into()])).as_deref(),
            Some("X|M42")
        );
    }
}
