//! The ownership matrix enforced against the journal: the stored copy of each governed
//! record (table `records`, one row per field with its writer) and the [`Steward`] the
//! processor hands to transform chains. The steward reads the stored record (through a
//! batch overlay, so a batch sees its own earlier changes), decides each field with
//! [`steward::decide`], and keeps the writes and the decisions until the processor
//! commits them with the message they came from.
//!
//! Each write names the stored state its decision read (`expected`), and [`store`] writes
//! it only if that state is still there: a decision made against a record another
//! writer changed in the meantime (an API update racing a message, an operator command
//! racing the processor) is refused as a [`Stale`] and decided again, never lost.

use super::db::{params, Conn, Db, DbError, DbResult, OptionalExtension};
use accord_runtime::spec::{Matrix, Retired};
use accord_runtime::steward::{self, get_path, set_path, Hold, Stage, Steward, Stored, Verdict};
use serde_json::Value;
use std::collections::HashMap;

/// A field's stored value, its stored text, and the system that wrote it.
#[derive(Debug, Clone)]
struct FieldState {
    value: Value,
    /// The `records.value` text, compared as stored (no JSON round trip).
    raw: String,
    writer: String,
    /// The event time of the write that stored it (fields ordered `newest by`).
    event_at: Option<i64>,
}

type RecordState = HashMap<String, FieldState>;

/// A field change to store once its message is committed.
#[derive(Debug, Clone)]
pub struct Write {
    pub record: String,
    pub key: String,
    pub field: String,
    pub value: Value,
    pub writer: String,
    /// The stored (value text, writer) the decision read; `None`: the field was not stored.
    pub expected: Option<(String, String)>,
    /// The write's event time in seconds, for a field ordered by one.
    pub event_at: Option<i64>,
    /// The field is `unique`: its value is indexed (`record_values`).
    pub unique: bool,
}

/// A decision worth recording as an event on the message: who wrote what, and what the
/// matrix did about it.
#[derive(Debug, Clone)]
pub struct Note {
    pub verdict: &'static str,
    pub text: String,
}

/// Stored records as the processor (or an operator command) sees them: the journal,
/// through a read connection of its own, plus this batch's changes.
pub struct RecordStore {
    store: super::Store,
    conn: Option<Conn>,
    overlay: HashMap<(String, String), RecordState>,
    /// Records read from the journal, each read once: a message delivered to two
    /// operations governs its patient twice, and the processor's next batches govern the
    /// same patients again. A change made meanwhile by another writer is caught at the
    /// commit ([`Stale`]), as for a single read; between batches, by the change number.
    read: HashMap<(String, String), RecordState>,
    /// The journal's change number (`record_ids`) that `read` is known to be current
    /// at: its records' last changes were this store's own, and no other writer has
    /// changed a record since. `None`: not known, read afresh.
    current_at: Option<i64>,
    /// Why a read failed since the last [`RecordStore::take_unavailable`]: the decisions
    /// made meanwhile are not to be applied.
    unavailable: Option<String>,
    /// Merges this batch made (record, retired) -> survivor, not yet committed.
    merges_staged: HashMap<(String, String), String>,
    /// Merges read from the journal: (record, key) -> the key it was merged into, if any.
    /// Kept and dropped with `read`.
    merges_read: HashMap<(String, String), Option<String>>,
}

/// A merge to store once its message is committed: `record` `retired` now points to
/// `survivor`.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    pub record: String,
    pub retired: String,
    pub survivor: String,
}

/// The longest chain of merges followed (a retired key whose survivor was retired in turn,
/// and so on); a longer one is taken as broken and held for a person.
const MERGE_CHAIN_LIMIT: usize = 16;

/// The most records a store keeps between batches; past that it starts over, so memory
/// stays flat however many records the journal holds.
const READ_LIMIT: usize = 4096;

impl RecordStore {
    pub fn new(store: &super::Store) -> RecordStore {
        RecordStore {
            store: store.clone(),
            conn: None,
            overlay: HashMap::new(),
            read: HashMap::new(),
            current_at: None,
            unavailable: None,
            merges_staged: HashMap::new(),
            merges_read: HashMap::new(),
        }
    }

    /// Why a stored record could not be read since the last call, if one could not: the
    /// caller then applies nothing it decided meanwhile and tries again later.
    pub fn take_unavailable(&mut self) -> Option<String> {
        self.unavailable.take()
    }

    fn conn(&mut self) -> Result<Db<'_>, String> {
        match &mut self.conn {
            Some(c) => Ok(c.db()),
            slot => {
                let c = super::open_read(&self.store).map_err(|e| e.to_string())?;
                Ok(slot.insert(c).db())
            }
        }
    }

    /// `read` on this store's connection. A failure says why through
    /// [`RecordStore::take_unavailable`], and the connection is opened afresh next time (a
    /// PostgreSQL server that restarted closed it): the batch that asked is processed again.
    /// A connection that cannot be opened counts as a failed read: without it, the
    /// steward's `Hold::Unavailable` would be applied as a dead letter, not retried.
    fn query<T>(&mut self, read: impl FnOnce(&Db) -> DbResult<T>) -> Result<T, String> {
        let out = match self.conn() {
            Ok(c) => read(&c).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = &out {
            self.conn = None;
            self.unavailable = Some(e.clone());
        }
        out
    }

    fn load(&mut self, record: &str, key: &str) -> Result<RecordState, String> {
        let k = (record.to_string(), key.to_string());
        if let Some(s) = self.overlay.get(&k).or_else(|| self.read.get(&k)) {
            return Ok(s.clone());
        }
        let stored = self.query(|c| read_record(c, record, key))?;
        self.read.insert(k, stored.clone());
        Ok(stored)
    }

    /// The key `record` `key` was merged into directly, if it was (this batch's merges
    /// first, then the journal's).
    fn merged_into(&mut self, record: &str, key: &str) -> Result<Option<String>, String> {
        let k = (record.to_string(), key.to_string());
        if let Some(s) = self.merges_staged.get(&k) {
            return Ok(Some(s.clone()));
        }
        if let Some(s) = self.merges_read.get(&k) {
            return Ok(s.clone());
        }
        let found = self.query(|c| survivor_of(c, record, key))?;
        self.merges_read.insert(k, found.clone());
        Ok(found)
    }

    /// The keys `record` `key` was merged into, in order (empty when it was never
    /// retired); the last is the record that stands for it now. A chain that comes back
    /// to a key it passed, or goes on past [`MERGE_CHAIN_LIMIT`], is an error in words.
    pub fn merge_chain(&mut self, record: &str, key: &str) -> Result<Vec<String>, MergeTrouble> {
        let mut chain: Vec<String> = vec![];
        let mut at = key.to_string();
        while let Some(next) = self
            .merged_into(record, &at)
            .map_err(MergeTrouble::Unavailable)?
        {
            if next == key || chain.contains(&next) || chain.len() >= MERGE_CHAIN_LIMIT {
                return Err(MergeTrouble::Broken(format!(
                    "the merges of {record} {key} go round or on without end ({} -> {next})",
                    std::iter::once(key.to_string())
                        .chain(chain.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(" -> ")
                )));
            }
            chain.push(next.clone());
            at = next;
        }
        Ok(chain)
    }

    /// Makes `merge` visible to the rest of the batch.
    pub fn stage_merge(&mut self, merge: &Merge) {
        self.merges_staged.insert(
            (merge.record.clone(), merge.retired.clone()),
            merge.survivor.clone(),
        );
    }

    /// The other records than `key` that hold `value` (JSON) in `unique` field `field`:
    /// the journal's, as this batch has changed them, and this batch's own.
    pub fn others_holding(
        &mut self,
        record: &str,
        field: &str,
        key: &str,
        value: &Value,
    ) -> Result<Vec<String>, String> {
        let text = value.to_string();
        let stored = self.query(|c| holders(c, record, field, &text))?;
        let mut out: Vec<String> = vec![];
        for k in stored.into_iter().filter(|k| k != key) {
            // A record this batch gave another value no longer holds it.
            let moved = self
                .overlay
                .get(&(record.to_string(), k.clone()))
                .and_then(|s| s.get(field))
                .is_some_and(|s| s.value != *value);
            if !moved {
                out.push(k);
            }
        }
        for ((r, k), state) in &self.overlay {
            let holds = state.get(field).is_some_and(|s| s.value == *value);
            if r == record && k != key && holds && !out.contains(k) {
                out.push(k.clone());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Takes back a merge staged by a message that was not processed after all.
    pub fn unstage_merge(&mut self, merge: &Merge) {
        self.merges_staged
            .remove(&(merge.record.clone(), merge.retired.clone()));
    }

    /// Makes `writes` visible to the rest of the batch.
    pub fn stage(&mut self, writes: &[Write]) {
        for w in writes {
            let k = (w.record.clone(), w.key.clone());
            if !self.overlay.contains_key(&k) {
                let stored = self.load(&w.record, &w.key).unwrap_or_default();
                self.overlay.insert(k.clone(), stored);
            }
            let state = self.overlay.entry(k).or_default();
            state.insert(
                w.field.clone(),
                FieldState {
                    value: w.value.clone(),
                    raw: w.value.to_string(),
                    writer: w.writer.clone(),
                    event_at: w.event_at,
                },
            );
        }
    }

    /// The batch is over, committed or not: the next one reads the journal afresh.
    pub fn committed(&mut self) {
        self.overlay.clear();
        self.read.clear();
        self.merges_staged.clear();
        self.merges_read.clear();
        self.current_at = None;
    }

    /// A batch begins with the journal's change number at `version`: what was read
    /// before is still current if no record has changed since this store's last commit.
    pub fn begin(&mut self, version: i64) {
        if self.current_at != Some(version) {
            self.read.clear();
            self.merges_read.clear();
        }
        self.current_at = Some(version);
    }

    /// The batch is committed, having written the records `written` (record, key). Its
    /// transaction found the change number at `before` and left it at `after`. If
    /// `before` is where the batch began, no other writer changed a record meanwhile:
    /// what the store read is still current but for the records the batch wrote, which
    /// are read afresh. Otherwise the next batch reads everything afresh.
    pub fn committed_at(&mut self, before: i64, after: i64, written: &[(String, String)]) {
        self.overlay.clear();
        if self.current_at != Some(before) || self.read.len() > READ_LIMIT {
            self.read.clear();
            self.merges_read.clear();
        }
        // What this batch merged is read afresh (it is in the journal now).
        for k in std::mem::take(&mut self.merges_staged).into_keys() {
            self.merges_read.remove(&k);
        }
        if self.merges_read.len() > READ_LIMIT {
            self.merges_read.clear();
        }
        for k in written {
            self.read.remove(k);
        }
        self.current_at = Some(after);
    }
}

/// The journal's change number: the last of its record changes (0 before the first).
pub fn change_number(c: &Db) -> DbResult<i64> {
    c.prepare_cached("SELECT COALESCE(MAX(version), 0) FROM record_ids")?
        .query_row([], |r| r.get(0))
}

fn read_record(conn: &Db, record: &str, key: &str) -> DbResult<RecordState> {
    let mut st = conn.prepare_cached(
        "SELECT field, value, writer, event_at FROM records WHERE record = ?1 AND key = ?2",
    )?;
    let rows = st.query_map(params![record, key], |r| {
        let raw: String = r.get(1)?;
        Ok((
            r.get::<_, String>(0)?,
            FieldState {
                value: serde_json::from_str(&raw).unwrap_or(Value::Null),
                raw,
                writer: r.get(2)?,
                event_at: r.get(3)?,
            },
        ))
    })?;
    rows.collect()
}

/// Why a key's merges cannot be followed.
#[derive(Debug, Clone, PartialEq)]
pub enum MergeTrouble {
    /// The journal could not be read: decide again later.
    Unavailable(String),
    /// The merges make no chain to one survivor: a person has to decide.
    Broken(String),
}

/// The key `record` `key` was merged into, if it was.
fn survivor_of(c: &Db, record: &str, key: &str) -> DbResult<Option<String>> {
    c.prepare_cached("SELECT survivor FROM record_merges WHERE record = ?1 AND retired = ?2")?
        .query_row(params![record, key], |r| r.get(0))
        .optional()
}

/// The keys merged into `record` `key` directly.
pub fn retired_into(c: &Db, record: &str, key: &str) -> DbResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT retired FROM record_merges WHERE record = ?1 AND survivor = ?2 ORDER BY retired",
    )?;
    let rows = st.query_map(params![record, key], |r| r.get(0))?;
    rows.collect()
}

/// The key `record` `key` was merged into directly, if it was (for the facade).
pub fn merged_into(c: &Db, record: &str, key: &str) -> DbResult<Option<String>> {
    survivor_of(c, record, key)
}

/// Stores `merge`, made by message `message` (inside the processor's transaction). Both
/// records take a new change number: the facade serves them with their links.
pub fn store_merge(c: &Db, merge: &Merge, message: i64, now: i64) -> DbResult<()> {
    super::cluster::serialise(c, "records")?;
    c.prepare_cached(
        "INSERT INTO record_merges (record, retired, survivor, message, merged_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (record, retired) DO NOTHING",
    )?
    .execute(params![
        merge.record,
        merge.retired,
        merge.survivor,
        message,
        now
    ])?;
    for key in [&merge.retired, &merge.survivor] {
        let stored = c
            .prepare_cached("SELECT 1 FROM records WHERE record = ?1 AND key = ?2 LIMIT 1")?
            .exists(params![merge.record, key])?;
        if stored {
            changed(c, &merge.record, key)?;
        }
    }
    Ok(())
}

/// A link between two stored records of one person (`link:`), made by an ADT^A24, or
/// undone (`unlink`) by an ADT^A37.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub record: String,
    pub first: String,
    pub second: String,
    pub unlink: bool,
}

/// Stores `link` (or removes it), made by message `message` (inside the processor's
/// transaction). Both records take a new change number: the facade serves them with
/// their links.
pub fn store_link(c: &Db, link: &Link, message: i64, now: i64) -> DbResult<()> {
    super::cluster::serialise(c, "records")?;
    for (key, other) in [(&link.first, &link.second), (&link.second, &link.first)] {
        if link.unlink {
            c.prepare_cached(
                "DELETE FROM record_links WHERE record = ?1 AND key = ?2 AND other = ?3",
            )?
            .execute(params![link.record, key, other])?;
        } else {
            c.prepare_cached(
                "INSERT INTO record_links (record, key, other, message, linked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (record, key, other) DO NOTHING",
            )?
            .execute(params![link.record, key, other, message, now])?;
        }
    }
    for key in [&link.first, &link.second] {
        let stored = c
            .prepare_cached("SELECT 1 FROM records WHERE record = ?1 AND key = ?2 LIMIT 1")?
            .exists(params![link.record, key])?;
        if stored {
            changed(c, &link.record, key)?;
        }
    }
    Ok(())
}

/// The keys `record` `key` is linked with (`link:`), in order.
pub fn linked(c: &Db, record: &str, key: &str) -> DbResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT other FROM record_links WHERE record = ?1 AND key = ?2 ORDER BY other",
    )?;
    let rows = st.query_map(params![record, key], |r| r.get(0))?;
    rows.collect()
}

/// A stored field is no longer what the decision that writes it read: another writer
/// changed it in between. Nothing of the change is stored; decide again.
#[derive(Debug, Clone, PartialEq)]
pub struct Stale(pub String);

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} changed while this change was decided; decide it again",
            self.0
        )
    }
}

impl std::error::Error for Stale {}

/// Stores `writes` for the message `message` (inside the writer's transaction); `None`
/// for a write that came with no message (an update through a FHIR API). A field whose
/// stored state is not the one its decision read fails with a [`Stale`] (inside a
/// `rusqlite::Error`, so the caller's transaction or [`guarded`] undoes the rest).
pub fn store(c: &Db, writes: &[Write], message: Option<i64>, now: i64) -> DbResult<()> {
    if !writes.is_empty() {
        // Nodes sharing the journal write records one at a time: change numbers stay
        // unique and increasing (`changed`).
        super::cluster::serialise(c, "records")?;
    }
    for w in writes {
        let (value, writer) = match &w.expected {
            Some((v, by)) => (Some(v.as_str()), Some(by.as_str())),
            None => (None, None),
        };
        // One statement: the update happens only over the state the decision read, and a
        // row that appeared since (expected none) is not overwritten either.
        let n = c
            .prepare_cached(
                "INSERT INTO records (record, key, field, value, writer, message, updated_at, event_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?10)
             ON CONFLICT (record, key, field) DO UPDATE SET value = excluded.value,
               writer = excluded.writer, message = excluded.message, updated_at = excluded.updated_at,
               event_at = excluded.event_at
             WHERE records.value IS NOT DISTINCT FROM ?8 AND records.writer IS NOT DISTINCT FROM ?9",
            )?
            .execute(params![
                w.record,
                w.key,
                w.field,
                w.value.to_string(),
                w.writer,
                message,
                now,
                value,
                writer,
                w.event_at
            ])?;
        if n == 0 {
            let what = format!("{} {} {}", w.record, w.key, w.field);
            return Err(DbError::Refused(Box::new(Stale(what))));
        }
    }
    for w in writes.iter().filter(|w| w.unique) {
        index_value(c, &w.record, &w.field, &w.key, &w.value.to_string())?;
    }
    // A record's writes come together: one change number per record.
    let mut last: Option<(&str, &str)> = None;
    for w in writes {
        let this = (w.record.as_str(), w.key.as_str());
        if last != Some(this) {
            changed(c, this.0, this.1)?;
            last = Some(this);
        }
    }
    Ok(())
}

/// Makes `value` the indexed value of `unique` field `field` of `record` `key`.
fn index_value(c: &Db, record: &str, field: &str, key: &str, value: &str) -> DbResult<()> {
    c.prepare_cached("DELETE FROM record_values WHERE record = ?1 AND field = ?2 AND key = ?3")?
        .execute(params![record, field, key])?;
    if value == "null" {
        return Ok(()); // cleared: the record holds no value to keep unique
    }
    c.prepare_cached(
        "INSERT INTO record_values (record, field, value, key) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![record, field, value, key])?;
    Ok(())
}

/// Indexes the stored values of the matrices' `unique` fields that are not yet (a field
/// made `unique` after its values were stored); run when the processor starts.
pub fn index_unique(c: &Db, matrices: &[Matrix]) -> DbResult<usize> {
    let mut n = 0;
    for m in matrices {
        for field in &m.unique {
            n += c
                .prepare_cached(
                    "INSERT INTO record_values (record, field, value, key)
                     SELECT record, field, value, key FROM records WHERE record = ?1 AND field = ?2
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![m.record, field])?;
        }
    }
    Ok(n)
}

/// The keys of the stored `record`s whose `unique` field `field` holds `value` (as JSON).
fn holders(c: &Db, record: &str, field: &str, value: &str) -> DbResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT key FROM record_values WHERE record = ?1 AND field = ?2 AND value = ?3 ORDER BY key",
    )?;
    let rows = st.query_map(params![record, field, value], |r| r.get(0))?;
    rows.collect()
}

/// Notes that `record` `key` changed: its row in `record_ids` (the FHIR id a facade reads
/// it by) takes the next change number, which tells the facades' search indexes that its
/// search terms are to be worked out again.
fn changed(c: &Db, record: &str, key: &str) -> DbResult<()> {
    c.prepare_cached(
        "INSERT INTO record_ids (record, id, key, version)
         VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(version), 0) + 1 FROM record_ids))
         ON CONFLICT (record, id) DO UPDATE SET key = excluded.key, version = excluded.version",
    )?
    .execute(params![
        record,
        accord_runtime::fhir::write::id_of_key(record, key),
        key
    ])?;
    Ok(())
}

/// Runs `f` inside a savepoint of its own: a [`Stale`] from [`store`] undoes all of
/// `f`'s changes and is returned as `Ok(Err(_))`, so the caller can decide again; other
/// errors pass through.
pub fn guarded<T>(c: &Db, f: impl FnOnce(&Db) -> DbResult<T>) -> DbResult<Result<T, Stale>> {
    c.control("SAVEPOINT guarded")?;
    let out = f(c);
    let conflict = match &out {
        Err(DbError::Refused(e)) => e.downcast_ref::<Stale>().cloned(),
        _ => None,
    };
    if conflict.is_some() || out.is_err() {
        c.control("ROLLBACK TO guarded")?;
    }
    c.control("RELEASE guarded")?;
    match (out, conflict) {
        (_, Some(conflict)) => Ok(Err(conflict)),
        (out, None) => out.map(Ok),
    }
}

/// The steward of one transform chain: `system` is the sending system of the interface.
pub struct JournalSteward<'a> {
    matrices: &'a [Matrix],
    system: &'a str,
    store: &'a mut RecordStore,
    /// A person approved this message: `review` conflicts are applied.
    approved: bool,
    pub writes: Vec<Write>,
    pub notes: Vec<Note>,
}

impl<'a> JournalSteward<'a> {
    pub fn new(
        matrices: &'a [Matrix],
        system: &'a str,
        store: &'a mut RecordStore,
        approved: bool,
    ) -> Self {
        JournalSteward {
            matrices,
            system,
            store,
            approved,
            writes: vec![],
            notes: vec![],
        }
    }

    /// The stored `record` under `key`; a journal that cannot be read decides nothing
    /// ([`Hold::Unavailable`]: the message is processed again).
    fn load(&mut self, record: &str, key: &str) -> Result<RecordState, Hold> {
        self.store.load(record, key).map_err(|e| Hold::Unavailable {
            detail: format!("cannot read the stored {record} {key}: {e}"),
        })
    }

    /// The record that stands for `m.record` `key` now: the key itself, or the survivor
    /// it was merged into, when the contract says to `follow` merges (or a person
    /// approved the message). With `hold`, a message for a retired key waits for review.
    /// `quiet`: a lookup, which reads the survivor without a note or a hold.
    fn resolve(&mut self, m: &Matrix, key: &str, quiet: bool) -> Result<String, Hold> {
        let Some(policy) = &m.retired else {
            return Ok(key.to_string());
        };
        let chain = match self.store.merge_chain(&m.record, key) {
            Ok(chain) => chain,
            Err(MergeTrouble::Unavailable(e)) => {
                return Err(Hold::Unavailable {
                    detail: format!("cannot read the merges of {} {key}: {e}", m.record),
                })
            }
            Err(MergeTrouble::Broken(why)) => {
                return Err(Hold::Review {
                    queue: None,
                    detail: format!("merge: {why}"),
                })
            }
        };
        let Some(survivor) = chain.last().cloned() else {
            return Ok(key.to_string());
        };
        if quiet {
            return Ok(survivor);
        }
        let merged = format!("{} {key} was merged into {survivor}", m.record);
        match policy {
            Retired::Hold { queue } if !self.approved => Err(Hold::Review {
                queue: queue.clone(),
                detail: format!(
                    "merge: {merged}; a person decides whether this message is for {survivor} (`hold`)"
                ),
            }),
            Retired::Hold { .. } => {
                self.notes.push(Note {
                    verdict: "merge-followed",
                    text: format!("{merged}: taken as {survivor}'s (approved on review)"),
                });
                Ok(survivor)
            }
            Retired::Follow => {
                self.notes.push(Note {
                    verdict: "merge-followed",
                    text: format!("{merged}: taken as {survivor}'s (`follow`)"),
                });
                Ok(survivor)
            }
        }
    }
}

impl JournalSteward<'_> {
    /// Why `value` in `unique` field `field` of `m.record` `key` would name two records:
    /// another stored record holds it (one merged into `key` does not count); `None` when
    /// none does.
    fn shared(
        &mut self,
        m: &Matrix,
        key: &str,
        field: &str,
        value: &Value,
    ) -> Result<Option<String>, Hold> {
        let unavailable = |e: String| Hold::Unavailable {
            detail: format!("cannot read which {} hold this {field}: {e}", m.record),
        };
        let others = self
            .store
            .others_holding(&m.record, field, key, value)
            .map_err(unavailable)?;
        let mut named = vec![];
        for other in others {
            let chain = self
                .store
                .merge_chain(&m.record, &other)
                .map_err(|t| match t {
                    MergeTrouble::Unavailable(e) | MergeTrouble::Broken(e) => unavailable(e),
                })?;
            if chain.last().map(String::as_str) != Some(key) {
                named.push(other);
            }
        }
        if named.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "{} {key} {field}: {value} is also {} {}'s (`unique`): two stored records match this message; a person decides (merge them, or correct the value)",
            m.record,
            m.record,
            named.join(", ")
        )))
    }
}

/// Sets the key of `value` (a record of `m`, found by one key field) to `key`.
fn set_key(m: &Matrix, value: &mut Value, key: &str) {
    if let [field] = m.keys.as_slice() {
        set_path(value, field, Value::String(key.to_string()));
    }
}

/// The record's key: its key fields' values joined by `|` (`None` if one is missing).
fn key_of(m: &Matrix, value: &Value) -> Option<String> {
    let parts: Option<Vec<&Value>> = m
        .keys
        .iter()
        .map(|k| Some(get_path(value, k)).filter(|v| !v.is_null()))
        .collect();
    parts.map(steward::key_text)
}

impl Steward for JournalSteward<'_> {
    fn govern(&mut self, record: &str, value: &mut Value) -> Result<bool, Hold> {
        let Some(m) = self.matrices.iter().find(|m| m.record == record) else {
            return Ok(false);
        };
        let Some(written) = key_of(m, value) else {
            return Ok(false);
        };
        let key = self.resolve(m, &written, false)?;
        let followed = key != written;
        if followed {
            set_key(m, value, &key);
        }
        let stored = self.load(record, &key)?;
        let current = m
            .stage_field
            .as_ref()
            .and_then(|f| stored.get(f))
            .and_then(|s| s.value.as_str().map(str::to_string));
        let stage = Stage {
            stages: &m.stages,
            current: current.as_deref(),
        };
        let (mut changed, mut rejects, mut reviews) = (followed, vec![], vec![]);
        let mut queue = None;
        let mut writes = vec![];
        for row in &m.fields {
            let new = get_path(value, &row.field).clone();
            if steward::is_empty(&new) && !steward::is_cleared(value, &row.field) {
                continue; // not written by this message: no value, `[]` or `""`
            }
            let st = stored.get(&row.field);
            // `newest by FIELD`: the write's event time, and whether it is older than the
            // stored value's; such a write keeps the stored value, whoever sent it.
            let event_at = row
                .ordered_by
                .as_deref()
                .and_then(|f| steward::event_seconds(get_path(value, f)));
            let late = st
                .filter(|s| s.value != new)
                .and_then(|s| steward::out_of_sequence(event_at, s.event_at, &new, &s.value));
            let d = match late {
                Some(why) => steward::Decision {
                    verdict: Verdict::KeepStored,
                    why: format!("{why}: kept the stored value (conflict newest by event time)"),
                    notable: true,
                },
                None => steward::decide(
                    row,
                    self.system,
                    &new,
                    st.map(|s| Stored {
                        value: &s.value,
                        writer: &s.writer,
                    }),
                    &stage,
                ),
            };
            let on_review = matches!(d.verdict, Verdict::Review(_));
            let verdict = match d.verdict {
                Verdict::Review(_) if self.approved => Verdict::Apply,
                v => v,
            };
            // Said in words only when it is recorded: most fields are unchanged.
            let what = || format!("{record} {key} {}: {}", row.field, d.why);
            let label = match &verdict {
                Verdict::Unchanged => continue,
                Verdict::Apply => {
                    let unique = m.unique.contains(&row.field);
                    if unique && !self.approved && !steward::is_empty(&new) {
                        if let Some(why) = self.shared(m, &key, &row.field, &new)? {
                            reviews.push(why);
                            continue;
                        }
                    }
                    writes.push(Write {
                        record: record.to_string(),
                        key: key.clone(),
                        field: row.field.clone(),
                        value: new,
                        writer: self.system.to_string(),
                        expected: st.map(|s| (s.raw.clone(), s.writer.clone())),
                        event_at,
                        unique,
                    });
                    if !d.notable {
                        continue;
                    }
                    "applied"
                }
                Verdict::KeepStored => {
                    let kept = st.map(|s| s.value.clone()).unwrap_or(Value::Null);
                    set_path(value, &row.field, kept);
                    changed = true;
                    "kept-stored"
                }
                Verdict::Reject => {
                    rejects.push(what());
                    "rejected"
                }
                Verdict::Review(q) => {
                    if queue.is_none() {
                        queue = q.clone();
                    }
                    reviews.push(what());
                    "review"
                }
            };
            let text = if self.approved && on_review {
                format!("{} (approved on review)", what())
            } else {
                what()
            };
            self.notes.push(Note {
                verdict: label,
                text,
            });
        }
        if !rejects.is_empty() {
            return Err(Hold::Reject {
                detail: format!("ownership: {}", rejects.join("; ")),
            });
        }
        if !reviews.is_empty() {
            return Err(Hold::Review {
                queue,
                detail: format!("ownership: {}", reviews.join("; ")),
            });
        }
        self.writes.extend(writes);
        // What goes on is the record as it now stands: a field the message leaves empty
        // (no write) carries the stored value, as a partial record is completed; a field
        // it cleared stays empty.
        for row in &m.fields {
            let Some(s) = stored.get(&row.field) else {
                continue;
            };
            if !steward::is_empty(&s.value)
                && steward::is_empty(get_path(value, &row.field))
                && !steward::is_cleared(value, &row.field)
            {
                set_path(value, &row.field, s.value.clone());
                changed = true;
            }
        }
        Ok(changed)
    }

    /// The record as stored, by field path (each field's value set at its path), when
    /// any field of it is stored.
    fn lookup(&mut self, record: &str, key: &str) -> Result<Option<Value>, Hold> {
        let key = match self.matrices.iter().find(|m| m.record == record) {
            Some(m) => self.resolve(m, key, true)?,
            None => key.to_string(),
        };
        let stored = self.load(record, &key)?;
        if stored.values().all(|s| steward::is_empty(&s.value)) {
            return Ok(None);
        }
        let mut value = Value::Object(Default::default());
        for (field, s) in &stored {
            set_path(&mut value, field, s.value.clone());
        }
        Ok(Some(value))
    }

    /// A partial record takes the stored value of each field it does not carry; with
    /// nothing stored under its key there is nothing to complete it from, and the message
    /// is held back with the reason (its record's owner has not created it yet).
    fn complete(&mut self, record: &str, value: &mut Value) -> Result<bool, Hold> {
        let Some(m) = self.matrices.iter().find(|m| m.record == record) else {
            return Ok(false);
        };
        let Some(key) = key_of(m, value) else {
            return Err(Hold::Reject {
                detail: format!("partial update: the {record} carries no key"),
            });
        };
        let Some(Value::Object(stored)) = self.lookup(record, &key)? else {
            return Err(Hold::Reject {
                detail: format!(
                    "partial update: no {record} {key} is stored to complete it; the record's owner must send it first"
                ),
            });
        };
        // A nested record the message carries is carried whole (see `crate::partial`); a
        // field it cleared stays empty.
        for (field, v) in stored {
            if steward::is_empty(get_path(value, &field)) && !steward::is_cleared(value, &field) {
                set_path(value, &field, v);
            }
        }
        Ok(true)
    }
}

/// The stored fields of `record` `key`, by name, with their values (empty: no such record).
pub fn stored_fields(c: &Db, record: &str, key: &str) -> DbResult<HashMap<String, Value>> {
    Ok(read_record(c, record, key)?
        .into_iter()
        .map(|(field, state)| (field, state.value))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_runtime::spec::{Acceptance, Conflict, OwnedField};
    use serde_json::json;

    fn matrix() -> Vec<Matrix> {
        matrix_ordered_by(None)
    }

    /// The test matrix, its fields ordered by the record's `updated_at` when `by` says so.
    fn matrix_ordered_by(by: Option<&str>) -> Vec<Matrix> {
        let field = |name: &str| OwnedField {
            field: name.into(),
            owner: "pas".into(),
            accept: vec![Acceptance {
                system: "portal".into(),
                when: None,
            }],
            conflict: Conflict::Newest,
            ordered_by: by.map(str::to_string),
            lock_from: None,
            loc: "records.accord:1".into(),
        };
        vec![Matrix {
            record: "Patient".into(),
            keys: vec!["mrn".into()],
            stages: vec![],
            stage_field: None,
            fields: vec![field("phone"), field("email")],
            retired: None,
            unique: vec![],
        }]
    }

    /// What `system` would write to patient 1, decided against the journal as it is now.
    fn decide(path: &std::path::Path, system: &str, value: Value) -> Vec<Write> {
        decide_with(
            &mut RecordStore::new(&crate::journal::Store::Sqlite(path.to_path_buf())),
            system,
            value,
        )
    }

    /// What `system` would write to patient 1, decided through `store` (and its cache).
    fn decide_with(store: &mut RecordStore, system: &str, mut value: Value) -> Vec<Write> {
        let matrices = matrix();
        let mut steward = JournalSteward::new(&matrices, system, store, false);
        steward.govern("Patient", &mut value).unwrap();
        steward.writes
    }

    fn stored(c: &Db, field: &str) -> Option<(String, String)> {
        c.query_row(
            "SELECT value, writer FROM records WHERE record = 'Patient' AND key = '1' AND field = ?1",
            [field],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    }

    fn write(c: &Db, writes: &[Write]) -> Result<(), Stale> {
        guarded(c, |c| store(c, writes, None, 0)).unwrap()
    }

    #[test]
    fn a_write_decided_against_a_record_that_changed_since_is_refused_whole() {
        let (dir, path, c) = crate::journal::scratch("records");

        // Both decide against an empty record: the portal (an API update) and PAS (a message).
        let portal = decide(
            &path,
            "portal",
            json!({"mrn": "1", "phone": "222", "email": "p@x"}),
        );
        let pas = decide(&path, "pas", json!({"mrn": "1", "email": "pas@x"}));
        assert_eq!(portal.len(), 2);
        assert_eq!(write(&c, &pas), Ok(()));

        // The portal's decision read no e-mail, but PAS stored one: nothing of it is stored,
        // not even the phone its first write would have set.
        let refused = write(&c, &portal).unwrap_err();
        assert_eq!(refused.0, "Patient 1 email");
        assert_eq!(stored(&c, "phone"), None);
        assert_eq!(
            stored(&c, "email"),
            Some(("\"pas@x\"".into(), "pas".into()))
        );

        // Decided again against what is stored now, it goes through.
        let again = decide(
            &path,
            "portal",
            json!({"mrn": "1", "phone": "222", "email": "p@x"}),
        );
        assert_eq!(write(&c, &again), Ok(()));
        assert_eq!(
            stored(&c, "phone"),
            Some(("\"222\"".into(), "portal".into()))
        );
        assert_eq!(
            stored(&c, "email"),
            Some(("\"p@x\"".into(), "portal".into()))
        );

        // A write over a value that was replaced in between is refused too, not only a
        // write over a value that appeared.
        let late = decide(&path, "pas", json!({"mrn": "1", "phone": "333"}));
        let sooner = decide(&path, "portal", json!({"mrn": "1", "phone": "444"}));
        assert_eq!(write(&c, &sooner), Ok(()));
        assert!(write(&c, &late).is_err());
        assert_eq!(
            stored(&c, "phone"),
            Some(("\"444\"".into(), "portal".into()))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_batch_reads_a_record_once_and_a_change_in_between_is_still_refused() {
        let (dir, path, c) = crate::journal::scratch("records-read-once");
        let mut store = RecordStore::new(&crate::journal::Store::Sqlite(path.clone()));
        let govern = |store: &mut RecordStore, value: Value| decide_with(store, "pas", value);
        // The batch reads patient 1 (nothing stored); the portal then stores a phone.
        let first = govern(&mut store, json!({"mrn": "1", "email": "a@x"}));
        assert_eq!(first[0].expected, None);
        let portal = decide(&path, "portal", json!({"mrn": "1", "phone": "222"}));
        assert_eq!(write(&c, &portal), Ok(()));
        // Later in the same batch the record comes from what the batch read, so the
        // decision names the state it read, and its write is refused as stale.
        let second = govern(&mut store, json!({"mrn": "1", "phone": "333"}));
        assert_eq!(second[0].expected, None);
        assert_eq!(write(&c, &second).unwrap_err().0, "Patient 1 phone");
        // The next batch reads the journal again.
        store.committed();
        let third = govern(&mut store, json!({"mrn": "1", "phone": "333"}));
        assert_eq!(third[0].expected, Some(("\"222\"".into(), "portal".into())));
        assert_eq!(write(&c, &third), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_update_older_than_the_stored_value_does_not_overwrite_it() {
        let (dir, path, c) = crate::journal::scratch("records-ordered");
        let matrices = matrix_ordered_by(Some("updated_at"));
        let decide = |system: &str, mut value: Value| {
            let mut store = RecordStore::new(&crate::journal::Store::Sqlite(path.clone()));
            let mut steward = JournalSteward::new(&matrices, system, &mut store, false);
            steward.govern("Patient", &mut value).unwrap();
            (steward.writes, steward.notes, value)
        };
        let at = |t: &str| format!("2026-11-22T{t}");
        // The newer update arrives first.
        let (w, _, _) = decide(
            "pas",
            json!({"mrn": "1", "phone": "222", "updated_at": at("10:00:00")}),
        );
        write(&c, &w).unwrap();
        // The older one, held up on the way, arrives after it: the stored value stays, and
        // what is sent on carries it.
        let (w, notes, sent) = decide(
            "portal",
            json!({"mrn": "1", "phone": "111", "updated_at": at("09:00:00")}),
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(sent["phone"], "222");
        assert!(
            notes
                .iter()
                .any(|n| n.verdict == "kept-stored"
                    && n.text.contains("older than the stored value")),
            "{notes:?}"
        );
        assert_eq!(stored(&c, "phone"), Some(("\"222\"".into(), "pas".into())));
        // A later one applies.
        let (w, _, _) = decide(
            "portal",
            json!({"mrn": "1", "phone": "333", "updated_at": at("11:00:00")}),
        );
        write(&c, &w).unwrap();
        assert_eq!(
            stored(&c, "phone"),
            Some(("\"333\"".into(), "portal".into()))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_list_or_text_is_no_write() {
        let (dir, path, c) = crate::journal::scratch("records-empty");
        write(
            &c,
            &decide(
                &path,
                "pas",
                json!({"mrn": "1", "phone": ["222"], "email": "a@x"}),
            ),
        )
        .unwrap();
        // The portal's message carries no phones and no e-mail: nothing to decide or store.
        let none = decide(
            &path,
            "portal",
            json!({"mrn": "1", "phone": [], "email": ""}),
        );
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(
            stored(&c, "phone"),
            Some(("[\"222\"]".into(), "pas".into()))
        );
        assert_eq!(stored(&c, "email"), Some(("\"a@x\"".into(), "pas".into())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cleared_field_is_a_write_of_no_value_that_the_matrix_decides() {
        let (dir, path, c) = crate::journal::scratch("records-cleared");
        write(
            &c,
            &decide(
                &path,
                "pas",
                json!({"mrn": "1", "phone": "222", "email": "a@x"}),
            ),
        )
        .unwrap();
        // The owner clears the phone (its message put `""` there, and the mapping says
        // `clear`): the stored value goes; the e-mail, merely not sent, stays.
        let cleared = json!({"mrn": "1", "phone": null, "$cleared": ["phone"]});
        let writes = decide(&path, "pas", cleared.clone());
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert_eq!(writes[0].value, Value::Null);
        write(&c, &writes).unwrap();
        assert_eq!(stored(&c, "phone"), Some(("null".into(), "pas".into())));
        assert_eq!(stored(&c, "email"), Some(("\"a@x\"".into(), "pas".into())));
        // Clearing what is already empty is no change.
        assert!(decide(&path, "pas", cleared).is_empty());
        // A non-owner's clear is decided as any write: the portal may not overwrite the
        // PAS's e-mail, even with nothing.
        let mut store = RecordStore::new(&crate::journal::Store::Sqlite(path.clone()));
        let matrices = vec![Matrix {
            fields: matrix()[0]
                .fields
                .iter()
                .cloned()
                .map(|mut f| {
                    f.conflict = Conflict::OwnerWins;
                    f
                })
                .collect(),
            ..matrix().remove(0)
        }];
        let mut steward = JournalSteward::new(&matrices, "portal", &mut store, false);
        let mut value = json!({"mrn": "1", "email": null, "$cleared": ["email"]});
        assert!(steward.govern("Patient", &mut value).unwrap());
        assert!(steward.writes.is_empty(), "{:?}", steward.writes);
        assert_eq!(value["email"], json!("a@x"), "the stored value is sent on");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_read_stay_cached_across_batches_until_another_writer_changes_one() {
        let (dir, path, c) = crate::journal::scratch("records-across-batches");
        let mut store = RecordStore::new(&crate::journal::Store::Sqlite(path.clone()));
        let govern = |store: &mut RecordStore, value: Value| decide_with(store, "pas", value);
        write(
            &c,
            &decide(&path, "portal", json!({"mrn": "1", "phone": "222"})),
        )
        .unwrap();
        let v = change_number(&c).unwrap();
        store.begin(v);
        let first = govern(&mut store, json!({"mrn": "1", "phone": "333"}));
        assert_eq!(first[0].expected, Some(("\"222\"".into(), "portal".into())));
        store.committed_at(v, v, &[]);
        // A change that bypasses the change number is not seen: the next batch used
        // what the last one read, without reading the journal.
        c.execute("UPDATE records SET value = '\"999\"' WHERE key = '1'", [])
            .unwrap();
        store.begin(v);
        let cached = govern(&mut store, json!({"mrn": "1", "phone": "333"}));
        assert_eq!(
            cached[0].expected,
            Some(("\"222\"".into(), "portal".into()))
        );
        store.committed_at(v, v, &[]);
        // Another writer's change moves the number on: read afresh.
        write(
            &c,
            &decide(&path, "portal", json!({"mrn": "1", "phone": "444"})),
        )
        .unwrap();
        let moved = change_number(&c).unwrap();
        assert!(moved > v);
        store.begin(moved);
        let fresh = govern(&mut store, json!({"mrn": "1", "phone": "333"}));
        assert_eq!(fresh[0].expected, Some(("\"444\"".into(), "portal".into())));
        // A change made during a batch (its transaction finds another number than the
        // batch began with) empties the cache too; so does the batch's own write.
        store.committed_at(moved + 1, moved + 1, &[]);
        c.execute("UPDATE records SET value = '\"555\"' WHERE key = '1'", [])
            .unwrap();
        store.begin(moved + 1);
        let after_race = govern(&mut store, json!({"mrn": "1", "phone": "333"}));
        assert_eq!(
            after_race[0].expected,
            Some(("\"555\"".into(), "portal".into()))
        );
        store.committed_at(moved + 1, moved + 1, &[("Patient".into(), "1".into())]);
        c.execute("UPDATE records SET value = '\"666\"' WHERE key = '1'", [])
            .unwrap();
        store.begin(moved + 1);
        let rewritten = govern(&mut store, json!({"mrn": "1", "phone": "333"}));
        assert_eq!(
            rewritten[0].expected,
            Some(("\"666\"".into(), "portal".into()))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_stored_record_has_its_fhir_id_and_a_later_change_number_at_each_change() {
        let (dir, path, c) = crate::journal::scratch("record-ids");
        let version = |key: &str| -> (String, i64) {
            c.query_row(
                "SELECT id, version FROM record_ids WHERE record = 'Patient' AND key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        write(&c, &decide(&path, "pas", json!({"mrn": "1", "phone": "1"}))).unwrap();
        let (id, first) = version("1");
        assert_eq!(id, "patient-1");
        assert_eq!(id, accord_runtime::fhir::write::id_of_key("Patient", "1"));
        write(&c, &decide(&path, "pas", json!({"mrn": "1", "phone": "2"}))).unwrap();
        assert!(version("1").1 > first, "a change gives a later number");

        // A journal written before record_ids gets them when it is next opened.
        c.execute_batch("DELETE FROM record_ids; DELETE FROM meta WHERE key = 'record_ids';")
            .unwrap();
        c.execute(
            "INSERT INTO records (record, key, field, value, writer, updated_at)
             VALUES ('Patient', 'A B', 'phone', '\"3\"', 'pas', 0)",
            [],
        )
        .unwrap();
        crate::journal::prepare(&c).unwrap();
        assert_eq!(version("1"), ("patient-1".into(), 1));
        assert_eq!(
            version("A B"),
            (accord_runtime::fhir::write::id_of_key("Patient", "A B"), 2)
        );
        assert_eq!(version("A B").0, "patient-A.20B");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The test matrix, merged records treated as `retired` says.
    fn merging(retired: Retired) -> Vec<Matrix> {
        let mut m = matrix();
        m[0].retired = Some(retired);
        m
    }

    fn merge(c: &Db, retired: &str, survivor: &str) {
        let m = Merge {
            record: "Patient".into(),
            retired: retired.into(),
            survivor: survivor.into(),
        };
        store_merge(c, &m, 1, 0).unwrap();
    }

    #[test]
    fn a_message_for_a_retired_key_follows_the_survivor_or_waits_for_a_person() {
        let (dir, path, c) = crate::journal::scratch("records-merged");
        write(
            &c,
            &decide(&path, "pas", json!({"mrn": "2", "phone": "222"})),
        )
        .unwrap();
        merge(&c, "1", "2");
        let journal = crate::journal::Store::Sqlite(path.clone());
        let govern = |matrices: &[Matrix], approved: bool, mut value: Value| {
            let mut store = RecordStore::new(&journal);
            let mut steward = JournalSteward::new(matrices, "portal", &mut store, approved);
            let out = steward.govern("Patient", &mut value);
            (out, steward.writes, steward.notes, value)
        };

        // `follow`: the update for patient 1 is patient 2's, and says so.
        let follow = merging(Retired::Follow);
        let (out, writes, notes, sent) =
            govern(&follow, false, json!({"mrn": "1", "email": "a@x"}));
        assert_eq!(out, Ok(true), "the record's key changed");
        assert_eq!(sent["mrn"], "2");
        assert_eq!(writes.len(), 1);
        assert_eq!(
            (writes[0].key.as_str(), writes[0].field.as_str()),
            ("2", "email")
        );
        assert!(
            notes
                .iter()
                .any(|n| n.verdict == "merge-followed"
                    && n.text.contains("Patient 1 was merged into 2")),
            "{notes:?}"
        );
        // A lookup of the retired key reads the survivor.
        let mut store = RecordStore::new(&journal);
        let mut steward = JournalSteward::new(&follow, "portal", &mut store, false);
        let found = steward.lookup("Patient", "1").unwrap().unwrap();
        assert_eq!(found["phone"], "222");
        assert!(steward.notes.is_empty(), "a lookup decides nothing");

        // `hold "merges"`: the message waits for a person, and once approved follows.
        let hold = merging(Retired::Hold {
            queue: Some("merges".into()),
        });
        let (out, writes, _, _) = govern(&hold, false, json!({"mrn": "1", "email": "a@x"}));
        match out {
            Err(Hold::Review { queue, detail }) => {
                assert_eq!(queue.as_deref(), Some("merges"));
                assert!(detail.contains("Patient 1 was merged into 2"), "{detail}");
            }
            other => panic!("expected a review hold, got {other:?}"),
        }
        assert!(writes.is_empty());
        let (out, writes, _, sent) = govern(&hold, true, json!({"mrn": "1", "email": "a@x"}));
        assert_eq!(out, Ok(true));
        assert_eq!(
            (writes[0].key.as_str(), sent["mrn"].as_str()),
            ("2", Some("2"))
        );

        // A key nobody merged, and a record no interface merges, are left alone.
        let (out, writes, notes, _) = govern(&follow, false, json!({"mrn": "3", "email": "b@x"}));
        assert_eq!(out, Ok(false));
        assert_eq!(writes[0].key, "3");
        assert!(
            notes.iter().all(|n| n.verdict != "merge-followed"),
            "{notes:?}"
        );
        let (_, writes, _, _) = govern(&matrix(), false, json!({"mrn": "1", "email": "b@x"}));
        assert_eq!(writes[0].key, "1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn merges_are_followed_along_a_chain_and_a_circle_is_held_for_a_person() {
        let (dir, path, c) = crate::journal::scratch("records-merge-chain");
        merge(&c, "1", "2");
        merge(&c, "2", "3");
        let journal = crate::journal::Store::Sqlite(path.clone());
        let mut store = RecordStore::new(&journal);
        assert_eq!(
            store.merge_chain("Patient", "1"),
            Ok(vec!["2".into(), "3".into()])
        );
        assert_eq!(store.merge_chain("Patient", "3"), Ok(vec![]));
        // This batch's own merge counts before it is committed; taken back, it does not.
        let staged = Merge {
            record: "Patient".into(),
            retired: "3".into(),
            survivor: "4".into(),
        };
        store.stage_merge(&staged);
        assert_eq!(
            store.merge_chain("Patient", "1").unwrap().last().unwrap(),
            "4"
        );
        store.unstage_merge(&staged);
        assert_eq!(
            store.merge_chain("Patient", "1").unwrap().last().unwrap(),
            "3"
        );

        // 3 merged back into 1 makes a circle: no survivor, so a person decides.
        merge(&c, "3", "1");
        let mut store = RecordStore::new(&journal);
        let matrices = merging(Retired::Follow);
        let mut steward = JournalSteward::new(&matrices, "pas", &mut store, false);
        let mut value = json!({"mrn": "2", "phone": "1"});
        match steward.govern("Patient", &mut value) {
            Err(Hold::Review { detail, .. }) => assert!(detail.contains("go round"), "{detail}"),
            other => panic!("expected a review hold, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_unique_value_another_record_holds_waits_for_a_person_unless_it_was_merged_in() {
        let (dir, path, c) = crate::journal::scratch("records-unique");
        let mut matrices = merging(Retired::Follow);
        matrices[0].unique = vec!["email".into()];
        let journal = crate::journal::Store::Sqlite(path.clone());
        let govern = |approved: bool, mut value: Value| {
            let mut store = RecordStore::new(&journal);
            let mut steward = JournalSteward::new(&matrices, "pas", &mut store, approved);
            let out = steward.govern("Patient", &mut value);
            (out, steward.writes)
        };
        let (out, writes) = govern(false, json!({"mrn": "2", "email": "a@x"}));
        assert_eq!(out, Ok(false));
        assert!(writes[0].unique);
        write(&c, &writes).unwrap();

        // Patient 3 with patient 2's e-mail: two records match, a person decides.
        let (out, writes) = govern(false, json!({"mrn": "3", "email": "a@x"}));
        match out {
            Err(Hold::Review { detail, .. }) => assert!(
                detail.contains("is also Patient 2's") && detail.contains("two stored records"),
                "{detail}"
            ),
            other => panic!("expected a review hold, got {other:?}"),
        }
        assert!(writes.is_empty());
        // Another value, or the holder itself, goes through.
        assert_eq!(
            govern(false, json!({"mrn": "3", "email": "b@x"})).0,
            Ok(false)
        );
        assert_eq!(
            govern(false, json!({"mrn": "2", "email": "a@x"})).0,
            Ok(false)
        );
        // A person approved it: written as sent.
        let (out, writes) = govern(true, json!({"mrn": "3", "email": "a@x"}));
        assert_eq!((out, writes.len()), (Ok(false), 1));

        // Once 2 is merged into 4, 4 may hold 2's value.
        merge(&c, "2", "4");
        assert_eq!(
            govern(false, json!({"mrn": "4", "email": "a@x"})).0,
            Ok(false)
        );

        // Values stored before the field was `unique` are indexed when asked.
        c.execute("DELETE FROM record_values", []).unwrap();
        assert_eq!(index_unique(&c, &matrices).unwrap(), 1);
        assert!(govern(false, json!({"mrn": "5", "email": "a@x"}))
            .0
            .is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_journal_that_cannot_be_opened_holds_the_batch_back_rather_than_deciding() {
        let missing = std::env::temp_dir().join("accord-no-such-journal/journal.sqlite");
        let mut store = RecordStore::new(&crate::journal::Store::Sqlite(missing));
        let matrices = matrix();
        let mut steward = JournalSteward::new(&matrices, "pas", &mut store, false);
        let out = steward.govern("Patient", &mut json!({"mrn": "1", "phone": "2"}));
        assert!(matches!(out, Err(Hold::Unavailable { .. })), "{out:?}");
        assert!(
            store.take_unavailable().is_some(),
            "the processor must retry the batch"
        );
    }
}
