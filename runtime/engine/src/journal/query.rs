//! What an operator asks the journal of a production, running or not: `status` (counts
//! per interface), `messages` (search by control id, patient, state, interface, time) and
//! `trace` (every hop and event of one message, across interfaces, by correlation id).
//! Patient identifiers are shown only when asked for by `messages --patient`.

use super::db::{Db, DbResult, Value as Sql};
use super::{open_read, JournalError, Store};
use crate::shown::shown;
use crate::time;
use serde_json::json;

pub fn status(journal: &Store, as_json: bool) -> Result<String, JournalError> {
    let conn = open_read(journal)?;
    let c = &conn.db();
    let mut st = c.prepare(
        "SELECT interface, direction,
           COUNT(*) FILTER (WHERE direction = 'in' AND state NOT IN ('rejected', 'duplicate')),
           COUNT(*) FILTER (WHERE direction = 'out' AND state = 'completed'),
           COUNT(*) FILTER (WHERE direction = 'out' AND state = 'queued'),
           COUNT(*) FILTER (WHERE direction = 'out' AND state = 'retrying'),
           COUNT(*) FILTER (WHERE state = 'dead'),
           COUNT(*) FILTER (WHERE state = 'rejected'),
           COUNT(*) FILTER (WHERE state = 'duplicate'),
           COUNT(*) FILTER (WHERE state = 'review')
         FROM messages WHERE direction IN ('in', 'out') GROUP BY interface, direction ORDER BY interface",
    )?;
    let rows: Vec<(String, String, [i64; 8])> = st
        .query_map([], |r| {
            let mut n = [0i64; 8];
            for (i, v) in n.iter_mut().enumerate() {
                *v = r.get::<_, Option<i64>>(i + 2)?.unwrap_or(0);
            }
            Ok((r.get(0)?, r.get(1)?, n))
        })?
        .collect::<DbResult<_>>()?;
    // Each flow's waits by state, and the replies held for a start (`hold early`) as `held`.
    let flows: Vec<(String, String, i64)> = c
        .prepare(
            "SELECT flow, state, COUNT(*) FROM flows GROUP BY flow, state
             UNION ALL SELECT flow, 'held', COUNT(*) FROM flow_early GROUP BY flow
             ORDER BY 1, 2",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<DbResult<_>>()?;
    // Nodes sharing a PostgreSQL journal, and the leases each holds (none on SQLite).
    let nodes = super::cluster::nodes(c, crate::cluster::LEASE_MS)?;
    let leases = super::cluster::leases(c)?;
    let held = |node: &str| -> Vec<&str> {
        leases
            .iter()
            .filter(|(_, n, _)| n == node)
            .map(|(name, _, _)| name.as_str())
            .collect()
    };
    if as_json {
        let v = json!({
            "interfaces": rows.iter().map(|(i, d, n)| json!({
                "interface": i, "direction": d, "received": n[0], "sent": n[1], "queued": n[2],
                "failed": n[3], "dead": n[4], "rejected": n[5], "duplicates": n[6], "review": n[7],
            })).collect::<Vec<_>>(),
            "flows": flows.iter().map(|(f, s, n)| json!({"flow": f, "state": s, "count": n})).collect::<Vec<_>>(),
            "nodes": nodes.iter().map(|n| json!({
                "name": n.name, "id": n.id, "live": n.live, "estate": n.estate,
                "version": n.version, "started_at": n.started_at, "seen_at": n.seen_at,
                "left_at": n.left_at, "leases": held(&n.id),
            })).collect::<Vec<_>>(),
        });
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
    }
    let mut out = format!(
        "{:<28} {:>4} {:>9} {:>7} {:>7} {:>7} {:>6} {:>9} {:>6} {:>7}\n",
        "interface",
        "dir",
        "received",
        "sent",
        "queued",
        "failed",
        "dead",
        "rejected",
        "dups",
        "review"
    );
    for (i, d, n) in &rows {
        out.push_str(&format!(
            "{i:<28} {d:>4} {:>9} {:>7} {:>7} {:>7} {:>6} {:>9} {:>6} {:>7}\n",
            n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]
        ));
    }
    for (f, s, n) in &flows {
        out.push_str(&format!("flow {f}: {n} {s}\n"));
    }
    if !nodes.is_empty() {
        out.push_str(&format!(
            "\nnodes ({} live of {}):\n",
            nodes.iter().filter(|n| n.live).count(),
            nodes.len()
        ));
    }
    for n in &nodes {
        let mine = held(&n.id);
        let lanes = mine.iter().filter(|l| l.starts_with("lane/")).count();
        let tasks: Vec<&str> = mine
            .iter()
            .filter(|l| !l.starts_with("lane/"))
            .copied()
            .collect();
        let state = match (n.live, n.left_at) {
            (true, _) => "live",
            (false, Some(_)) => "stopped",
            (false, None) => "gone",
        };
        out.push_str(&format!(
            "  {:<16} {state:<8} v{:<8} started {}  seen {}  {lanes} lane(s){}  ({})\n",
            n.name,
            n.version,
            crate::time::iso(n.started_at),
            crate::time::iso(n.seen_at),
            if tasks.is_empty() {
                String::new()
            } else {
                format!(", {}", tasks.join(", "))
            },
            n.id
        ));
        // Its lanes, by operation: `adt_to_lims 0 2 5`.
        let mut by_op: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for l in mine.iter().filter_map(|l| l.strip_prefix("lane/")) {
            if let Some((op, lane)) = l.rsplit_once('/') {
                by_op.entry(op).or_default().push(lane);
            }
        }
        for (op, lanes) in by_op {
            out.push_str(&format!("    {op} {}\n", lanes.join(" ")));
        }
    }
    Ok(out)
}

#[derive(Default)]
pub struct Filter {
    pub control_id: Option<String>,
    pub patient: Option<String>,
    pub state: Option<String>,
    pub interface: Option<String>,
    pub since_ms: Option<i64>,
    pub limit: u32,
}

/// The messages of one patient (`?N`): through the index of received messages, then the
/// deliveries made from them (every outbound row's parent is a received one).
pub(super) const PATIENT_CLAUSE: &str =
    "id IN (SELECT id FROM messages WHERE direction = 'in' AND patient_id = ?N
   UNION ALL SELECT d.id FROM messages r JOIN messages d ON d.parent = r.id
   WHERE r.direction = 'in' AND r.patient_id = ?N AND d.direction = 'out'
   AND d.patient_id = ?N)";

pub fn messages(journal: &Store, f: &Filter, as_json: bool) -> Result<String, JournalError> {
    let conn = open_read(journal)?;
    let c = &conn.db();
    let mut w = super::clauses::Clauses::new(
        "SELECT id, received_at, interface, direction, state, message_type, control_id, correlation, reason FROM messages WHERE 1 = 1",
        vec![],
    );
    if let Some(v) = &f.control_id {
        w.and("control_id =", Sql::Text(v.clone()));
    }
    if let Some(v) = &f.patient {
        w.and(PATIENT_CLAUSE, Sql::Text(v.clone()));
    }
    if let Some(v) = &f.state {
        w.and("state =", Sql::Text(v.clone()));
    }
    if let Some(v) = &f.interface {
        w.and("interface =", Sql::Text(v.clone()));
    }
    if let Some(v) = f.since_ms {
        w.and("received_at >=", Sql::Int(time::now_ms() - v));
    }
    let (mut sql, args) = (w.sql, w.args);
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", f.limit.max(1)));
    let mut st = c.prepare(&sql)?;
    let rows: Vec<[String; 9]> = st
        .query_map(&args, |r| {
            Ok([
                r.get::<_, i64>(0)?.to_string(),
                time::iso(r.get(1)?),
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                r.get(7)?,
                r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            ])
        })?
        .collect::<DbResult<_>>()?;
    if as_json {
        let keys = [
            "id",
            "received_at",
            "interface",
            "direction",
            "state",
            "message_type",
            "control_id",
            "correlation",
            "reason",
        ];
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                keys.iter()
                    .zip(r.iter())
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect::<serde_json::Map<_, _>>()
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
    }
    let mut out = format!(
        "{:>7} {:<24} {:<24} {:<4} {:<10} {:<8} {:<20} {}\n",
        "id", "received", "interface", "dir", "state", "type", "control id", "reason"
    );
    for r in &rows {
        out.push_str(&format!(
            "{:>7} {:<24} {:<24} {:<4} {:<10} {:<8} {:<20} {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            shown(&r[5]),
            shown(&r[6]),
            shown(&r[8])
        ));
    }
    if rows.is_empty() {
        out.push_str("(no messages match)\n");
    }
    Ok(out)
}

fn correlation_of(c: &Db, id: &str) -> DbResult<Option<String>> {
    use super::db::OptionalExtension;
    if let Ok(n) = id.parse::<i64>() {
        if let Some(corr) = c
            .query_row("SELECT correlation FROM messages WHERE id = ?1", [n], |r| {
                r.get(0)
            })
            .optional()?
        {
            return Ok(Some(corr));
        }
    }
    // Every hop shares the correlation id of the message received.
    let received = c
        .query_row(
            "SELECT correlation FROM messages WHERE direction = 'in' AND correlation = ?1 LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if received.is_some() {
        return Ok(received);
    }
    c.query_row(
        "SELECT correlation FROM messages WHERE control_id = ?1 ORDER BY id LIMIT 1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// The hops of correlation `?1`: the messages received with it (the first, replays,
/// edits) through their index, and the rows made from each (deliveries, stored records).
pub(super) const HOPS: &str =
    "id IN (SELECT id FROM messages WHERE direction = 'in' AND correlation = ?1
   UNION SELECT d.id FROM messages r JOIN messages d ON d.parent = r.id
   WHERE r.direction = 'in' AND r.correlation = ?1 AND d.correlation = ?1)";

/// Every hop of one message: ID is a journal id, a control id (MSH-10) or a correlation id.
pub fn trace(journal: &Store, id: &str) -> Result<Option<String>, JournalError> {
    let conn = open_read(journal)?;
    let c = &conn.db();
    let Some(corr) = correlation_of(c, id)? else {
        return Ok(None);
    };
    let mut out = format!("correlation {corr}\n");
    let mut st = c.prepare(&format!(
        "SELECT id, interface, contract_version, direction, state, message_type, control_id, attempts, ack_code, reason, detail
         FROM messages WHERE {HOPS} ORDER BY id"
    ))?;
    let hops: Vec<(i64, String)> = st
        .query_map([&corr], |r| {
            let id: i64 = r.get(0)?;
            let line = format!(
                "#{id} {} {} v{} {} {} control id {} attempts {}{}{}{}",
                r.get::<_, String>(3)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                shown(&r.get::<_, Option<String>>(5)?.unwrap_or_default()),
                r.get::<_, String>(4)?,
                shown(&r.get::<_, Option<String>>(6)?.unwrap_or_else(|| "-".into())),
                r.get::<_, i64>(7)?,
                r.get::<_, Option<String>>(8)?
                    .map(|a| format!(" ack {}", shown(&a)))
                    .unwrap_or_default(),
                r.get::<_, Option<String>>(9)?
                    .map(|a| format!(" reason {}", shown(&a)))
                    .unwrap_or_default(),
                r.get::<_, Option<String>>(10)?
                    .map(|a| format!(": {}", shown(&a)))
                    .unwrap_or_default(),
            );
            Ok((id, line))
        })?
        .collect::<DbResult<_>>()?;
    let mut ev = c.prepare("SELECT at, kind, detail FROM events WHERE message = ?1 ORDER BY id")?;
    for (id, line) in hops {
        out.push_str(&line);
        out.push('\n');
        let events: Vec<String> = ev
            .query_map([id], |r| {
                Ok(format!(
                    "    {} {}{}",
                    time::iso(r.get(0)?),
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?
                        .filter(|d| !d.is_empty())
                        .map(|d| format!(": {}", shown(&d)))
                        .unwrap_or_default()
                ))
            })?
            .collect::<DbResult<_>>()?;
        for e in events {
            out.push_str(&e);
            out.push('\n');
        }
    }
    Ok(Some(out))
}

/// The interface of the message received last (`ENDPOINT?` when none was picked).
pub fn last_received_interface(c: &Db) -> DbResult<Option<String>> {
    use super::db::OptionalExtension;
    c.prepare_cached(
        "SELECT interface FROM messages WHERE direction = 'in' ORDER BY id DESC LIMIT 1",
    )?
    .query_row([], |r| r.get(0))
    .optional()
}

/// The ownership decisions of the trace whose words start with `prefix` (`Patient 1
/// phone: `), oldest first.
pub fn decisions(c: &Db, prefix: &str) -> DbResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT detail FROM events WHERE kind = 'ownership' AND detail IS NOT NULL ORDER BY id",
    )?;
    let rows: Vec<String> = st
        .query_map(super::db::params![], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows.into_iter().filter(|d| d.starts_with(prefix)).collect())
}

/// How many messages are in `state` (of interface `interface`, when named).
pub fn count_in_state(c: &Db, state: &str, interface: Option<&str>) -> DbResult<i64> {
    c.prepare_cached(
        "SELECT COUNT(*) FROM messages WHERE state = ?1 AND (?2 IS NULL OR interface = ?2)",
    )?
    .query_row(super::db::params![state, interface], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::db::{params, Db};

    /// A received message for `patient` and its deliveries, one of them to `patient` too
    /// and one naming another patient (a mapping may change the identifier).
    fn received(c: &Db, patient: &str, deliveries: &[&str]) {
        let row = |dir: &str, parent: Option<i64>, p: &str| {
            c.query_row(
                "INSERT INTO messages (correlation, parent, interface, contract_version, direction,
                   state, control_id, patient_id, received_at, updated_at, payload)
                 VALUES ('c', ?1, 'adt', '1.0.0', ?2, 'completed', 'M', ?3, 0, 0, x'00') RETURNING id",
                params![parent, dir, p],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
        };
        let id = row("in", None, patient);
        for p in deliveries {
            row("out", Some(id), p);
        }
    }

    /// `sql` (one parameter) searches through `index` and scans no table or index whole.
    fn searches_through(c: &Db, sql: &str, index: &str) {
        let plan = crate::journal::query_plan(c, sql, ["x"]);
        assert!(plan.iter().any(|p| p.contains(index)), "{plan:?}");
        assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:?}");
    }

    #[test]
    fn a_patient_is_found_through_the_messages_received_and_their_deliveries() {
        let (dir, path, c) = crate::journal::scratch("query");
        received(&c, "MRN1", &["MRN1", "MRN1"]);
        received(&c, "MRN2", &["MRN2", "MRN1"]);
        received(&c, "MRN1", &[]);
        let filter = |p: &str| Filter {
            patient: Some(p.into()),
            control_id: Some("M".into()),
            limit: 100,
            ..Filter::default()
        };
        let ids = |p: &str| -> Vec<i64> {
            let out = messages(&Store::Sqlite(path.clone()), &filter(p), true).unwrap();
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let mut ids: Vec<i64> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().parse().unwrap())
                .collect();
            ids.sort();
            ids
        };
        // MRN1: its two received messages and the two deliveries of the first. The second
        // message's delivery that names MRN1 came from MRN2's message: not found by MRN1.
        assert_eq!(ids("MRN1"), vec![1, 2, 3, 7]);
        assert_eq!(ids("MRN2"), vec![4, 5]);
        assert_eq!(ids("MRN3"), Vec::<i64>::new());
        // The lookup uses the index of received messages, never a scan of every message.
        let sql = format!(
            "SELECT id FROM messages WHERE {} ORDER BY id DESC LIMIT 100",
            PATIENT_CLAUSE.replace("?N", "?1")
        );
        searches_through(&c, &sql, "messages_patient_in");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_trace_finds_every_hop_through_the_messages_received() {
        let (dir, path, c) = crate::journal::scratch("trace");
        let row = |corr: &str, dir: &str, parent: Option<i64>, control: Option<&str>| {
            c.query_row(
                "INSERT INTO messages (correlation, parent, interface, contract_version, direction,
                   state, control_id, received_at, updated_at, payload)
                 VALUES (?1, ?2, 'adt', '1.0.0', ?3, 'completed', ?4, 0, 0, x'00') RETURNING id",
                params![corr, parent, dir, control],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
        };
        let first = row("run-1", "in", None, Some("MSG1"));
        let record = row("run-1", "record", Some(first), None);
        let out = row("run-1", "out", Some(first), Some("AC1.1"));
        let other = row("run-2", "in", None, Some("MSG2"));
        row("run-2", "out", Some(other), Some("AC4.1"));
        // A replay: a new message received, a child of the first, and its delivery.
        let replay = row("run-1", "in", Some(first), Some("MSG1"));
        let again = row("run-1", "out", Some(replay), Some("AC1.1R1"));
        let hops = |id: &str| -> Vec<i64> {
            let text = trace(&Store::Sqlite(path.clone()), id)
                .unwrap()
                .unwrap_or_default();
            text.lines()
                .filter_map(|l| l.strip_prefix('#'))
                .map(|l| l.split(' ').next().unwrap().parse().unwrap())
                .collect()
        };
        let all = vec![first, record, out, replay, again];
        // By correlation id, by the control id received or sent, and by journal id.
        assert_eq!(hops("run-1"), all);
        assert_eq!(hops("MSG1"), all);
        assert_eq!(hops("AC1.1"), all);
        assert_eq!(hops(&out.to_string()), all);
        assert_eq!(hops("MSG2").len(), 2);
        assert!(trace(&Store::Sqlite(path.clone()), "nothing")
            .unwrap()
            .is_none());
        // The hops come through the index of received messages and the parent index.
        let sql = format!("SELECT id FROM messages WHERE {HOPS}");
        searches_through(&c, &sql, "messages_correlation_in");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
