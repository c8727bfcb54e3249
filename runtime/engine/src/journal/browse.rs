//! What the console reads of the journal, as rows its pages show: each interface's counts
//! and ages, a search over messages (interface, control id, patient, state, time range,
//! newest first, a page at a time), one message whole with the rows made from it, and the
//! audit trail. The command line's `status`, `messages` and `trace` read the same tables as
//! text (`query`).

use super::clauses::Clauses;
use super::db::{params, Db, DbResult, OptionalExtension, Row, Value as Sql};

/// One interface on the dashboard, as it stands now.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InterfaceNow {
    pub queued: i64,
    pub retrying: i64,
    pub dead: i64,
    pub review: i64,
    /// When its last message was received or queued.
    pub last_at: Option<i64>,
    /// When its oldest delivery still waiting was queued.
    pub oldest_queued_at: Option<i64>,
    /// When its peer last answered a delivery.
    pub last_ack_at: Option<i64>,
}

/// The statements of [`interface_now`].
const NOW_LAST: &str = "SELECT MAX(received_at) FROM messages WHERE interface = ?1";

const NOW_QUEUE: &str = "SELECT COUNT(*) FILTER (WHERE state = 'queued'), COUNT(*) FILTER (WHERE state = 'retrying'),
           MIN(received_at)
         FROM messages WHERE direction = 'out' AND state IN ('queued', 'retrying') AND interface = ?1";

const NOW_DEAD: &str = "SELECT COUNT(*) FROM messages WHERE state = 'dead' AND interface = ?1";

const NOW_REVIEW: &str = "SELECT COUNT(*) FROM messages WHERE state = 'review' AND interface = ?1";

const NOW_LAST_ACK: &str = "SELECT updated_at FROM (
       SELECT updated_at, ack_code, direction, received_at FROM messages INDEXED BY messages_age
       WHERE interface = ?1 ORDER BY received_at DESC LIMIT 1000)
     WHERE ack_code IS NOT NULL AND direction = 'out' ORDER BY received_at DESC LIMIT 1";

/// Interface `interface` now. Every count reads an index, never the whole table: the
/// last message its index by time, the queue the lanes' index, the dead letters and the
/// review queue their partial indexes. Counting every message of every interface took
/// 1.7 s a page on a journal of a million messages, and counting the last 15 minutes'
/// still 1.3 s where they held most of it; the console takes rates from the production's
/// counters instead.
pub fn interface_now(c: &Db, interface: &str, operation: bool) -> DbResult<InterfaceNow> {
    let mut now = InterfaceNow {
        last_at: c.query_row(NOW_LAST, params![interface], |r| r.get(0))?,
        ..Default::default()
    };
    (now.queued, now.retrying, now.oldest_queued_at) =
        c.query_row(NOW_QUEUE, params![interface], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    now.dead = c.query_row(NOW_DEAD, params![interface], |r| r.get(0))?;
    now.review = c.query_row(NOW_REVIEW, params![interface], |r| r.get(0))?;
    if !operation {
        return Ok(now);
    }
    // The newest answered delivery among the newest thousand, through its index by time:
    // a service has none, and walking all its messages to learn so took 300 ms a page.
    now.last_ack_at = c
        .query_row(NOW_LAST_ACK, params![interface], |r| r.get(0))
        .optional()?;
    Ok(now)
}

/// What a search asks for; every part optional.
#[derive(Debug, Default, Clone)]
pub struct Search {
    pub interface: Option<String>,
    pub control_id: Option<String>,
    pub patient: Option<String>,
    pub state: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only messages older than this id (the next page).
    pub before: Option<i64>,
    pub limit: u32,
}

/// The states the production writes, for a search's choice.
pub const STATES: &[&str] = &[
    "received",
    "processed",
    "queued",
    "retrying",
    "completed",
    "dead",
    "review",
    "rejected",
    "duplicate",
    "discarded",
    "held",
    "resent",
];

/// A message in a list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub id: i64,
    pub received_at: i64,
    pub interface: String,
    pub direction: String,
    pub state: String,
    pub message_type: Option<String>,
    pub control_id: Option<String>,
    pub patient_id: Option<String>,
    pub reason: Option<String>,
}

const LISTED: &str = "id, received_at, interface, direction, state, message_type, control_id,
    patient_id, reason";

fn listed(r: &Row) -> DbResult<Listed> {
    Ok(Listed {
        id: r.get(0)?,
        received_at: r.get(1)?,
        interface: r.get(2)?,
        direction: r.get(3)?,
        state: r.get(4)?,
        message_type: r.get(5)?,
        control_id: r.get(6)?,
        patient_id: r.get(7)?,
        reason: r.get(8)?,
    })
}

/// The messages `s` matches, newest first, at most `s.limit`. On a journal of a million
/// messages a page must not walk the table, so each search names the index that finds its
/// newest matches at once (on SQLite; PostgreSQL's planner needs no hint): by control id
/// or patient their own; the rare states (`dead`, `review`) their partial indexes; one
/// interface its index by time, read backwards; otherwise the primary key backwards.
pub fn search(c: &Db, s: &Search) -> DbResult<Vec<Listed>> {
    let (sql, args) = search_sql(s);
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(&args, listed)?;
    rows.collect()
}

/// The statement of search `s`, and its parameters.
fn search_sql(s: &Search) -> (String, Vec<Sql>) {
    let keyed = s.control_id.is_some() || s.patient.is_some();
    let rare = match s.state.as_deref() {
        Some("dead") => Some("messages_dead"),
        Some("review") => Some("messages_review"),
        _ => None,
    };
    let (index, order) = match (keyed, rare, &s.interface) {
        (true, _, _) => (None, "id DESC"),
        (false, Some(index), _) => (Some(index), "id DESC"),
        (false, None, Some(_)) => (Some("messages_age"), "received_at DESC, id DESC"),
        (false, None, None) => (None, "id DESC"),
    };
    let from = match index {
        Some(index) => format!("messages INDEXED BY {index}"),
        None => "messages".to_string(),
    };
    let mut w = Clauses::new(
        format!("SELECT {LISTED} FROM {from} WHERE direction IN ('in', 'out')"),
        vec![],
    );
    if let Some(v) = &s.control_id {
        w.and("control_id =", Sql::Text(v.clone()));
    }
    if let Some(v) = &s.patient {
        w.and(super::query::PATIENT_CLAUSE, Sql::Text(v.clone()));
    }
    if let Some(v) = &s.state {
        // A state the production writes is spelled in the statement, so the partial
        // indexes of the rare ones (`dead`, `review`) serve it: a bound parameter could be
        // any state, and a search for dead letters walked the whole table.
        match STATES.iter().find(|k| **k == v.as_str()) {
            Some(k) => {
                w.sql.push_str(&format!(" AND state = '{k}'"));
            }
            None => {
                w.and("state =", Sql::Text(v.clone()));
            }
        }
    }
    if let Some(v) = &s.interface {
        w.and("interface =", Sql::Text(v.clone()));
    }
    if let Some(v) = s.from_ms {
        w.and("received_at >=", Sql::Int(v));
    }
    if let Some(v) = s.to_ms {
        w.and("received_at <", Sql::Int(v));
    }
    if let Some(v) = s.before {
        w.and("id <", Sql::Int(v));
    }
    let mut sql = w.sql;
    sql.push_str(&format!(
        " ORDER BY {order} LIMIT {}",
        s.limit.clamp(1, 500)
    ));
    (sql, w.args)
}

/// One stored message, whole.
#[derive(Debug, Clone)]
pub struct Stored {
    pub listed: Listed,
    pub correlation: String,
    pub parent: Option<i64>,
    pub contract_version: String,
    pub peer: Option<String>,
    pub attempts: i64,
    pub ack_code: Option<String>,
    pub ack: Option<Vec<u8>>,
    pub detail: Option<String>,
    pub payload: Vec<u8>,
}

/// Message `id`, if the journal has it.
pub fn message(c: &Db, id: i64) -> DbResult<Option<Stored>> {
    c.query_row(
        &format!(
            "SELECT {LISTED}, correlation, parent, contract_version, peer, attempts, ack_code,
               ack, detail, payload FROM messages WHERE id = ?1"
        ),
        params![id],
        |r| {
            Ok(Stored {
                listed: listed(r)?,
                correlation: r.get(9)?,
                parent: r.get(10)?,
                contract_version: r.get(11)?,
                peer: r.get(12)?,
                attempts: r.get(13)?,
                ack_code: r.get(14)?,
                ack: r.get(15)?,
                detail: r.get(16)?,
                payload: r.get(17)?,
            })
        },
    )
    .optional()
}

/// The rows made from message `id`: its deliveries and its stored record, in order.
pub fn children(c: &Db, id: i64) -> DbResult<Vec<Listed>> {
    let mut st = c.prepare(&format!(
        "SELECT {LISTED} FROM messages WHERE parent = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map(params![id], listed)?;
    rows.collect()
}

/// Message `id`'s events: when, what, and the detail.
pub fn events(c: &Db, id: i64) -> DbResult<Vec<(i64, String, Option<String>)>> {
    super::operator::events_of(c, id)
}

/// A hop of a correlation: a message and the contract version that processed it.
#[derive(Debug, Clone)]
pub struct Hop {
    pub listed: Listed,
    pub version: String,
}

/// The correlation of message `id` and every hop of it, in order (`query::HOPS`).
pub fn hops(c: &Db, id: i64) -> DbResult<Option<(String, Vec<Hop>)>> {
    let Some(correlation) = c
        .query_row(
            "SELECT correlation FROM messages WHERE id = ?1",
            params![id],
            |r| r.get::<_, String>(0),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut st = c.prepare(&format!(
        "SELECT {LISTED}, contract_version FROM messages WHERE {} ORDER BY id",
        super::query::HOPS
    ))?;
    let hops = st
        .query_map(params![correlation], |r| {
            Ok(Hop {
                listed: listed(r)?,
                version: r.get(9)?,
            })
        })?
        .collect::<DbResult<Vec<_>>>()?;
    Ok(Some((correlation, hops)))
}

/// One minute of an interface's traffic: how many messages it received or queued, and,
/// of those its peer acknowledged, the mean and the longest time from queued to answered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Minute {
    pub minute: i64,
    pub messages: i64,
    pub mean_ms: Option<f64>,
    pub max_ms: Option<i64>,
}

/// Interface `interface`'s traffic by minute since `since` (Unix milliseconds), oldest
/// first, through the index of its messages by time.
pub fn minutes(c: &Db, interface: &str, since: i64) -> DbResult<Vec<Minute>> {
    let mut st = c.prepare(
        "SELECT received_at / 60000, COUNT(*),
           AVG(updated_at - received_at) FILTER (WHERE direction = 'out' AND ack_code IS NOT NULL),
           MAX(updated_at - received_at) FILTER (WHERE direction = 'out' AND ack_code IS NOT NULL)
         FROM messages WHERE interface = ?1 AND received_at >= ?2
         GROUP BY received_at / 60000 ORDER BY 1",
    )?;
    let rows = st.query_map(params![interface, since], |r| {
        Ok(Minute {
            minute: r.get(0)?,
            messages: r.get(1)?,
            mean_ms: r.get(2)?,
            max_ms: r.get(3)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{query_plan, scratch};

    #[test]
    fn console_searches_find_their_newest_matches_through_an_index() {
        let (dir, _, c) = scratch("browse-plans");
        let plan = |s: Search| {
            let (sql, args) = search_sql(&Search { limit: 50, ..s });
            query_plan(&c, &sql, &args).join("\n")
        };
        let some = |v: &str| Some(v.to_string());
        for (search, index) in [
            (
                Search {
                    interface: some("adt_in"),
                    ..Default::default()
                },
                "messages_age",
            ),
            (
                Search {
                    state: some("dead"),
                    ..Default::default()
                },
                "messages_dead",
            ),
            (
                Search {
                    state: some("review"),
                    interface: some("a"),
                    ..Default::default()
                },
                "messages_review",
            ),
            (
                Search {
                    control_id: some("C1"),
                    ..Default::default()
                },
                "messages_control_keys",
            ),
            (
                Search {
                    patient: some("100001"),
                    ..Default::default()
                },
                "messages_patient_in",
            ),
        ] {
            let p = plan(search);
            assert!(p.contains(index), "{index}: {p}");
            if index == "messages_age" {
                assert!(
                    !p.contains("TEMP B-TREE"),
                    "read backwards, not sorted: {p}"
                );
            }
        }
        // The dashboard's counts each read an index, never the table.
        for sql in [NOW_LAST, NOW_QUEUE, NOW_DEAD, NOW_REVIEW, NOW_LAST_ACK] {
            let p = query_plan(&c, sql, params!["adt_in"]).join("\n");
            assert!(
                p.contains("USING") && !p.contains("SCAN messages"),
                "{sql}: {p}"
            );
        }
        // Nothing asked: the newest, backwards along the primary key, no sort.
        let p = plan(Search::default());
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
