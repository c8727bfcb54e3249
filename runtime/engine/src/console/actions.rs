//! The console's actions, each a form posted with its session's CSRF token and a reason:
//! resend, edit and resend (shown as a diff first), and discard a dead letter; approve and
//! reject a message held for review; replay an interface's messages (counted by a dry run
//! first). Each is checked against the operator's role on the server, runs as the command
//! line's operator action of the same name (which writes the audit trail with the
//! operator's name and reason), and wakes the production's workers.

use super::auth::{Action, Session};
use super::pages::{csrf_checked, field, form, role_checked, Page, Stop};
use super::Console;
use crate::journal::JournalError;
use crate::operator::{self, Actor, Replay, Selection};
use crate::review::{self, Held};
use crate::time;
use crate::Engine;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;
use std::sync::Arc;

/// A posted form, checked: the session, its CSRF token, the role `action` needs (`words`
/// name it in a refusal), and a reason. The session, the fields and the actor.
async fn checked(
    c: &Console,
    headers: &HeaderMap,
    body: &Bytes,
    action: Action,
    words: &str,
) -> Result<(Session, Vec<(String, String)>, Actor), Stop> {
    let s = c.session(headers)?;
    let fields = form(body);
    csrf_checked(c, &s, &fields)?;
    role_checked(c, &s, action, words).await?;
    let Some(reason) = field(&fields, "reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
    else {
        return Err(c.refuse(
            StatusCode::BAD_REQUEST,
            Some(&s),
            &format!("{words} needs a reason, for the audit trail"),
        ));
    };
    let actor = Actor {
        name: s.operator.clone(),
        why: Some(reason),
    };
    Ok((s, fields, actor))
}

/// Runs operator action `f` on the blocking pool, wakes the workers, and draws what it
/// said (`back`: where the done page leads).
async fn run(
    c: &Console,
    s: &Session,
    back: serde_json::Value,
    f: impl FnOnce(&Engine) -> Result<String, JournalError> + Send + 'static,
) -> Page {
    let engine = c.engine.clone();
    let done = tokio::task::spawn_blocking(move || f(&engine))
        .await
        .map_err(|e| JournalError(e.to_string()))
        .and_then(|r| r);
    match done {
        Ok(said) => {
            // The operations and the processor look at once, not at their next poll.
            for i in &c.engine.spec.interfaces {
                c.engine.wake_operation(&i.name);
            }
            c.engine.received.notify_one();
            Ok(c.render(
                "done.html",
                Some(s),
                json!({ "flash": said.trim(), "back": back }),
            ))
        }
        Err(e) => Err(c.refuse(StatusCode::CONFLICT, Some(s), &e.0)),
    }
}

fn one(id: i64) -> Selection {
    Selection {
        ids: vec![id],
        ..Default::default()
    }
}

fn back_to_message(id: i64) -> serde_json::Value {
    json!([{ "href": format!("/console/messages/{id}"), "text": format!("Message {id}") },
           { "href": "/console/dead-letters", "text": "Dead letters" }])
}

pub async fn resend(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Page {
    let (s, _, actor) = checked(&c, &headers, &body, Action::Resend, "a resend").await?;
    run(&c, &s, back_to_message(id), move |e| {
        let store = e.journal.store().clone();
        operator::resend(
            &store,
            &e.spec,
            e.functions.chains(),
            &one(id),
            None,
            &actor,
        )
    })
    .await
}

pub async fn discard(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Page {
    let (s, _, actor) = checked(&c, &headers, &body, Action::Discard, "a discard").await?;
    run(&c, &s, back_to_message(id), move |e| {
        operator::discard(&e.journal.store().clone(), &one(id), &actor)
    })
    .await
}

/// The edit form's text as a message: lines as segments, ended by carriage returns.
fn as_message(text: &str) -> Vec<u8> {
    let mut out: Vec<u8> = text
        .split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| l.bytes().chain([b'\r']))
        .collect();
    if out.is_empty() {
        out.push(b'\r');
    }
    out
}

/// The segments of `before` and `after` side by side where they differ: (segment number,
/// before, after).
fn diff(before: &[u8], after: &[u8]) -> Vec<(usize, String, String)> {
    let lines = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .split(['\r', '\n'])
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (lines(before), lines(after));
    (0..a.len().max(b.len()))
        .filter_map(|i| {
            let (x, y) = (
                a.get(i).cloned().unwrap_or_default(),
                b.get(i).cloned().unwrap_or_default(),
            );
            (x != y).then_some((i + 1, x, y))
        })
        .collect()
}

/// Edit and resend: posted once without `confirm`, it shows the edit as a diff to confirm;
/// with `confirm`, the edited message replaces the dead letter's in a new row and is sent.
pub async fn edit(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Page {
    let (s, fields, actor) = checked(&c, &headers, &body, Action::Resend, "an edit").await?;
    let edited = as_message(field(&fields, "message").unwrap_or_default());
    if field(&fields, "confirm") != Some("yes") {
        let before = c
            .read(move |db| crate::journal::browse::message(db, id))
            .await?
            .map(|m| m.payload)
            .unwrap_or_default();
        let changes: Vec<serde_json::Value> = diff(&before, &edited)
            .into_iter()
            .map(|(n, b, a)| json!({ "n": n, "before": b, "after": a }))
            .collect();
        return Ok(c.render(
            "edit.html",
            Some(&s),
            json!({
                "id": id, "changes": changes, "reason": actor.why,
                "message": String::from_utf8_lossy(&edited).replace('\r', "\n"),
            }),
        ));
    }
    run(&c, &s, back_to_message(id), move |e| {
        let store = e.journal.store().clone();
        operator::resend(
            &store,
            &e.spec,
            e.functions.chains(),
            &one(id),
            Some(&edited),
            &actor,
        )
    })
    .await
}

fn back_to_review() -> serde_json::Value {
    json!([{ "href": "/console/review", "text": "Review queue" }])
}

pub async fn approve(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Page {
    let (s, _, actor) = checked(&c, &headers, &body, Action::Review, "an approval").await?;
    run(&c, &s, back_to_review(), move |e| {
        let held = Held {
            ids: vec![id],
            queue: None,
        };
        review::approve(
            &e.journal.store().clone(),
            &e.spec,
            e.functions.chains(),
            &held,
            &actor,
        )
    })
    .await
}

pub async fn reject(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Page {
    let (s, _, actor) = checked(&c, &headers, &body, Action::Review, "a rejection").await?;
    run(&c, &s, back_to_review(), move |e| {
        let held = Held {
            ids: vec![id],
            queue: None,
        };
        review::reject(&e.journal.store().clone(), &held, &actor)
    })
    .await
}

/// A replay: posted without `confirm`, a dry run that counts what it would replay and asks
/// to confirm; with `confirm`, the replay.
pub async fn replay(State(c): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Page {
    let (s, fields, actor) = checked(&c, &headers, &body, Action::Replay, "a replay").await?;
    let given = |name: &str| {
        field(&fields, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut bad = None;
    let mut when = |name: &str| {
        let text = given(name)?;
        let t = time::parse_instant(&text);
        if t.is_none() {
            bad = Some(format!(
                "{name} `{text}` is not a time: write 2026-12-07T09:30 (UTC)"
            ));
        }
        t
    };
    let (from_ms, to_ms) = (when("from"), when("to"));
    if let Some(why) = bad {
        return Err(c.refuse(StatusCode::BAD_REQUEST, Some(&s), &why));
    }
    let confirmed = given("confirm").as_deref() == Some("yes");
    let r = Replay {
        interface: given("interface").unwrap_or_default(),
        from_ms,
        to_ms,
        key: given("key"),
        version: given("version"),
        dry_run: !confirmed,
    };
    if confirmed {
        return run(
            &c,
            &s,
            json!([{ "href": "/console/replay", "text": "Replay" }]),
            move |e| operator::replay(&e.journal.store().clone(), &e.spec, &r, &actor),
        )
        .await;
    }
    let engine = c.engine.clone();
    let counted = tokio::task::spawn_blocking(move || {
        operator::replay(&engine.journal.store().clone(), &engine.spec, &r, &actor)
    })
    .await
    .map_err(|e| JournalError(e.to_string()))
    .and_then(|r| r);
    match counted {
        Ok(said) => Ok(c.render(
            "replay.html",
            Some(&s),
            json!({
                "interfaces": super::pages::interface_names(&c),
                "dry_run": said.trim(),
                "q": fields.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            }),
        )),
        Err(e) => Err(c.refuse(StatusCode::CONFLICT, Some(&s), &e.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_edits_are_shown_segment_by_segment() {
        let before = b"MSH|^~\\&|A\rPID|1||X\rPV1|1|I\r";
        let after = as_message("MSH|^~\\&|A\nPID|1||Y\n\nPV1|1|I\nNTE|1\n");
        assert_eq!(after, b"MSH|^~\\&|A\rPID|1||Y\rPV1|1|I\rNTE|1\r");
        assert_eq!(
            diff(before, &after),
            [
                (2, "PID|1||X".into(), "PID|1||Y".into()),
                (4, String::new(), "NTE|1".into())
            ]
        );
    }
}
