//! The processor's storage: the next received messages to process, a message's outcome
//! and events, the canonical record a transform produced, and the deliveries it queues
//! (in the lane of their key, with their further ordering keys).

use super::db::{params, Db, DbResult};

/// A received message waiting to be processed.
pub struct Received {
    pub id: i64,
    pub correlation: String,
    pub interface: String,
    pub payload: Vec<u8>,
    pub received_at: i64,
}

/// At most `limit` received messages waiting to be processed, oldest first.
pub fn received(c: &Db, limit: i64) -> DbResult<Vec<Received>> {
    let mut st = c.prepare_cached(
        "SELECT id, correlation, interface, payload, received_at FROM messages
         WHERE direction = 'in' AND state = 'received' ORDER BY id LIMIT ?1",
    )?;
    let rows = st.query_map(params![limit], |r| {
        Ok(Received {
            id: r.get(0)?,
            correlation: r.get(1)?,
            interface: r.get(2)?,
            payload: r.get(3)?,
            received_at: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// An event on message `message` (on PostgreSQL, inside a transaction, written with the
/// transaction's other events at its commit: `pg_deferred`).
pub fn event(c: &Db, message: i64, at: i64, kind: &str, detail: Option<&str>) -> DbResult<()> {
    if let Db::Pg(pg) = c {
        let e = super::pg_deferred::Event {
            message,
            at,
            kind: kind.to_string(),
            detail: detail.map(str::to_string),
        };
        if pg.defer_event(e) {
            return Ok(());
        }
    }
    c.prepare_cached("INSERT INTO events (message, at, kind, detail) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![message, at, kind, detail])?;
    Ok(())
}

/// A processed message's state, reason and detail.
pub fn settle(
    c: &Db,
    id: i64,
    state: &str,
    reason: Option<&str>,
    detail: Option<&str>,
    now: i64,
) -> DbResult<()> {
    c.prepare_cached(
        "UPDATE messages SET state = ?1, reason = ?2, detail = ?3, updated_at = ?4 WHERE id = ?5",
    )?
    .execute(params![state, reason, detail, now, id])?;
    Ok(())
}

/// A processed message's outcome, as [`settle`] writes it.
pub struct Settled<'a> {
    pub id: i64,
    pub state: &'a str,
    pub reason: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// [`settle`] for each of `rows`: on PostgreSQL in one statement
/// (`pg_schema::ONE_ROUND_TRIP`'s `accord_settle`), where one each was a round trip for
/// every message processed.
pub fn settle_all(c: &Db, rows: &[Settled], now: i64) -> DbResult<()> {
    match c {
        Db::Pg(pg) if rows.len() > 1 => {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let states: Vec<&str> = rows.iter().map(|r| r.state).collect();
            let reasons: Vec<Option<&str>> = rows.iter().map(|r| r.reason).collect();
            let details: Vec<Option<&str>> = rows.iter().map(|r| r.detail).collect();
            pg.query_native(
                "SELECT accord_settle($1, $2, $3, $4, $5)",
                &[&ids, &states, &reasons, &details, &now],
            )?;
            Ok(())
        }
        _ => rows
            .iter()
            .try_for_each(|r| settle(c, r.id, r.state, r.reason, r.detail, now)),
    }
}

/// Keeps the canonical record an inbound transform produced, as a child of the message.
pub fn store_record(c: &Db, inbound: i64, now: i64, record: &[u8]) -> DbResult<()> {
    c.prepare_cached(
        "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
           received_at, updated_at, payload)
         SELECT correlation, id, interface, contract_version, 'record', 'completed', ?2, ?2, ?3
         FROM messages WHERE id = ?1",
    )?
    .execute(params![inbound, now, record])?;
    Ok(())
}

/// A delivery as it is journalled.
pub struct Delivery<'a> {
    pub correlation: &'a str,
    pub parent: i64,
    pub interface: &'a str,
    pub version: &'a str,
    pub state: &'a str,
    pub message_type: Option<&'a str>,
    pub control_id: Option<&'a str>,
    pub patient_id: Option<&'a str>,
    pub order_key: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub payload: &'a [u8],
    pub lane: u32,
    /// Further ordering keys, with the endpoint whose operations share them.
    pub also_keys: Option<(&'a str, &'a [String])>,
}

/// Journals deliveries `ds`; their ids, in order. On PostgreSQL in two statements (their
/// ids taken from the sequence in order, then the rows), where one each was a round trip
/// for every delivery.
pub fn queue_all<'a>(c: &Db, ds: &[Delivery<'a>], now: i64) -> DbResult<Vec<i64>> {
    let Db::Pg(pg) = c else {
        return ds.iter().map(|d| queue(c, d, now)).collect();
    };
    if ds.len() < 2 {
        return ds.iter().map(|d| queue(c, d, now)).collect();
    }
    let mut ids: Vec<i64> = pg
        .query_native(
            "SELECT nextval(pg_get_serial_sequence('messages', 'id'))
             FROM generate_series(1, $1::bigint)",
            &[&(ds.len() as i64)],
        )?
        .iter()
        .map(|r| r.try_get::<_, i64>(0))
        .collect::<Result<_, _>>()?;
    ids.sort_unstable();
    fn text<'a>(
        ds: &[Delivery<'a>],
        f: impl Fn(&Delivery<'a>) -> Option<&'a str>,
    ) -> Vec<Option<&'a str>> {
        ds.iter().map(f).collect()
    }
    let column = |f: fn(&Delivery<'a>) -> Option<&'a str>| text(ds, f);
    let correlations = column(|d| Some(d.correlation));
    let parents: Vec<i64> = ds.iter().map(|d| d.parent).collect();
    let interfaces = column(|d| Some(d.interface));
    let versions = column(|d| Some(d.version));
    let states = column(|d| Some(d.state));
    let types = column(|d| d.message_type);
    let controls = column(|d| d.control_id);
    let patients = column(|d| d.patient_id);
    let orders = column(|d| d.order_key);
    let reasons = column(|d| d.reason);
    let details = column(|d| d.detail);
    let payloads: Vec<&[u8]> = ds.iter().map(|d| d.payload).collect();
    let lanes: Vec<i64> = ds.iter().map(|d| i64::from(d.lane)).collect();
    pg.execute_native(
        "INSERT INTO messages (id, correlation, parent, interface, contract_version, direction,
           state, message_type, control_id, patient_id, order_key, received_at, updated_at,
           reason, detail, payload, lane)
         SELECT i, c, p, f, v, 'out', s, t, k, pa, o, $15, $15, r, d, pl, l
         FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[],
           $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
           $12::text[], $13::bytea[], $14::bigint[])
           AS u(i, c, p, f, v, s, t, k, pa, o, r, d, pl, l)",
        &[
            &ids,
            &correlations,
            &parents,
            &interfaces,
            &versions,
            &states,
            &types,
            &controls,
            &patients,
            &orders,
            &reasons,
            &details,
            &payloads,
            &lanes,
            &now,
        ],
    )?;
    for (d, id) in ds.iter().zip(&ids) {
        also_keys(c, *id, d)?;
    }
    Ok(ids)
}

/// Journals delivery `d`; its id.
pub fn queue(c: &Db, d: &Delivery, now: i64) -> DbResult<i64> {
    let id = c.insert(
        "INSERT INTO messages (correlation, parent, interface, contract_version, direction, state,
           message_type, control_id, patient_id, order_key, received_at, updated_at, reason, detail, payload, lane)
         VALUES (?1, ?2, ?3, ?4, 'out', ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14)",
        params![
        d.correlation, d.parent, d.interface, d.version, d.state, d.message_type, d.control_id,
        d.patient_id, d.order_key, now, d.reason, d.detail, d.payload, d.lane
    ])?;
    also_keys(c, id, d)?;
    Ok(id)
}

/// Stores delivery `d`'s further ordering keys, under its id `id`.
fn also_keys(c: &Db, id: i64, d: &Delivery) -> DbResult<()> {
    if let Some((endpoint, keys)) = d.also_keys {
        for k in keys {
            c.prepare_cached(
                "INSERT INTO order_keys (message, endpoint, key) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, endpoint, k])?;
        }
    }
    Ok(())
}
