//! What operators do to messages, on the journal of a production that may be running:
//! list and show dead letters, resend them (as they are, after a mapping fix, or edited),
//! discard them, and replay what an interface received or delivered. Every action is
//! recorded in the `audit` table (who, when, which messages, why) and as an event on each
//! message, so `trace` shows it. An edit never overwrites: the edited message is a new
//! row and the original stays, marked `resent`. The running production picks the changes
//! up from the journal within a few seconds (its queues poll when idle).

use super::journal::operator::{
    audit_entries, audit_row, dead_letters, event as journal_event, events_of, last_reply,
    queue_edited, receive_again, receive_edited, replay_row, replayable,
    requeue as journal_requeue, set_state, Dead, DeadFilter, Original, Queueable,
};
use super::journal::records::{self, JournalSteward, RecordStore};
use super::journal::{begin_operator, open_read, JournalError, Store};
use super::process::{Parsed, Source};
use super::shown::{shown, shown_or};
use super::{process, time, Chains};
use crate::journal::db::{Db, DbResult};
use accord_hl7::builder::MessageBuilder;
use accord_hl7::{Message, Path as Hl7Path};
use accord_runtime::spec::{Interface, Role, Spec};
use serde_json::json;

/// Which dead letters an action applies to: explicit ids, or every one matching filters.
#[derive(Default, Clone)]
pub struct Selection {
    pub ids: Vec<i64>,
    pub interface: Option<String>,
    pub reason: Option<String>,
    pub since_ms: Option<i64>,
}

/// Who acts, and why (both go into the audit).
pub struct Actor {
    pub name: String,
    pub why: Option<String>,
}

impl Actor {
    /// `--by` when given, else the login name.
    pub fn new(by: Option<String>, why: Option<String>) -> Actor {
        let name = by
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "unknown".into());
        Actor { name, why }
    }
}

fn select_dead(c: &Db, s: &Selection) -> Result<Vec<Dead>, JournalError> {
    let filter = DeadFilter {
        ids: &s.ids,
        interface: s.interface.as_deref(),
        reason: s.reason.as_deref(),
        since: s.since_ms.map(|v| time::now_ms() - v),
    };
    let rows = dead_letters(c, &filter)?;
    if let Some(missing) = s.ids.iter().find(|id| !rows.iter().any(|r| r.id == **id)) {
        return Err(JournalError(format!(
            "message {missing} is not in the dead letter (see `dead-letters list`)"
        )));
    }
    Ok(rows)
}

pub fn list(journal: &Store, s: &Selection, as_json: bool) -> Result<String, JournalError> {
    let conn = open_read(journal)?;
    let c = &conn.db();
    let rows = select_dead(c, s)?;
    if as_json {
        let v: Vec<_> = rows
            .iter()
            .map(|d| {
                json!({
                    "id": d.id, "interface": d.interface, "direction": d.direction,
                    "reason": d.reason, "detail": d.detail, "control_id": d.control_id,
                    "message_type": d.message_type, "received_at": time::iso(d.received_at),
                    "attempts": d.attempts, "correlation": d.correlation,
                })
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
    }
    let mut out = format!(
        "{:>7} {:<24} {:<24} {:<4} {:<10} {:>8} {:<20} {}\n",
        "id", "received", "interface", "dir", "reason", "attempts", "control id", "detail"
    );
    for d in &rows {
        out.push_str(&format!(
            "{:>7} {:<24} {:<24} {:<4} {:<10} {:>8} {:<20} {}\n",
            d.id,
            time::iso(d.received_at),
            d.interface,
            d.direction,
            shown_or(d.reason.as_deref(), ""),
            d.attempts,
            shown_or(d.control_id.as_deref(), ""),
            shown_or(d.detail.as_deref(), "")
        ));
    }
    if rows.is_empty() {
        out.push_str("(the dead letter is empty)\n");
    }
    Ok(out)
}

/// One dead letter: why it is there, its history and the message itself.
pub fn show(journal: &Store, id: i64) -> Result<String, JournalError> {
    let conn = open_read(journal)?;
    let c = &conn.db();
    let sel = Selection {
        ids: vec![id],
        ..Selection::default()
    };
    let d = select_dead(c, &sel)?.remove(0);
    let ack = last_reply(c, id)?;
    let mut out = format!(
        "dead letter {id}: {} ({}), reason {}\n  {}\n  received {}, {} attempt(s), correlation {}\n",
        d.interface,
        d.direction,
        shown_or(d.reason.as_deref(), "?"),
        shown_or(d.detail.as_deref(), "(no detail)"),
        time::iso(d.received_at),
        d.attempts,
        d.correlation
    );
    if let Some(p) = d.parent {
        out.push_str(&format!("  from message {p}\n"));
    }
    out.push_str("history:\n");
    for (at, kind, detail) in events_of(c, id)? {
        out.push_str(&format!(
            "  {} {kind} {}\n",
            time::iso(at),
            shown_or(detail.as_deref(), "")
        ));
    }
    out.push_str("message:\n");
    out.push_str(&segments(&d.payload));
    if let Some(a) = ack {
        out.push_str("last reply:\n");
        out.push_str(&segments(&a));
    }
    Ok(out)
}

fn segments(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split(['\r', '\n'])
        .filter(|s| !s.is_empty())
        .map(|s| format!("  {}\n", shown(s)))
        .collect()
}

pub(super) fn audit(
    c: &Db,
    actor: &Actor,
    action: &str,
    ids: &[i64],
    detail: &str,
) -> DbResult<i64> {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let detail = match &actor.why {
        Some(why) => format!("{detail}; why: {why}"),
        None => detail.to_string(),
    };
    audit_row(
        c,
        time::now_ms(),
        &actor.name,
        action,
        &ids.join(","),
        &detail,
    )
}

pub(super) fn event(c: &Db, message: i64, kind: &str, detail: &str) -> DbResult<()> {
    journal_event(c, message, time::now_ms(), kind, detail)
}

/// The segments that differ between two messages (`PID`, `OBX[2]`), for the audit of an edit.
fn changed_segments(old: &[u8], new: &[u8]) -> Vec<String> {
    let split = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .split(['\r', '\n'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (split(old), split(new));
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut out = vec![];
    for i in 0..a.len().max(b.len()) {
        let seg = b.get(i).or(a.get(i)).map(String::as_str).unwrap_or("");
        let id = seg.get(..3).unwrap_or(seg).to_string();
        let n = seen.entry(id.clone()).or_default();
        *n += 1;
        if a.get(i) != b.get(i) {
            out.push(if *n > 1 { format!("{id}[{n}]") } else { id });
        }
    }
    out
}

/// Resends dead letters. Outbound ones go back on their operation's queue (reason `map`:
/// the mapping runs again first, with this binary's contracts); inbound ones are processed
/// again. With `edit`, the edited message replaces the payload in a new row.
pub fn resend(
    journal: &Store,
    spec: &Spec,
    chains: Chains,
    s: &Selection,
    edit: Option<&[u8]>,
    actor: &Actor,
) -> Result<String, JournalError> {
    let held = begin_operator(journal)?;
    let tx = held.db();
    let rows = select_dead(&tx, s)?;
    if rows.is_empty() {
        return Ok("nothing to resend: no dead letter matches\n".into());
    }
    if edit.is_some() && rows.len() != 1 {
        return Err(JournalError(format!(
            "--edit applies to one message; {} match (name one id)",
            rows.len()
        )));
    }
    if let Some(e) = edit {
        if let Err(err) = Parsed::parse(e) {
            return Err(JournalError(format!(
                "the edited message does not parse: {err}; nothing was changed"
            )));
        }
    }
    let mut out = String::new();
    let mut done = vec![];
    for d in &rows {
        let iface = spec.interfaces.iter().find(|i| i.name == d.interface);
        let payload = edit.unwrap_or(&d.payload);
        let line = if d.direction == "out" {
            let Some(iface) = iface else {
                out.push_str(&format!(
                    "{}: interface `{}` is not in this production; left dead\n",
                    d.id, d.interface
                ));
                continue;
            };
            let mut store = RecordStore::new(journal);
            let mapper = Mapper {
                chains,
                spec,
                store: &mut store,
            };
            match resend_out(&tx, d, iface, mapper, edit.map(|_| payload))? {
                Ok(line) => line,
                Err(why) => {
                    out.push_str(&format!("{}: {why}; left dead\n", d.id));
                    continue;
                }
            }
        } else {
            resend_in(&tx, d, edit.map(|_| payload))?
        };
        out.push_str(&format!("{}: {line}\n", d.id));
        done.push(d.id);
    }
    if !done.is_empty() {
        let action = if edit.is_some() {
            "edit-resend"
        } else {
            "resend"
        };
        audit(
            &tx,
            actor,
            action,
            &done,
            &format!("{} message(s)", done.len()),
        )?;
    }
    held.commit()?;
    Ok(out)
}

/// What re-mapping a held inbound message needs: the transforms, and the matrix with the
/// stored records it is checked against.
pub(super) struct Mapper<'a> {
    pub chains: Chains,
    pub spec: &'a Spec,
    pub store: &'a mut RecordStore,
}

impl Mapper<'_> {
    /// Maps `source` for `iface` again; `approved` applies `review` conflicts. The writes
    /// the matrix allows are stored with message `id` when the result is queued.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn map(
        self,
        c: &Db,
        id: i64,
        iface: &Interface,
        src: Source,
        source: &[u8],
        control: &str,
        approved: bool,
    ) -> DbResult<process::Queued> {
        let mut steward =
            JournalSteward::new(&self.spec.matrices, &iface.from, self.store, approved);
        let q = process::map_for(
            self.spec,
            self.chains,
            iface,
            src,
            source,
            control,
            &mut steward,
        );
        let (writes, notes) = (steward.writes, steward.notes);
        for n in &notes {
            event(c, id, "ownership", &n.text)?;
        }
        if q.state == "queued" {
            records::store(c, &writes, Some(id), time::now_ms())?;
            // Later messages of the same command see these values.
            self.store.stage(&writes);
        }
        Ok(q)
    }
}

/// Puts message `id` back on its operation's queue with a newly mapped payload.
#[allow(clippy::too_many_arguments)]
pub(super) fn requeue(
    c: &Db,
    id: i64,
    payload: &[u8],
    message_type: Option<&str>,
    control_id: Option<&str>,
    patient: Option<&str>,
    order_key: Option<&str>,
) -> DbResult<()> {
    let q = Queueable {
        payload,
        message_type,
        control_id,
        patient,
        order_key,
    };
    journal_requeue(c, id, &q, time::now_ms())
}

fn resend_out(
    c: &Db,
    d: &Dead,
    iface: &Interface,
    mapper: Mapper,
    edited: Option<&[u8]>,
) -> Result<Result<String, String>, JournalError> {
    let now = time::now_ms();
    // A mapping failure or the matrix holds the inbound message: map it again (after an
    // edit of it), checked against the stored records as they are now.
    let (payload, message_type, control_id, patient, order_key, how) = if matches!(
        d.reason.as_deref(),
        Some("map" | "constraint" | "conformance" | "ownership")
    ) {
        let source = edited.unwrap_or(&d.payload);
        let parsed = match Parsed::parse(source) {
            Ok(m) => m,
            Err(e) => return Ok(Err(format!("the source message does not parse: {e}"))),
        };
        let control = format!("AC{}.r{}", d.parent.unwrap_or(d.id), d.id);
        let q = mapper.map(c, d.id, iface, parsed.source(), source, &control, false)?;
        if q.state != "queued" {
            return Ok(Err(format!(
                "the mapping still fails: {}",
                q.detail.unwrap_or_default()
            )));
        }
        (
            q.payload,
            q.message_type,
            q.control_id,
            q.patient_id,
            q.order_key,
            "mapped again and queued",
        )
    } else {
        let payload = edited.unwrap_or(&d.payload).to_vec();
        let msg = Message::parse(&payload).ok();
        let message_type = msg.as_ref().map(|m| {
            let (code, trigger, _) = m.message_type();
            format!("{}^{}", code.unwrap_or(""), trigger.unwrap_or(""))
        });
        let control = msg
            .as_ref()
            .and_then(|m| m.control_id().map(str::to_string));
        let patient = msg.as_ref().and_then(super::patient_of);
        let order = msg.as_ref().and_then(|m| {
            iface
                .ordering
                .as_ref()
                .and_then(|p| super::key_of(m, std::slice::from_ref(p)))
        });
        (payload, message_type, control, patient, order, "queued")
    };
    match edited {
        None => {
            requeue(
                c,
                d.id,
                &payload,
                message_type.as_deref(),
                control_id.as_deref(),
                patient.as_deref(),
                order_key.as_deref(),
            )?;
            event(c, d.id, "resend", how)?;
            Ok(Ok(format!("{how} on {}", d.interface)))
        }
        Some(original_edit) => {
            let q = Queueable {
                payload: &payload,
                message_type: message_type.as_deref(),
                control_id: control_id.as_deref(),
                patient: patient.as_deref(),
                order_key: order_key.as_deref(),
            };
            let new = queue_edited(c, d.id, &iface.version, &q, now)?;
            let changed = changed_segments(&d.payload, original_edit).join(", ");
            supersede(
                c,
                d.id,
                new,
                "queued",
                &format!("resent as message {new}; changed: {changed}"),
            )?;
            Ok(Ok(format!(
                "edited ({changed}) and {how} on {} as message {new}",
                d.interface
            )))
        }
    }
}

fn resend_in(c: &Db, d: &Dead, edited: Option<&[u8]>) -> Result<String, JournalError> {
    let now = time::now_ms();
    match edited {
        None => {
            receive_again(c, d.id, now)?;
            event(c, d.id, "resend", "processed again")?;
            Ok("processed again".into())
        }
        Some(payload) => {
            let msg = Message::parse(payload).ok();
            let control = msg
                .as_ref()
                .and_then(|m| m.control_id().map(str::to_string));
            let new = receive_edited(c, d.id, control.as_deref(), payload, now)?;
            let changed = changed_segments(&d.payload, payload).join(", ");
            supersede(
                c,
                d.id,
                new,
                "received",
                &format!("processed again as message {new}; changed: {changed}"),
            )?;
            Ok(format!(
                "edited ({changed}) and processed again as message {new}"
            ))
        }
    }
}

/// The original of an edit: kept, marked `resent`, with events on both rows naming the
/// other (`new` enters `state`).
fn supersede(c: &Db, original: i64, new: i64, state: &str, what: &str) -> DbResult<()> {
    set_state(c, original, "resent", time::now_ms())?;
    event(c, original, "edited", what)?;
    event(c, new, state, &format!("edited copy of message {original}"))
}

/// Takes dead letters out of the dead letter for good (they stay in the journal, `discarded`).
pub fn discard(journal: &Store, s: &Selection, actor: &Actor) -> Result<String, JournalError> {
    let held = begin_operator(journal)?;
    let tx = held.db();
    let rows = select_dead(&tx, s)?;
    let now = time::now_ms();
    for d in &rows {
        set_state(&tx, d.id, "discarded", now)?;
        event(
            &tx,
            d.id,
            "discarded",
            &format!(
                "by {}{}",
                actor.name,
                actor
                    .why
                    .as_deref()
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default()
            ),
        )?;
    }
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    if !ids.is_empty() {
        audit(
            &tx,
            actor,
            "discard",
            &ids,
            &format!("{} message(s)", ids.len()),
        )?;
    }
    held.commit()?;
    Ok(format!("discarded {} dead letter(s)\n", ids.len()))
}

/// What a replay takes: an interface, a time window, a key; and which contract version.
pub struct Replay {
    pub interface: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// The ordering key, patient identifier or control id of the messages.
    pub key: Option<String>,
    /// Replay messages first processed by another version under this binary's version.
    pub version: Option<String>,
    pub dry_run: bool,
}

/// Replays what an interface received (processed again: routes, maps and deliveries run as
/// new hops) or delivered (sent again, with a control id marking the replay). Each message
/// is pinned to the contract version that first processed it: a different version is
/// refused unless chosen with `version`.
pub fn replay(
    journal: &Store,
    spec: &Spec,
    r: &Replay,
    actor: &Actor,
) -> Result<String, JournalError> {
    let Some(iface) = spec.interfaces.iter().find(|i| i.name == r.interface) else {
        let names: Vec<&str> = spec.interfaces.iter().map(|i| i.name.as_str()).collect();
        return Err(JournalError(format!(
            "no interface `{}` in this production (it has: {})",
            r.interface,
            names.join(", ")
        )));
    };
    let (direction, states) = match iface.role {
        Role::Service => ("in", "'processed', 'dead', 'resent'"),
        Role::Operation => ("out", "'completed'"),
        Role::Unwired => {
            return Err(JournalError(format!(
                "interface `{}` is not wired in this production: nothing to replay",
                iface.name
            )))
        }
    };
    let held = begin_operator(journal)?;
    let tx = held.db();
    let rows = replayable(
        &tx,
        &iface.name,
        direction,
        states,
        r.from_ms,
        r.to_ms,
        r.key.as_deref(),
    )?;
    if rows.is_empty() {
        return Ok(format!("nothing to replay on `{}`\n", iface.name));
    }
    let other: Vec<&Original> = rows.iter().filter(|o| o.version != iface.version).collect();
    if !other.is_empty() {
        match r.version.as_deref() {
            Some(v) if v == iface.version => {}
            Some(v) => {
                return Err(JournalError(format!(
                    "this production runs `{}` {}, not {v}: run the production built from {v} to replay under it",
                    iface.name, iface.version
                )))
            }
            None => {
                let mut versions: Vec<&str> = other.iter().map(|o| o.version.as_str()).collect();
                versions.sort_unstable();
                versions.dedup();
                return Err(JournalError(format!(
                    "{} of {} message(s) were first processed by `{}` {} and this production runs {}; \
                     replays are pinned to the version that processed them: pass --version {} to replay them under it",
                    other.len(),
                    rows.len(),
                    iface.name,
                    versions.join(", "),
                    iface.version,
                    iface.version
                )));
            }
        }
    }
    let ids: Vec<i64> = rows.iter().map(|o| o.id).collect();
    if r.dry_run {
        return Ok(format!(
            "would replay {} message(s) on `{}`: {}\n",
            ids.len(),
            iface.name,
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let audit_id = audit(
        &tx,
        actor,
        "replay",
        &ids,
        &format!(
            "{} message(s) on {} under {} {}",
            ids.len(),
            iface.name,
            iface.name,
            iface.version
        ),
    )?;
    let now = time::now_ms();
    for o in &rows {
        let (payload, control) = if direction == "out" {
            marked_control_id(&o.payload, o.control_id.as_deref(), audit_id)
        } else {
            (o.payload.clone(), o.control_id.clone())
        };
        let state = if direction == "out" {
            "queued"
        } else {
            "received"
        };
        let new = replay_row(
            &tx,
            o.id,
            direction,
            &iface.version,
            state,
            control.as_deref(),
            &payload,
            now,
        )?;
        event(
            &tx,
            o.id,
            "replayed",
            &format!("as message {new} (audit {audit_id})"),
        )?;
        event(
            &tx,
            new,
            state,
            &format!("replay of message {} by {}", o.id, actor.name),
        )?;
    }
    held.commit()?;
    Ok(format!(
        "replayed {} message(s) on `{}` (audit {audit_id})\n",
        ids.len(),
        iface.name
    ))
}

/// A delivered message sent again gets MSH-10 `<original>R<audit>`: the peer sees a new
/// message, and the journal can tell the replay from the first delivery.
fn marked_control_id(
    payload: &[u8],
    control: Option<&str>,
    audit: i64,
) -> (Vec<u8>, Option<String>) {
    let Ok(msg) = Message::parse(payload) else {
        return (payload.to_vec(), control.map(str::to_string));
    };
    let new = format!("{}R{audit}", control.unwrap_or(""));
    let mut b = MessageBuilder::from_message(&msg);
    let Ok(path) = Hl7Path::parse("MSH-10") else {
        return (payload.to_vec(), control.map(str::to_string));
    };
    if b.set(&path, &new).is_err() {
        return (payload.to_vec(), control.map(str::to_string));
    }
    (b.serialize(), Some(new))
}

/// The audit trail, newest first.
pub fn audit_log(journal: &Store, as_json: bool) -> Result<String, JournalError> {
    let conn = open_read(journal)?;
    let c = &conn.db();
    let rows = audit_entries(c)?;
    if as_json {
        let v: Vec<_> = rows
            .iter()
            .map(|(id, at, actor, action, messages, detail)| {
                json!({"id": id, "at": time::iso(*at), "actor": actor, "action": action,
                       "messages": messages, "detail": detail})
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
    }
    let mut out = String::new();
    for (id, at, actor, action, messages, detail) in &rows {
        out.push_str(&format!(
            "{id:>5} {} {} {} [{}] {}\n",
            time::iso(*at),
            shown(actor),
            shown(action),
            shown(messages),
            shown_or(detail.as_deref(), "")
        ));
    }
    if rows.is_empty() {
        out.push_str("(no audit entries)\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_name_the_segments_they_change() {
        let a = b"MSH|^~\\&|A\rPID|1||1\rOBX|1||X\rOBX|2||Y\r";
        let b = b"MSH|^~\\&|A\rPID|1||2\rOBX|1||X\rOBX|2||Z\r";
        assert_eq!(changed_segments(a, b), vec!["PID", "OBX[2]"]);
        assert_eq!(changed_segments(a, a), Vec::<String>::new());
    }

    fn spec(version: &str) -> Spec {
        serde_json::from_value(json!({
            "estate": "E", "version": "1.0.0", "environments": ["dev"], "engine_system": "hub",
            "endpoints": [], "profiles": [], "flows": [],
            "interfaces": [{
                "name": "adt_in", "version": version, "role": "service", "from": "pas",
                "to": "hub", "endpoint": null, "status": "active", "messages": ["ADT^A01"],
                "profile": null, "transforms": false, "ack": {"mode": "commit", "timeout_ms": null},
                "replies": [], "idempotency": [], "ordering": null, "retain_ms": null,
                "loc": "estate.accord:1"
            }]
        }))
        .unwrap()
    }

    #[test]
    fn replays_are_pinned_to_the_version_that_processed_them() {
        let (dir, path, c) = super::super::journal::scratch("replay");
        let journal = Store::Sqlite(path);
        c.execute(
            "INSERT INTO messages (correlation, interface, contract_version, direction, state,
               control_id, received_at, updated_at, payload)
             VALUES ('c1', 'adt_in', '1.0.0', 'in', 'processed', 'M1', 0, 0, x'4d5348')",
            [],
        )
        .unwrap();
        let actor = Actor::new(Some("tester".into()), Some("test".into()));
        let replay = |version: Option<&str>| Replay {
            interface: "adt_in".into(),
            from_ms: None,
            to_ms: None,
            key: None,
            version: version.map(str::to_string),
            dry_run: false,
        };
        // This binary runs 1.1.0: refused unless chosen, and only this binary's version.
        let newer = spec("1.1.0");
        let err = replay_err(&journal, &newer, &replay(None), &actor);
        assert!(err.contains("pass --version 1.1.0"), "{err}");
        let err = replay_err(&journal, &newer, &replay(Some("1.0.0")), &actor);
        assert!(err.contains("run the production built from 1.0.0"), "{err}");
        let done = super::replay(&journal, &newer, &replay(Some("1.1.0")), &actor).unwrap();
        assert!(done.contains("replayed 1 message"), "{done}");
        // Under the version that processed it, no choice is needed.
        let done = super::replay(&journal, &spec("1.0.0"), &replay(None), &actor).unwrap();
        assert!(done.contains("replayed 1 message"), "{done}");
        let log = audit_log(&journal, false).unwrap();
        assert_eq!(log.matches("tester replay [1]").count(), 2, "{log}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn replay_err(journal: &Store, spec: &Spec, r: &Replay, actor: &Actor) -> String {
        match super::replay(journal, spec, r, actor) {
            Ok(s) => panic!("replayed: {s}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn replays_get_a_control_id_of_their_own() {
        let (bytes, id) = marked_control_id(
            b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|AC1.1|P|2.5\r",
            Some("AC1.1"),
            7,
        );
        assert_eq!(id.as_deref(), Some("AC1.1R7"));
        assert!(String::from_utf8_lossy(&bytes).contains("|AC1.1R7|"));
    }
}
