//! Retention: each interface's `retain: 30d` removes its finished messages (and their
//! events) once they are older than that, each with every row made from it: a received
//! message goes with its deliveries, its stored record and its replays. Purging deletes
//! through the `messages_age` index in small transactions, so it touches only the expired
//! rows and never rewrites the store: SQLite reuses the freed pages for new messages, and
//! the file stops growing once traffic and retention balance. Work still to do is never
//! purged: a message waiting to be processed or delivered, a dead letter (an operator
//! decides its fate), or a message any of whose hops is still pending. Each pass walks
//! the age index once with a cursor, so messages passed over never hold up the expired
//! ones behind them. An API interface's `retain` also covers its facade's access audit
//! (who read or wrote what, `audit` rows named after the interface); operators' actions
//! in the audit are kept.
//!
//! This is the storage half: what a purge deletes and in what order. The task that runs it
//! each minute is `engine::retention`.

use super::db::{params, Db, DbResult};

/// Rows removed per transaction: short enough not to hold up live traffic.
pub const BATCH: usize = 1000;

/// States in which a message still has work ahead of it.
const UNFINISHED: &str = "('received', 'queued', 'retrying', 'dead', 'review', 'held')";

/// A message and every row made from it, through `parent` (deliveries, the stored record,
/// replays and theirs).
const TREE: &str = "WITH RECURSIVE tree(id) AS (SELECT CAST(?1 AS BIGINT)
  UNION SELECT m.id FROM messages m JOIN tree t ON m.parent = t.id)";

/// Where a purge goes on from: the receipt time and id of the last candidate it looked at,
/// in the age index's order. Messages passed over (a replay of theirs still pending) stay
/// behind the cursor, so they never hold up the expired messages after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub received_at: i64,
    pub id: i64,
}

impl Cursor {
    /// Before every message.
    pub const START: Cursor = Cursor {
        received_at: i64::MIN,
        id: i64::MIN,
    };
}

/// One purge transaction's work.
#[derive(Debug, PartialEq, Eq)]
pub struct Purged {
    /// Messages removed, not counting the rows made from them.
    pub messages: usize,
    /// Where the next transaction of the same pass goes on from (the last candidate
    /// looked at), when the batch was full and more may follow.
    pub next: Option<Cursor>,
}

/// The next expired candidates of an interface after a cursor, in the age index's order.
fn candidates_sql() -> String {
    format!(
        "SELECT m.id, m.received_at FROM messages m
         WHERE m.interface = ?1 AND m.received_at < ?2 AND (m.received_at, m.id) > (?3, ?4)
           AND m.state NOT IN {UNFINISHED}
           AND (m.direction != 'record' OR NOT EXISTS (SELECT 1 FROM messages p WHERE p.id = m.parent))
           AND NOT EXISTS (SELECT 1 FROM messages k WHERE k.parent = m.id AND k.state IN {UNFINISHED})
         ORDER BY m.received_at, m.id LIMIT ?5"
    )
}

/// Removes up to `limit` of `interface`'s finished messages received before `cutoff`
/// (milliseconds since the epoch) and after `after`, each with the rows made from it and
/// their events.
pub fn purge_batch(
    c: &Db,
    interface: &str,
    cutoff: i64,
    after: Cursor,
    limit: usize,
) -> DbResult<Purged> {
    let candidates: Vec<(i64, i64)> = c
        .prepare_cached(&candidates_sql())?
        .query_map(
            params![interface, cutoff, after.received_at, after.id, limit as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<DbResult<_>>()?;
    let mut tree = c.prepare_cached(&format!(
        "{TREE} SELECT m.id, m.state IN {UNFINISHED} FROM tree JOIN messages m ON m.id = tree.id"
    ))?;
    let mut events = c.prepare_cached("DELETE FROM events WHERE message = ?1")?;
    let mut keys = c.prepare_cached("DELETE FROM order_keys WHERE message = ?1")?;
    let mut messages = c.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
    let mut purged = 0;
    for (id, _) in &candidates {
        let rows: Vec<(i64, bool)> = tree
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<DbResult<_>>()?;
        // A replay's delivery still pending keeps the whole message (the query above saw
        // only the direct children): nothing of it goes, none counted. No rows: it went
        // with a message before it in this batch (a replay with its original).
        if rows.is_empty() || rows.iter().any(|(_, unfinished)| *unfinished) {
            continue;
        }
        for (row, _) in rows {
            events.execute([row])?;
            keys.execute([row])?;
            messages.execute([row])?;
        }
        purged += 1;
    }
    Ok(Purged {
        messages: purged,
        next: candidates
            .last()
            .filter(|_| candidates.len() == limit)
            .map(|&(id, received_at)| Cursor { received_at, id }),
    })
}

/// Removes up to `limit` of the audit rows of `interface`'s FHIR facade (`INTERFACE: ...`)
/// written before `cutoff`, oldest first; how many.
pub fn purge_audit(c: &Db, interface: &str, cutoff: i64, limit: usize) -> DbResult<usize> {
    let prefix = format!("{interface}: ");
    c.prepare_cached(
        "DELETE FROM audit WHERE id IN (SELECT id FROM audit
           WHERE at < ?1 AND substr(action, 1, length(?2)) = ?2 ORDER BY id LIMIT ?3)",
    )?
    .execute(params![cutoff, prefix, limit as i64])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        c: &Db,
        interface: &str,
        direction: &str,
        state: &str,
        at: i64,
        parent: Option<i64>,
    ) -> i64 {
        let id: i64 = c.query_row(
            "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
               received_at, updated_at, payload) VALUES ('c', ?1, ?2, '1.0.0', ?3, ?4, ?5, ?5, ?6) RETURNING id",
            params![parent, interface, direction, state, at, b"\x00".to_vec()],
            |r| r.get(0),
        )
        .unwrap();
        c.execute(
            "INSERT INTO events (message, at, kind) VALUES (?1, ?2, ?3)",
            params![id, at, state],
        )
        .unwrap();
        id
    }

    fn insert(c: &Db, interface: &str, state: &str, at: i64, parent: Option<i64>) -> i64 {
        row(c, interface, "in", state, at, parent)
    }

    fn exists(c: &Db, id: i64) -> bool {
        c.query_row("SELECT COUNT(*) FROM messages WHERE id = ?1", [id], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
            == 1
    }

    #[test]
    fn security_an_api_interfaces_retain_covers_its_access_audit() {
        let c = crate::journal::memory();
        let audit = |at: i64, action: &str| {
            c.execute(
                "INSERT INTO audit (at, actor, action, messages, detail) VALUES (?1, 'a', ?2, '', '')",
                params![at, action],
            )
            .unwrap();
        };
        audit(1_000, "portal_fhir: read Patient/p1");
        audit(1_000, "portal_fhirx: read Patient/p1");
        audit(1_000, "dead-letters resend");
        audit(2_000, "portal_fhir: search Patient?");
        audit(9_000, "portal_fhir: read Patient/p2");
        assert_eq!(purge_audit(&c, "portal_fhir", 5_000, 1).unwrap(), 1);
        assert_eq!(purge_audit(&c, "portal_fhir", 5_000, 10).unwrap(), 1);
        assert_eq!(purge_audit(&c, "portal_fhir", 5_000, 10).unwrap(), 0);
        let left: Vec<String> = c
            .prepare("SELECT action FROM audit ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            left,
            [
                "portal_fhirx: read Patient/p1",
                "dead-letters resend",
                "portal_fhir: read Patient/p2"
            ]
        );
    }

    #[test]
    fn only_finished_expired_messages_of_the_interface_go() {
        let c = crate::journal::memory();
        let (old, new, cutoff) = (1_000, 9_000, 5_000);
        let done = insert(&c, "adt_in", "processed", old, None);
        let rejected = insert(&c, "adt_in", "rejected", old, None);
        let waiting = insert(&c, "adt_in", "received", old, None);
        let dead = insert(&c, "adt_in", "dead", old, None);
        let recent = insert(&c, "adt_in", "processed", new, None);
        let other = insert(&c, "lab_in", "processed", old, None);
        // Finished itself, but one of its deliveries is still queued.
        let parent = insert(&c, "adt_in", "processed", old, None);
        let child = row(&c, "adt_out", "out", "queued", old, Some(parent));
        // Finished, with its stored record and a completed delivery: all three go.
        let whole = insert(&c, "adt_in", "processed", old, None);
        let record = row(&c, "adt_in", "record", "completed", old, Some(whole));
        let delivered = row(&c, "adt_out", "out", "completed", old, Some(whole));
        // Replayed, and the replay's delivery still queued: all three stay.
        let replayed = insert(&c, "adt_in", "processed", old, None);
        let replay = insert(&c, "adt_in", "processed", old, Some(replayed));
        let resent = row(&c, "adt_out", "out", "queued", old, Some(replay));

        let purge = |limit| {
            purge_batch(&c, "adt_in", cutoff, Cursor::START, limit)
                .unwrap()
                .messages
        };
        assert_eq!(purge(1), 1);
        assert_eq!(purge(100), 2);
        assert_eq!(purge(100), 0);

        for gone in [done, rejected, whole, record, delivered] {
            assert!(!exists(&c, gone), "message {gone} must be purged");
        }
        // A stored record whose message is gone (purged before records went with their
        // messages) goes on its own.
        let orphan = row(&c, "adt_in", "record", "completed", old, Some(999_999));
        assert_eq!(purge(100), 1);
        assert!(!exists(&c, orphan));
        let kept = [waiting, dead, recent, other, parent, child];
        for kept in kept.into_iter().chain([replayed, replay, resent]) {
            assert!(exists(&c, kept), "message {kept} must be kept");
        }
        let orphans: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM events WHERE message NOT IN (SELECT id FROM messages)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0, "a purged message's events go with it");
    }

    /// Every purge of one pass, as `run` makes them: returns how many went, and how
    /// many transactions it took.
    fn pass(c: &Db, cutoff: i64, limit: usize) -> (usize, usize) {
        let (mut total, mut transactions, mut after) = (0, 0, Cursor::START);
        loop {
            let batch = purge_batch(c, "adt_in", cutoff, after, limit).unwrap();
            total += batch.messages;
            transactions += 1;
            assert!(transactions < 100, "the pass does not move on");
            match batch.next {
                Some(next) => after = next,
                None => return (total, transactions),
            }
        }
    }

    #[test]
    fn the_walk_goes_on_from_its_cursor_through_the_age_index() {
        let c = crate::journal::memory();
        let plan = crate::journal::query_plan(
            &c,
            &candidates_sql(),
            params!["adt_in", 5_000, 1_000, 7, 10],
        );
        assert!(
            plan.iter()
                .any(|p| p.contains("messages_age") && p.contains("received_at>")),
            "{plan:?}"
        );
    }

    #[test]
    fn messages_passed_over_do_not_hold_up_the_ones_after_them() {
        let c = crate::journal::memory();
        let cutoff = 5_000;
        // The oldest three were replayed and their replays are still being delivered:
        // more than a whole batch of candidates that must be passed over.
        let mut kept = vec![];
        for at in [1_000, 1_001, 1_002] {
            let replayed = insert(&c, "adt_in", "processed", at, None);
            let replay = insert(&c, "adt_in", "processed", 4_000, Some(replayed));
            let resent = row(&c, "adt_out", "out", "queued", 4_000, Some(replay));
            kept.extend([replayed, replay, resent]);
        }
        // Behind them, five finished messages with the same receipt time (ties are
        // broken by id) and one more.
        let expired: Vec<i64> = (0..5)
            .map(|_| insert(&c, "adt_in", "processed", 2_000, None))
            .chain([insert(&c, "adt_in", "processed", 3_000, None)])
            .collect();

        // In batches of two the walk needs several transactions; without the cursor the
        // first batch would be passed over forever and nothing would go.
        let (purged, transactions) = pass(&c, cutoff, 2);
        assert_eq!(purged, expired.len());
        assert!(transactions > 3, "took {transactions} transaction(s)");
        for gone in &expired {
            assert!(!exists(&c, *gone), "message {gone} must be purged");
        }
        for kept in kept {
            assert!(exists(&c, kept), "message {kept} must be kept");
        }
        // Once the replays are delivered, the next pass takes them too.
        c.execute(
            "UPDATE messages SET state = 'completed' WHERE state = 'queued'",
            [],
        )
        .unwrap();
        assert_eq!(pass(&c, cutoff, 2).0, 3);
        assert_eq!(
            c.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            0
        );
    }
}
