//! Inbound services: one MLLP listener per endpoint that receives messages. Each frame is
//! parsed, matched to the contract (interface) on that endpoint that carries its message
//! type, validated against the contract's profile, checked for duplicates by the contract's
//! idempotency key and journalled; only then is it acknowledged. Whatever is wrong with a
//! message, it is stored (as `rejected`, with the reason) and answered with a NACK carrying
//! ERR segments: nothing is dropped and the sender is never left waiting.

use super::acks;
use super::{key_of, patient_of, time, Engine, Outcome};
use crate::hl7::ack::{AckCode, AckMode, ErrDetail, Severity};
use crate::hl7::{dict, validate, Message};
use crate::mllp::codec::Frame;
use crate::mllp::server::{serve, ConnectionEvent, Reply, ServerOptions};
use crate::spec::{Interface, Role};
use rusqlite::{params, OptionalExtension};
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

/// Serves `endpoint` on an already bound listener until the process ends.
pub async fn run(engine: Arc<Engine>, endpoint: String, listener: TcpListener) {
    let limit = engine.config.limits.max_connections;
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
                tracing::warn!(endpoint = %name, %peer, limit, "connection refused: the endpoint already serves limits.max_connections connections");
            }
        }
    };
    let opts = ServerOptions {
        idle_timeout: Duration::from_secs(engine.config.limits.idle_timeout_s),
        max_frame: engine.config.limits.max_frame_bytes,
        max_connections: limit,
        on_event: Some(Arc::new(on_event)),
        ..ServerOptions::default()
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

/// What the journal said about a new message.
pub(super) enum Stored {
    New(i64),
    /// Seen before under the same idempotency key: the first one's id and its ACK.
    Duplicate(i64, Option<Vec<u8>>),
}

#[derive(Clone)]
pub(super) struct Row {
    pub(super) correlation: String,
    pub(super) interface: String,
    pub(super) version: String,
    pub(super) state: &'static str,
    pub(super) message_type: Option<String>,
    pub(super) control_id: Option<String>,
    pub(super) patient_id: Option<String>,
    pub(super) idem_key: Option<String>,
    pub(super) order_key: Option<String>,
    pub(super) peer: String,
    pub(super) ack_code: Option<String>,
    pub(super) ack: Option<Vec<u8>>,
    pub(super) reason: Option<&'static str>,
    pub(super) detail: Option<String>,
    pub(super) payload: Vec<u8>,
}

pub(super) fn insert(c: &rusqlite::Connection, r: &Row, now: i64) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO messages (correlation, interface, contract_version, direction, state,
           message_type, control_id, patient_id, idem_key, order_key, peer, received_at,
           updated_at, ack_code, ack, reason, detail, payload)
         VALUES (?1, ?2, ?3, 'in', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        r.correlation,
        r.interface,
        r.version,
        r.state,
        r.message_type,
        r.control_id,
        r.patient_id,
        r.idem_key,
        r.order_key,
        r.peer,
        now,
        r.ack_code,
        r.ack,
        r.reason,
        r.detail,
        r.payload
    ])?;
    let id = c.last_insert_rowid();
    c.prepare_cached("INSERT INTO events (message, at, kind, detail) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![
            id,
            now,
            r.state,
            r.reason
                .map(|x| format!("{x}: {}", r.detail.clone().unwrap_or_default()))
        ])?;
    Ok(id)
}

/// Stores a received message, or, when its idempotency key was seen before, records it
/// as a duplicate of the first one (whose ACK answers it).
pub(super) fn store_once(
    c: &rusqlite::Connection,
    row: &Row,
    now: i64,
) -> rusqlite::Result<Stored> {
    if let Some(key) = &row.idem_key {
        let first: Option<(i64, Option<Vec<u8>>)> = c
            .prepare_cached(
                "SELECT id, ack FROM messages WHERE interface = ?1 AND idem_key = ?2
                 AND direction = 'in' AND state NOT IN ('rejected', 'duplicate') ORDER BY id LIMIT 1",
            )?
            .query_row(params![row.interface, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((id, ack)) = first {
            let mut dup = row.clone();
            dup.state = "duplicate";
            dup.reason = Some("duplicate");
            dup.detail = Some(format!("same idempotency key as message {id}"));
            insert(c, &dup, now)?;
            return Ok(Stored::Duplicate(id, ack));
        }
    }
    insert(c, row, now).map(Stored::New)
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
            "frame of {size} bytes exceeds the limit of {} bytes (limits.max_frame_bytes); its first {} bytes are kept",
            engine.config.limits.max_frame_bytes,
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
    let Some(iface) = candidates
        .iter()
        .find(|i| i.accepts(&message_type))
        .copied()
    else {
        let why = format!(
            "message type {message_type} is not received on this endpoint ({}: {})",
            endpoint,
            candidates
                .iter()
                .map(|i| i.messages.join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let nack = acks::ack(
            &msg,
            acks::commit_code(&msg, false),
            Some("unsupported message type"),
            vec![ErrDetail {
                code: 200,
                severity: Severity::Error,
                location: None,
                message: why.clone(),
            }],
            &ack_id,
            now,
        );
        let mut row = base("rejected", "validate", why, &nack);
        row.message_type = Some(message_type);
        row.control_id = msg.control_id().map(str::to_string);
        let fate = store_rejected(engine, row).await;
        return (Reply::Frame(nack), fate);
    };
    let mut row = base("received", "received", String::new(), &[]);
    row.interface = iface.name.clone();
    row.version = iface.version.clone();
    row.message_type = Some(message_type);
    row.control_id = msg.control_id().map(str::to_string);
    row.patient_id = patient_of(&msg);
    row.idem_key = key_of(&msg, &iface.idempotency);
    row.order_key = iface
        .ordering
        .as_ref()
        .and_then(|p| key_of(&msg, std::slice::from_ref(p)));
    row.reason = None;
    row.detail = None;
    row.ack = None;
    row.ack_code = None;

    if let Some(name) = &iface.profile {
        let profile = engine.spec.profiles.iter().find(|p| &p.name == name);
        let version = msg
            .version()
            .map(str::to_string)
            .or_else(|| profile.map(|p| p.version.clone()))
            .unwrap_or_default();
        let problems: Vec<_> = match dict::dictionary(&version) {
            Some(d) => validate::validate(&msg, d, profile),
            None => vec![validate::Problem {
                offset: 0,
                what: format!("MSH-12: HL7 version `{version}` is not known"),
                warning: false,
                code: 203,
                location: None,
            }],
        }
        .into_iter()
        .filter(|p| !p.warning)
        .collect();
        if !problems.is_empty() {
            let detail = problems
                .iter()
                .map(|p| p.what.clone())
                .collect::<Vec<_>>()
                .join("; ");
            let nack = acks::ack(
                &msg,
                acks::commit_code(&msg, false),
                Some(&format!("rejected by profile {name}")),
                problems.iter().take(20).map(|p| p.err_detail()).collect(),
                &ack_id,
                now,
            );
            row.state = "rejected";
            row.reason = Some("validate");
            row.detail = Some(detail);
            row.ack_code = Some(acks::commit_code(&msg, false).to_string());
            row.ack = Some(nack.clone());
            let fate = store_rejected(engine, row).await;
            return (Reply::Frame(nack), fate);
        }
    }

    // How to answer: from the contract, or from MSH-15/16 when the contract says `msh`.
    let mode = AckMode::of(&msg);
    let (application, wanted) = match (iface.ack.mode.as_str(), mode) {
        ("never", _) => (false, false),
        ("application", _) => (true, true),
        ("msh", AckMode::Original) => (true, true),
        ("msh", AckMode::Enhanced { accept, .. }) => (false, accept.wants(true)),
        (_, AckMode::Enhanced { accept, .. }) => (false, accept.wants(true)),
        _ => (false, true),
    };
    let commit_ack = (!application).then(|| {
        acks::ack(
            &msg,
            acks::commit_code(&msg, true),
            None,
            vec![],
            &ack_id,
            now,
        )
    });
    row.ack_code = commit_ack
        .as_ref()
        .map(|_| acks::commit_code(&msg, true).to_string());
    row.ack = commit_ack.clone();
    let interface = iface.name.clone();
    let stored = engine
        .journal
        .write(move |c| store_once(c, &row, now))
        .await;
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
                    acks::commit_code(&msg, true),
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
            let code = if acks::enhanced(&msg) {
                AckCode::CE
            } else {
                AckCode::AE
            };
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
    tracing::debug!(interface = %interface, id, "received");
    if !application {
        engine.received.notify_one();
        engine
            .metrics
            .acks
            .get_or_create(&super::metrics::AckLabel {
                interface,
                direction: "sent".into(),
                code: acks::commit_code(&msg, true).to_string(),
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
            Outcome { positive: false, text: format!("no downstream outcome within {} ms; the message is kept and delivery continues", timeout.as_millis()) }
        }
    };
    let code = if outcome.positive {
        AckCode::AA
    } else {
        AckCode::AE
    };
    let errors = if outcome.positive {
        vec![]
    } else {
        vec![ErrDetail {
            code: 207,
            severity: Severity::Error,
            location: None,
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
        .write(move |c| {
            c.prepare_cached("UPDATE messages SET ack_code = ?1, ack = ?2 WHERE id = ?3")?
                .execute(params![code_text, stored_ack, id])
        })
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
