//! `PUT /{resource}/{id}`: a client's update of a stored record. The resource is read into
//! its record by the interface's accepting mapping and the ownership matrix decides each
//! field with the client's system as the writer; stored only over the state it was
//! decided against (`If-Match` names a version to start from), decided again when another
//! write got there first.

use super::access::{admit, audit, in_compartment, refused, Grant};
use super::error::FacadeError;
use super::stored::{id_row, resources, version_of, with_reader};
use super::{outcome, versioned, Facade};
use crate::http_listener::ClientAddr;
use crate::time;
use accord_runtime::spec::Served;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

/// The version an `If-Match` header names (`W/"N"` or `"N"`); `Err` when it names none.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, FacadeError> {
    let Some(h) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = h.to_str().unwrap_or_default().trim();
    let bare = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    bare.parse::<i64>().map(Some).map_err(|_| {
        FacadeError::Invalid(format!(
            "If-Match `{text}` names no version of this server's (W/\"N\")"
        ))
    })
}

/// A client's body as the resource it must be: a JSON object of type `resource` with only
/// elements FHIR R4 defines; or the refusal (status, OperationOutcome code, why).
pub(super) fn body_resource(
    body: &[u8],
    resource: &str,
) -> Result<Value, (StatusCode, &'static str, String)> {
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
pub(super) fn record_id(accepted: &Served, record: &Value) -> String {
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
    Stale(crate::journal::records::Stale),
}

/// What the matrix made of an update: the writes to store, or why it is refused.
enum Decided {
    Apply(Vec<crate::journal::records::Write>),
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
        Err(e) => return Decided::Refuse(e.status(), e.to_string()),
    }
    let mut store = crate::journal::records::RecordStore::new(&f.engine.config.journal);
    let mut steward = crate::journal::records::JournalSteward::new(
        &f.engine.spec.matrices,
        &f.interface.from,
        &mut store,
        false,
    );
    match accord_runtime::steward::Steward::govern(&mut steward, &accepted.record, &mut record) {
        Err(accord_runtime::steward::Hold::Reject { detail }) => {
            return Decided::Refuse(StatusCode::FORBIDDEN, detail)
        }
        Err(accord_runtime::steward::Hold::Unavailable { detail }) => {
            return Decided::Refuse(StatusCode::SERVICE_UNAVAILABLE, detail)
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

pub(super) async fn update(
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
        Err(e) => return refuse(e.status(), e.code(), e.to_string()).await,
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
                        .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
                    if now != Some(want) {
                        return Ok(Err(Refused::Version(now)));
                    }
                }
                let stored = crate::journal::records::guarded(c, |c| {
                    crate::journal::records::store(c, &writes, None, time::now_ms())
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
    fn if_match_names_a_version() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).ok(), Some(None));
        for (sent, want) in [("W/\"42\"", 42), ("\"7\"", 7), ("9", 9)] {
            h.insert(header::IF_MATCH, sent.parse().unwrap());
            assert_eq!(if_match(&h).ok(), Some(Some(want)), "{sent}");
        }
        h.insert(header::IF_MATCH, "*".parse().unwrap());
        assert!(matches!(if_match(&h), Err(FacadeError::Invalid(_))));
    }
}
