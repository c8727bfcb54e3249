//! The review queue and the stored records as an operator reads them: messages held for
//! review, marking one approved-and-processed or discarded, and the fields of one stored
//! record with who wrote each.

use super::db::{params, Db, DbResult};

/// A message held for review.
pub struct HeldRow {
    pub id: i64,
    pub parent: Option<i64>,
    /// `in`: a store-only inbound message whose record is held; `out`: a delivery.
    pub direction: String,
    pub interface: String,
    pub received_at: i64,
    pub detail: String,
    pub payload: Vec<u8>,
}

/// Every message held for review, oldest first.
pub fn held(c: &Db) -> DbResult<Vec<HeldRow>> {
    let mut st = c.prepare(
        "SELECT id, parent, interface, received_at, COALESCE(detail, ''), payload, direction
         FROM messages WHERE state = 'review' ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(HeldRow {
            id: r.get(0)?,
            parent: r.get(1)?,
            interface: r.get(2)?,
            received_at: r.get(3)?,
            detail: r.get(4)?,
            payload: r.get(5)?,
            direction: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// A held inbound message whose record was stored after all: processed, its hold cleared.
pub fn mark_processed(c: &Db, id: i64, now: i64) -> DbResult<()> {
    c.execute(
        "UPDATE messages SET state = 'processed', reason = NULL, detail = NULL, updated_at = ?1
         WHERE id = ?2",
        params![now, id],
    )?;
    Ok(())
}

/// A held message an operator rejected: discarded, nothing sent.
pub fn mark_discarded(c: &Db, id: i64, now: i64) -> DbResult<()> {
    c.execute(
        "UPDATE messages SET state = 'discarded', updated_at = ?1 WHERE id = ?2",
        params![now, id],
    )?;
    Ok(())
}

/// One stored field: its name, JSON value, writer, the message that set it, and when.
pub type StoredField = (String, String, String, Option<i64>, i64);

/// The stored fields of `record` `key`, by name.
pub fn stored_fields(c: &Db, record: &str, key: &str) -> DbResult<Vec<StoredField>> {
    let mut st = c.prepare(
        "SELECT field, value, writer, message, updated_at FROM records
         WHERE record = ?1 AND key = ?2 ORDER BY field",
    )?;
    let rows = st.query_map(params![record, key], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    rows.collect()
}
