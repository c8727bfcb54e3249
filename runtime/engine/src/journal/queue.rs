//! The operations' queues in storage: which pending deliveries a lane sends next (its
//! covering index walked in arrival order, a key waiting for its retry holding back only
//! its own later messages, a delivery held while another operation's earlier delivery of a
//! shared key is pending), a delivery's outcome, a copy queued for another interface by a
//! reply policy's `send`, and how a message's deliveries stand.

use super::db::{params, Db, DbResult, Dialect};
use crate::lanes::Next;
use crate::time;

/// What a lane does next with the first pending messages of its keys, in arrival order.
#[derive(Debug, PartialEq)]
pub enum Choice {
    /// Send these, in order. `drained`: they are every message the lane had pending when
    /// it looked (none held back, none waiting for a retry), so once they are sent the lane
    /// has nothing to look for until it is woken.
    Send { batch: Vec<Next>, drained: bool },
    /// Everything is waiting for a retry: look again in this many milliseconds.
    Wait(i64),
    /// Nothing is pending for the lane. `seen` is the highest message id when the lane
    /// looked; `quiet`, that nothing was pending either for an operation that can hold
    /// the lane's messages back. Then the lane can send from its copy (`lanes`).
    Idle { seen: i64, quiet: bool },
}

/// Walks a lane's pending messages in arrival order and stops at the first whose key has
/// nothing earlier still pending: a message waiting for its retry holds back the later
/// messages of its key only.
#[derive(Default)]
pub struct Chooser {
    blocked: Vec<Option<String>>,
    soonest: Option<i64>,
}

impl Chooser {
    /// Whether the message with this key and retry time goes now.
    pub fn offer(&mut self, key: Option<&str>, next_at: i64, now: i64) -> bool {
        if self.blocked.iter().any(|b| b.as_deref() == key) {
            return false;
        }
        if next_at > now {
            self.blocked.push(key.map(str::to_string));
            self.soonest = Some(self.soonest.map_or(next_at, |s| s.min(next_at)));
            return false;
        }
        true
    }

    /// The message with this key may go now as far as this lane knows, but an earlier
    /// delivery of another operation that shares one of its keys is still pending: it
    /// waits, and so do the later messages of its key; look again at `again`.
    pub fn hold(&mut self, key: Option<&str>, again: i64) {
        self.blocked.push(key.map(str::to_string));
        self.soonest = Some(self.soonest.map_or(again, |s| s.min(again)));
    }

    pub fn nothing_sendable(&self, now: i64) -> Option<Choice> {
        self.soonest.map(|t| Choice::Wait(t - now))
    }
}

/// The most pending messages a lane looks at to find one it may send; past that, every
/// key seen is waiting for a retry and the lane waits too.
const LOOK_AHEAD: usize = 4096;

/// The same on PostgreSQL, which sends a statement's rows all at once (SQLite steps through
/// them only as far as the lane reads): a lane with a backlog would otherwise fetch 4,096
/// rows to send 64.
const PG_LOOK_AHEAD: usize = 512;

/// The most messages a lane takes from the journal at once. It sends them one by one,
/// recording each outcome before the next send, so taking several costs no safety: if one
/// must wait for a retry, the rest of its key in the batch is left for later.
pub const BATCH: usize = 64;

/// How soon a lane looks again at a message held by another operation's delivery.
const HELD_RECHECK_MS: i64 = 200;

/// The operations whose pending deliveries can hold back a lane's messages
/// (`Engine::order_peers`), with what finding them needs.
#[derive(Clone, Default)]
pub struct Peers {
    pub names: Vec<String>,
    pub lanes: u32,
    pub endpoint: String,
}

/// Whether an earlier delivery still pending, of a peer operation or of another lane,
/// shares one of message `id`'s ordering keys: its first key `key` and the further keys
/// stored for it. A peer's delivery whose first key is k sits in k's lane, so each probe
/// is a short walk of one lane's covering index; further keys (merges) are in
/// `order_keys`.
fn held_by_others(
    c: &Db,
    id: i64,
    key: Option<&str>,
    interface: &str,
    lane: u32,
    peers: &Peers,
) -> DbResult<bool> {
    let mut keys: Vec<String> = key.map(str::to_string).into_iter().collect();
    let mut mine = c.prepare_cached("SELECT key FROM order_keys WHERE message = ?1")?;
    for k in mine.query_map(params![id], |r| r.get::<_, String>(0))? {
        keys.push(k?);
    }
    let mut first = c.prepare_cached(
        "SELECT 1 FROM messages
         WHERE direction = 'out' AND state IN ('queued', 'retrying') AND interface = ?1 AND lane = ?2
           AND order_key = ?3 AND id < ?4
         LIMIT 1",
    )?;
    let mut further = c.prepare_cached(
        "SELECT 1 FROM order_keys o JOIN messages p ON p.id = o.message
         WHERE o.endpoint = ?1 AND o.key = ?2 AND o.message < ?3
           AND p.state IN ('queued', 'retrying') AND NOT (p.interface = ?4 AND p.lane = ?5)
         LIMIT 1",
    )?;
    for k in &keys {
        let k_lane = super::lane_of(Some(k), peers.lanes);
        for peer in &peers.names {
            if peer == interface && k_lane == lane {
                continue; // This lane's own order.
            }
            if first.exists(params![peer, k_lane, k, id])? {
                return Ok(true);
            }
        }
        if further.exists(params![peers.endpoint, k, id, interface, lane])? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a pending message `m` is held by others, on PostgreSQL (`held_by_others` in
/// SQL: `?4` the peer operations, comma-separated, `?5` the lane count, `?6` the endpoint
/// of the further keys). Asked message by message, that was three round trips for every
/// message a lane with peers sent, a fifth of a node's statements.
const PG_HELD: &str = "EXISTS (
       SELECT 1 FROM (SELECT m.order_key AS k UNION ALL
                      SELECT key FROM order_keys WHERE message = m.id) ks
       WHERE ks.k IS NOT NULL AND (
         EXISTS (SELECT 1 FROM messages p
                 WHERE p.direction = 'out' AND p.state IN ('queued', 'retrying')
                   AND p.interface = ANY(string_to_array(?4, ','))
                   AND p.lane = accord_lane(ks.k, ?5) AND p.order_key = ks.k AND p.id < m.id
                   AND NOT (p.interface = ?1 AND p.lane = ?2))
         OR EXISTS (SELECT 1 FROM order_keys o JOIN messages p ON p.id = o.message
                    WHERE o.endpoint = ?6 AND o.key = ks.k AND o.message < m.id
                      AND p.state IN ('queued', 'retrying')
                      AND NOT (p.interface = ?1 AND p.lane = ?2))))";

/// A lane's first `?3` pending messages, in arrival order.
const PENDING_WHERE: &str = "WHERE m.direction = 'out' AND m.state IN ('queued', 'retrying')
       AND m.interface = ?1 AND m.lane = ?2
     ORDER BY m.id LIMIT ?3";

/// The pending read on PostgreSQL: each message's id, key, retry time and whether it is
/// held by others (`held`: with `PG_HELD`'s parameters, else false), and with `send`
/// what sending it needs, as `NEXT` reads it (columns 4 to 9).
fn pg_pending(held: bool, send: bool) -> String {
    let held = if held { PG_HELD } else { "false" };
    if send {
        format!(
            "SELECT m.id, m.order_key, m.next_at, {held}, m.parent, m.payload, m.attempts,
               COALESCE(p.received_at, m.received_at), m.control_id, p.interface
             FROM messages m LEFT JOIN messages p ON p.id = m.parent {PENDING_WHERE}"
        )
    } else {
        format!("SELECT m.id, m.order_key, m.next_at, {held} FROM messages m {PENDING_WHERE}")
    }
}

/// On PostgreSQL, a lane's first [`BATCH`] pending messages with what sending them needs,
/// in one round trip: with three nodes most lanes run away from the processor that queued
/// their messages, and a read of the queue, then of the chosen messages, was two
/// transactions a batch (5,430 of 45,557 at 20,000 messages). `None` when none of them
/// may go now but more are pending: the lane then looks further (`choose_batch`).
fn pg_choose_and_read(
    c: &Db,
    interface: &str,
    lane: u32,
    peers: &Peers,
    now: i64,
) -> DbResult<Option<Choice>> {
    let held_in_row = !peers.names.is_empty();
    let mut st = c.prepare_cached(&pg_pending(held_in_row, true))?;
    let mut chooser = Chooser::default();
    let mut batch = vec![];
    let mut rows = 0;
    let each = |r: &super::db::Row| {
        rows += 1;
        let key = r.get_str(1)?;
        if chooser.offer(key, r.get(2)?, now) {
            if r.get::<_, bool>(3)? {
                chooser.hold(key, now + HELD_RECHECK_MS);
            } else {
                batch.push(Next {
                    id: r.get(0)?,
                    parent: r.get(4)?,
                    payload: r.get(5)?,
                    attempts: r.get(6)?,
                    received_at: r.get(7)?,
                    control_id: r.get(8)?,
                    order_key: key.map(str::to_string),
                    origin: r.get(9)?,
                });
            }
        }
        Ok(true)
    };
    if held_in_row {
        let names = peers.names.join(",");
        st.for_each(
            params![interface, lane, BATCH, names, peers.lanes, peers.endpoint],
            each,
        )?;
    } else {
        st.for_each(params![interface, lane, BATCH], each)?;
    }
    if !batch.is_empty() {
        let drained = rows < BATCH && rows == batch.len();
        return Ok(Some(Choice::Send { batch, drained }));
    }
    if rows == BATCH {
        return Ok(None);
    }
    if let Some(wait) = chooser.nothing_sendable(now) {
        return Ok(Some(wait));
    }
    Ok(Some(idle(c, interface, peers, 0)?))
}

/// Readies a lane's read connection for the lane's reads (`choose_batch`).
///
/// - SQLite: a lane reads its index and one payload at a time, so a small cache is
///   enough, and memory stays flat however many lanes run. (Every lane of a production
///   that has fallen behind reads the journal: at 512 KiB each, 32 lanes' caches took
///   25 MiB, performance page.)
/// - PostgreSQL: the lane's statements keep one plan. Left to choose, the server planned
///   the read with `PG_HELD` afresh at nearly every call under load, as its generic
///   plan's estimate was higher than a custom plan's: 0.8 ms of planning a call, more
///   than its execution, and a fifth of the server's CPU with three nodes (performance
///   page, "A lane's read is planned once"). Every predicate its indexes are partial on
///   is written into the statements, so the generic plan uses the same indexes.
pub fn ready_lane_reader(c: &Db) -> DbResult<()> {
    match c.dialect() {
        Dialect::Sqlite => c.execute_batch("PRAGMA cache_size = -128"),
        Dialect::Postgres => c.execute_batch("SET plan_cache_mode = force_generic_plan"),
    }
}

/// Nothing pending for the lane: whether anything is pending for an operation that can
/// hold its messages back.
fn idle(c: &Db, interface: &str, peers: &Peers, seen: i64) -> DbResult<Choice> {
    let mut pending = c.prepare_cached(
        "SELECT 1 FROM messages
         WHERE direction = 'out' AND state IN ('queued', 'retrying') AND interface = ?1 LIMIT 1",
    )?;
    let mut quiet = true;
    for peer in peers.names.iter().filter(|p| *p != interface) {
        if pending.exists(params![peer])? {
            quiet = false;
            break;
        }
    }
    Ok(Choice::Idle { seen, quiet })
}

/// Chooses a lane's next messages on its own read connection (off the writer thread),
/// from the lane's covering index (ids, keys and retry times), then reads the chosen
/// messages' payloads alone. On PostgreSQL the first [`BATCH`] come with their payloads
/// in one read (`pg_choose_and_read`), and this looks further only when none may go.
pub fn choose_batch(c: &Db, interface: &str, lane: u32, peers: &Peers) -> DbResult<Choice> {
    let now = time::now_ms();
    if c.dialect() == Dialect::Postgres {
        if let Some(choice) = pg_choose_and_read(c, interface, lane, peers, now)? {
            return Ok(choice);
        }
    }
    // Before the queue is read: every message up to `seen` is in what the read sees.
    // (Only a lane that may send from its copy uses it, and none does on PostgreSQL.)
    let seen: i64 = match c.dialect() {
        Dialect::Sqlite => c
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM messages")?
            .query_row([], |r| r.get(0))?,
        Dialect::Postgres => 0,
    };
    let mut chooser = Chooser::default();
    let mut chosen = vec![];
    // The pending rows the read went through, and whether it reached the queue's end.
    let mut rows = 0;
    let look_ahead = match c.dialect() {
        Dialect::Sqlite => LOOK_AHEAD,
        Dialect::Postgres => PG_LOOK_AHEAD,
    };
    {
        let pg = c.dialect() == Dialect::Postgres;
        // On PostgreSQL, whether each message is held by a peer's delivery comes with it,
        // in the same round trip (`PG_HELD`).
        let held_in_row = pg && !peers.names.is_empty();
        let mut st = c.prepare_cached(&if held_in_row {
            pg_pending(true, false)
        } else {
            format!("SELECT m.id, m.order_key, m.next_at FROM messages m {PENDING_WHERE}")
        })?;
        let names = peers.names.join(",");
        let each = |r: &super::db::Row| {
            let key = r.get_str(1)?;
            if chooser.offer(key, r.get(2)?, now) {
                let id = r.get::<_, i64>(0)?;
                let held = if held_in_row {
                    r.get::<_, bool>(3)?
                } else {
                    !peers.names.is_empty() && held_by_others(c, id, key, interface, lane, peers)?
                };
                if held {
                    chooser.hold(key, now + HELD_RECHECK_MS);
                } else {
                    chosen.push(id);
                    if chosen.len() == BATCH {
                        return Ok(false);
                    }
                }
            }
            rows += 1;
            Ok(rows < look_ahead)
        };
        if held_in_row {
            st.for_each(
                params![
                    interface,
                    lane,
                    look_ahead,
                    names,
                    peers.lanes,
                    peers.endpoint
                ],
                each,
            )?;
        } else {
            st.for_each(params![interface, lane, look_ahead], each)?;
        }
    }
    if chosen.is_empty() {
        if let Some(wait) = chooser.nothing_sendable(now) {
            return Ok(wait);
        }
        return idle(c, interface, peers, seen);
    }
    // A batch that stopped at BATCH, or passed over rows, or read as far as it may, may
    // have left messages behind.
    let drained = chosen.len() < BATCH && rows == chosen.len() && rows < look_ahead;
    let next = |r: &super::db::Row| {
        Ok(Next {
            id: r.get(0)?,
            parent: r.get(1)?,
            payload: r.get(2)?,
            attempts: r.get(3)?,
            received_at: r.get(4)?,
            control_id: r.get(5)?,
            order_key: r.get(6)?,
            origin: r.get(7)?,
        })
    };
    let batch = match c.dialect() {
        // In process, one message at a time is as cheap as any.
        Dialect::Sqlite => {
            let mut st = c.prepare_cached(&format!("{NEXT} WHERE m.id = ?1"))?;
            chosen
                .into_iter()
                .map(|id| st.query_row(params![id], next))
                .collect::<DbResult<Vec<_>>>()?
        }
        // One round trip for the batch: the lane's pending messages from the first chosen
        // to the last, of which the chosen are kept, in order.
        Dialect::Postgres => {
            let (first, last) = (chosen[0], chosen[chosen.len() - 1]);
            let mut read: Vec<Next> = c
                .prepare_cached(&format!(
                    "{NEXT} WHERE m.direction = 'out' AND m.state IN ('queued', 'retrying')
                       AND m.interface = ?1 AND m.lane = ?2 AND m.id BETWEEN ?3 AND ?4"
                ))?
                .query_map(params![interface, lane, first, last], next)?
                .collect::<DbResult<Vec<_>>>()?;
            read.retain(|n| chosen.binary_search(&n.id).is_ok());
            read.sort_by_key(|n| n.id);
            read
        }
    };
    Ok(Choice::Send { batch, drained })
}

/// What a lane sends of a message: its row, and the message it was made from.
const NEXT: &str = "SELECT m.id, m.parent, m.payload, m.attempts,
       COALESCE(p.received_at, m.received_at), m.control_id, m.order_key, p.interface
     FROM messages m LEFT JOIN messages p ON p.id = m.parent";

/// What an attempt's outcome writes on its delivery.
pub struct Outcome<'a> {
    pub state: &'a str,
    pub attempts: u32,
    pub next_at: i64,
    /// The reply class (`AA`, `AE`, `refused`...).
    pub class: &'a str,
    pub reply: Option<&'a [u8]>,
    pub reason: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// Records delivery `id`'s outcome, with an event saying `what`.
pub fn record_outcome(c: &Db, id: i64, o: &Outcome, what: &str, now: i64) -> DbResult<()> {
    if let Db::Pg(pg) = c {
        // Held for the commit, with the transaction's other outcomes (`pg_deferred`).
        let held = super::pg_deferred::Outcome {
            id,
            state: o.state.to_string(),
            attempts: i64::from(o.attempts),
            next_at: o.next_at,
            class: o.class.to_string(),
            reply: o.reply.map(<[u8]>::to_vec),
            reason: o.reason.map(str::to_string),
            detail: o.detail.map(str::to_string),
            at: now,
        };
        if pg.defer_outcome(held) {
            return super::processing::event(c, id, now, o.state, Some(what));
        }
    }
    c.prepare_cached(
        "UPDATE messages SET state = ?1, attempts = ?2, next_at = ?3, ack_code = ?4, ack = ?5,
           reason = ?6, detail = ?7, updated_at = ?8 WHERE id = ?9",
    )?
    .execute(params![
        o.state, o.attempts, o.next_at, o.class, o.reply, o.reason, o.detail, now, id
    ])?;
    super::processing::event(c, id, now, o.state, Some(what))
}

/// Queues a copy of delivery `id` for `interface` (contract `version`), in the lane of
/// its key among `lanes`.
pub fn queue_copy(
    c: &Db,
    id: i64,
    interface: &str,
    version: &str,
    now: i64,
    lanes: u32,
) -> DbResult<()> {
    c.prepare_cached(
        "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
           message_type, control_id, patient_id, order_key, received_at, updated_at, payload, lane)
         SELECT correlation, parent, ?2, ?3, 'out', 'queued', message_type, control_id, patient_id,
           order_key, ?4, ?4, payload, accord_lane(order_key, ?5) FROM messages WHERE id = ?1",
    )?
    .execute(params![id, interface, version, now, lanes])?;
    Ok(())
}

/// How the deliveries of message `parent` stand: how many are still pending, how many dead.
pub fn deliveries_of(c: &Db, parent: i64) -> DbResult<(i64, i64)> {
    c.prepare_cached(
        "SELECT COUNT(*) FILTER (WHERE state NOT IN ('completed', 'dead', 'review', 'discarded', 'held')),
           COUNT(*) FILTER (WHERE state = 'dead')
         FROM messages WHERE parent = ?1 AND direction = 'out'",
    )?
    .query_row(params![parent], |r| Ok((r.get(0)?, r.get(1)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queues `n` deliveries on lane 0 of `lims` with keys `{prefix}0`, `{prefix}1`...:
    /// the ids.
    fn queue(c: &Db, prefix: &str, n: usize, next_at: i64) -> Vec<i64> {
        (0..n)
            .map(|i| {
                c.prepare_cached(
                    "INSERT INTO messages (correlation, interface, contract_version, direction,
                       state, order_key, received_at, updated_at, next_at, lane, payload)
                     VALUES ('c', 'lims', '1.0.0', 'out', 'queued', ?1, 0, 0, ?2, 0, x'00')
                     RETURNING id",
                )
                .unwrap()
                .query_row(params![format!("{prefix}{i}"), next_at], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap()
            })
            .collect()
    }

    fn sent(c: &Db, ids: &[i64]) {
        for id in ids {
            c.execute(
                "UPDATE messages SET state = 'completed' WHERE id = ?1",
                params![id],
            )
            .unwrap();
        }
    }

    #[test]
    fn a_batch_says_whether_it_is_all_the_lane_had() {
        let c = crate::journal::memory();
        let none = Peers::default();
        let take = |c: &Db| match choose_batch(c, "lims", 0, &none).unwrap() {
            Choice::Send { batch, drained } => (batch.iter().map(|n| n.id).collect(), drained),
            other => panic!("{other:?}"),
        };
        let ids = queue(&c, "a", 3, 0);
        let (batch, drained): (Vec<i64>, bool) = take(&c);
        assert_eq!((batch, drained), (ids.clone(), true), "everything pending");
        sent(&c, &ids);
        // More than a batch: the rest is left behind.
        let ids = queue(&c, "b", BATCH + 1, 0);
        let (batch, drained) = take(&c);
        assert_eq!((batch.len(), drained), (BATCH, false));
        sent(&c, &ids);
        // One waits for its retry: the lane must look again when it is due.
        let now = time::now_ms();
        let later = queue(&c, "c", 1, now + 60_000);
        let ready = queue(&c, "d", 1, 0);
        let (batch, drained) = take(&c);
        assert_eq!((batch, drained), (ready, false), "{later:?} waits");
    }

    /// The index of the first message a lane may send, or what it does instead.
    fn choose(pending: &[(Option<&str>, i64)], now: i64) -> Result<usize, Option<Choice>> {
        let mut chooser = Chooser::default();
        match pending
            .iter()
            .position(|(key, next_at)| chooser.offer(*key, *next_at, now))
        {
            Some(i) => Ok(i),
            None => Err(chooser.nothing_sendable(now)),
        }
    }

    #[test]
    fn a_waiting_message_holds_back_only_its_own_key() {
        let now = 1_000;
        // A waits for its retry: B goes first; A's later message waits behind it.
        let p = [(Some("A"), 5_000), (Some("A"), 0), (Some("B"), 0)];
        assert_eq!(choose(&p, now), Ok(2));
        // Only A pending: wait for the retry.
        assert_eq!(choose(&p[..2], now), Err(Some(Choice::Wait(4_000))));
        // No key: one queue, strict order.
        let p = [(None, 5_000), (None, 0)];
        assert_eq!(choose(&p, now), Err(Some(Choice::Wait(4_000))));
        assert_eq!(choose(&[(None, 0), (None, 0)], now), Ok(0));
        assert_eq!(choose(&[], now), Err(None));
    }
}
