//! Received messages in storage: a new row for each (its first event with it), and
//! duplicate detection by idempotency key through the two indexes that hold the keys
//! (`IDEM_INDEX` and the control-id index), so a duplicate gets the first one's ACK.

use super::db::{params, Db, DbResult, OptionalExtension, Params};

/// What the journal said about a new message.
pub enum Stored {
    New(i64),
    /// Seen before under the same idempotency key: the first one's id and its ACK.
    Duplicate(i64, Option<Vec<u8>>),
}

#[derive(Clone)]
pub struct Row {
    pub correlation: String,
    pub interface: String,
    pub version: String,
    pub state: &'static str,
    pub message_type: Option<String>,
    pub control_id: Option<String>,
    pub patient_id: Option<String>,
    pub idem_key: Option<String>,
    /// The control id part of `idem_key`, when the contract's key has one
    /// ([`control_part`]): duplicates are looked for under that control id.
    pub idem_control: Option<String>,
    pub order_key: Option<String>,
    pub peer: String,
    pub ack_code: Option<String>,
    pub ack: Option<Vec<u8>>,
    pub reason: Option<&'static str>,
    pub detail: Option<String>,
    pub payload: Vec<u8>,
}

impl Row {
    /// Whether a later message with the same idempotency key finds this one through the
    /// control-id index (`journal::IDEM_INDEX`): its key's control id part is its own.
    pub(super) fn found_by_control(&self) -> bool {
        self.idem_key.is_some()
            && self.idem_control.is_some()
            && self.idem_control == self.control_id
    }
}

pub fn insert(c: &Db, r: &Row, now: i64) -> DbResult<i64> {
    let id = c.insert(
        "INSERT INTO messages (correlation, interface, contract_version, direction, state,
           message_type, control_id, patient_id, idem_key, order_key, peer, received_at,
           updated_at, ack_code, ack, reason, detail, payload, idem_by_control)
         VALUES (?1, ?2, ?3, 'in', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
        r.correlation,
        r.interface,
        r.version,
        r.state,
        r.message_type,
        r.control_id,
        r.patient_id,
        r.idem_key,
        r.order_key,
        r.peer,
        now,
        r.ack_code,
        r.ack,
        r.reason,
        r.detail,
        r.payload,
        r.found_by_control()
    ])?;
    stored_event(c, id, r, now)?;
    Ok(id)
}

/// The event a stored message starts with: its state, and why when it has a reason.
fn stored_event(c: &Db, id: i64, r: &Row, now: i64) -> DbResult<()> {
    let why = r
        .reason
        .map(|x| format!("{x}: {}", r.detail.as_deref().unwrap_or_default()));
    super::processing::event(c, id, now, r.state, why.as_deref())
}

/// `row` as a duplicate of message `first`.
fn duplicate_of(row: &Row, first: i64) -> Row {
    let mut dup = row.clone();
    dup.state = "duplicate";
    dup.reason = Some("duplicate");
    dup.detail = Some(format!("same idempotency key as message {first}"));
    dup
}

/// The first message received on `?1` with idempotency key `?2` among those marked
/// `idem_by_control`, under the key's control id part `?3`.
const FIRST_BY_CONTROL: &str = "SELECT id, ack FROM messages INDEXED BY messages_control_keys
     WHERE control_id = ?3 AND interface = ?1 AND idem_key = ?2
     AND direction = 'in' AND state NOT IN ('rejected', 'duplicate') ORDER BY id LIMIT 1";

/// The same among the others, through their own index.
const FIRST_BY_KEY: &str = "SELECT id, ack FROM messages INDEXED BY messages_idem_rest
     WHERE interface = ?1 AND idem_key = ?2 AND idem_by_control = 0
     AND direction = 'in' AND state NOT IN ('rejected', 'duplicate') ORDER BY id LIMIT 1";

/// Stores a received message, or, when its idempotency key was seen before, records it
/// as a duplicate of the first one (whose ACK answers it). When nodes share the journal,
/// the caller tells the others of a new message (`cluster::received`) if its own node
/// does not process it.
pub fn store_once(c: &Db, row: &Row, now: i64) -> DbResult<Stored> {
    if let Db::Pg(pg) = c {
        return store_once_pg(c, pg, row, now);
    }
    if let Some(key) = &row.idem_key {
        // Nodes sharing the journal look for the first under this key one at a time, so
        // the same message received by two at once is stored once.
        super::cluster::serialise(c, &format!("idem/{}/{key}", row.interface))?;
        // Marked messages (see `Row::found_by_control`) under the key's control id, and
        // the rest through their own index; the first of either.
        let by_control: Option<(i64, Option<Vec<u8>>)> = match &row.idem_control {
            Some(control) => c
                .prepare_cached(FIRST_BY_CONTROL)?
                .query_row(params![row.interface, key, control], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?,
            None => None,
        };
        let rest: Option<(i64, Option<Vec<u8>>)> = c
            .prepare_cached(FIRST_BY_KEY)?
            .query_row(params![row.interface, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let first = match (by_control, rest) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        if let Some((id, ack)) = first {
            insert(c, &duplicate_of(row, id), now)?;
            return Ok(Stored::Duplicate(id, ack));
        }
    }
    let id = insert(c, row, now)?;
    Ok(Stored::New(id))
}

/// A receipt on PostgreSQL: `pg_schema::ONE_ROUND_TRIP`'s `accord_store_once`.
const STORE_ONCE: &str =
    "SELECT id, first_id, first_ack FROM accord_store_once(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
       ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// [`store_once`] on PostgreSQL, in one round trip: the lock, both lookups and the insert
/// are `accord_store_once` (`pg_schema::ONE_ROUND_TRIP`), the same steps as on SQLite. As
/// four statements, they were a quarter of a node's.
fn store_once_pg(c: &Db, pg: &super::pg::PgConn, row: &Row, now: i64) -> DbResult<Stored> {
    let lock = idem_lock(row);
    // It reads and writes received messages only: deliveries' outcomes held by the
    // transaction stay held for its commit.
    let rows = (params![
        lock,
        row.interface,
        row.idem_key,
        row.idem_control,
        row.correlation,
        row.version,
        row.state,
        row.message_type,
        row.control_id,
        row.patient_id,
        row.order_key,
        row.peer,
        now,
        row.ack_code,
        row.ack,
        row.reason,
        row.detail,
        row.payload,
        row.found_by_control()
    ]
    .with(|ps| pg.query_beside_outcomes(STORE_ONCE, ps)))?;
    let r = rows.first().ok_or(super::db::DbError::NoRows)?;
    let (id, first, first_ack): (i64, Option<i64>, Option<Vec<u8>>) = (
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get::<_, Option<&[u8]>>(2)?.map(<[u8]>::to_vec),
    );
    stored_together(c, id, row, first.map(|f| (f, first_ack)), now)
}

/// The advisory lock under which a received message's idempotency key is looked for on
/// PostgreSQL: nodes receiving the same message at once store it once.
pub(super) fn idem_lock(row: &Row) -> Option<String> {
    row.idem_key
        .as_ref()
        .map(|key| format!("idem/{}/{key}", row.interface))
}

/// What is left of storing `row` once the server stored it as message `id` (a duplicate
/// of `first`, whose ACK is given, if it has one): its first event.
pub(super) fn stored_together(
    c: &Db,
    id: i64,
    row: &Row,
    first: Option<(i64, Option<Vec<u8>>)>,
    now: i64,
) -> DbResult<Stored> {
    if let Some((first, first_ack)) = first {
        stored_event(c, id, &duplicate_of(row, first), now)?;
        return Ok(Stored::Duplicate(first, first_ack));
    }
    stored_event(c, id, row, now)?;
    Ok(Stored::New(id))
}

/// The application ACK sent for received message `id`, once the downstream outcome is known.
pub fn record_ack(c: &Db, id: i64, code: &str, ack: &[u8]) -> DbResult<usize> {
    c.prepare_cached("UPDATE messages SET ack_code = ?1, ack = ?2 WHERE id = ?3")?
        .execute(params![code, ack, id])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{prepare, query_plan, scratch};

    /// A received message with idempotency key `key`, control id `control` and the key's
    /// control id part `part`.
    fn row(key: &str, control: &str, part: Option<&str>) -> Row {
        Row {
            correlation: format!("c-{control}"),
            interface: "adt_in".into(),
            version: "1.0.0".into(),
            state: "received",
            message_type: Some("ADT^A01".into()),
            control_id: Some(control.into()),
            patient_id: None,
            idem_key: Some(key.into()),
            idem_control: part.map(str::to_string),
            order_key: None,
            peer: "test".into(),
            ack_code: Some("AA".into()),
            ack: Some(format!("ACK {control}").into_bytes()),
            reason: None,
            detail: None,
            payload: b"MSH|^~\\&|".to_vec(),
        }
    }

    fn new(c: &Db, r: &Row) -> i64 {
        match store_once(c, r, 0).unwrap() {
            Stored::New(id) => id,
            Stored::Duplicate(first, _) => {
                panic!("{:?} taken for a duplicate of {first}", r.idem_key)
            }
        }
    }

    fn duplicate_of(c: &Db, r: &Row) -> (i64, Vec<u8>) {
        match store_once(c, r, 0).unwrap() {
            Stored::Duplicate(first, ack) => (first, ack.unwrap_or_default()),
            Stored::New(id) => panic!("{:?} not found: stored again as {id}", r.idem_key),
        }
    }

    #[test]
    fn a_duplicate_is_found_whichever_index_holds_the_first() {
        let (dir, _, c) = scratch("idempotency");
        let marked = |id: i64| -> bool {
            c.query_row(
                "SELECT idem_by_control FROM messages WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };

        // The usual key (MSH-4, MSH-10): found under its control id, not indexed again.
        let first = new(&c, &row("LAB|C1", "C1", Some("C1")));
        assert!(marked(first));
        assert_eq!(
            duplicate_of(&c, &row("LAB|C1", "C1", Some("C1"))),
            (first, b"ACK C1".to_vec()),
            "answered with the first one's ACK"
        );
        // Another sender's message with the same control id is not a duplicate.
        new(&c, &row("PAS|C1", "C1", Some("C1")));

        // A message stored before the mark (or under a key without a control id part) is
        // in the key index, and a marked message with its key finds it there.
        let before = new(&c, &row("LAB|C2", "C2", None));
        assert!(!marked(before));
        assert_eq!(duplicate_of(&c, &row("LAB|C2", "C2", Some("C2"))).0, before);

        // A key without the control id (ORC-2): the same order under a new control id.
        let order = new(&c, &row("ORD-7", "X1", None));
        assert_eq!(duplicate_of(&c, &row("ORD-7", "X2", None)).0, order);

        // A key whose control id part is not the control id column (MSH-10 with a
        // component) cannot be found under it, so it stays in the key index.
        let odd = new(&c, &row("LAB|D", "D^1", Some("D")));
        assert!(!marked(odd));
        assert_eq!(duplicate_of(&c, &row("LAB|D", "D^1", Some("D"))).0, odd);

        // Both lookups search their index, neither scans.
        let by_control = query_plan(&c, FIRST_BY_CONTROL, ["adt_in", "LAB|C1", "C1"]).join("\n");
        assert!(
            by_control.contains(
                "SEARCH messages USING INDEX messages_control_keys (control_id=? AND interface=? AND idem_key=?)"
            ),
            "{by_control}"
        );
        // `trace` by control id reads the same index, by its first column.
        let trace = query_plan(
            &c,
            "SELECT correlation FROM messages WHERE control_id = ?1 ORDER BY id LIMIT 1",
            ["C1"],
        )
        .join("\n");
        assert!(
            trace.contains("USING INDEX messages_control_keys (control_id=?)"),
            "{trace}"
        );
        let by_key = query_plan(&c, FIRST_BY_KEY, ["adt_in", "LAB|C1"]).join("\n");
        assert!(
            by_key.contains("INDEX messages_idem_rest (interface=? AND idem_key=?)"),
            "{by_key}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_journal_from_before_the_mark_keeps_its_keys_found() {
        let (dir, _, c) = scratch("idempotency-upgrade");
        // The journal as it was: every key in one index, no mark.
        c.execute_batch(
            "DROP INDEX messages_idem_rest;
             ALTER TABLE messages DROP COLUMN idem_by_control;
             CREATE INDEX messages_idem ON messages (interface, idem_key) WHERE idem_key IS NOT NULL;
             INSERT INTO messages (correlation, interface, contract_version, direction, state,
               control_id, idem_key, received_at, updated_at, ack, payload)
             VALUES ('c0', 'adt_in', '1.0.0', 'in', 'processed', 'C9', 'LAB|C9', 0, 0, x'41', x'4d5348');",
        )
        .unwrap();
        prepare(&c).unwrap();
        let index = |name: &str| -> bool {
            c.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = ?1")
                .unwrap()
                .exists([name])
                .unwrap()
        };
        assert!(!index("messages_idem") && index("messages_idem_rest"));
        assert_eq!(duplicate_of(&c, &row("LAB|C9", "C9", Some("C9"))).0, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
