//! Operator actions in storage: dead letters and their history, the audit trail, events
//! on messages, and the rows a resend, an edit, a discard or a replay writes. The
//! decisions (what may be resent, how a message is mapped again, which version a replay is
//! pinned to) are `engine::operator`'s.

use super::clauses::Clauses;
use super::db::{params, Db, DbResult, Dialect, OptionalExtension, Value as Sql};
use super::lane_sql;

/// A message in the dead letter.
pub struct Dead {
    pub id: i64,
    pub parent: Option<i64>,
    pub correlation: String,
    pub interface: String,
    pub direction: String,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub control_id: Option<String>,
    pub message_type: Option<String>,
    pub received_at: i64,
    pub attempts: i64,
    pub payload: Vec<u8>,
}

/// Which dead letters to read: any of `ids` (all when empty), of `interface`, with
/// `reason`, received at or after `since`.
#[derive(Default)]
pub struct DeadFilter<'a> {
    pub ids: &'a [i64],
    pub interface: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub since: Option<i64>,
}

/// The dead letters `f` names, oldest first.
pub fn dead_letters(c: &Db, f: &DeadFilter) -> DbResult<Vec<Dead>> {
    let mut w = Clauses::new(
        "SELECT id, parent, correlation, interface, direction, reason, detail, control_id,
           message_type, received_at, attempts, payload FROM messages WHERE state = 'dead'",
        vec![],
    );
    if !f.ids.is_empty() {
        w.and_in("id", f.ids.iter().map(|i| Sql::Int(*i)).collect());
    }
    if let Some(v) = f.interface {
        w.and("interface =", Sql::Text(v.to_string()));
    }
    if let Some(v) = f.reason {
        w.and("reason =", Sql::Text(v.to_string()));
    }
    if let Some(v) = f.since {
        w.and("received_at >=", Sql::Int(v));
    }
    let (mut sql, args) = (w.sql, w.args);
    sql.push_str(" ORDER BY id");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(&args, |r| {
        Ok(Dead {
            id: r.get(0)?,
            parent: r.get(1)?,
            correlation: r.get(2)?,
            interface: r.get(3)?,
            direction: r.get(4)?,
            reason: r.get(5)?,
            detail: r.get(6)?,
            control_id: r.get(7)?,
            message_type: r.get(8)?,
            received_at: r.get(9)?,
            attempts: r.get(10)?,
            payload: r.get(11)?,
        })
    })?;
    rows.collect()
}

/// The last reply a peer gave to message `id`, if any.
pub fn last_reply(c: &Db, id: i64) -> DbResult<Option<Vec<u8>>> {
    Ok(
        c.query_row("SELECT ack FROM messages WHERE id = ?1", params![id], |r| {
            r.get(0)
        })
        .optional()?
        .flatten(),
    )
}

/// The events of message `id` in order: when, what kind, and the detail.
pub fn events_of(c: &Db, id: i64) -> DbResult<Vec<(i64, String, Option<String>)>> {
    let mut st = c.prepare("SELECT at, kind, detail FROM events WHERE message = ?1 ORDER BY id")?;
    let rows = st.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Writes an audit row; its id.
pub fn audit_row(
    c: &Db,
    at: i64,
    actor: &str,
    action: &str,
    messages: &str,
    detail: &str,
) -> DbResult<i64> {
    c.insert(
        "INSERT INTO audit (at, actor, action, messages, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![at, actor, action, messages, detail],
    )
}

/// An event on message `message`.
pub fn event(c: &Db, message: i64, at: i64, kind: &str, detail: &str) -> DbResult<()> {
    super::processing::event(c, message, at, kind, Some(detail))
}

/// A message's new state (`resent`, `discarded`), nothing else changed.
pub fn set_state(c: &Db, id: i64, state: &str, now: i64) -> DbResult<()> {
    c.execute(
        "UPDATE messages SET state = ?1, updated_at = ?2 WHERE id = ?3",
        params![state, now, id],
    )?;
    Ok(())
}

/// What a delivery is queued with again: its payload and the keys read from it.
pub struct Queueable<'a> {
    pub payload: &'a [u8],
    pub message_type: Option<&'a str>,
    pub control_id: Option<&'a str>,
    pub patient: Option<&'a str>,
    pub order_key: Option<&'a str>,
}

/// Puts delivery `id` back on its operation's queue with `q`, its attempts and last reply
/// cleared, in the lane of its key.
pub fn requeue(c: &Db, id: i64, q: &Queueable, now: i64) -> DbResult<()> {
    c.execute(
        &format!(
            "UPDATE messages SET state = 'queued', attempts = 0, next_at = 0, reason = NULL,
               detail = NULL, ack_code = NULL, ack = NULL, payload = ?1, message_type = ?2,
               control_id = ?3, patient_id = ?4, order_key = ?5, lane = {}, updated_at = ?6
             WHERE id = ?7",
            lane_sql("?5")
        ),
        params![
            q.payload,
            q.message_type,
            q.control_id,
            q.patient,
            q.order_key,
            now,
            id
        ],
    )?;
    Ok(())
}

/// A new delivery made from dead delivery `id` with the edited `q`, under contract
/// `version`; its id.
pub fn queue_edited(c: &Db, id: i64, version: &str, q: &Queueable, now: i64) -> DbResult<i64> {
    c.insert(
        &format!(
            "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
               message_type, control_id, patient_id, order_key, received_at, updated_at, payload, lane)
             SELECT correlation, parent, interface, ?1, 'out', 'queued', ?2, ?3, ?4, ?5, received_at, ?6, ?7, {}
             FROM messages WHERE id = ?8",
            lane_sql("?5")
        ),
        params![version, q.message_type, q.control_id, q.patient, q.order_key, now, q.payload, id],
    )
}

/// A received message made to be processed again.
pub fn receive_again(c: &Db, id: i64, now: i64) -> DbResult<()> {
    c.execute(
        "UPDATE messages SET state = 'received', reason = NULL, detail = NULL, updated_at = ?1
         WHERE id = ?2",
        params![now, id],
    )?;
    Ok(())
}

/// A new received message, the edited `payload` of received message `id`, to be
/// processed; its id.
pub fn receive_edited(
    c: &Db,
    id: i64,
    control: Option<&str>,
    payload: &[u8],
    now: i64,
) -> DbResult<i64> {
    c.insert(
        "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
           message_type, control_id, patient_id, received_at, updated_at, payload)
         SELECT correlation, id, interface, contract_version, 'in', 'received', message_type, ?1,
           patient_id, received_at, ?2, ?3 FROM messages WHERE id = ?4",
        params![control, now, payload, id],
    )
}

/// A message a replay may take.
pub struct Original {
    pub id: i64,
    pub version: String,
    pub control_id: Option<String>,
    pub payload: Vec<u8>,
}

/// What a replay of `interface` takes: its messages in `direction` in one of `states`
/// (an SQL list of quoted states, from the caller's constants), received in
/// `[from, to)`, with `key` as ordering key, patient or control id; oldest first.
pub fn replayable(
    c: &Db,
    interface: &str,
    direction: &str,
    states: &str,
    from: Option<i64>,
    to: Option<i64>,
    key: Option<&str>,
) -> DbResult<Vec<Original>> {
    // The direction is written into the statement, as the partial indexes are.
    let direction = if direction == "out" { "out" } else { "in" };
    let mut w = Clauses::new(
        format!(
            "SELECT id, contract_version, control_id, payload FROM messages
             WHERE interface = ?1 AND direction = '{direction}' AND state IN ({states})"
        ),
        vec![Sql::Text(interface.into())],
    );
    if let Some(v) = from {
        w.and("received_at >=", Sql::Int(v));
    }
    if let Some(v) = to {
        w.and("received_at <", Sql::Int(v));
    }
    if let Some(k) = key {
        w.and(
            "(order_key = ?N OR patient_id = ?N OR control_id = ?N)",
            Sql::Text(k.to_string()),
        );
    }
    let (mut sql, args) = (w.sql, w.args);
    sql.push_str(" ORDER BY id");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(&args, |row| {
        Ok(Original {
            id: row.get(0)?,
            version: row.get(1)?,
            control_id: row.get(2)?,
            payload: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// A replay of message `id` under contract `version`: a new row in `state` with
/// `payload` and `control`, a child of the original when it was received (processed
/// again) and a sibling when it was delivered (sent again); its id.
#[allow(clippy::too_many_arguments)]
pub fn replay_row(
    c: &Db,
    id: i64,
    direction: &str,
    version: &str,
    state: &str,
    control: Option<&str>,
    payload: &[u8],
    now: i64,
) -> DbResult<i64> {
    c.insert(
        &format!(
            "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
               message_type, control_id, patient_id, order_key, peer, received_at, updated_at, payload, lane)
             SELECT correlation, CASE WHEN ?1 = 'in' THEN id ELSE parent END, interface, ?2, direction, ?3,
               message_type, ?4, patient_id, order_key, peer, ?5, ?5, ?6, {} FROM messages WHERE id = ?7",
            lane_sql("order_key")
        ),
        params![direction, version, state, control, now, payload, id],
    )
}

/// One audit entry: id, time, actor, action, the messages, the detail.
pub type AuditEntry = (i64, i64, String, String, String, Option<String>);

/// The audit trail, newest first (empty on a SQLite journal written before it existed;
/// a PostgreSQL journal has had it from its first migration).
pub fn audit_entries(c: &Db) -> DbResult<Vec<AuditEntry>> {
    let has: bool = match c.dialect() {
        Dialect::Sqlite => c.query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'audit'",
            [],
            |r| r.get(0),
        )?,
        Dialect::Postgres => true,
    };
    if !has {
        return Ok(vec![]);
    }
    let mut st =
        c.prepare("SELECT id, at, actor, action, messages, detail FROM audit ORDER BY id DESC")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })?;
    rows.collect()
}
