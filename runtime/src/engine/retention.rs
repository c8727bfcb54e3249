//! Retention: each interface's `retain: 30d` removes its finished messages (and their
//! events) once they are older than that. Purging deletes through the `messages_age`
//! index in small transactions, so it touches only the expired rows and never rewrites
//! the store: SQLite reuses the freed pages for new messages, and the file stops growing
//! once traffic and retention balance. Work still to do is never purged: a message
//! waiting to be processed or delivered, a dead letter (an operator decides its fate), or
//! a message whose deliveries are still pending.

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

/// Removes up to `limit` of `interface`'s finished messages received before `cutoff`
/// (milliseconds since the epoch), with their events. Returns how many went.
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
               AND NOT EXISTS (SELECT 1 FROM messages k WHERE k.parent = m.id AND k.state IN {UNFINISHED})
             ORDER BY m.received_at LIMIT ?3"
        ))?
        .query_map(params![interface, cutoff, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut events = c.prepare_cached("DELETE FROM events WHERE message = ?1")?;
    let mut keys = c.prepare_cached("DELETE FROM order_keys WHERE message = ?1")?;
    let mut messages = c.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
    for id in &ids {
        events.execute([id])?;
        keys.execute([id])?;
        messages.execute([id])?;
    }
    Ok(ids.len())
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

    fn insert(c: &Connection, interface: &str, state: &str, at: i64, parent: Option<i64>) -> i64 {
        c.execute(
            "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
               received_at, updated_at, payload) VALUES ('c', ?1, ?2, '1.0.0', 'in', ?3, ?4, ?4, x'00')",
            params![parent, interface, state, at],
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
        let child = insert(&c, "adt_out", "queued", old, Some(parent));

        assert_eq!(purge_batch(&c, "adt_in", cutoff, 1).unwrap(), 1);
        assert_eq!(purge_batch(&c, "adt_in", cutoff, 100).unwrap(), 1);
        assert_eq!(purge_batch(&c, "adt_in", cutoff, 100).unwrap(), 0);

        assert!(!exists(&c, done) && !exists(&c, rejected));
        for kept in [waiting, dead, recent, other, parent, child] {
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
