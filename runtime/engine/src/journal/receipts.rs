//! A writer's receipts stored together: on PostgreSQL, the received messages of one
//! writer's batch are stored by one call of `accord_store_many` (`pg_schema`, migration 8)
//! instead of one `accord_store_once` each, the same steps in one round trip and one
//! `INSERT`. Each receipt then only records its first event and tells the other nodes.
//! A receipt whose idempotency key an earlier receipt of the batch has is left to be
//! stored alone after them, so that it finds that one. On SQLite, in process, every
//! receipt is stored alone (`inbound::store_once`).

use super::db::{Db, DbError, DbResult};
use super::inbound::{self, Row, Stored};
use std::collections::HashSet;

/// A received message for the writer to store once (`journal::Journal::receive`).
pub struct Receipt {
    row: Row,
    now: i64,
    /// Tell the nodes at the commit of a new message: another node processes them.
    tell_others: bool,
    /// What `store_together` stored for it in this transaction: the new row's id, and
    /// the first message's id and ACK when it is a duplicate.
    stored: Option<(i64, Option<First>)>,
}

/// The first message under a receipt's idempotency key: its id and its ACK.
type First = (i64, Option<Vec<u8>>);

impl Receipt {
    pub fn new(row: Row, now: i64, tell_others: bool) -> Receipt {
        Receipt {
            row,
            now,
            tell_others,
            stored: None,
        }
    }

    /// Stores the message, or finishes what `store_together` began for it.
    pub fn store(&mut self, c: &Db) -> DbResult<Stored> {
        let stored = match self.stored.take() {
            Some((id, first)) => inbound::stored_together(c, id, &self.row, first, self.now)?,
            None => inbound::store_once(c, &self.row, self.now)?,
        };
        if self.tell_others && self.row.state == "received" && matches!(stored, Stored::New(_)) {
            super::cluster::received(c)?;
        }
        Ok(stored)
    }

    /// The transaction was rolled back: what `store_together` stored is gone.
    pub fn forget(&mut self) {
        self.stored = None;
    }
}

/// The fewest receipts stored together. (Five, where a call's own cost would say alone
/// is cheaper, lost one node's gain and did not help three: performance page, "Receipts
/// together".)
const TOGETHER_FROM: usize = 2;

/// The statement of a batch (`pg_schema::RECEIPTS_TOGETHER`).
const STORE_MANY: &str = "SELECT ids, first_ids, first_acks FROM accord_store_many($1, $2, $3,
       $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

/// Stores the batch's receipts on PostgreSQL in one call, each idempotency key's first
/// only; the others, and every receipt on SQLite, are stored alone by `Receipt::store`.
/// Fewer than [`TOGETHER_FROM`] leave the call out.
pub fn store_together(c: &Db, receipts: &mut [&mut Receipt]) -> DbResult<()> {
    let Db::Pg(pg) = c else {
        return Ok(());
    };
    let mut keys = HashSet::new();
    let mut batch: Vec<&mut Receipt> = receipts
        .iter_mut()
        .map(|r| &mut **r)
        .filter(|r| match &r.row.idem_key {
            Some(key) => keys.insert((r.row.interface.clone(), key.clone())),
            None => true,
        })
        .collect();
    if batch.len() < TOGETHER_FROM {
        return Ok(());
    }
    // It reads and writes received messages only: outcomes held stay held for the commit.
    let rows = pg.query_native_beside_outcomes(STORE_MANY, &Columns::of(&batch).params())?;
    let row = rows.first().ok_or(DbError::NoRows)?;
    let ids: Vec<i64> = row.try_get(0)?;
    let firsts: Vec<Option<i64>> = row.try_get(1)?;
    let acks: Vec<Option<Vec<u8>>> = row.try_get(2)?;
    if ids.len() != batch.len() || firsts.len() != batch.len() || acks.len() != batch.len() {
        return Err(DbError::Sql(format!(
            "accord_store_many returned {} ids for {} receipts",
            ids.len(),
            batch.len()
        )));
    }
    for (((r, id), first), ack) in batch.iter_mut().zip(ids).zip(firsts).zip(acks) {
        r.stored = Some((id, first.map(|f| (f, ack))));
    }
    Ok(())
}

/// The receipts as `accord_store_many`'s parameters, a column each.
struct Columns<'a> {
    locks: Vec<Option<String>>,
    interfaces: Vec<&'a str>,
    keys: Vec<Option<&'a str>>,
    key_controls: Vec<Option<&'a str>>,
    correlations: Vec<&'a str>,
    versions: Vec<&'a str>,
    states: Vec<&'a str>,
    types: Vec<Option<&'a str>>,
    controls: Vec<Option<&'a str>>,
    patients: Vec<Option<&'a str>>,
    orders: Vec<Option<&'a str>>,
    peers: Vec<&'a str>,
    nows: Vec<i64>,
    ack_codes: Vec<Option<&'a str>>,
    acks: Vec<Option<&'a [u8]>>,
    reasons: Vec<Option<&'a str>>,
    details: Vec<Option<&'a str>>,
    payloads: Vec<&'a [u8]>,
    by_controls: Vec<i64>,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a [&mut Receipt]) -> Columns<'a> {
        let rows = || batch.iter().map(|r| &r.row);
        Columns {
            locks: rows().map(inbound::idem_lock).collect(),
            interfaces: rows().map(|r| r.interface.as_str()).collect(),
            keys: rows().map(|r| r.idem_key.as_deref()).collect(),
            key_controls: rows().map(|r| r.idem_control.as_deref()).collect(),
            correlations: rows().map(|r| r.correlation.as_str()).collect(),
            versions: rows().map(|r| r.version.as_str()).collect(),
            states: rows().map(|r| r.state).collect(),
            types: rows().map(|r| r.message_type.as_deref()).collect(),
            controls: rows().map(|r| r.control_id.as_deref()).collect(),
            patients: rows().map(|r| r.patient_id.as_deref()).collect(),
            orders: rows().map(|r| r.order_key.as_deref()).collect(),
            peers: rows().map(|r| r.peer.as_str()).collect(),
            nows: batch.iter().map(|r| r.now).collect(),
            ack_codes: rows().map(|r| r.ack_code.as_deref()).collect(),
            acks: rows().map(|r| r.ack.as_deref()).collect(),
            reasons: rows().map(|r| r.reason).collect(),
            details: rows().map(|r| r.detail.as_deref()).collect(),
            payloads: rows().map(|r| r.payload.as_slice()).collect(),
            by_controls: rows().map(|r| i64::from(r.found_by_control())).collect(),
        }
    }

    /// `$1` to `$19`.
    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 19] {
        [
            &self.locks,
            &self.interfaces,
            &self.keys,
            &self.key_controls,
            &self.correlations,
            &self.versions,
            &self.states,
            &self.types,
            &self.controls,
            &self.patients,
            &self.orders,
            &self.peers,
            &self.nows,
            &self.ack_codes,
            &self.acks,
            &self.reasons,
            &self.details,
            &self.payloads,
            &self.by_controls,
        ]
    }
}
