//! Retention: each interface's `retain: 30d` removes its finished messages (and their
//! events) once they are older than that, each with every row made from it: a received
//! message goes with its deliveries, its stored record and its replays. Purging deletes
//! through the `messages_age` index in small transactions, so it touches only the expired
//! rows and never rewrites the store: SQLite reuses the freed pages for new messages, and
//! the file stops growing once traffic and retention balance. Work still to do is never
//! purged: a message waiting to be processed or delivered, a dead letter (an operator
//! decides its fate), or a message any of whose hops is still pending.

use super::{time, Engine};
use rusqlite::{params, Connection};
use std::sync::Arc;
use std::time::Duration;

/// Rows removed per transaction: short enough not to hold up live traffic.
const BATCH: usize = 1000;

/// How often the purger looks for expired messages.
const EVERY: Duration = Duration::from_secs(60);

/// States in which a message still has work ahead of it.
const UNFINISHED: &str = "('received', 'queued', 'retrying', 'dead', 'review')";

/// A message and every row made from it, through `parent` (deliveries, the stored record,
/// replays and theirs).
const TREE: &str = "WITH RECURSIVE tree(id) AS (SELECT ?1
  UNION SELECT m.id FROM messages m JOIN tree t ON m.parent = t.id)";

/// Removes up to `limit` of `interface`'s finished messages received before `cutoff`
/// (milliseconds since the epoch), each with the rows made from it and their events.
/// Returns how many messages went, not counting the rows made from them.
pub fn purge_batch(
    c: &Connection,
    interface: &str,
    cutoff: i64,
    limit: usize,
) -> rusqlite::Result<usize> {
    let ids: Vec<i64> = c
        .prepare_cached(&format!(
            "SELECT m.id FROM messages m
             WHERE m.interface = ?1 AND m.received_at < ?2 AND m.state NOT IN {UNFINISHED}
               AND (m.direction != 'record' OR NOT EXISTS (SELECT 1 FROM messages p WHERE p.id = m.parent))
               AND NOT EXISTS (SELECT 1 FROM messages k WHERE k.parent = m.id AND k.state IN {UNFINISHED})
             ORDER BY m.received_at LIMIT ?3"
        ))?
        .query_map(params![interface, cutoff, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut tree = c.prepare_cached(&format!(
        "{TREE} SELECT m.id, m.state IN {UNFINISHED} FROM tree JOIN messages m ON m.id = tree.id"
    ))?;
    let mut events = c.prepare_cached("DELETE FROM events WHERE message = ?1")?;
    let mut keys = c.prepare_cached("DELETE FROM order_keys WHERE message = ?1")?;
    let mut messages = c.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
    let mut purged = 0;
    for id in &ids {
        let rows: Vec<(i64, bool)> = tree
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
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
    Ok(purged)
}

/// Purges every interface with a retention period, then again each minute.
pub async fn run(engine: Arc<Engine>) {
    let retained: Vec<(String, u64)> = engine
        .spec
        .interfaces
        .iter()
        .filter_map(|i| Some((i.name.clone(), i.retain_ms?)))
        .collect();
    if retained.is_empty() {
        return;
    }
    loop {
        for (interface, retain) in &retained {
            let retain = *retain;
            let cutoff = time::now_ms() - retain as i64;
            let mut total = 0;
            loop {
                let name = interface.clone();
                // A purge lost to a power failure is simply done again.
                let done = engine
                    .journal
                    .write_redoable(move |c| purge_batch(c, &name, cutoff, BATCH))
                    .await;
                match done {
                    Ok(n) => {
                        total += n;
                        if n < BATCH {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::error!(interface = %interface, error = %e, "cannot purge expired messages; trying again later");
                        break;
                    }
                }
            }
            if total > 0 {
                engine
                    .metrics
                    .purged
                    .get_or_create(&super::metrics::Metrics::iface(interface))
                    .inc_by(total as u64);
                tracing::info!(interface = %interface, purged = total, retain_days = retain / 86_400_000, "expired messages purged");
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        c: &Connection,
        interface: &str,
        direction: &str,
        state: &str,
        at: i64,
        parent: Option<i64>,
    ) -> i64 {
        c.execute(
            "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
               received_at, updated_at, payload) VALUES ('c', ?1, ?2, '1.0.0', ?3, ?4, ?5, ?5, x'00')",
            params![parent, interface, direction, state, at],
        )
        .unwrap();
        let id = c.last_insert_rowid();
        c.execute(
            "INSERT INTO events (message, at, kind) VALUES (?1, ?2, ?3)",
            params![id, at, state],
        )
        .unwrap();
        id
    }

    fn insert(c: &Connection, interface: &str, state: &str, at: i64, parent: Option<i64>) -> i64 {
        row(c, interface, "in", state, at, parent)
    }

    fn exists(c: &Connection, id: i64) -> bool {
        c.query_row("SELECT COUNT(*) FROM messages WHERE id = ?1", [id], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
            == 1
    }

    #[test]
    fn only_finished_expired_messages_of_the_interface_go() {
        let c = Connection::open_in_memory().unwrap();
        super::super::journal::prepare(&c).unwrap();
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

        assert_eq!(purge_batch(&c, "adt_in", cutoff, 1).unwrap(), 1);
        assert_eq!(purge_batch(&c, "adt_in", cutoff, 100).unwrap(), 2);
        assert_eq!(purge_batch(&c, "adt_in", cutoff, 100).unwrap(), 0);

        for gone in [done, rejected, whole, record, delivered] {
            assert!(!exists(&c, gone), "message {gone} must be purged");
        }
        // A stored record whose message is gone (purged before records went with their
        // messages) goes on its own.
        let orphan = row(&c, "adt_in", "record", "completed", old, Some(999_999));
        assert_eq!(purge_batch(&c, "adt_in", cutoff, 100).unwrap(), 1);
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
}
