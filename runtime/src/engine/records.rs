//! The ownership matrix enforced against the journal: the stored copy of each governed
//! record (table `records`, one row per field with its writer) and the [`Steward`] the
//! processor hands to transform chains. The steward reads the stored record (through a
//! batch overlay, so a batch sees its own earlier changes), decides each field with
//! [`steward::decide`], and keeps the writes and the decisions until the processor
//! commits them with the message they came from.

use crate::spec::Matrix;
use crate::steward::{self, get_path, set_path, Hold, Stage, Steward, Stored, Verdict};
use rusqlite::{params, Connection};
use serde_json::Value;
use std::collections::HashMap;

/// A field's stored value and the system that wrote it.
#[derive(Debug, Clone)]
struct FieldState {
    value: Value,
    writer: String,
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
    path: std::path::PathBuf,
    conn: Option<Connection>,
    overlay: HashMap<(String, String), RecordState>,
}

impl RecordStore {
    pub fn new(path: &std::path::Path) -> RecordStore {
        RecordStore {
            path: path.to_path_buf(),
            conn: None,
            overlay: HashMap::new(),
        }
    }

    fn conn(&mut self) -> Result<&Connection, String> {
        if self.conn.is_none() {
            let c = super::journal::open_read(&self.path).map_err(|e| e.to_string())?;
            self.conn = Some(c);
        }
        Ok(self.conn.as_ref().expect("opened above"))
    }

    fn load(&mut self, record: &str, key: &str) -> Result<RecordState, String> {
        if let Some(s) = self.overlay.get(&(record.to_string(), key.to_string())) {
            return Ok(s.clone());
        }
        read_record(self.conn()?, record, key).map_err(|e| e.to_string())
    }

    /// Makes `writes` visible to the rest of the batch.
    pub fn stage(&mut self, writes: &[Write]) {
        for w in writes {
            let k = (w.record.clone(), w.key.clone());
            if !self.overlay.contains_key(&k) {
                let stored = self.load(&w.record, &w.key).unwrap_or_default();
                self.overlay.insert(k.clone(), stored);
            }
            let state = self.overlay.get_mut(&k).expect("inserted above");
            state.insert(
                w.field.clone(),
                FieldState {
                    value: w.value.clone(),
                    writer: w.writer.clone(),
                },
            );
        }
    }

    /// The batch is committed: the journal has everything the overlay had.
    pub fn committed(&mut self) {
        self.overlay.clear();
    }
}

fn read_record(conn: &Connection, record: &str, key: &str) -> rusqlite::Result<RecordState> {
    let mut st = conn.prepare_cached(
        "SELECT field, value, writer FROM records WHERE record = ?1 AND key = ?2",
    )?;
    let rows = st.query_map(params![record, key], |r| {
        let value: String = r.get(1)?;
        Ok((
            r.get::<_, String>(0)?,
            FieldState {
                value: serde_json::from_str(&value).unwrap_or(Value::Null),
                writer: r.get(2)?,
            },
        ))
    })?;
    rows.collect()
}

/// Stores `writes` for the message `message` (inside the writer's transaction); `None`
/// for a write that came with no message (an update through a FHIR API).
pub fn store(
    c: &Connection,
    writes: &[Write],
    message: Option<i64>,
    now: i64,
) -> rusqlite::Result<()> {
    for w in writes {
        c.prepare_cached(
            "INSERT INTO records (record, key, field, value, writer, message, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (record, key, field) DO UPDATE SET value = excluded.value,
               writer = excluded.writer, message = excluded.message, updated_at = excluded.updated_at",
        )?
        .execute(params![w.record, w.key, w.field, w.value.to_string(), w.writer, message, now])?;
    }
    Ok(())
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
}

/// The record's key: its key fields' values joined by `|` (`None` if one is missing).
fn key_of(m: &Matrix, value: &Value) -> Option<String> {
    let parts: Option<Vec<String>> = m
        .keys
        .iter()
        .map(|k| match get_path(value, k) {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
        .collect();
    parts.map(|p| p.join("|"))
}

impl Steward for JournalSteward<'_> {
    fn govern(&mut self, record: &str, value: &mut Value) -> Result<bool, Hold> {
        let Some(m) = self.matrices.iter().find(|m| m.record == record) else {
            return Ok(false);
        };
        let Some(key) = key_of(m, value) else {
            return Ok(false);
        };
        let stored = self.store.load(record, &key).map_err(|e| Hold::Reject {
            detail: format!("cannot read the stored {record} {key}: {e}"),
        })?;
        let current = m
            .stage_field
            .as_ref()
            .and_then(|f| stored.get(f))
            .and_then(|s| s.value.as_str().map(str::to_string));
        let stage = Stage {
            stages: &m.stages,
            current: current.as_deref(),
        };
        let (mut changed, mut rejects, mut reviews) = (false, vec![], vec![]);
        let mut queue = None;
        let mut writes = vec![];
        for row in &m.fields {
            let new = get_path(value, &row.field).clone();
            if new.is_null() {
                continue; // not written by this message
            }
            let st = stored.get(&row.field);
            let d = steward::decide(
                row,
                self.system,
                &new,
                st.map(|s| Stored {
                    value: &s.value,
                    writer: &s.writer,
                }),
                &stage,
            );
            let what = format!("{record} {key} {}: {}", row.field, d.why);
            let on_review = matches!(d.verdict, Verdict::Review(_));
            let verdict = match d.verdict {
                Verdict::Review(_) if self.approved => Verdict::Apply,
                v => v,
            };
            let label = match &verdict {
                Verdict::Unchanged => continue,
                Verdict::Apply => {
                    writes.push(Write {
                        record: record.to_string(),
                        key: key.clone(),
                        field: row.field.clone(),
                        value: new,
                        writer: self.system.to_string(),
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
                    rejects.push(what.clone());
                    "rejected"
                }
                Verdict::Review(q) => {
                    if queue.is_none() {
                        queue = q.clone();
                    }
                    reviews.push(what.clone());
                    "review"
                }
            };
            let text = if self.approved && on_review {
                format!("{what} (approved on review)")
            } else {
                what
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
        Ok(changed)
    }
}
