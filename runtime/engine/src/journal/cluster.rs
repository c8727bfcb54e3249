//! Several nodes on one PostgreSQL journal, in storage: the `nodes` a production runs as
//! (each beating its heart in `seen_at`), the `leases` by which exactly one node at a time
//! runs each lane and each task done once for the estate (the processor, the timers), and
//! the notices nodes send each other through `NOTIFY` (something received or queued, a
//! message's outcome for the node whose sender waits for it). Times are the server's
//! (`accord_now_ms`), so the nodes' clocks need not agree. A SQLite journal has one
//! production (`lock.rs`) and none of this.

use super::db::{params, Db, DbResult, Dialect};

/// The channel nodes notify each other on.
pub const CHANNEL: &str = "accord";

/// A notice between nodes.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A message was received: the processor looks.
    Received,
    /// Deliveries were queued for `operation`: its lanes look.
    Queued { operation: String, lanes: Vec<u32> },
    /// Received message `id` ended so: the node whose sender waits for it answers.
    Settled {
        id: i64,
        positive: bool,
        text: String,
        code: Option<u16>,
    },
}

impl Notice {
    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A node as `nodes` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub estate: String,
    pub version: String,
    pub lanes: u32,
    /// Its `[journal] lane_placement`: `spread` or `with-processor`.
    pub lane_placement: String,
    pub started_at: i64,
    pub seen_at: i64,
    pub left_at: Option<i64>,
    /// Whether its heart beat within the lease time and it has not left.
    pub live: bool,
}

/// The nodes that beat within `ttl_ms`, or that stopped or died within the last day.
pub fn nodes(c: &Db, ttl_ms: i64) -> DbResult<Vec<Node>> {
    if c.dialect() != Dialect::Postgres {
        return Ok(vec![]);
    }
    c.prepare_cached(
        "SELECT id, name, estate, version, lanes, started_at, seen_at, left_at,
           left_at IS NULL AND seen_at > accord_now_ms() - ?1, lane_placement
         FROM nodes WHERE seen_at > accord_now_ms() - 86400000 ORDER BY started_at, id",
    )?
    .query_map(params![ttl_ms], |r| {
        Ok(Node {
            id: r.get(0)?,
            name: r.get(1)?,
            estate: r.get(2)?,
            version: r.get(3)?,
            lanes: r.get(4)?,
            lane_placement: r.get(9)?,
            started_at: r.get(5)?,
            seen_at: r.get(6)?,
            left_at: r.get(7)?,
            live: r.get(8)?,
        })
    })?
    .collect()
}

/// Registers node `n` (its first heartbeat), and forgets nodes unseen for a day.
pub fn join(c: &Db, n: &Node) -> DbResult<()> {
    c.execute(
        "DELETE FROM nodes WHERE seen_at < accord_now_ms() - 86400000",
        [],
    )?;
    c.execute(
        "INSERT INTO nodes (id, name, estate, version, lanes, lane_placement, started_at,
           seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, accord_now_ms(), accord_now_ms())",
        params![n.id, n.name, n.estate, n.version, n.lanes, n.lane_placement],
    )?;
    Ok(())
}

/// Node `node` says it is alive and renews every lease it holds for `ttl_ms` but `apart`;
/// the names of those leases (any it lost meanwhile are not among them).
pub fn beat(c: &Db, node: &str, ttl_ms: i64, apart: &str) -> DbResult<Vec<String>> {
    c.prepare_cached("UPDATE nodes SET seen_at = accord_now_ms() WHERE id = ?1")?
        .execute(params![node])?;
    c.prepare_cached(
        "UPDATE leases SET expires_at = accord_now_ms() + ?2
         WHERE node = ?1 AND name <> ?3 AND expires_at > accord_now_ms() RETURNING name",
    )?
    .query_map(params![node, ttl_ms, apart], |r| r.get(0))?
    .collect()
}

/// Node `node` renews lease `name` for `ttl_ms` if it still holds it; whether it does.
/// (The processor's lease is renewed on its own: a batch being written holds its row,
/// `holds`, and the node's other leases must not wait for that.)
pub fn renew(c: &Db, node: &str, name: &str, ttl_ms: i64) -> DbResult<bool> {
    c.prepare_cached(
        "UPDATE leases SET expires_at = accord_now_ms() + ?3
         WHERE node = ?1 AND name = ?2 AND expires_at > accord_now_ms() RETURNING name",
    )?
    .exists(params![node, name, ttl_ms])
}

/// Node `node` takes lease `name` for `ttl_ms` if nobody holds it or its holder's time has
/// run out; whether it now holds it.
pub fn take(c: &Db, node: &str, name: &str, ttl_ms: i64) -> DbResult<bool> {
    let holder: Option<String> = c
        .prepare_cached(
            "INSERT INTO leases (name, node, expires_at, taken_at)
             VALUES (?1, ?2, accord_now_ms() + ?3, accord_now_ms())
             ON CONFLICT (name) DO UPDATE SET node = excluded.node,
               expires_at = excluded.expires_at, taken_at = excluded.taken_at
             WHERE leases.expires_at <= accord_now_ms() OR leases.node = excluded.node
             RETURNING node",
        )?
        .query_map(params![name, node, ttl_ms], |r| r.get::<_, String>(0))?
        .next()
        .transpose()?;
    Ok(holder.as_deref() == Some(node))
}

/// Node `node` gives lease `name` up (its task has stopped using it).
pub fn release(c: &Db, node: &str, name: &str) -> DbResult<()> {
    c.prepare_cached("DELETE FROM leases WHERE name = ?1 AND node = ?2")?
        .execute(params![name, node])?;
    Ok(())
}

/// Node `node` stops: its leases go at once, so the others need not wait them out.
pub fn leave(c: &Db, node: &str) -> DbResult<()> {
    c.execute("DELETE FROM leases WHERE node = ?1", params![node])?;
    c.execute(
        "UPDATE nodes SET left_at = accord_now_ms() WHERE id = ?1",
        params![node],
    )?;
    Ok(())
}

/// Every lease held now: (name, node id, milliseconds left).
pub fn leases(c: &Db) -> DbResult<Vec<(String, String, i64)>> {
    if c.dialect() != Dialect::Postgres {
        return Ok(vec![]);
    }
    c.prepare_cached(
        "SELECT name, node, expires_at - accord_now_ms() FROM leases
         WHERE expires_at > accord_now_ms() ORDER BY name",
    )?
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
    .collect()
}

/// Whether node `node` holds lease `name` now; inside a transaction, the lease's row is
/// locked until the commit, so nobody takes it before this transaction's changes are in
/// (the processor's fence: a node whose lease ran out writes nothing it decided).
pub fn holds(c: &Db, node: &str, name: &str) -> DbResult<bool> {
    c.prepare_cached(
        "SELECT 1 FROM leases WHERE name = ?1 AND node = ?2 AND expires_at > accord_now_ms()
         FOR SHARE",
    )?
    .exists(params![name, node])
}

/// Tells every node listening that a message was received (the processor looks).
pub fn received(c: &Db) -> DbResult<()> {
    if c.dialect() != Dialect::Postgres {
        return Ok(());
    }
    notify(c, &Notice::Received.text())
}

/// Sends `payload` to every node listening (at the commit of the caller's transaction,
/// with its other notices: `pg_deferred`; the same payload twice in one transaction is
/// sent once). Nothing on SQLite.
pub fn notify(c: &Db, payload: &str) -> DbResult<()> {
    let Db::Pg(pg) = c else {
        return Ok(());
    };
    if pg.defer_notice(payload) {
        return Ok(());
    }
    c.prepare_cached("SELECT pg_notify(?1, ?2)::text")?
        .query_row(params![CHANNEL, payload], |_| Ok(()))
}

/// Serialises, across nodes, the transactions that decide on key `key`: each takes this
/// lock before it reads, and the server holds it to the commit. Nothing on SQLite, whose
/// one writer serialises everything.
pub fn serialise(c: &Db, key: &str) -> DbResult<()> {
    if c.dialect() != Dialect::Postgres {
        return Ok(());
    }
    c.prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))::text")?
        .query_row(params![key], |_| Ok(()))
}
