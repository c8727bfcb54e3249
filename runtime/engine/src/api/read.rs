//! `GET /{resource}/{id}`: one served resource, within the token's grant; outside a
//! patient grant it is not found (its existence is not told).

use super::access::{admit, audit, in_compartment, Grant};
use super::stored::load;
use super::{failed, outcome, versioned, Facade};
use crate::http_listener::ClientAddr;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

pub(super) async fn read(
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
