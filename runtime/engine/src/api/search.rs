//! `GET /{resource}?...`: searches by `_id`, `identifier` and `patient`/`subject`, a page
//! at a time (`_count`, `_offset`) with `self` and `next` links under the facade's own
//! address; by the search index where a term narrows it, else a window of the stored
//! records.

use super::access::{admit, audit, in_compartment, Grant};
use super::error::FacadeError;
use super::stored::{fhir_record, indexed, load, with_reader};
use super::{failed, fhir, index, Facade};
use crate::http_listener::ClientAddr;
use accord_runtime::spec::Served;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

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
fn known(params: &BTreeMap<String, String>) -> Result<(), FacadeError> {
    match params.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        None => Ok(()),
        Some(other) => Err(FacadeError::Unsupported(format!(
            "unknown search parameter `{other}`: this API takes _id, identifier and patient (and _count, _offset)"
        ))),
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

fn page_of(params: &BTreeMap<String, String>) -> Result<Page, FacadeError> {
    let number = |k: &str, default: usize| match params.get(k) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| FacadeError::Invalid(format!("`{k}` must be a whole number, not `{v}`"))),
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
fn window(f: &Facade, served: &Served, page: Page) -> Result<(Vec<Value>, bool), FacadeError> {
    with_reader(f, |c| {
        let rows = crate::journal::facade::record_keys(
            c,
            &served.record,
            page.count as i64 + 1,
            page.offset as i64,
        )?;
        let more = rows.len() > page.count;
        let mut out = vec![];
        for key in rows.iter().take(page.count) {
            out.extend(fhir_record(f, c, served, key)?);
        }
        Ok((out, more))
    })
}

pub(super) async fn search(
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
        Err(e) => return failed(&f, &token, action, &e).await,
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
                .map_err(FacadeError::from)
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
