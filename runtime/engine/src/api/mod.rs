//! The FHIR facade of an API interface (`pattern: api`, `serves: ...`): an HTTP server on
//! the interface's endpoint that answers FHIR R4 reads and searches over the records the
//! production has stored (the ownership matrix's copies), each made into a resource by
//! the interface's mapping. `/metadata` is a CapabilityStatement generated from the
//! contract. Every other request needs an OAuth2 bearer JWT (RS256 against the
//! configuration's JWKS, or HS256 with its shared secret) whose SMART scopes grant the
//! interaction (`patient/Patient.rs`, `system/*.read`); a `patient/` scope limits the
//! answer to the token's patient. An interface that `accepts:` a resource takes updates
//! (`PUT`, scope `.u`): the resource is read into its record by the interface's mapping
//! and the ownership matrix decides each changed field with the client's system as the
//! writer; a field the matrix does not let it write refuses the whole update (`403`,
//! which fields and why), a field that waits for review too (`422`). Every access,
//! allowed or not, is written to the journal's `audit` table: who, what, when and the
//! outcome.

mod create;
mod index;
mod token;

use super::http_listener::ClientAddr;
use super::{time, Engine};
use accord_runtime::spec::{Interface, Served};
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use token::{Keys, Scope, Token};

struct Facade {
    engine: Arc<Engine>,
    interface: Interface,
    /// The keys bearer tokens are checked with.
    keys: Keys,
    /// The address clients reach the facade at, for links (never the `Host` header).
    base_url: String,
    /// Read connections to the journal, kept between requests.
    readers: std::sync::Mutex<Vec<rusqlite::Connection>>,
    /// Held while the search index catches up (see [`index::catch_up`]).
    indexing: tokio::sync::Mutex<()>,
    /// Refused tokens per client address, audited once a minute.
    refused_logins: super::notices::Notices,
}

/// Serves the facade of `interface` on `listener` until the process ends.
pub async fn serve(engine: Arc<Engine>, interface: String, listener: tokio::net::TcpListener) {
    let Some(i) = engine
        .spec
        .interfaces
        .iter()
        .find(|i| i.name == interface)
        .cloned()
    else {
        return;
    };
    let keys = Keys::new(&engine.config.auth);
    let i_endpoint = i
        .endpoint
        .as_deref()
        .and_then(|e| engine.config.endpoints.get(e))
        .cloned();
    let tls = i
        .endpoint
        .as_deref()
        .and_then(|e| engine.config.tls.server(e));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = match (&engine.config.api_base_url, listener.local_addr()) {
        (Some(url), _) => url.clone(),
        (None, Ok(addr)) => format!("{scheme}://{addr}"),
        (None, Err(_)) => String::new(),
    };
    let facade = Arc::new(Facade {
        engine: engine.clone(),
        interface: i,
        keys,
        base_url,
        readers: std::sync::Mutex::new(vec![]),
        indexing: tokio::sync::Mutex::new(()),
        refused_logins: super::notices::Notices::default(),
    });
    // The search index follows the stored records in the background too, so a search
    // after a bulk load does not wait for it.
    let behind = facade.clone();
    tokio::spawn(async move {
        loop {
            for served in &behind.interface.serves {
                if let Err(e) = index::catch_up(&behind, served).await {
                    tracing::warn!(interface = %behind.interface.name, error = %e, "search index not brought up to date");
                }
            }
            audit_refused_logins(&behind).await;
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    });
    let app = Router::new()
        .route("/metadata", get(metadata))
        .route("/{resource}", get(search).post(create::create))
        .route("/{resource}/{id}", get(read).put(update))
        .with_state(facade);
    let how = super::http_listener::Listening {
        tls,
        header_timeout: i_endpoint.and_then(|e| e.timeout().ok().flatten()),
    };
    super::http_listener::serve(engine, interface, listener, app, how).await;
}

// ---- answers -------------------------------------------------------------------------------

/// A resource with its version as the `ETag`.
fn versioned(status: StatusCode, resource: &Value) -> Response {
    let mut r = fhir(status, serde_json::to_vec(resource).unwrap_or_default());
    if let Some(tag) = etag(resource).and_then(|t| header::HeaderValue::from_str(&t).ok()) {
        r.headers_mut().insert(header::ETAG, tag);
    }
    r
}

fn fhir(status: StatusCode, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/fhir+json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// An OperationOutcome with one issue.
fn outcome(status: StatusCode, code: &str, why: &str) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": code, "diagnostics": why }]
    });
    let mut r = fhir(status, serde_json::to_vec(&body).unwrap_or_default());
    if status == StatusCode::UNAUTHORIZED {
        let v = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            why.replace('"', "'")
        );
        if let Ok(v) = header::HeaderValue::from_str(&v) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

async fn metadata(State(f): State<Arc<Facade>>) -> Response {
    let mut resources: Vec<Value> = f
        .interface
        .serves
        .iter()
        .map(|s| {
            let mut interactions =
                vec![json!({ "code": "read" }), json!({ "code": "search-type" })];
            let updated = f.interface.accepts.iter().any(|a| a.resource == s.resource);
            if updated {
                interactions.push(json!({ "code": "update" }));
            }
            json!({
                "type": s.resource,
                "interaction": interactions,
                // Every resource has its record's change number as `meta.versionId`, and an
                // update may name the version it was made from (`If-Match`).
                "versioning": if updated { "versioned-update" } else { "versioned" },
                "searchParam": [
                    { "name": "_id", "type": "token" },
                    { "name": "identifier", "type": "token" },
                    { "name": "patient", "type": "reference" }
                ]
            })
        })
        .collect();
    // What clients create and the routes send on.
    resources.extend(
        f.interface
            .accepts
            .iter()
            .filter(|a| create::creates(&f, a))
            .map(|a| json!({ "type": a.resource, "interaction": [{ "code": "create" }] })),
    );
    let spec = &f.engine.spec;
    let body = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": time::iso(time::now_ms()),
        "kind": "instance",
        "software": { "name": "accord", "version": env!("CARGO_PKG_VERSION") },
        "implementation": {
            "description": format!("{} {}: interface {} {}", spec.estate, spec.version, f.interface.name, f.interface.version)
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{
                    "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR" }]
                }],
                "description": "OAuth2 bearer JWTs with SMART v2 scopes (patient/, user/ or system/ Resource.rs)"
            },
            "resource": resources
        }]
    });
    fhir(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

// ---- tokens and scopes -----------------------------------------------------------------------

/// What a token may see of `resource` for interaction `perm` (`r` read, `s` search):
/// everything, one patient's, or nothing.
enum Grant {
    All,
    Patient(String),
}

fn grant(token: &Token, resource: &str, perm: char) -> Result<Grant, String> {
    let fits = |s: &&Scope| (s.resource == resource || s.resource == "*") && s.perms.contains(perm);
    let contexts: Vec<&str> = token
        .scopes
        .iter()
        .filter(fits)
        .map(|s| s.context.as_str())
        .collect();
    if contexts.contains(&"system") {
        return Ok(Grant::All);
    }
    if contexts.contains(&"patient") {
        return token
            .patient
            .clone()
            .map(Grant::Patient)
            .ok_or_else(|| "a patient/ scope needs the token's `patient` claim".to_string());
    }
    if contexts.contains(&"user") {
        // A user sees what that user may see. The only users this API knows the rights
        // of are patients (`fhirUser` Patient/ID): their own compartment.
        return match token.fhir_user.as_deref().and_then(|u| u.strip_prefix("Patient/")) {
            Some(p) if !p.is_empty() => Ok(Grant::Patient(p.to_string())),
            _ => Err(
                "a user/ scope is granted to a patient user only (`fhirUser` Patient/ID): this API keeps no access rules for other users; a back-end client uses a system/ scope"
                    .to_string(),
            ),
        };
    }
    let verb = match perm {
        'r' => "read",
        's' => "search",
        'u' => "update",
        _ => "create",
    };
    Err(format!(
        "no scope of the token lets it {verb} {resource} (it needs e.g. `patient/{resource}.{perm}`)"
    ))
}

/// Whether a resource belongs to patient `id`'s compartment.
fn in_compartment(resource: &Value, id: &str) -> bool {
    let want = format!("Patient/{id}");
    if resource["resourceType"] == "Patient" {
        return resource["id"] == id;
    }
    ["subject", "patient"]
        .iter()
        .any(|k| resource[*k]["reference"].as_str() == Some(want.as_str()))
}

// ---- data ------------------------------------------------------------------------------------

/// Runs `go` on one of the facade's read connections to the journal (opened if none is
/// free, kept for the next request).
fn with_reader<T>(
    f: &Facade,
    go: impl FnOnce(&rusqlite::Connection) -> Result<T, String>,
) -> Result<T, String> {
    let pooled = f.readers.lock().ok().and_then(|mut r| r.pop());
    let c = match pooled {
        Some(c) => c,
        None => {
            super::journal::open_read(&f.engine.config.journal_path).map_err(|e| e.to_string())?
        }
    };
    let out = go(&c);
    if let Ok(mut r) = f.readers.lock() {
        r.push(c);
    }
    out
}

/// A stored record as JSON from its (field, value) rows: the matrix stores the governed
/// fields, and the key fields are the row's key.
fn record_from(served: &Served, key: &str, fields: Vec<(String, String)>) -> Value {
    let mut rec = json!({});
    for (field, value) in fields {
        let value: Value = serde_json::from_str(&value).unwrap_or(Value::Null);
        accord_runtime::steward::set_path(&mut rec, &field, value);
    }
    for (field, part) in served.keys.iter().zip(key.split('|')) {
        if accord_runtime::steward::get_path(&rec, field).is_null() {
            accord_runtime::steward::set_path(&mut rec, field, Value::String(part.to_string()));
        }
    }
    rec
}

/// A stored record as JSON, and when it last changed (ms).
struct StoredRecord {
    value: Value,
    updated_at: i64,
}

/// The stored record of `served` whose key is `key`, if any field of it is stored.
fn stored_record(
    c: &rusqlite::Connection,
    served: &Served,
    key: &str,
) -> Result<Option<StoredRecord>, String> {
    let fields =
        super::journal::facade::record_fields(c, &served.record, key).map_err(|e| e.to_string())?;
    if fields.is_empty() {
        return Ok(None);
    }
    let updated_at = fields.iter().map(|f| f.2).max().unwrap_or(0);
    let fields = fields.into_iter().map(|(f, v, _)| (f, v)).collect();
    Ok(Some(StoredRecord {
        value: record_from(served, key, fields),
        updated_at,
    }))
}

/// The key and change number of the stored record `record` whose FHIR id is `id`.
fn id_row(
    c: &rusqlite::Connection,
    record: &str,
    id: &str,
) -> Result<Option<(String, i64)>, String> {
    super::journal::facade::id_row(c, record, id).map_err(|e| e.to_string())
}

/// The change number of the stored record `record` whose FHIR id is `id`.
fn version_of(c: &rusqlite::Connection, record: &str, id: &str) -> Result<Option<i64>, String> {
    Ok(id_row(c, record, id)?.map(|(_, version)| version))
}

/// The key of the stored record of `served` whose FHIR id is `id` (`record_ids`).
fn key_of_id(
    c: &rusqlite::Connection,
    served: &Served,
    id: &str,
) -> Result<Option<String>, String> {
    Ok(id_row(c, &served.record, id)?.map(|(key, _)| key))
}

/// The resource the interface's mapping makes of `rec`; `None` when it makes none (or
/// cannot: said in the log, and the record left out).
fn serve_record(f: &Facade, served: &Served, rec: &Value) -> Result<Option<Value>, String> {
    match (f.engine.functions.serve)(&f.interface.name, &served.resource, rec) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| e.to_string()),
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::warn!(interface = %f.interface.name, error = %e, "a stored record gives no resource");
            Ok(None)
        }
    }
}

/// The resource made of the stored record `key` of `served`, without its `meta` (what
/// the search index works its terms out from).
fn bare_resource(
    f: &Facade,
    c: &rusqlite::Connection,
    served: &Served,
    key: &str,
) -> Result<Option<Value>, String> {
    match stored_record(c, served, key)? {
        Some(stored) => serve_record(f, served, &stored.value),
        None => Ok(None),
    }
}

/// The resource made of the stored record `key` of `served`, its `meta` giving the
/// record's change number as `versionId` and when it last changed as `lastUpdated`.
fn fhir_record(
    f: &Facade,
    c: &rusqlite::Connection,
    served: &Served,
    key: &str,
) -> Result<Option<Value>, String> {
    let Some(stored) = stored_record(c, served, key)? else {
        return Ok(None);
    };
    let Some(mut resource) = serve_record(f, served, &stored.value)? else {
        return Ok(None);
    };
    if let Some(meta) = resource
        .as_object_mut()
        .map(|o| o.entry("meta").or_insert_with(|| json!({})))
    {
        let id = accord_runtime::fhir::write::id_of_key(&served.record, key);
        if let Some(version) = version_of(c, &served.record, &id)? {
            meta["versionId"] = json!(version.to_string());
        }
        if let Some(at) = instant(stored.updated_at) {
            meta["lastUpdated"] = json!(at);
        }
    }
    Ok(Some(resource))
}

/// Milliseconds since the epoch as a FHIR instant (UTC).
fn instant(ms: i64) -> Option<String> {
    let t = jiff::Timestamp::from_millisecond(ms).ok()?;
    Some(t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// The weak ETag of a resource's version: `W/"N"`.
fn etag(resource: &Value) -> Option<String> {
    resource["meta"]["versionId"]
        .as_str()
        .map(|v| format!("W/\"{v}\""))
}

/// The version an `If-Match` header names (`W/"N"` or `"N"`); `Err` when it names none.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, String> {
    let Some(h) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = h.to_str().unwrap_or_default().trim();
    let bare = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    bare.parse::<i64>()
        .map(Some)
        .map_err(|_| format!("If-Match `{text}` names no version of this server's (W/\"N\")"))
}

/// The resource made of the stored record of `served` whose id is `id` (found through
/// `record_ids`), as JSON.
fn resources(f: &Facade, served: &Served, id: &str) -> Result<Vec<Value>, String> {
    with_reader(f, |c| {
        let Some(key) = key_of_id(c, served, id)? else {
            return Ok(vec![]);
        };
        Ok(fhir_record(f, c, served, &key)?.into_iter().collect())
    })
}

/// The resources a search by the indexed `term` can match: the scope's index is brought
/// up to date first (so it misses no change committed before the search), then the
/// resources it finds by `term` are served.
async fn indexed(f: &Arc<Facade>, served: Served, term: String) -> Result<Vec<Value>, String> {
    index::catch_up(f, &served).await?;
    let scope = index::scope(f, &served);
    let f = f.clone();
    tokio::task::spawn_blocking(move || {
        with_reader(&f, |c| {
            let mut out = vec![];
            for id in index::found(c, &scope, &term)? {
                if let Some(key) = key_of_id(c, &served, &id)? {
                    out.extend(fhir_record(&f, c, &served, &key)?);
                }
            }
            Ok(out)
        })
    })
    .await
    .map_err(|e| e.to_string())?
}

// ---- interactions ----------------------------------------------------------------------------

/// [`resources`] off the async threads (it reads the journal).
async fn load(f: &Arc<Facade>, served: Served, id: String) -> Result<Vec<Value>, String> {
    let f = f.clone();
    tokio::task::spawn_blocking(move || resources(&f, &served, &id))
        .await
        .map_err(|e| e.to_string())?
}

/// A request that failed inside: audited, and answered with a 500 and the reason.
async fn failed(f: &Facade, token: &Token, action: String, why: &str) -> Response {
    audit(
        f,
        &token.who,
        action,
        StatusCode::INTERNAL_SERVER_ERROR,
        why,
    )
    .await;
    outcome(StatusCode::INTERNAL_SERVER_ERROR, "exception", why)
}

/// Audits the refused tokens no later refusal has reported: one row per client address
/// with how many since its last row.
async fn audit_refused_logins(f: &Facade) {
    for (client, _, n) in f.refused_logins.overdue() {
        let detail = format!("{n} more requests with a refused token from {client}");
        audit(
            f,
            "anonymous",
            "refused logins".into(),
            StatusCode::UNAUTHORIZED,
            &detail,
        )
        .await;
    }
}

/// Audits a request refused after its token was accepted (who, what it asked, why) and
/// answers it with an OperationOutcome.
async fn refused(
    f: Arc<Facade>,
    who: String,
    action: String,
    status: StatusCode,
    code: &'static str,
    why: String,
) -> Response {
    audit(&f, &who, action, status, &why).await;
    outcome(status, code, &why)
}

async fn audit(f: &Facade, who: &str, action: String, status: StatusCode, detail: &str) {
    let (who, detail) = (who.to_string(), format!("{} {}", status.as_u16(), detail));
    let action = kept(&action);
    let name = f.interface.name.clone();
    let _ = f
        .engine
        .journal
        .write(move |c| {
            let action = format!("{name}: {action}");
            super::journal::facade::access_audit(c, time::now_ms(), &who, &action, &detail)
        })
        .await;
}

/// The longest action an audit row keeps: a client's query string is theirs to make long.
const ACTION_KEPT: usize = 512;

/// `action`, cut to [`ACTION_KEPT`] bytes (on a character boundary) and marked when cut.
fn kept(action: &str) -> String {
    if action.len() <= ACTION_KEPT {
        return action.to_string();
    }
    let mut end = ACTION_KEPT;
    while !action.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &action[..end], action.len())
}

/// Checks the token and the scope for `perm` on `resource`; answers and audits a refusal.
/// A refused token is counted in the metrics every time and audited once per client
/// address a minute, with how many were refused since (see [`audit_refused_logins`]): an
/// anonymous flood cannot grow the journal a row and an fsync per request.
async fn admit(
    f: &Facade,
    client: ClientAddr,
    headers: &HeaderMap,
    resource: &str,
    perm: char,
    action: &str,
    among: &[Served],
) -> Result<(Token, Grant, Served), Response> {
    let token = match token::authorize(&f.keys, headers) {
        Ok(t) => t,
        Err(why) => {
            let label = super::metrics::RefusedLabel {
                listener: f.interface.name.clone(),
                reason: "token".into(),
            };
            f.engine.metrics.http_refused.get_or_create(&label).inc();
            if let Some(n) = f.refused_logins.note(client.0.ip(), "token") {
                let from = format!(
                    "{why} (from {}; {n} refused from there since the last entry)",
                    client.0.ip()
                );
                audit(
                    f,
                    "anonymous",
                    kept(action),
                    StatusCode::UNAUTHORIZED,
                    &from,
                )
                .await;
                tracing::warn!(interface = %f.interface.name, client = %client.0, refused = n, reason = %why, "bearer token refused");
            }
            return Err(outcome(StatusCode::UNAUTHORIZED, "login", &why));
        }
    };
    let Some(served) = among.iter().find(|s| s.resource == resource).cloned() else {
        let why = if perm == 'c' {
            format!("this API takes no {resource} from its clients")
        } else {
            format!("this API serves no {resource}")
        };
        audit(f, &token.who, action.into(), StatusCode::NOT_FOUND, &why).await;
        return Err(outcome(StatusCode::NOT_FOUND, "not-supported", &why));
    };
    match grant(&token, resource, perm) {
        Ok(g) => Ok((token, g, served)),
        Err(why) => {
            audit(f, &token.who, action.into(), StatusCode::FORBIDDEN, &why).await;
            Err(outcome(StatusCode::FORBIDDEN, "forbidden", &why))
        }
    }
}

async fn read(
    State(f): State<Arc<Facade>>,
    Path((resource, id)): Path<(String, String)>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
) -> Response {
    let action = format!("read {resource}/{id}");
    let (token, grant, served) = match admit(
        &f,
        client,
        &headers,
        &resource,
        'r',
        &action,
        &f.interface.serves,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let found = match load(&f, served, id.clone()).await {
        Ok(v) => v.into_iter().find(|r| r["id"] == id.as_str()),
        Err(e) => return failed(&f, &token, action, &e).await,
    };
    // Outside the token's patient is answered as not found: its existence is not told.
    let visible = found.filter(|r| match &grant {
        Grant::All => true,
        Grant::Patient(p) => in_compartment(r, p),
    });
    match visible {
        Some(r) => {
            audit(&f, &token.who, action, StatusCode::OK, "").await;
            versioned(StatusCode::OK, &r)
        }
        None => {
            let why = format!("no {resource} with id {id}");
            audit(&f, &token.who, action, StatusCode::NOT_FOUND, &why).await;
            outcome(StatusCode::NOT_FOUND, "not-found", &why)
        }
    }
}

/// The search parameters this facade takes.
const PARAMS: [&str; 7] = [
    "_id",
    "identifier",
    "patient",
    "subject",
    "_format",
    "_count",
    "_offset",
];

/// Refuses a search parameter this facade does not take.
fn known(params: &BTreeMap<String, String>) -> Result<(), String> {
    match params.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        None => Ok(()),
        Some(other) => Err(format!(
            "unknown search parameter `{other}`: this API takes _id, identifier and patient (and _count, _offset)"
        )),
    }
}

/// Whether a resource matches the search parameters (`_id`, `identifier` as `value` or
/// `system|value`, `patient`/`subject` as `id` or `Patient/id`); [`known`] has refused
/// any other but the result parameters.
fn matches(r: &Value, params: &BTreeMap<String, String>) -> bool {
    params.iter().all(|(k, v)| match k.as_str() {
        "_id" => r["id"] == v.as_str(),
        "identifier" => {
            let (system, value) = match v.split_once('|') {
                Some((s, v)) => (Some(s), v),
                None => (None, v.as_str()),
            };
            r["identifier"].as_array().into_iter().flatten().any(|i| {
                i["value"] == value && system.is_none_or(|s| s.is_empty() || i["system"] == s)
            })
        }
        "patient" | "subject" => {
            let id = v.strip_prefix("Patient/").unwrap_or(v);
            in_compartment(r, id)
        }
        // `_format`, `_count`, `_offset`: they shape the answer, not what matches.
        _ => true,
    })
}

/// A page of search results: `_count` of them (default [`PAGE`], at most [`MAX_PAGE`])
/// from the `_offset`th.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Page {
    count: usize,
    offset: usize,
}

const PAGE: usize = 50;
const MAX_PAGE: usize = 1000;
const MAX_OFFSET: usize = i64::MAX as usize - MAX_PAGE - 1;

fn page_of(params: &BTreeMap<String, String>) -> Result<Page, String> {
    let number = |k: &str, default: usize| match params.get(k) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| format!("`{k}` must be a whole number, not `{v}`")),
    };
    Ok(Page {
        count: number("_count", PAGE)?.min(MAX_PAGE),
        // Past the last record is an empty page, however far past (the journal's offsets
        // are signed 64-bit numbers).
        offset: number("_offset", 0)?.min(MAX_OFFSET),
    })
}

/// The search's URL for the page at `offset`, with the other parameters as they came,
/// under the facade's configured address (a client's `Host` header is not trusted).
fn page_url(
    base: &str,
    resource: &str,
    params: &BTreeMap<String, String>,
    page: Page,
    offset: usize,
) -> String {
    let mut query: Vec<String> = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "_count" | "_offset"))
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    query.push(format!("_count={}", page.count));
    query.push(format!("_offset={offset}"));
    format!("{base}/{resource}?{}", query.join("&"))
}

/// A query-string value, percent-encoded where it must be.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One window of every stored record of `served`, in id order, made into resources;
/// and whether more follow.
fn window(f: &Facade, served: &Served, page: Page) -> Result<(Vec<Value>, bool), String> {
    with_reader(f, |c| {
        let rows = super::journal::facade::record_keys(
            c,
            &served.record,
            page.count as i64 + 1,
            page.offset as i64,
        )
        .map_err(|e| e.to_string())?;
        let more = rows.len() > page.count;
        let mut out = vec![];
        for key in rows.iter().take(page.count) {
            out.extend(fhir_record(f, c, served, key)?);
        }
        Ok((out, more))
    })
}

async fn search(
    State(f): State<Arc<Facade>>,
    Path(resource): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
) -> Response {
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let action = format!("search {resource}?{}", query.join("&"));
    let (token, grant, served) = match admit(
        &f,
        client,
        &headers,
        &resource,
        's',
        &action,
        &f.interface.serves,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Parameters this facade does not know are refused whatever is stored.
    let page = match known(&params).and_then(|()| page_of(&params)) {
        Ok(p) => p,
        Err(why) => {
            audit(&f, &token.who, action, StatusCode::BAD_REQUEST, &why).await;
            return outcome(StatusCode::BAD_REQUEST, "not-supported", &why);
        }
    };
    // An id is read through its record's id, a patient or identifier (or a patient
    // scope's own compartment) through the search index; only a search by none of them,
    // by a token that sees everyone, goes through the stored records, a page at a time.
    let term = params
        .iter()
        .find_map(|(k, v)| index::term_of(k, v))
        .or_else(|| match &grant {
            Grant::Patient(p) => index::term_of("patient", p),
            Grant::All => None,
        });
    let (candidates, paged) = match (params.get("_id"), term) {
        (Some(id), _) => (load(&f, served, id.clone()).await, None),
        (None, Some(term)) => (indexed(&f, served, term).await, None),
        (None, None) => {
            let f2 = f.clone();
            let windowed = tokio::task::spawn_blocking(move || window(&f2, &served, page))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            match windowed {
                Ok((v, more)) => (Ok(v), Some(more)),
                Err(e) => (Err(e), None),
            }
        }
    };
    let all = match candidates {
        Ok(v) => v,
        Err(e) => return failed(&f, &token, action, &e).await,
    };
    let mut hits = vec![];
    for r in all {
        let visible = match &grant {
            Grant::All => true,
            Grant::Patient(p) => in_compartment(&r, p),
        };
        if visible && matches(&r, &params) {
            hits.push(r);
        }
    }
    // Found whole (by id or index): the page is cut here and the total is known. Read a
    // window at a time: the page is the window, and no total is counted.
    let (total, more, hits) = match paged {
        Some(more) => (None, more, hits),
        None => {
            let total = hits.len();
            let more = total > page.offset.saturating_add(page.count);
            let hits: Vec<Value> = hits
                .into_iter()
                .skip(page.offset)
                .take(page.count)
                .collect();
            (Some(total), more, hits)
        }
    };
    let entries: Vec<Value> = hits
        .into_iter()
        .map(|r| {
            let full = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            );
            json!({ "fullUrl": full, "resource": r, "search": { "mode": "match" } })
        })
        .collect();
    let found = entries.len();
    let mut links = vec![json!({
        "relation": "self",
        "url": page_url(&f.base_url, &resource, &params, page, page.offset)
    })];
    // `_count=0` asks how many match, not for a page: there is no next one.
    if more && page.count > 0 {
        links.push(json!({
            "relation": "next",
            "url": page_url(&f.base_url, &resource, &params, page, page.offset + page.count)
        }));
    }
    let mut body = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": entries
    });
    if let Some(total) = total {
        body["total"] = json!(total);
    }
    if found == 0 {
        if let Some(o) = body.as_object_mut() {
            o.remove("entry");
        }
    }
    audit(
        &f,
        &token.who,
        action,
        StatusCode::OK,
        &format!("{found} found"),
    )
    .await;
    fhir(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// A client's body as the resource it must be: a JSON object of type `resource` with only
/// elements FHIR R4 defines; or the refusal (status, OperationOutcome code, why).
fn body_resource(body: &[u8], resource: &str) -> Result<Value, (StatusCode, &'static str, String)> {
    let bad = |code, why| Err((StatusCode::BAD_REQUEST, code, why));
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) if v["resourceType"] == resource => {
            // What FHIR R4 does not define would be dropped unseen by the mapping: the
            // client is told instead.
            let unknown = accord_runtime::fhir::dict::r4().unknown_elements(resource, &v);
            if unknown.is_empty() {
                return Ok(v);
            }
            let named: Vec<String> = unknown
                .iter()
                .take(10)
                .map(|(path, near)| match near {
                    Some(n) => format!("`{path}` (did you mean `{n}`?)"),
                    None => format!("`{path}`"),
                })
                .collect();
            bad(
                "structure",
                format!("FHIR R4 defines no element {}", named.join(", ")),
            )
        }
        Ok(Value::Object(_)) => bad("invalid", format!("the body is not a {resource}")),
        Ok(_) => bad("structure", "the body is not a JSON object".into()),
        Err(e) => bad("structure", format!("the body is not JSON: {e}")),
    }
}

/// The id of the resource made of `record` (the accepted mapping's record, as JSON):
/// from its key fields, as the engine gives every resource made of such a record.
fn record_id(accepted: &Served, record: &Value) -> String {
    let parts: Vec<String> = accepted
        .keys
        .iter()
        .map(|k| match accord_runtime::steward::get_path(record, k) {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
        .collect();
    let shown: Vec<&dyn accord_runtime::fhir::write::IdPart> = parts
        .iter()
        .map(|p| p as &dyn accord_runtime::fhir::write::IdPart)
        .collect();
    accord_runtime::fhir::write::id(&accepted.record, &shown)
}

/// How many times an update is decided again when other writes keep changing its record
/// before it is stored; then it is answered `409 Conflict`.
const UPDATE_ATTEMPTS: u32 = 5;

/// Why an update's writes were not stored.
enum Refused {
    /// The record is not at the version `If-Match` named (it is at this one, if stored).
    Version(Option<i64>),
    /// The record changed while the matrix decided: decide again.
    Stale(super::journal::records::Stale),
}

/// What the matrix made of an update: the writes to store, or why it is refused.
enum Decided {
    Apply(Vec<super::journal::records::Write>),
    Refuse(StatusCode, String),
}

/// Reads `resource` into the accepted record and lets the matrix decide every field,
/// with the interface's client system as the writer.
fn decide_update(f: &Facade, accepted: &Served, id: &str, body: &Value) -> Decided {
    let mut record = match (f.engine.functions.accept)(&f.interface.name, &accepted.resource, body)
    {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Decided::Refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("this API takes no updates of {}", accepted.resource),
            )
        }
        Err(e) => {
            return Decided::Refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the resource cannot be read: {e}"),
            )
        }
    };
    // The resource's own identifiers must name the record the URL names.
    let own = record_id(accepted, &record);
    if own != id {
        return Decided::Refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "the resource's identifiers are those of {}/{own}, not {id}",
                accepted.resource
            ),
        );
    }
    // An update changes a stored record; it never makes one (the capability statement
    // offers no update-as-create, and a record's first values come from its owner).
    match with_reader(f, |c| id_row(c, &accepted.record, id)) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Decided::Refuse(
                StatusCode::NOT_FOUND,
                format!(
                    "no {}/{id} to update: this API does not create by update; {} records come from their owner",
                    accepted.resource, accepted.record
                ),
            )
        }
        Err(e) => return Decided::Refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
    let mut store = super::journal::records::RecordStore::new(&f.engine.config.journal_path);
    let mut steward = super::journal::records::JournalSteward::new(
        &f.engine.spec.matrices,
        &f.interface.from,
        &mut store,
        false,
    );
    match accord_runtime::steward::Steward::govern(&mut steward, &accepted.record, &mut record) {
        Err(accord_runtime::steward::Hold::Reject { detail }) => {
            return Decided::Refuse(StatusCode::FORBIDDEN, detail)
        }
        Err(accord_runtime::steward::Hold::Review { detail, .. }) => {
            return Decided::Refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                "{detail} (the matrix holds this change for a person; an API update is not held)"
            ),
            )
        }
        Ok(_) => {}
    }
    // A field the matrix keeps at its stored value is a field this client may not write.
    let kept: Vec<&str> = steward
        .notes
        .iter()
        .filter(|n| n.verdict == "kept-stored")
        .map(|n| n.text.as_str())
        .collect();
    if !kept.is_empty() {
        return Decided::Refuse(
            StatusCode::FORBIDDEN,
            format!("ownership: {}", kept.join("; ")),
        );
    }
    Decided::Apply(std::mem::take(&mut steward.writes))
}

async fn update(
    State(f): State<Arc<Facade>>,
    Path((resource, id)): Path<(String, String)>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let action = format!("update {resource}/{id}");
    let (token, grant, _) = match admit(
        &f,
        client,
        &headers,
        &resource,
        'u',
        &action,
        &f.interface.serves,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refuse = |status: StatusCode, code: &'static str, why: String| {
        refused(
            f.clone(),
            token.who.clone(),
            action.clone(),
            status,
            code,
            why,
        )
    };
    let Some(accepted) = f
        .interface
        .accepts
        .iter()
        .find(|a| a.resource == resource)
        .cloned()
    else {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!("this API takes no updates of {resource}"),
        )
        .await;
    };
    let resource_json = match body_resource(&body, &resource) {
        Ok(v) => v,
        Err((status, code, why)) => return refuse(status, code, why).await,
    };
    if let Grant::Patient(p) = &grant {
        let mut probe = resource_json.clone();
        probe["id"] = Value::String(id.clone());
        if !in_compartment(&probe, p) {
            return refuse(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("the token's patient scope does not cover {resource}/{id}"),
            )
            .await;
        }
    }
    if resource_json.get("id").is_some_and(|v| v != id.as_str()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("the body's id is not {id}"),
        )
        .await;
    }
    // A versioned update: made from the version the client names, or refused.
    let from_version = match if_match(&headers) {
        Ok(v) => v,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "invalid", why).await,
    };
    // Decided against the stored record and stored only if that record is still what was
    // decided against; a message or another update that changed it in between makes the
    // decision again, against the new state.
    let mut attempts = 0;
    let fields = loop {
        attempts += 1;
        let decided = {
            let (f, accepted, id, body) = (
                f.clone(),
                accepted.clone(),
                id.clone(),
                resource_json.clone(),
            );
            tokio::task::spawn_blocking(move || decide_update(&f, &accepted, &id, &body)).await
        };
        let writes = match decided {
            Ok(Decided::Apply(w)) => w,
            Ok(Decided::Refuse(status, why)) => {
                let code = match status {
                    StatusCode::FORBIDDEN => "forbidden",
                    StatusCode::NOT_FOUND => "not-found",
                    StatusCode::INTERNAL_SERVER_ERROR => "exception",
                    _ => "business-rule",
                };
                return refuse(status, code, why).await;
            }
            Err(e) => {
                return refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    e.to_string(),
                )
                .await
            }
        };
        let fields: Vec<String> = writes.iter().map(|w| w.field.clone()).collect();
        let (record, rid) = (accepted.record.clone(), id.clone());
        let stored = f
            .engine
            .journal
            .write(move |c| {
                // Checked in the writer's transaction, so no change slips in between.
                if let Some(want) = from_version {
                    let now = version_of(c, &record, &rid)
                        .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
                    if now != Some(want) {
                        return Ok(Err(Refused::Version(now)));
                    }
                }
                let stored = super::journal::records::guarded(c, |c| {
                    super::journal::records::store(c, &writes, None, time::now_ms())
                })?;
                Ok(stored.map_err(Refused::Stale))
            })
            .await;
        match stored {
            Ok(Ok(())) => break fields,
            Ok(Err(Refused::Version(now))) => {
                let now = now.map_or("none".to_string(), |v| format!("W/\"{v}\""));
                let why = format!(
                    "{resource}/{id} has changed since the version the update names (If-Match); it is now {now}: read it again"
                );
                return refuse(StatusCode::PRECONDITION_FAILED, "conflict", why).await;
            }
            Ok(Err(Refused::Stale(conflict))) if attempts < UPDATE_ATTEMPTS => {
                tracing::debug!(%conflict, "an API update raced another write; deciding it again");
            }
            Ok(Err(Refused::Stale(conflict))) => {
                return refuse(StatusCode::CONFLICT, "conflict", conflict.to_string()).await;
            }
            Err(e) => {
                return refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    e.to_string(),
                )
                .await;
            }
        }
    };
    // The answer is the resource as now stored.
    let served = f
        .interface
        .serves
        .iter()
        .find(|s| s.resource == resource)
        .cloned();
    let now = match served {
        Some(s) => {
            let (f, id) = (f.clone(), id.clone());
            tokio::task::spawn_blocking(move || resources(&f, &s, &id))
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|v| v.into_iter().next())
        }
        None => None,
    };
    let changed = if fields.is_empty() {
        "nothing changed".to_string()
    } else {
        format!("wrote {}", fields.join(", "))
    };
    audit(&f, &token.who, action, StatusCode::OK, &changed).await;
    match now {
        Some(r) => versioned(StatusCode::OK, &r),
        None => outcome(StatusCode::OK, "informational", &changed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_instants_and_weak_etags() {
        assert_eq!(
            instant(1_764_583_200_123).as_deref(),
            Some("2025-12-01T10:00:00.123Z")
        );
        let r = json!({ "meta": { "versionId": "42" } });
        assert_eq!(etag(&r).as_deref(), Some("W/\"42\""));
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h), Ok(None));
        for (sent, want) in [("W/\"42\"", 42), ("\"7\"", 7), ("9", 9)] {
            h.insert(header::IF_MATCH, sent.parse().unwrap());
            assert_eq!(if_match(&h), Ok(Some(want)), "{sent}");
        }
        h.insert(header::IF_MATCH, "*".parse().unwrap());
        assert!(if_match(&h).is_err());
    }

    #[test]
    fn patient_scopes_keep_to_the_patient() {
        let token = Token {
            who: "portal".into(),
            scopes: vec![token::parse_scope("patient/Patient.r").unwrap()],
            patient: Some("patient-1".into()),
            fhir_user: None,
        };
        assert!(matches!(grant(&token, "Patient", 'r'), Ok(Grant::Patient(p)) if p == "patient-1"));
        assert!(
            grant(&token, "Patient", 's').is_err(),
            "r does not grant search"
        );
        assert!(grant(&token, "Observation", 'r').is_err());
        let obs = json!({ "resourceType": "Observation", "subject": { "reference": "Patient/patient-1" } });
        assert!(in_compartment(&obs, "patient-1"));
        assert!(!in_compartment(&obs, "patient-2"));
    }
}
