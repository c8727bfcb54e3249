//! The console's pages (login and logout, the dashboard, an interface, the search, the
//! message viewer, the trace, the dead letters, the review queue, the replay form, the
//! audit trail) and the checks every form passes before `actions` acts: a live session,
//! its CSRF token, and the role the action needs, refused here on the server and written
//! to the audit trail. Journal reads run on the blocking pool.

use super::auth::{self, Action, Session};
use super::view;
use super::Console;
use crate::journal::{self, browse, JournalError};
use crate::time;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub(super) type Page = Result<Response, Stop>;

/// A page drawn instead of the one asked for (the login page, a refusal), boxed: a
/// response is large, and most requests do not stop.
pub struct Stop(Box<Response>);

impl From<Response> for Stop {
    fn from(r: Response) -> Stop {
        Stop(Box::new(r))
    }
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl Console {
    /// The request's live session, or the way to the login page.
    pub(super) fn session(&self, headers: &HeaderMap) -> Result<Session, Stop> {
        auth::cookie_of(headers)
            .and_then(|t| self.sessions.get(&t))
            .ok_or_else(|| Redirect::to("/console/login").into_response().into())
    }

    /// Renders template `name` with `ctx`, the session and the estate's name beside it.
    pub(super) fn render(&self, name: &str, session: Option<&Session>, mut ctx: Value) -> Response {
        ctx["estate"] = json!(self.engine.spec.estate);
        if let Some(s) = session {
            ctx["session"] = json!({
                "operator": s.operator, "role": s.role.name(), "csrf": s.csrf,
                "phi": s.phi, "admin": s.role.may(Action::Audit),
            });
        }
        match self
            .templates
            .get_template(name)
            .and_then(|t| t.render(&ctx))
        {
            Ok(html) => (
                [
                    (header::CACHE_CONTROL, "no-store"),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
                    ),
                    (header::X_FRAME_OPTIONS, "DENY"),
                ],
                Html(html),
            )
                .into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "console page");
                (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be drawn\n").into_response()
            }
        }
    }

    /// A refusal page with status `status`.
    pub(super) fn refuse(&self, status: StatusCode, session: Option<&Session>, why: &str) -> Stop {
        let mut page = self.render("refused.html", session, json!({ "why": why }));
        *page.status_mut() = status;
        page.into()
    }

    /// Runs a read of the journal on the blocking pool.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&journal::db::Db) -> journal::db::DbResult<T> + Send + 'static,
    ) -> Result<T, Stop> {
        let store = self.engine.journal.store().clone();
        let done = tokio::task::spawn_blocking(move || {
            let conn = journal::open_read(&store)?;
            f(&conn.db()).map_err(JournalError::from)
        })
        .await;
        match done {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(journal_failed(&e.0).into()),
            Err(e) => Err(journal_failed(&e.to_string()).into()),
        }
    }

    /// Writes an audit row for a console event that is not an operator action.
    pub(super) async fn audit(&self, actor: &str, action: &str, detail: String) {
        let (actor, action) = (actor.to_string(), action.to_string());
        let written = self
            .engine
            .journal
            .write(move |c| {
                journal::operator::audit_row(c, time::now_ms(), &actor, &action, "", &detail)
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot audit a console event");
        }
    }
}

fn journal_failed(e: &str) -> Response {
    tracing::error!(error = %e, "console: journal read");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the journal could not be read; try again\n",
    )
        .into_response()
}

/// A form's fields.
pub(super) fn form(body: &Bytes) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

pub(super) fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The posted form's CSRF token is its session's, or the request is refused.
pub(super) fn csrf_checked(
    c: &Console,
    s: &Session,
    fields: &[(String, String)],
) -> Result<(), Stop> {
    match field(fields, "csrf") {
        Some(t) if auth::same(t, &s.csrf) => Ok(()),
        _ => Err(c.refuse(
            StatusCode::FORBIDDEN,
            Some(s),
            "the form carried no valid CSRF token; reload the page and try again",
        )),
    }
}

/// The operator's role allows `a`, or the request is refused (and audited).
pub(super) async fn role_checked(
    c: &Console,
    s: &Session,
    a: Action,
    what: &str,
) -> Result<(), Stop> {
    if s.role.may(a) {
        return Ok(());
    }
    c.audit(
        &s.operator,
        "console-refused",
        format!(
            "{what}: needs the {} role, has {}",
            a.needs(),
            s.role.name()
        ),
    )
    .await;
    Err(c.refuse(
        StatusCode::FORBIDDEN,
        Some(s),
        &format!(
            "{what} needs the {} role; you are {}",
            a.needs(),
            s.role.name()
        ),
    ))
}

pub async fn login_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if c.session(&headers).is_ok() {
        return Redirect::to("/console/").into_response();
    }
    login_form(&c, None)
}

/// The login page: the local accounts' form when there are local operators, the
/// provider's sign-in button when there is one, and `error` above them.
pub(super) fn login_form(c: &Console, error: Option<&str>) -> Response {
    c.render(
        "login.html",
        None,
        json!({
            "error": error,
            "local": !c.settings.operators.is_empty(),
            "sso": c.oidc.as_ref().map(|o| o.settings.label.clone()),
        }),
    )
}

pub async fn login(
    State(c): State<Arc<Console>>,
    client: Option<axum::Extension<crate::http_listener::ClientAddr>>,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    let name = field(&fields, "name").unwrap_or_default().to_string();
    let password = field(&fields, "password").unwrap_or_default().to_string();
    let address = client
        .map(|axum::Extension(a)| a.0.ip().to_string())
        .unwrap_or_default();
    let keys = [format!("operator/{name}"), format!("address/{address}")];
    if let Some(wait) = keys.iter().find_map(|k| c.sessions.throttled(k)) {
        let mut page = login_form(
            &c,
            Some(&format!(
                "too many failed logins; try again in {} minute(s)",
                wait.as_secs() / 60 + 1
            )),
        );
        *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return page;
    }
    let operator = c
        .settings
        .operators
        .iter()
        .find(|o| o.name == name)
        .cloned();
    // The hash is checked even for an unknown name, so the time taken does not tell.
    let hash = operator
        .as_ref()
        .map(|o| o.hash.clone())
        .unwrap_or_else(|| c.decoy.clone());
    let good = tokio::task::spawn_blocking(move || auth::verify(&hash, &password))
        .await
        .unwrap_or(false);
    match operator.filter(|_| good) {
        Some(op) => {
            for k in &keys {
                c.sessions.succeeded(k);
            }
            let id = c.sessions.open(&op);
            c.audit(&op.name, "console-login", format!("from {address}"))
                .await;
            (
                [(header::SET_COOKIE, auth::set_cookie(&id, c.secure))],
                Redirect::to("/console/"),
            )
                .into_response()
        }
        None => {
            for k in &keys {
                c.sessions.failed(k);
            }
            c.audit(&name, "console-login-failed", format!("from {address}"))
                .await;
            let mut page = login_form(&c, Some("unknown operator or wrong password"));
            *page.status_mut() = StatusCode::UNAUTHORIZED;
            page
        }
    }
}

pub async fn logout(State(c): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Page {
    let s = c.session(&headers)?;
    csrf_checked(&c, &s, &form(&body))?;
    if let Some(id) = auth::cookie_of(&headers) {
        c.sessions.close(&id);
    }
    c.audit(&s.operator, "console-logout", String::new()).await;
    Ok((
        [(header::SET_COOKIE, auth::clear_cookie(c.secure))],
        Redirect::to("/console/login"),
    )
        .into_response())
}

pub async fn dashboard(State(c): State<Arc<Console>>, headers: HeaderMap) -> Page {
    let s = c.session(&headers)?;
    let now = time::now_ms();
    let names: Vec<(String, bool)> = c
        .engine
        .spec
        .interfaces
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                i.role == accord_runtime::spec::Role::Operation,
            )
        })
        .collect();
    let rates = c.rates.per_minute(&c.engine, now);
    let rows = c
        .read(move |db| {
            names
                .into_iter()
                .map(|(n, operation)| browse::interface_now(db, &n, operation).map(|r| (n, r)))
                .collect::<journal::db::DbResult<Vec<_>>>()
        })
        .await?;
    let interfaces: Vec<Value> = rows
        .iter()
        .filter_map(|(name, r)| {
            let spec = c.engine.spec.interfaces.iter().find(|i| &i.name == name)?;
            let out = spec.role == accord_runtime::spec::Role::Operation;
            Some(json!({
                "interface": name,
                "direction": if out { "out" } else { "in" },
                "per_minute": rates.get(name).map(|r| format!("{r:.1}")),
                "queued": r.queued, "retrying": r.retrying, "dead": r.dead, "review": r.review,
                "last": r.last_at.map(time::iso),
                "oldest_queued": r.oldest_queued_at.map(|t| age(now - t)),
                "sla": sla_state(&c, spec, now),
                "peer": spec.endpoint.clone().filter(|_| out).map(|endpoint| json!({
                    "endpoint": endpoint,
                    "up": r.retrying == 0,
                    "last_ack": r.last_ack_at.map(time::iso),
                })),
            }))
        })
        .collect();
    let days = c.engine.config.tls_expiry_warning_days;
    let certificates: Vec<Value> = c
        .engine
        .config
        .tls
        .certificates()
        .iter()
        .map(|u| {
            let left = u.facts.seconds_left(now / 1000) / 86_400;
            json!({
                "endpoint": u.endpoint, "role": u.role, "subject": u.facts.subject,
                "expires": time::iso(u.facts.not_after * 1000), "days_left": left,
                "soon": left < i64::from(days),
            })
        })
        .collect();
    Ok(c.render(
        "dashboard.html",
        Some(&s),
        json!({
            "interfaces": interfaces, "now": time::iso(now), "certificates": certificates,
            "minutes": super::rates::WINDOW_MINUTES,
        }),
    ))
}

/// An interface's service levels as they stand: each the contract's, with what is
/// measured now and whether it holds.
fn sla_state(c: &Console, i: &accord_runtime::spec::Interface, now: i64) -> Vec<Value> {
    let mut out = vec![];
    if let Some((p, limit)) = i.sla.delivered {
        let measured = c.engine.sla.percentile(&i.name, p, now);
        out.push(json!({
            "what": format!("delivered p{p} < {}", age(limit as i64)),
            "now": measured.map(|m| format!("{m} ms")).unwrap_or_else(|| "nothing delivered lately".into()),
            "met": measured.is_none_or(|m| m < limit as i64),
        }));
    }
    if let Some(limit) = i.sla.quiet_ms {
        let quiet = c.engine.sla.quiet_for(&i.name, now);
        out.push(json!({
            "what": format!("quiet < {}", age(limit as i64)),
            "now": quiet.map(|q| format!("quiet {}", age(q))).unwrap_or_else(|| "nothing yet".into()),
            "met": quiet.is_none_or(|q| q < limit as i64),
        }));
    }
    out
}

/// A duration as a person reads it: `42 s`, `7 min`, `3 h 5 min`.
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// The message search's query string.
#[derive(Debug, Default, Clone, Deserialize, serde::Serialize)]
pub struct SearchQuery {
    interface: Option<String>,
    control: Option<String>,
    patient: Option<String>,
    state: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
}

/// Messages on a page.
const PAGE: u32 = 50;

pub async fn messages(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Page {
    let s = c.session(&headers)?;
    let given = |v: &Option<String>| {
        v.as_ref()
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
    };
    let mut error = None;
    let mut when = |v: &Option<String>, name: &str| -> Option<i64> {
        let text = given(v)?;
        let t = time::parse_instant(&text);
        if t.is_none() {
            error = Some(format!(
                "{name} `{text}` is not a time: write 2026-12-07T09:30 (UTC)"
            ));
        }
        t
    };
    let search = browse::Search {
        interface: given(&q.interface),
        control_id: given(&q.control),
        patient: given(&q.patient),
        state: given(&q.state),
        from_ms: when(&q.from, "from"),
        to_ms: when(&q.to, "to"),
        before: q.before,
        limit: PAGE,
    };
    let names: Vec<String> = c
        .engine
        .spec
        .interfaces
        .iter()
        .map(|i| i.name.clone())
        .collect();
    let rows = c.read(move |db| browse::search(db, &search)).await?;
    let next = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|last| {
            let more = SearchQuery {
                before: Some(last),
                ..q.clone()
            };
            format!(
                "/console/messages?{}",
                serde_urlencoded::to_string(&more).unwrap_or_default()
            )
        });
    let messages: Vec<Value> = rows
        .iter()
        .map(|m| {
            json!({
                "id": m.id, "received": time::iso(m.received_at), "interface": m.interface,
                "direction": m.direction, "state": m.state, "message_type": m.message_type,
                "control_id": m.control_id, "reason": m.reason,
                "patient": view::patient(m.patient_id.as_deref(), s.phi),
            })
        })
        .collect();
    Ok(c.render(
        "messages.html",
        Some(&s),
        json!({
            "messages": messages, "q": q, "next": next, "error": error,
            "interface_names": names, "states": browse::STATES,
        }),
    ))
}

pub async fn message(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Page {
    let s = c.session(&headers)?;
    let found = c
        .read(move |db| {
            let Some(m) = browse::message(db, id)? else {
                return Ok(None);
            };
            // What it was made from, for its lineage and beside it.
            let parent = match m.parent {
                Some(p) => browse::message(db, p)?,
                None => None,
            };
            let children = browse::children(db, id)?;
            // What was made from it, beside it: the deliveries and the canonical record.
            let mut made = vec![];
            for c in children
                .iter()
                .filter(|c| c.direction != "in")
                .take(SIDE_BY_SIDE)
            {
                made.extend(browse::message(db, c.id)?);
            }
            Ok(Some((m, parent, children, made, browse::events(db, id)?)))
        })
        .await?;
    let Some((m, parent, children, made, events)) = found else {
        return Err(c.refuse(
            StatusCode::NOT_FOUND,
            Some(&s),
            &format!("the journal has no message {id}"),
        ));
    };
    let received = parent.as_ref().map(|p| p.payload.clone());
    let l = &m.listed;
    let json_payload = view::is_json(&m.payload);
    let segments = if json_payload {
        None
    } else {
        view::hl7(&m.payload, s.phi)
    };
    let raw = if json_payload || !s.phi {
        if json_payload && !s.phi {
            view::MASK.to_string()
        } else {
            view::raw(&m.payload, s.phi)
        }
    } else {
        String::from_utf8_lossy(&m.payload).replace('\r', "\n")
    };
    let lineage = if l.direction == "out" {
        super::lineage::of(
            &c.engine.spec,
            &l.interface,
            &m.payload,
            received.as_deref(),
            s.phi,
        )
    } else {
        vec![]
    };
    // The lineage is this production's contract; a message processed under another
    // version of the interface was made by that version's mappings.
    let running = c
        .engine
        .spec
        .interfaces
        .iter()
        .find(|i| i.name == l.interface)
        .map(|i| i.version.clone());
    let other_version = running.filter(|v| *v != m.contract_version);
    let ctx = json!({
        "lineage": lineage,
        "other_version": other_version,
        "m": {
            "id": l.id, "interface": l.interface, "version": m.contract_version,
            "direction": l.direction, "state": l.state, "reason": l.reason, "detail": m.detail,
            "message_type": l.message_type, "control_id": l.control_id,
            "patient": view::patient(l.patient_id.as_deref(), s.phi),
            "received": time::iso(l.received_at), "peer": m.peer, "correlation": m.correlation,
            "parent": m.parent, "attempts": m.attempts, "ack_code": m.ack_code,
        },
        "segments": segments,
        "raw": raw,
        "ack": m.ack.as_ref().map(|a| String::from_utf8_lossy(a).replace('\r', "\n")),
        "children": children.iter().map(|c| json!({
            "id": c.id, "interface": c.interface, "direction": c.direction, "state": c.state,
            "control_id": c.control_id,
        })).collect::<Vec<_>>(),
        "events": events.iter().map(|(at, kind, detail)| json!({
            "at": time::iso(*at), "kind": kind, "detail": detail,
        })).collect::<Vec<_>>(),
        "may_act": s.role.may(Action::Resend),
        "side": side_by_side(&m, parent.as_ref(), &made, s.phi),
    });
    Ok(c.render("message.html", Some(&s), ctx))
}

#[derive(Debug, Default, Deserialize)]
pub struct DeadQuery {
    interface: Option<String>,
}

/// The most messages made from one shown beside it.
const SIDE_BY_SIDE: usize = 6;

/// The message beside what it became: a received message and the deliveries and record
/// made from it, or a delivery and the message it was made from. Empty when the message
/// has neither.
fn side_by_side(
    m: &browse::Stored,
    parent: Option<&browse::Stored>,
    made: &[browse::Stored],
    phi: bool,
) -> Vec<Value> {
    let column = |x: &browse::Stored, this: bool| {
        let l = &x.listed;
        let what = match l.direction.as_str() {
            "in" => "Received on",
            "record" => "Canonical record of",
            _ => "Sent on",
        };
        json!({
            "id": l.id, "this": this, "state": l.state,
            "title": format!("{what} {}", l.interface),
            "text": view::text(&x.payload, phi),
        })
    };
    match (parent, made.is_empty()) {
        (Some(p), _) => vec![column(p, false), column(m, true)],
        (None, false) => std::iter::once(column(m, true))
            .chain(made.iter().map(|x| column(x, false)))
            .collect(),
        (None, true) => vec![],
    }
}

pub async fn dead_letters(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<DeadQuery>,
) -> Page {
    let s = c.session(&headers)?;
    let interface = q.interface.filter(|i| !i.is_empty());
    let rows = c
        .read(move |db| {
            journal::operator::dead_letters(
                db,
                &journal::operator::DeadFilter {
                    interface: interface.as_deref(),
                    ..Default::default()
                },
            )
        })
        .await?;
    let dead: Vec<Value> = rows
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "received": time::iso(d.received_at), "interface": d.interface,
                "direction": d.direction, "reason": d.reason, "detail": d.detail,
                "control_id": d.control_id, "attempts": d.attempts,
            })
        })
        .collect();
    Ok(c.render(
        "dead.html",
        Some(&s),
        json!({ "dead": dead, "may_act": s.role.may(Action::Resend) }),
    ))
}

pub async fn audit(State(c): State<Arc<Console>>, headers: HeaderMap) -> Page {
    let s = c.session(&headers)?;
    role_checked(&c, &s, Action::Audit, "the audit trail").await?;
    let rows = c.read(journal::operator::audit_entries).await?;
    let audit: Vec<Value> = rows
        .iter()
        .take(500)
        .map(|(_, at, actor, action, messages, detail)| {
            json!({ "at": time::iso(*at), "actor": actor, "action": action,
                    "messages": messages, "detail": detail })
        })
        .collect();
    Ok(c.render("audit.html", Some(&s), json!({ "audit": audit })))
}

/// The estate's interface names, for the forms' choices.
pub(super) fn interface_names(c: &Console) -> Vec<String> {
    c.engine
        .spec
        .interfaces
        .iter()
        .map(|i| i.name.clone())
        .collect()
}

pub async fn review(State(c): State<Arc<Console>>, headers: HeaderMap) -> Page {
    let s = c.session(&headers)?;
    let rows = c.read(journal::review::held).await?;
    let held: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "interface": r.interface,
                "queue": crate::review::queue_of(&r.detail),
                "received": time::iso(r.received_at), "detail": r.detail,
            })
        })
        .collect();
    Ok(c.render(
        "review.html",
        Some(&s),
        json!({ "held": held, "may_act": s.role.may(Action::Review) }),
    ))
}

pub async fn replay_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Page {
    let s = c.session(&headers)?;
    role_checked(&c, &s, Action::Replay, "a replay").await?;
    Ok(c.render(
        "replay.html",
        Some(&s),
        json!({ "interfaces": interface_names(&c), "q": {} }),
    ))
}

pub async fn trace(State(c): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<i64>) -> Page {
    let s = c.session(&headers)?;
    let found = c
        .read(move |db| {
            let Some((correlation, hops)) = browse::hops(db, id)? else {
                return Ok(None);
            };
            let mut out = vec![];
            for h in hops {
                let events = browse::events(db, h.listed.id)?;
                out.push((h, events));
            }
            Ok(Some((correlation, out)))
        })
        .await?;
    let Some((correlation, hops)) = found else {
        return Err(c.refuse(
            StatusCode::NOT_FOUND,
            Some(&s),
            &format!("the journal has no message {id}"),
        ));
    };
    let start = hops.first().map(|(h, _)| h.listed.received_at).unwrap_or(0);
    let hops: Vec<Value> = hops
        .iter()
        .map(|(h, events)| {
            let l = &h.listed;
            json!({
                "id": l.id, "direction": l.direction, "interface": l.interface,
                "version": h.version, "message_type": l.message_type, "state": l.state,
                "reason": l.reason,
                "events": events.iter().map(|(at, kind, detail)| json!({
                    "at": time::iso(*at), "after": at - start, "kind": kind,
                    "detail": detail.as_deref().map(|d| mask_detail(d, s.phi)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(c.render(
        "trace.html",
        Some(&s),
        json!({ "correlation": correlation, "hops": hops }),
    ))
}

/// An event's detail as an operator not granted patient data reads it: the ownership
/// decisions name the patient's key, which is masked.
fn mask_detail(detail: &str, phi: bool) -> String {
    if phi {
        return detail.to_string();
    }
    detail
        .split(' ')
        .map(|w| {
            if w.chars().filter(char::is_ascii_digit).count() >= 6 {
                view::MASK
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn interface(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Page {
    let s = c.session(&headers)?;
    let Some(spec) = c
        .engine
        .spec
        .interfaces
        .iter()
        .find(|i| i.name == name)
        .cloned()
    else {
        return Err(c.refuse(
            StatusCode::NOT_FOUND,
            Some(&s),
            &format!("this production has no interface `{name}`"),
        ));
    };
    let now = time::now_ms();
    let since = now - CHART_HOURS * 3_600_000;
    let window = (since / 60_000, now / 60_000);
    let wanted = name.clone();
    let minutes = c
        .read(move |db| browse::minutes(db, &wanted, since))
        .await?;
    // Columns of five minutes: messages in each, and their mean latency.
    let mut buckets: std::collections::BTreeMap<i64, (f64, f64, f64)> = Default::default();
    for m in &minutes {
        let b = buckets.entry(m.minute / STEP * STEP).or_default();
        b.0 += m.messages as f64;
        if let Some(mean) = m.mean_ms {
            b.1 += mean * m.messages as f64;
            b.2 += m.messages as f64;
        }
    }
    let counts: Vec<(i64, f64)> = buckets.iter().map(|(at, b)| (*at, b.0)).collect();
    let latency: Vec<(i64, f64)> = buckets
        .iter()
        .filter(|(_, b)| b.2 > 0.0)
        .map(|(at, b)| (*at, b.1 / b.2))
        .collect();
    Ok(c.render(
        "interface.html",
        Some(&s),
        json!({
            "name": spec.name, "version": spec.version, "from": spec.from, "to": spec.to,
            "role": format!("{:?}", spec.role).to_lowercase(), "endpoint": spec.endpoint,
            "hours": CHART_HOURS,
            "throughput": super::charts::columns("Messages in five minutes", window, STEP, &counts, "msg"),
            "latency": super::charts::columns(
                "Mean time from queued to acknowledged",
                window,
                STEP,
                &latency,
                "ms",
            ),
            "sla": sla_state(&c, &spec, now),
        }),
    ))
}

/// How many hours the interface page's charts show.
const CHART_HOURS: i64 = 6;

/// The minutes of a chart's column.
const STEP: i64 = 5;
