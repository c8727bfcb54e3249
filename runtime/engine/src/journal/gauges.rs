//! What the production's gauges and service levels read from storage: queue depths per
//! interface, deliveries held for review, the backlog each service left behind it, and
//! when each interface last moved a message; and the estate a journal belongs to.

use super::db::{params, Db, DbResult};

/// Counts per interface, as `(interface, count)`.
pub type Counts = Vec<(String, i64)>;

/// Deliveries waiting to be sent (queued or retrying) and held for review, per
/// interface; with `by_service`, the waiting deliveries counted by the service that
/// received their message.
pub fn depths(c: &Db, by_service: bool) -> DbResult<(Counts, Counts, Counts)> {
    let counts = |sql: &str| -> DbResult<Counts> {
        let mut st = c.prepare_cached(sql)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    };
    let waiting = counts(
        "SELECT interface, COUNT(*) FROM messages WHERE direction = 'out' AND state IN ('queued', 'retrying') GROUP BY interface",
    )?;
    let held = counts(
        "SELECT interface, COUNT(*) FROM messages WHERE state = 'review' GROUP BY interface",
    )?;
    let services = if by_service {
        counts(BY_SERVICE)?
    } else {
        vec![]
    };
    Ok((waiting, held, services))
}

/// The waiting deliveries counted by the service that received their message, through
/// the lanes' partial index. Left to choose, SQLite walked every delivery ever made
/// through the index of children: 340 ms at a million messages, on the writer, every
/// second, which held every commit behind it (commit-ACK p99 245 ms at 500 msg/s).
const BY_SERVICE: &str = "SELECT p.interface, COUNT(*)
     FROM messages m INDEXED BY messages_lanes JOIN messages p ON p.id = m.parent
     WHERE m.direction = 'out' AND m.state IN ('queued', 'retrying') GROUP BY p.interface";

/// When interface `name` last moved a message: an operation's last completed delivery,
/// a service's last receipt.
pub fn last_activity(c: &Db, name: &str, operation: bool) -> DbResult<Option<i64>> {
    let sql = if operation {
        "SELECT MAX(updated_at) FROM messages WHERE interface = ?1 AND direction = 'out' AND state = 'completed'"
    } else {
        "SELECT MAX(received_at) FROM messages WHERE interface = ?1 AND direction = 'in'"
    };
    c.query_row(sql, params![name], |r| r.get(0))
}

/// Notes in the journal which estate and contract version last ran on it.
pub fn record_estate(c: &Db, estate: &str, version: &str) -> DbResult<()> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES ('estate', ?1), ('version', ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [estate, version],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{query_plan, scratch};

    #[test]
    fn a_services_backlog_is_counted_from_the_waiting_deliveries_only() {
        let (dir, _, c) = scratch("gauges-plan");
        let plan = query_plan(&c, BY_SERVICE, []).join("\n");
        assert!(
            plan.contains("USING INDEX messages_lanes") && !plan.contains("messages_children"),
            "{plan}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
