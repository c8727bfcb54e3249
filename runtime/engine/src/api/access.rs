//! Who may do what through the facade, and the record of it: a bearer token's SMART scopes
//! make a [`Grant`] per interaction (everything, or one patient's compartment); every
//! request, allowed or not, is written to the journal's `audit` table, and refused tokens
//! once per client address a minute.

use super::token::{self, Scope, Token};
use super::{outcome, Facade};
use crate::http_listener::ClientAddr;
use crate::time;
use accord_runtime::spec::Served;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

/// What a token may see of `resource` for interaction `perm` (`r` read, `s` search):
/// everything, one patient's, or nothing.
pub(super) enum Grant {
    All,
    Patient(String),
}

pub(super) fn grant(token: &Token, resource: &str, perm: char) -> Result<Grant, String> {
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
pub(super) fn in_compartment(resource: &Value, id: &str) -> bool {
    let want = format!("Patient/{id}");
    if resource["resourceType"] == "Patient" {
        return resource["id"] == id;
    }
    ["subject", "patient"]
        .iter()
        .any(|k| resource[*k]["reference"].as_str() == Some(want.as_str()))
}

/// Audits the refused tokens no later refusal has reported: one row per client address
/// with how many since its last row.
pub(super) async fn audit_refused_logins(f: &Facade) {
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
pub(super) async fn refused(
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

pub(super) async fn audit(f: &Facade, who: &str, action: String, status: StatusCode, detail: &str) {
    let (who, detail) = (who.to_string(), format!("{} {}", status.as_u16(), detail));
    let action = kept(&action);
    let name = f.interface.name.clone();
    let _ = f
        .engine
        .journal
        .write(move |c| {
            let action = format!("{name}: {action}");
            crate::journal::facade::access_audit(c, time::now_ms(), &who, &action, &detail)
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
pub(super) async fn admit(
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
            let label = crate::metrics::RefusedLabel {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
