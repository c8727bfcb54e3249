//! Flow waits in storage: the `flows` table (one row per flow and correlation key, with
//! its deadline and state), the waits past their deadline, closing one with its event, and
//! queueing a follow-up delivery made from the wait's start message; and replies held
//! for a start that has not come yet (`flow_early`), released by it or timed out.

use super::db::{params, Conn, Db, DbResult, OptionalExtension};
use std::collections::HashSet;

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

/// Holds delivery `message` (state `held`) for the start of `flow`'s wait for `key`,
/// until `deadline`.
pub fn hold_early(c: &Db, flow: &str, key: &str, message: i64, deadline: i64) -> DbResult<()> {
    c.prepare_cached(
        "INSERT INTO flow_early (flow, key, message, deadline) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![flow, key, message, deadline])?;
    Ok(())
}

/// The start of `flow`'s wait for `key` has come: the deliveries held for it are queued
/// (returned as (id, interface)) and no longer wait.
pub fn release_early(c: &Db, flow: &str, key: &str, now: i64) -> DbResult<Vec<(i64, String)>> {
    let held: Vec<i64> = {
        let mut st = c.prepare_cached(
            "SELECT message FROM flow_early WHERE flow = ?1 AND key = ?2 ORDER BY message",
        )?;
        let rows = st.query_map(params![flow, key], |r| r.get(0))?;
        rows.collect::<DbResult<_>>()?
    };
    let mut released = vec![];
    for id in held {
        let interface: Option<String> = c
            .prepare_cached(
                "UPDATE messages SET state = 'queued', next_at = 0, updated_at = ?2
                 WHERE id = ?1 AND state = 'held' RETURNING interface",
            )?
            .query_row(params![id, now], |r| r.get(0))
            .optional()?;
        if let Some(interface) = interface {
            super::processing::event(
                c,
                id,
                now,
                "queued",
                Some(&format!(
                    "released: the start of {flow} for key {key} arrived"
                )),
            )?;
            released.push((id, interface));
        }
    }
    c.prepare_cached("DELETE FROM flow_early WHERE flow = ?1 AND key = ?2")?
        .execute(params![flow, key])?;
    Ok(released)
}

/// A held reply whose start did not come in time.
pub struct ExpiredEarly {
    pub flow: String,
    pub key: String,
    pub message: i64,
}

/// At most `limit` held replies past their deadline at `now`, the oldest first.
pub fn expired_early(c: &Db, now: i64, limit: u32) -> DbResult<Vec<ExpiredEarly>> {
    let mut st = c.prepare_cached(
        "SELECT flow, key, message FROM flow_early WHERE deadline <= ?1 ORDER BY deadline LIMIT ?2",
    )?;
    let rows = st.query_map(params![now, limit], |r| {
        Ok(ExpiredEarly {
            flow: r.get(0)?,
            key: r.get(1)?,
            message: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Dead-letters the held reply `e` (reason `timeout`, with `detail`); whether it was still
/// held (an operator may have dealt with it).
pub fn expire_early(c: &Db, e: &ExpiredEarly, now: i64, detail: &str) -> DbResult<bool> {
    let n = c
        .prepare_cached(
            "UPDATE messages SET state = 'dead', reason = 'timeout', detail = ?2, updated_at = ?3
             WHERE id = ?1 AND state = 'held'",
        )?
        .execute(params![e.message, detail, now])?;
    c.prepare_cached("DELETE FROM flow_early WHERE flow = ?1 AND key = ?2 AND message = ?3")?
        .execute(params![e.flow, e.key, e.message])?;
    if n > 0 {
        super::processing::event(c, e.message, now, "dead", Some(detail))?;
    }
    Ok(n > 0)
}

/// The processor's view of the flow waits, for `hold early`: whether a start has opened
/// the wait of a key, in the journal or earlier in the batch being decided. Only the
/// processor starts waits, so what it read stays true until its own commit.
pub struct Waits {
    store: super::Store,
    conn: Option<Conn>,
    /// (flow, key) started by this batch, not yet committed.
    started: HashSet<(String, String)>,
    /// Why a read failed since the last [`Waits::take_unavailable`].
    unavailable: Option<String>,
}

impl Waits {
    pub fn new(store: &super::Store) -> Waits {
        Waits {
            store: store.clone(),
            conn: None,
            started: HashSet::new(),
            unavailable: None,
        }
    }

    /// Whether a start ever opened `flow`'s wait for `key` (whatever became of it since).
    /// A journal that cannot be read answers `true` and says so through
    /// [`Waits::take_unavailable`]: the batch is then decided again.
    pub fn started(&mut self, flow: &str, key: &str) -> bool {
        if self.started.contains(&(flow.to_string(), key.to_string())) {
            return true;
        }
        let conn = match &mut self.conn {
            Some(c) => c,
            slot => match super::open_read(&self.store) {
                Ok(c) => slot.insert(c),
                Err(e) => {
                    self.unavailable = Some(e.to_string());
                    return true;
                }
            },
        };
        match wait_state(&conn.db(), flow, key) {
            Ok(state) => state.is_some(),
            Err(e) => {
                self.conn = None;
                self.unavailable = Some(e.to_string());
                true
            }
        }
    }

    /// This batch starts `flow`'s wait for `key`.
    pub fn stage_start(&mut self, flow: &str, key: &str) {
        self.started.insert((flow.to_string(), key.to_string()));
    }

    /// The batch is over, committed or not.
    pub fn committed(&mut self) {
        self.started.clear();
    }

    pub fn take_unavailable(&mut self) -> Option<String> {
        self.unavailable.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(c: &Db) -> i64 {
        c.insert(
            "INSERT INTO messages (correlation, interface, contract_version, direction, state,
               received_at, updated_at, payload)
             VALUES ('c', 'results', '1', 'out', 'held', 0, 0, X'41')",
            [],
        )
        .unwrap()
    }

    fn state(c: &Db, id: i64) -> (String, Option<String>) {
        c.query_row(
            "SELECT state, reason FROM messages WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn a_held_reply_is_released_by_its_start_or_dead_lettered_when_its_time_is_up() {
        let (dir, path, c) = crate::journal::scratch("flow-early");
        let (first, second) = (held(&c), held(&c));
        hold_early(&c, "order_result", "ORD1", first, 100).unwrap();
        hold_early(&c, "order_result", "ORD2", second, 100).unwrap();
        assert!(expired_early(&c, 99, 10).unwrap().is_empty());

        // ORD1's order comes: its reply is queued and no longer waits.
        let released = release_early(&c, "order_result", "ORD1", 50).unwrap();
        assert_eq!(released, vec![(first, "results".to_string())]);
        assert_eq!(state(&c, first).0, "queued");
        assert!(release_early(&c, "order_result", "ORD1", 51)
            .unwrap()
            .is_empty());

        // ORD2's never does: at its deadline the reply is dead, reason timeout, once.
        let expired = expired_early(&c, 100, 10).unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(
            (expired[0].key.as_str(), expired[0].message),
            ("ORD2", second)
        );
        assert!(expire_early(&c, &expired[0], 100, "no order").unwrap());
        assert_eq!(state(&c, second), ("dead".into(), Some("timeout".into())));
        assert!(!expire_early(&c, &expired[0], 101, "no order").unwrap());
        assert!(expired_early(&c, 200, 10).unwrap().is_empty());

        // The processor's view: a start staged in the batch or stored in the journal.
        let mut waits = Waits::new(&crate::journal::Store::Sqlite(path.clone()));
        assert!(!waits.started("order_result", "ORD3"));
        waits.stage_start("order_result", "ORD3");
        assert!(waits.started("order_result", "ORD3"));
        waits.committed();
        assert!(!waits.started("order_result", "ORD3"));
        start_wait(&c, "order_result", "ORD3", first, "c", 0, 10).unwrap();
        assert!(waits.started("order_result", "ORD3"));
        assert!(waits.take_unavailable().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
