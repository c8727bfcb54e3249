//! Bearer tokens of the FHIR facade, checked to the SMART App Launch and RFC 8725 rules
//! (the shared checks are `jwt`'s): the signature by a key pinned to its algorithm (RS256
//! keys from the configured JWKS, the HS256 shared secret), then the claims, against the
//! configured issuer and audience. The JWKS is read at start and again when a token names
//! a key it does not have, at most once every [`JWKS_REFRESH_S`], so a rotated key is
//! picked up and a stream of made-up `kid`s does not read the file at every request.

use super::super::config::Auth;
use crate::jwt::{self, pick, JWKS_REFRESH_S};
use axum::http::{header, HeaderMap};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Who a token speaks for and what it may do.
#[derive(Debug)]
pub(super) struct Token {
    pub who: String,
    pub scopes: Vec<Scope>,
    /// The SMART launch context's patient (`patient` claim).
    pub patient: Option<String>,
    /// The user the token speaks for (`fhirUser`, e.g. `Patient/patient-1`).
    pub fhir_user: Option<String>,
}

/// A SMART scope: `patient/Observation.rs` (v2) or `user/Patient.read` (v1).
#[derive(Debug, PartialEq)]
pub(super) struct Scope {
    pub context: String,
    pub resource: String,
    pub perms: String,
}

pub(super) fn parse_scope(s: &str) -> Option<Scope> {
    let (context, rest) = s.split_once('/')?;
    if !matches!(context, "patient" | "user" | "system") {
        return None;
    }
    let (resource, perms) = rest.split_once('.')?;
    let perms = match perms {
        "read" => "rs".to_string(),
        "write" => "cud".to_string(),
        "*" => "cruds".to_string(),
        p if !p.is_empty() && p.chars().all(|c| "cruds".contains(c)) => p.to_string(),
        _ => return None,
    };
    Some(Scope {
        context: context.into(),
        resource: resource.into(),
        perms,
    })
}

/// The keys tokens are checked with: the configuration's, and the JWKS as last read.
pub(super) struct Keys {
    auth: Auth,
    jwks: Mutex<Jwks>,
}

struct Jwks {
    set: Option<JwkSet>,
    read_at: Option<Instant>,
    /// Why the last reading failed, said again to the client whose token needed it.
    error: Option<String>,
}

impl Keys {
    /// The keys of `auth`, the JWKS read now (a failure is logged and said per request).
    pub(super) fn new(auth: &Auth) -> Keys {
        let keys = Keys {
            auth: auth.clone(),
            jwks: Mutex::new(Jwks {
                set: None,
                read_at: None,
                error: None,
            }),
        };
        if let Ok(mut j) = keys.jwks.lock() {
            keys.read_jwks(&mut j);
            if let Some(e) = &j.error {
                tracing::warn!(error = %e, "the JWKS cannot be read; RS256 tokens are refused until it can");
            }
        }
        keys
    }

    fn read_jwks(&self, j: &mut Jwks) {
        let Some(path) = &self.auth.jwks else {
            return;
        };
        j.read_at = Some(Instant::now());
        let read = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the JWKS {}: {e}", path.display()))
            .and_then(|text| {
                serde_json::from_str::<JwkSet>(&text)
                    .map_err(|e| format!("the JWKS {} is not valid: {e}", path.display()))
            });
        match read {
            Ok(set) => {
                j.set = Some(set);
                j.error = None;
            }
            Err(e) => j.error = Some(e),
        }
    }

    /// The RS256 key named `kid` (or the only key, for a token that names none), reading
    /// the JWKS again when it lacks it and was last read long enough ago.
    fn rs256_key(&self, kid: Option<&str>) -> Result<DecodingKey, String> {
        if self.auth.jwks.is_none() {
            return Err("RS256 tokens need [auth] jwks, a JSON Web Key Set file".into());
        }
        let mut j = self.jwks.lock().map_err(|_| "the key cache is broken")?;
        let found = pick(j.set.as_ref(), kid);
        let stale = j
            .read_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(JWKS_REFRESH_S));
        if found.is_err() && stale {
            self.read_jwks(&mut j);
        }
        if let Some(e) = &j.error {
            return Err(e.clone());
        }
        pick(j.set.as_ref(), kid)
    }
}

/// The bearer token of a request, checked: who it speaks for and its scopes.
pub(super) fn authorize(keys: &Keys, headers: &HeaderMap) -> Result<Token, String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or("no bearer token: send `Authorization: Bearer <JWT>`")?;
    let head = jsonwebtoken::decode_header(bearer).map_err(|e| format!("not a JWT: {e}"))?;
    let key = match head.alg {
        Algorithm::HS256 => {
            let secret = keys
                .auth
                .hs256_secret
                .as_ref()
                .ok_or("HS256 tokens are not accepted: [auth] has no hs256_secret")?;
            DecodingKey::from_secret(secret.as_bytes())
        }
        Algorithm::RS256 => keys.rs256_key(head.kid.as_deref())?,
        other => return Err(format!("tokens signed with {other:?} are not accepted")),
    };
    let claims = jwt::verified_claims(bearer, &key, head.alg)?;
    check_claims(&claims, &keys.auth, jiff::Timestamp::now().as_second())?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Token {
        who: text("sub")
            .or_else(|| text("client_id"))
            .unwrap_or_else(|| "unknown".into()),
        scopes: text("scope")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(parse_scope)
            .collect(),
        patient: text("patient"),
        fhir_user: text("fhirUser"),
    })
}

/// The registered claims of a token whose signature holds, against `auth` at `now` (in
/// seconds since the epoch).
pub(super) fn check_claims(
    claims: &BTreeMap<String, Value>,
    auth: &Auth,
    now: i64,
) -> Result<(), String> {
    let issuer = auth
        .issuer
        .as_deref()
        .ok_or("the server has no [auth] issuer to check tokens against")?;
    let audience = auth
        .audience
        .as_deref()
        .ok_or("the server has no [auth] audience to check tokens against")?;
    jwt::check_registered(claims, issuer, audience, "this API", now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::LEEWAY_S;
    use serde_json::json;

    fn auth() -> Auth {
        Auth {
            issuer: Some("https://as.example.org".into()),
            audience: Some("https://api.example.org/fhir".into()),
            ..Auth::default()
        }
    }

    fn claims(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    const NOW: i64 = 1_800_000_000;

    fn good() -> Value {
        json!({ "iss": "https://as.example.org", "aud": "https://api.example.org/fhir", "exp": NOW + 300 })
    }

    #[test]
    fn security_claims_are_required_and_checked() {
        assert_eq!(check_claims(&claims(good()), &auth(), NOW), Ok(()));
        let mut list = good();
        list["aud"] = json!(["other", "https://api.example.org/fhir"]);
        assert_eq!(check_claims(&claims(list), &auth(), NOW), Ok(()));
        for (key, value, why) in [
            ("iss", Value::Null, "no issuer"),
            ("iss", json!(42), "no issuer"),
            ("iss", json!("https://evil.example"), "not the one"),
            ("aud", Value::Null, "no audience"),
            ("aud", json!(7), "no audience"),
            ("aud", json!([]), "no audience"),
            ("aud", json!("https://other.example"), "not for this API"),
            ("exp", Value::Null, "no expiry"),
            ("exp", json!("soon"), "not a time"),
            ("exp", json!(NOW - LEEWAY_S - 1), "expired"),
            ("nbf", json!(NOW + 3600), "not valid yet"),
            ("nbf", json!(NOW + 30 * 365 * 86400), "not valid yet"),
            ("iat", json!(NOW + 3600), "in the future"),
        ] {
            let mut c = good();
            match value {
                Value::Null => {
                    c.as_object_mut().unwrap().remove(key);
                }
                v => c[key] = v,
            }
            let got = check_claims(&claims(c), &auth(), NOW);
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{key}: {got:?}"
            );
        }
        // Within the leeway, a clock a little off is not an error.
        let mut c = good();
        c["nbf"] = json!(NOW + LEEWAY_S);
        c["exp"] = json!(NOW - LEEWAY_S + 1);
        assert_eq!(check_claims(&claims(c), &auth(), NOW), Ok(()));
    }

    #[test]
    fn security_a_server_without_issuer_or_audience_accepts_no_token() {
        let open = Auth::default();
        assert!(check_claims(&claims(good()), &open, NOW).is_err());
    }

    #[test]
    fn smart_scopes_parse_in_both_versions() {
        assert_eq!(
            parse_scope("patient/Patient.rs"),
            Some(Scope {
                context: "patient".into(),
                resource: "Patient".into(),
                perms: "rs".into()
            })
        );
        assert_eq!(parse_scope("user/*.read").unwrap().perms, "rs");
        assert_eq!(
            parse_scope("system/Observation.cruds").unwrap().perms,
            "cruds"
        );
        assert_eq!(parse_scope("openid"), None);
        assert_eq!(parse_scope("patient/Patient.x"), None);
        assert_eq!(parse_scope("launch/patient"), None);
    }

    #[test]
    fn security_jwks_keys_are_pinned_to_rs256_signing() {
        let rsa = json!({ "kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB" });
        let set = |extra: Value| -> JwkSet {
            let mut k = rsa.clone();
            for (key, v) in extra.as_object().unwrap() {
                k[key] = v.clone();
            }
            serde_json::from_value(json!({ "keys": [k] })).unwrap()
        };
        assert!(pick(Some(&set(json!({ "kid": "a" }))), Some("a")).is_ok());
        assert!(
            pick(Some(&set(json!({ "kid": "a" }))), None).is_ok(),
            "a set of one"
        );
        assert!(pick(Some(&set(json!({ "kid": "a" }))), Some("b")).is_err());
        assert!(pick(Some(&set(json!({ "kid": "a", "alg": "RS512" }))), Some("a")).is_err());
        assert!(pick(Some(&set(json!({ "kid": "a", "use": "enc" }))), Some("a")).is_err());
        let two: JwkSet = serde_json::from_value(json!({ "keys": [
            { "kid": "a", "kty": "RSA", "n": rsa["n"], "e": "AQAB" },
            { "kid": "b", "kty": "RSA", "n": rsa["n"], "e": "AQAB" }
        ] }))
        .unwrap();
        assert!(pick(Some(&two), None).is_err(), "several keys need a kid");
    }
}
