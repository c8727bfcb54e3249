//! Creates through the facade (`POST /{resource}`, scope `.c`): a resource a client of the
//! API sends, accepted by an `accepts:` mapping into a record the production does not
//! store, is read by that mapping (a resource it cannot read is refused with `422`, so
//! nothing unreadable is journalled), given the id its business keys make, journalled as
//! a message received on the API interface, and answered `201 Created` once it is
//! durable. The processor then sends it where the interface's routes send its type, like
//! any received message (transform chains from FHIR, retries, dead letter, replay). The
//! same resource again (same business keys, same client, same patient) is a duplicate:
//! answered `200` with the first one's location, recorded, and not delivered again.
//!
//! A patient token creates only for its own patient, checked on what is written: the
//! patient is read from the record the mapping made, from the field the mapping fills
//! from `subject`/`patient` (the compiler finds it, `Served::patient`), and must be the
//! token's patient, by reference or by one of that patient's identifiers; a resource
//! whose mapping reads no patient cannot be created with a patient token.

use super::access::{admit, audit, in_compartment, refused, Grant};
use super::stored::load;
use super::update::{body_resource, record_id};
use super::{fhir, Facade};
use crate::http_listener::ClientAddr;
use crate::journal::inbound::{Row, Stored};
use crate::time;
use accord_runtime::spec::Served;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

/// Whether the facade takes creates of `accepted`: its record is not one the production
/// stores (those are updated, never created, by clients) and a route sends it on.
pub(super) fn creates(f: &Facade, accepted: &Served) -> bool {
    let stored = f
        .engine
        .spec
        .matrices
        .iter()
        .any(|m| m.record == accepted.record);
    !stored
        && (f.engine.functions.routed)(&f.interface.name, &accepted.resource)
            .is_some_and(|to| !to.is_empty())
}

/// Why a patient token may not create a resource: the patient its record names is not
/// the token's, or cannot be told.
async fn not_own_patient(
    f: &Arc<Facade>,
    accepted: &Served,
    record: &Value,
    body: &Value,
    own: &str,
) -> Option<String> {
    let Some(link) = &accepted.patient else {
        return Some(format!(
            "the mapping of {} reads no patient (`subject` or `patient`), so a patient token cannot create one",
            accepted.resource
        ));
    };
    let value = match accord_runtime::steward::get_path(record, &link.field) {
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => {
            return Some(format!(
                "the resource names no patient in `{}`",
                link.element
            ))
        }
    };
    if !link.by_identifier() {
        return match value.strip_prefix("Patient/") {
            Some(id) if id == own => None,
            _ => Some(format!(
                "`{}` names {value}; the token's patient scope covers Patient/{own} only",
                link.element
            )),
        };
    }
    // An identifier: it must be one of the token's patient's own.
    let system = link
        .system_element()
        .map(|e| {
            accord_runtime::steward::get_path(body, &e)
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    let Some(patients) = f.interface.serves.iter().find(|s| s.resource == "Patient") else {
        return Some(format!(
            "`{}` names a patient by identifier, and this API serves no Patient to tell whose it is",
            link.element
        ));
    };
    let mine = match load(f, patients.clone(), own.to_string()).await {
        Ok(found) => found,
        Err(e) => return Some(format!("the token's patient cannot be read: {e}")),
    };
    let held = mine.iter().any(|p| {
        p["identifier"].as_array().into_iter().flatten().any(|i| {
            i["value"] == value.as_str() && system.as_deref().is_none_or(|s| i["system"] == s)
        })
    });
    (!held).then(|| {
        format!(
            "`{}` names a patient other than Patient/{own}, the token's patient scope",
            link.element
        )
    })
}

/// The patient a created resource is about (`subject` or `patient`, `Patient/ID`).
fn patient_of(resource: &Value) -> Option<String> {
    ["subject", "patient"].iter().find_map(|k| {
        resource[*k]["reference"]
            .as_str()
            .and_then(|r| r.strip_prefix("Patient/"))
            .map(str::to_string)
    })
}

fn created(status: StatusCode, resource: &str, id: &str, body: Vec<u8>) -> Response {
    let mut r = fhir(status, body);
    if let Ok(v) = header::HeaderValue::from_str(&format!("{resource}/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub(super) async fn create(
    State(f): State<Arc<Facade>>,
    Path(resource): Path<String>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let action = format!("create {resource}");
    let accepts = f.interface.accepts.clone();
    let (token, grant, accepted) =
        match admit(&f, client, &headers, &resource, 'c', &action, &accepts).await {
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
    if !creates(&f, &accepted) {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!(
                "{resource} is not created through this API: {} records come from their owner, and a client updates one with PUT",
                accepted.record
            ),
        )
        .await;
    }
    let mut json = match body_resource(&body, &resource) {
        Ok(v) => v,
        Err((status, code, why)) => return refuse(status, code, why).await,
    };
    if let Grant::Patient(p) = &grant {
        if !in_compartment(&json, p) {
            return refuse(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("the token's patient scope covers Patient/{p} only; this {resource} is not about that patient"),
            )
            .await;
        }
    }
    // Read it as the routes will: what the mapping cannot read is refused now, not
    // dead-lettered later.
    let record = match (f.engine.functions.accept)(&f.interface.name, &resource, &json) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                "not-supported",
                format!("this API takes no {resource} from its clients"),
            )
            .await
        }
        Err(e) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "processing",
                format!("the resource cannot be read: {e}"),
            )
            .await
        }
    };
    if accepted
        .keys
        .iter()
        .all(|k| accord_runtime::steward::get_path(&record, k).is_null())
    {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
            format!(
                "the resource has no business identifier: {} is identified by {}",
                accepted.record,
                accepted.keys.join(", ")
            ),
        )
        .await;
    }
    // Checked on the record as the mapping made it: what reaches the receiver.
    if let Grant::Patient(p) = &grant {
        if let Some(why) = not_own_patient(&f, &accepted, &record, &json, p).await {
            return refuse(StatusCode::FORBIDDEN, "forbidden", why).await;
        }
    }
    // The server names what it creates: the id comes from the business keys, so the same
    // order sent twice is one order.
    let id = record_id(&accepted, &record);
    // A duplicate is the same resource from the same client about the same patient: one
    // client or patient cannot pre-empt another's by reusing its business identifier.
    let about = accepted
        .patient
        .as_ref()
        .map(|l| accord_runtime::steward::get_path(&record, &l.field))
        .and_then(|v| v.as_str().map(str::to_string))
        .or_else(|| patient_of(&json))
        .unwrap_or_default();
    let idem_key = format!("{}|{about}|{resource}/{id}", token.who);
    json["id"] = Value::String(id.clone());
    let payload = serde_json::to_vec(&json).unwrap_or_default();
    let row = Row {
        correlation: f.engine.correlation_id(),
        interface: f.interface.name.clone(),
        version: f.interface.version.clone(),
        state: "received",
        message_type: Some(resource.clone()),
        control_id: Some(id.clone()),
        patient_id: patient_of(&json),
        idem_key: Some(idem_key),
        idem_control: None,
        order_key: None,
        peer: token.who.clone(),
        ack_code: None,
        ack: None,
        reason: None,
        detail: None,
        payload: payload.clone(),
    };
    let now = time::now_ms();
    let stored = crate::inbound::store_received(&f.engine, row, now).await;
    let label = crate::metrics::Metrics::iface(&f.interface.name);
    match stored {
        Ok(Stored::New(message)) => {
            f.engine.metrics.received.get_or_create(&label).inc();
            f.engine.sla.heard(&label.interface, now);
            f.engine.received.notify_one();
            let detail = format!("journalled as message {message}");
            audit(
                &f,
                &token.who,
                format!("{action}/{id}"),
                StatusCode::CREATED,
                &detail,
            )
            .await;
            created(StatusCode::CREATED, &resource, &id, payload)
        }
        Ok(Stored::Duplicate(first, _)) => {
            f.engine.metrics.duplicates.get_or_create(&label).inc();
            let detail = format!("duplicate of message {first}: not sent again");
            audit(
                &f,
                &token.who,
                format!("{action}/{id}"),
                StatusCode::OK,
                &detail,
            )
            .await;
            created(StatusCode::OK, &resource, &id, payload)
        }
        // Not durable: the client keeps the resource and sends it again.
        Err(e) => {
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                format!("the journal could not store the resource; send it again: {e}"),
            )
            .await
        }
    }
}
