//! Flow waits in storage: the `flows` table (one row per flow and correlation key, with
//! its deadline and state), the waits past their deadline, closing one with its event, and
//! queueing a follow-up delivery made from the wait's start message.

use super::db::{params, Db, DbResult};

/// A wait past its deadline: its flow, correlation key and the message that started it.
pub struct ExpiredWait {
    pub flow: String,
    pub key: String,
    pub start: i64,
}

/// At most `limit` waits still waiting whose deadline is at or before `now`, the oldest
/// deadline first.
pub fn expired_waits(c: &Db, now: i64, limit: u32) -> DbResult<Vec<ExpiredWait>> {
    let mut st = c.prepare_cached(
        "SELECT flow, key, start_message FROM flows WHERE state = 'waiting' AND deadline <= ?1
         ORDER BY deadline LIMIT ?2",
    )?;
    let rows = st.query_map(params![now, limit], |r| {
        Ok(ExpiredWait {
            flow: r.get(0)?,
            key: r.get(1)?,
            start: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Ends the wait of `flow` for `key` with `state` (`timed_out`, `dead`) if it is still
/// waiting, and records a `flow-timeout` event with `detail` on its start message.
pub fn close_timed_out(
    c: &Db,
    w: &ExpiredWait,
    state: &str,
    now: i64,
    detail: &str,
) -> DbResult<()> {
    c.prepare_cached(
        "UPDATE flows SET state = ?1 WHERE flow = ?2 AND key = ?3 AND state = 'waiting'",
    )?
    .execute(params![state, w.flow, w.key])?;
    super::processing::event(c, w.start, now, "flow-timeout", Some(detail))
}

/// The payload of message `id`.
pub fn payload(c: &Db, id: i64) -> DbResult<Vec<u8>> {
    c.query_row(
        "SELECT payload FROM messages WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
}

/// Queues `payload` for `interface` (contract `version`) as a child of message `parent`,
/// in its correlation.
pub fn queue_child(
    c: &Db,
    parent: i64,
    interface: &str,
    version: &str,
    now: i64,
    payload: &[u8],
) -> DbResult<()> {
    c.prepare_cached(
        "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state, received_at, updated_at, payload)
         SELECT correlation, id, ?2, ?3, 'out', 'queued', ?4, ?4, ?5 FROM messages WHERE id = ?1",
    )?
    .execute(params![parent, interface, version, now, payload])?;
    Ok(())
}

/// Starts (or restarts) the wait of `flow` for `key`, begun by message `start`.
pub fn start_wait(
    c: &Db,
    flow: &str,
    key: &str,
    start: i64,
    correlation: &str,
    now: i64,
    deadline: i64,
) -> DbResult<()> {
    c.prepare_cached(
        "INSERT INTO flows (flow, key, start_message, correlation, started_at, deadline, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'waiting')
         ON CONFLICT (flow, key) DO UPDATE SET start_message = excluded.start_message,
           correlation = excluded.correlation, started_at = excluded.started_at,
           deadline = excluded.deadline, state = 'waiting'",
    )?
    .execute(params![flow, key, start, correlation, now, deadline])?;
    Ok(())
}

/// Ends the wait of `flow` for `key` as cancelled; whether it was still waiting.
pub fn cancel_wait(c: &Db, flow: &str, key: &str) -> DbResult<bool> {
    let n = c
        .prepare_cached(
            "UPDATE flows SET state = 'cancelled' WHERE flow = ?1 AND key = ?2 AND state = 'waiting'",
        )?
        .execute(params![flow, key])?;
    Ok(n > 0)
}

/// The state of the wait of `flow` for `key` (`waiting`, `completed`, `cancelled`, ...),
/// if one was ever started.
pub fn wait_state(c: &Db, flow: &str, key: &str) -> DbResult<Option<String>> {
    use super::db::OptionalExtension;
    c.prepare_cached("SELECT state FROM flows WHERE flow = ?1 AND key = ?2")?
        .query_row(params![flow, key], |r| r.get(0))
        .optional()
}

/// Ends the wait of `flow` for `key` as completed; whether it was still waiting.
pub fn complete_wait(c: &Db, flow: &str, key: &str) -> DbResult<bool> {
    let n = c
        .prepare_cached(
            "UPDATE flows SET state = 'completed' WHERE flow = ?1 AND key = ?2 AND state = 'waiting'",
        )?
        .execute(params![flow, key])?;
    Ok(n > 0)
}
