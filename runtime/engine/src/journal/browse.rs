//! What the console reads of the journal, as rows its pages show: each interface's counts
//! and ages, a search over messages (interface, control id, patient, state, time range,
//! newest first, a page at a time), one message whole with the rows made from it, and the
//! audit trail. The command line's `status`, `messages` and `trace` read the same tables as
//! text (`query`).

use super::clauses::Clauses;
use super::db::{params, Db, DbResult, OptionalExtension, Row, Value as Sql};

/// One interface and direction on the dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InterfaceRow {
    pub interface: String,
    pub direction: String,
    pub received: i64,
    pub sent: i64,
    pub queued: i64,
    pub retrying: i64,
    pub dead: i64,
    pub rejected: i64,
    pub review: i64,
    /// When its last message was received or queued.
    pub last_at: Option<i64>,
    /// When its oldest delivery still waiting was queued.
    pub oldest_queued_at: Option<i64>,
    /// When its peer last answered a delivery.
    pub last_ack_at: Option<i64>,
}

/// Every interface that has messages, with its counts.
pub fn interfaces(c: &Db) -> DbResult<Vec<InterfaceRow>> {
    let mut st = c.prepare(
        "SELECT interface, direction,
           COUNT(*) FILTER (WHERE direction = 'in' AND state NOT IN ('rejected', 'duplicate')),
           COUNT(*) FILTER (WHERE direction = 'out' AND state = 'completed'),
           COUNT(*) FILTER (WHERE direction = 'out' AND state = 'queued'),
           COUNT(*) FILTER (WHERE direction = 'out' AND state = 'retrying'),
           COUNT(*) FILTER (WHERE state = 'dead'),
           COUNT(*) FILTER (WHERE state = 'rejected'),
           COUNT(*) FILTER (WHERE state = 'review'),
           MAX(received_at),
           MIN(received_at) FILTER (WHERE direction = 'out' AND state IN ('queued', 'retrying')),
           MAX(updated_at) FILTER (WHERE direction = 'out' AND ack_code IS NOT NULL)
         FROM messages WHERE direction IN ('in', 'out')
         GROUP BY interface, direction ORDER BY interface, direction",
    )?;
    let rows = st.query_map([], |r| {
        Ok(InterfaceRow {
            interface: r.get(0)?,
            direction: r.get(1)?,
            received: r.get(2)?,
            sent: r.get(3)?,
            queued: r.get(4)?,
            retrying: r.get(5)?,
            dead: r.get(6)?,
            rejected: r.get(7)?,
            review: r.get(8)?,
            last_at: r.get(9)?,
            oldest_queued_at: r.get(10)?,
            last_ack_at: r.get(11)?,
        })
    })?;
    rows.collect()
}

/// What a search asks for; every part optional.
#[derive(Debug, Default, Clone)]
pub struct Search {
    pub interface: Option<String>,
    pub control_id: Option<String>,
    pub patient: Option<String>,
    pub state: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only messages older than this id (the next page).
    pub before: Option<i64>,
    pub limit: u32,
}

/// A message in a list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub id: i64,
    pub received_at: i64,
    pub interface: String,
    pub direction: String,
    pub state: String,
    pub message_type: Option<String>,
    pub control_id: Option<String>,
    pub patient_id: Option<String>,
    pub reason: Option<String>,
}

const LISTED: &str = "id, received_at, interface, direction, state, message_type, control_id,
    patient_id, reason";

fn listed(r: &Row) -> DbResult<Listed> {
    Ok(Listed {
        id: r.get(0)?,
        received_at: r.get(1)?,
        interface: r.get(2)?,
        direction: r.get(3)?,
        state: r.get(4)?,
        message_type: r.get(5)?,
        control_id: r.get(6)?,
        patient_id: r.get(7)?,
        reason: r.get(8)?,
    })
}

/// The messages `s` matches, newest first, at most `s.limit`.
pub fn search(c: &Db, s: &Search) -> DbResult<Vec<Listed>> {
    let mut w = Clauses::new(
        format!("SELECT {LISTED} FROM messages WHERE direction IN ('in', 'out')"),
        vec![],
    );
    if let Some(v) = &s.control_id {
        w.and("control_id =", Sql::Text(v.clone()));
    }
    if let Some(v) = &s.patient {
        w.and(super::query::PATIENT_CLAUSE, Sql::Text(v.clone()));
    }
    if let Some(v) = &s.state {
        w.and("state =", Sql::Text(v.clone()));
    }
    if let Some(v) = &s.interface {
        w.and("interface =", Sql::Text(v.clone()));
    }
    if let Some(v) = s.from_ms {
        w.and("received_at >=", Sql::Int(v));
    }
    if let Some(v) = s.to_ms {
        w.and("received_at <", Sql::Int(v));
    }
    if let Some(v) = s.before {
        w.and("id <", Sql::Int(v));
    }
    let mut sql = w.sql;
    sql.push_str(&format!(
        " ORDER BY id DESC LIMIT {}",
        s.limit.clamp(1, 500)
    ));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(&w.args, listed)?;
    rows.collect()
}

/// One stored message, whole.
#[derive(Debug, Clone)]
pub struct Stored {
    pub listed: Listed,
    pub correlation: String,
    pub parent: Option<i64>,
    pub contract_version: String,
    pub peer: Option<String>,
    pub attempts: i64,
    pub ack_code: Option<String>,
    pub ack: Option<Vec<u8>>,
    pub detail: Option<String>,
    pub payload: Vec<u8>,
}

/// Message `id`, if the journal has it.
pub fn message(c: &Db, id: i64) -> DbResult<Option<Stored>> {
    c.query_row(
        &format!(
            "SELECT {LISTED}, correlation, parent, contract_version, peer, attempts, ack_code,
               ack, detail, payload FROM messages WHERE id = ?1"
        ),
        params![id],
        |r| {
            Ok(Stored {
                listed: listed(r)?,
                correlation: r.get(9)?,
                parent: r.get(10)?,
                contract_version: r.get(11)?,
                peer: r.get(12)?,
                attempts: r.get(13)?,
                ack_code: r.get(14)?,
                ack: r.get(15)?,
                detail: r.get(16)?,
                payload: r.get(17)?,
            })
        },
    )
    .optional()
}

/// The rows made from message `id`: its deliveries and its stored record, in order.
pub fn children(c: &Db, id: i64) -> DbResult<Vec<Listed>> {
    let mut st = c.prepare(&format!(
        "SELECT {LISTED} FROM messages WHERE parent = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map(params![id], listed)?;
    rows.collect()
}

/// Message `id`'s events: when, what, and the detail.
pub fn events(c: &Db, id: i64) -> DbResult<Vec<(i64, String, Option<String>)>> {
    super::operator::events_of(c, id)
}

/// A hop of a correlation: a message and the contract version that processed it.
#[derive(Debug, Clone)]
pub struct Hop {
    pub listed: Listed,
    pub version: String,
}

/// The correlation of message `id` and every hop of it, in order (`query::HOPS`).
pub fn hops(c: &Db, id: i64) -> DbResult<Option<(String, Vec<Hop>)>> {
    let Some(correlation) = c
        .query_row(
            "SELECT correlation FROM messages WHERE id = ?1",
            params![id],
            |r| r.get::<_, String>(0),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut st = c.prepare(&format!(
        "SELECT {LISTED}, contract_version FROM messages WHERE {} ORDER BY id",
        super::query::HOPS
    ))?;
    let hops = st
        .query_map(params![correlation], |r| {
            Ok(Hop {
                listed: listed(r)?,
                version: r.get(9)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    Ok(Some((correlation, hops)))
}

/// One minute of an interface's traffic: how many messages it received or queued, and,
/// of those its peer acknowledged, the mean and the longest time from queued to answered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Minute {
    pub minute: i64,
    pub messages: i64,
    pub mean_ms: Option<f64>,
    pub max_ms: Option<i64>,
}

/// Interface `interface`'s traffic by minute since `since` (Unix milliseconds), oldest
/// first, through the index of its messages by time.
pub fn minutes(c: &Db, interface: &str, since: i64) -> DbResult<Vec<Minute>> {
    let mut st = c.prepare(
        "SELECT received_at / 60000, COUNT(*),
           AVG(updated_at - received_at) FILTER (WHERE direction = 'out' AND ack_code IS NOT NULL),
           MAX(updated_at - received_at) FILTER (WHERE direction = 'out' AND ack_code IS NOT NULL)
         FROM messages WHERE interface = ?1 AND received_at >= ?2
         GROUP BY received_at / 60000 ORDER BY 1",
    )?;
    let rows = st.query_map(params![interface, since], |r| {
        Ok(Minute {
            minute: r.get(0)?,
            messages: r.get(1)?,
            mean_ms: r.get(2)?,
            max_ms: r.get(3)?,
        })
    })?;
    rows.collect()
}
