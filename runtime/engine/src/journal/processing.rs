//! The processor's storage: the next received messages to process, a message's outcome
//! and events, the canonical record a transform produced, and the deliveries it queues
//! (in the lane of their key, with their further ordering keys).

use super::db::{params, Db, DbResult};

/// A received message waiting to be processed.
pub struct Received {
    pub id: i64,
    pub correlation: String,
    pub interface: String,
    pub payload: Vec<u8>,
    pub received_at: i64,
}

/// At most `limit` received messages waiting to be processed, oldest first.
pub fn received(c: &Db, limit: i64) -> DbResult<Vec<Received>> {
    let mut st = c.prepare_cached(
        "SELECT id, correlation, interface, payload, received_at FROM messages
         WHERE direction = 'in' AND state = 'received' ORDER BY id LIMIT ?1",
    )?;
    let rows = st.query_map(params![limit], |r| {
        Ok(Received {
            id: r.get(0)?,
            correlation: r.get(1)?,
            interface: r.get(2)?,
            payload: r.get(3)?,
            received_at: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// An event on message `message` (on PostgreSQL, inside a transaction, written with the
/// transaction's other events at its commit: `pg_deferred`).
pub fn event(c: &Db, message: i64, at: i64, kind: &str, detail: Option<&str>) -> DbResult<()> {
    if let Db::Pg(pg) = c {
        let e = super::pg_deferred::Event {
            message,
            at,
            kind: kind.to_string(),
            detail: detail.map(str::to_string),
        };
        if pg.defer_event(e) {
            return Ok(());
        }
    }
    c.prepare_cached("INSERT INTO events (message, at, kind, detail) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![message, at, kind, detail])?;
    Ok(())
}

/// A processed message's state, reason and detail.
pub fn settle(
    c: &Db,
    id: i64,
    state: &str,
    reason: Option<&str>,
    detail: Option<&str>,
    now: i64,
) -> DbResult<()> {
    c.prepare_cached(
        "UPDATE messages SET state = ?1, reason = ?2, detail = ?3, updated_at = ?4 WHERE id = ?5",
    )?
    .execute(params![state, reason, detail, now, id])?;
    Ok(())
}

/// Keeps the canonical record an inbound transform produced, as a child of the message.
pub fn store_record(c: &Db, inbound: i64, now: i64, record: &[u8]) -> DbResult<()> {
    c.prepare_cached(
        "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
           received_at, updated_at, payload)
         SELECT correlation, id, interface, contract_version, 'record', 'completed', ?2, ?2, ?3
         FROM messages WHERE id = ?1",
    )?
    .execute(params![inbound, now, record])?;
    Ok(())
}

/// A delivery as it is journalled.
pub struct Delivery<'a> {
    pub correlation: &'a str,
    pub parent: i64,
    pub interface: &'a str,
    pub version: &'a str,
    pub state: &'a str,
    pub message_type: Option<&'a str>,
    pub control_id: Option<&'a str>,
    pub patient_id: Option<&'a str>,
    pub order_key: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub payload: &'a [u8],
    pub lane: u32,
    /// Further ordering keys, with the endpoint whose operations share them.
    pub also_keys: Option<(&'a str, &'a [String])>,
}

/// Journals delivery `d`; its id.
pub fn queue(c: &Db, d: &Delivery, now: i64) -> DbResult<i64> {
    let id = c.insert(
        "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
           message_type, control_id, patient_id, order_key, received_at, updated_at, reason, detail, payload, lane)
         VALUES (?1, ?2, ?3, ?4, 'out', ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14)",
        params![
        d.correlation, d.parent, d.interface, d.version, d.state, d.message_type, d.control_id,
        d.patient_id, d.order_key, now, d.reason, d.detail, d.payload, d.lane
    ])?;
    if let Some((endpoint, keys)) = d.also_keys {
        for k in keys {
            c.prepare_cached(
                "INSERT INTO order_keys (message, endpoint, key) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, endpoint, k])?;
        }
    }
    Ok(id)
}
