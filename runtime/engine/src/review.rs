//! The human-review queue of the ownership matrix: deliveries a `conflict review` field
//! held back (state `review`, holding the inbound message), and what a person does with
//! them. `approve` maps the message again with the review conflicts applied, stores the
//! record's new values and queues the delivery; `reject` keeps the stored record as it is
//! and takes the delivery out (`discarded`). Both are audited and appear in `trace`.
//! Also `records show`: the stored copy of a governed record, field by field, with who
//! wrote each value.

use super::journal::records::{self, JournalSteward, RecordStore};
use super::journal::{begin_operator, open_read, JournalError, Store};
use super::operator::{audit, event, requeue, Actor, Mapper};
use super::process::{Parsed, Source};
use super::shown::shown;
use super::{time, Chains};
use crate::journal::db::Db;
use accord_hl7::Message;
use accord_runtime::spec::{Interface, Spec};
use serde_json::json;

/// Which held deliveries an action names: ids, or every one in a queue.
#[derive(Default, Clone)]
pub struct Held {
    pub ids: Vec<i64>,
    pub queue: Option<String>,
}

use super::journal::review::{held, mark_discarded, mark_processed, stored_fields, HeldRow as Row};

/// The review queue a held message's detail names (`[queue] why`, as the processor writes
/// it), `review` if none.
pub(crate) fn queue_of(detail: &str) -> &str {
    detail
        .strip_prefix('[')
        .and_then(|d| d.split_once(']'))
        .map(|(q, _)| q)
        .unwrap_or("review")
}

fn select(c: &Db, h: &Held) -> Result<Vec<Row>, JournalError> {
    let rows = held(c)?;
    let picked: Vec<Row> = rows
        .into_iter()
        .filter(|r| h.ids.is_empty() || h.ids.contains(&r.id))
        .filter(|r| h.queue.as_deref().is_none_or(|q| queue_of(&r.detail) == q))
        .collect();
    if let Some(missing) = h.ids.iter().find(|id| !picked.iter().any(|r| r.id == **id)) {
        return Err(JournalError(format!(
            "message {missing} is not waiting for review (see `review list`)"
        )));
    }
    Ok(picked)
}

pub fn list(journal: &Store, h: &Held, as_json: bool) -> Result<String, JournalError> {
    let conn = open_read(journal)?;
    let c = &conn.db();
    let rows = select(c, h)?;
    if as_json {
        let items: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "interface": r.interface, "queue": queue_of(&r.detail),
                    "received": time::iso(r.received_at), "detail": r.detail,
                })
            })
            .collect();
        return Ok(format!("{}\n", serde_json::Value::Array(items)));
    }
    if rows.is_empty() {
        return Ok("nothing is waiting for review\n".into());
    }
    let mut out = String::new();
    for r in &rows {
        out.push_str(&format!(
            "{:>8}  {:<20} {:<22} {}\n          {}\n",
            r.id,
            r.interface,
            shown(queue_of(&r.detail)),
            time::iso(r.received_at),
            shown(&r.detail)
        ));
    }
    Ok(out)
}

/// Approves held deliveries: the review conflicts are applied and the deliveries queued.
pub fn approve(
    journal: &Store,
    spec: &Spec,
    chains: Chains,
    h: &Held,
    actor: &Actor,
) -> Result<String, JournalError> {
    let held = begin_operator(journal)?;
    let tx = held.db();
    let rows = select(&tx, h)?;
    let mut store = RecordStore::new(journal);
    let (mut out, mut done) = (String::new(), vec![]);
    for r in &rows {
        let Some(iface) = spec.interfaces.iter().find(|i| i.name == r.interface) else {
            out.push_str(&format!(
                "{}: interface `{}` is not in this production; left for review\n",
                r.id, r.interface
            ));
            continue;
        };
        let parsed = match Parsed::parse(&r.payload) {
            Ok(m) => m,
            Err(e) => {
                out.push_str(&format!("{}: the held message does not parse: {e}\n", r.id));
                continue;
            }
        };
        let held = match (r.direction == "in", parsed.source()) {
            (true, Source::Hl7(msg)) => {
                approve_record(&tx, spec, chains, &mut store, r, iface, msg)?
            }
            (true, Source::Fhir(_)) => Some("a created resource is not held as a record".into()),
            (false, src) => approve_delivery(&tx, spec, chains, &mut store, r, iface, src)?,
        };
        if let Some(why) = held {
            out.push_str(&format!("{}: still held: {why}; left for review\n", r.id));
            continue;
        }
        event(&tx, r.id, "review-approved", &by(actor))?;
        let what = if r.direction == "in" {
            "stored"
        } else {
            "queued"
        };
        out.push_str(&format!(
            "{}: approved and {what} on {}\n",
            r.id, r.interface
        ));
        done.push(r.id);
    }
    if !done.is_empty() {
        audit(
            &tx,
            actor,
            "review-approve",
            &done,
            &format!("{} message(s)", done.len()),
        )?;
    }
    held.commit()?;
    Ok(out)
}

/// A held delivery, mapped again with the review conflicts applied and queued; or why
/// it is still held.
fn approve_delivery(
    tx: &Db,
    spec: &Spec,
    chains: Chains,
    store: &mut RecordStore,
    r: &Row,
    iface: &Interface,
    src: Source,
) -> Result<Option<String>, JournalError> {
    let control = format!("AC{}.v{}", r.parent.unwrap_or(r.id), r.id);
    let mapper = Mapper {
        chains,
        spec,
        store,
    };
    let q = mapper.map(tx, r.id, iface, src, &r.payload, &control, true)?;
    if q.state != "queued" {
        return Ok(Some(q.detail.unwrap_or_default()));
    }
    requeue(
        tx,
        r.id,
        &q.payload,
        q.message_type.as_deref(),
        q.control_id.as_deref(),
        q.patient_id.as_deref(),
        q.order_key.as_deref(),
    )?;
    Ok(None)
}

/// A held inbound message of a store-only interface (no routes, e.g. an MPI feed): its
/// record is made again with the review conflicts applied, stored, and the message
/// marked processed; or why it is still held.
fn approve_record(
    tx: &Db,
    spec: &Spec,
    chains: Chains,
    store: &mut RecordStore,
    r: &Row,
    iface: &Interface,
    msg: &Message,
) -> Result<Option<String>, JournalError> {
    let mut steward = JournalSteward::new(&spec.matrices, &iface.from, store, true);
    let result = (chains.deliver)(&iface.name, msg, &mut steward);
    let (writes, notes) = (steward.writes, steward.notes);
    let out = match result {
        Ok(out) => out,
        Err(e) => return Ok(Some(e.to_string())),
    };
    let now = time::now_ms();
    for n in &notes {
        event(tx, r.id, "ownership", &n.text)?;
    }
    records::store(tx, &writes, Some(r.id), now)?;
    store.stage(&writes);
    if let Some(o) = out {
        super::journal::processing::store_record(tx, r.id, now, &o.into_bytes())?;
    }
    mark_processed(tx, r.id, now)?;
    Ok(None)
}

/// Rejects held deliveries: the stored record keeps its values; nothing is sent.
pub fn reject(journal: &Store, h: &Held, actor: &Actor) -> Result<String, JournalError> {
    let held = begin_operator(journal)?;
    let tx = held.db();
    let rows = select(&tx, h)?;
    let now = time::now_ms();
    for r in &rows {
        mark_discarded(&tx, r.id, now)?;
        event(&tx, r.id, "review-rejected", &by(actor))?;
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    if !ids.is_empty() {
        audit(
            &tx,
            actor,
            "review-reject",
            &ids,
            &format!("{} message(s)", ids.len()),
        )?;
    }
    held.commit()?;
    Ok(format!(
        "rejected {} held message(s); nothing was sent\n",
        ids.len()
    ))
}

fn by(actor: &Actor) -> String {
    match &actor.why {
        Some(w) => format!("by {}: {w}", actor.name),
        None => format!("by {}", actor.name),
    }
}

/// The stored copy of one record: each field's value, writer and the message that set it.
pub fn show_record(
    journal: &Store,
    record: &str,
    key: &str,
    as_json: bool,
) -> Result<String, JournalError> {
    let conn = open_read(journal)?;
    let c = &conn.db();
    let rows = stored_fields(c, record, key)?;
    let merged_into = records::merged_into(c, record, key)?;
    let replaces = records::retired_into(c, record, key)?;
    if rows.is_empty() && merged_into.is_none() {
        return Err(JournalError(format!(
            "no stored {record} with key {key:?} (the key is the record's key fields joined by `|`)"
        )));
    }
    if as_json {
        let fields: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(f, v, w, m, at)| {
                let value: serde_json::Value = serde_json::from_str(v).unwrap_or_default();
                (
                    f.clone(),
                    json!({"value": value, "writer": w, "message": m, "updated": time::iso(*at)}),
                )
            })
            .collect();
        return Ok(format!(
            "{}\n",
            json!({
                "record": record, "key": key, "fields": fields,
                "merged_into": merged_into, "replaces": replaces,
            })
        ));
    }
    let mut out = format!("{record} {}\n", shown(key));
    if let Some(survivor) = &merged_into {
        out.push_str(&format!(
            "  merged into {}: messages for {} are taken as its, or held, as the contract says\n",
            shown(survivor),
            shown(key)
        ));
    }
    if !replaces.is_empty() {
        let keys: Vec<String> = replaces.iter().map(|k| shown(k).to_string()).collect();
        out.push_str(&format!("  replaces {}\n", keys.join(", ")));
    }
    for (f, v, w, m, at) in rows {
        let (v, w) = (shown(&v), shown(&w));
        out.push_str(&format!(
            "  {f:<16} {v:<28} by {w:<10} message {} at {}\n",
            m.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
            time::iso(at)
        ));
    }
    Ok(out)
}
