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

mod access;
mod create;
mod error;
mod index;
mod read;
mod search;
mod stored;
mod token;
mod update;

use super::{time, Engine};
use access::{audit, audit_refused_logins};
use accord_runtime::spec::Interface;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use error::FacadeError;
use serde_json::{json, Value};
use std::sync::Arc;
use stored::etag;
use token::{Keys, Token};

struct Facade {
    engine: Arc<Engine>,
    interface: Interface,
    /// The keys bearer tokens are checked with.
    keys: Keys,
    /// The address clients reach the facade at, for links (never the `Host` header).
    base_url: String,
    /// Read connections to the journal, kept between requests.
    readers: std::sync::Mutex<Vec<crate::journal::db::Conn>>,
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
        .route("/{resource}", get(search::search).post(create::create))
        .route("/{resource}/{id}", get(read::read).put(update::update))
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

/// A request that failed: audited, and answered with the failure's status and reason.
async fn failed(f: &Facade, token: &Token, action: String, e: &FacadeError) -> Response {
    let why = e.to_string();
    audit(f, &token.who, action, e.status(), &why).await;
    outcome(e.status(), e.code(), &why)
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
