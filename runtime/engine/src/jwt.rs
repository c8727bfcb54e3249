//! The JSON Web Token checks every signed token in Accord passes, whoever issued it: the
//! FHIR facade's bearer tokens (`api::token`) and the console's OpenID Connect ID tokens
//! (`console::oidc`). A key is taken from a JWKS only when it is an RSA signing key pinned
//! to RS256 (or names no algorithm); the registered claims follow RFC 8725: `iss` and `aud`
//! must be present and name who is trusted, `exp` must be present, and `nbf` and `iat`, when
//! present, must not lie in the future, all within [`LEEWAY_S`]. A claim of the wrong type
//! is a missing claim.

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::collections::BTreeMap;

/// How far a token's times may be off the server's clock, in seconds.
pub const LEEWAY_S: i64 = 60;

/// The shortest time between two readings of a JWKS for a `kid` it lacks, in seconds.
pub const JWKS_REFRESH_S: u64 = 30;

/// The claims of a token.
pub type Claims = BTreeMap<String, Value>;

/// The RS256 verification key of `set` that `kid` names; a token without a `kid` may
/// only use a set of one key. A key pinned to another algorithm or use is not one.
pub fn pick(set: Option<&JwkSet>, kid: Option<&str>) -> Result<DecodingKey, String> {
    let set = set.ok_or("the JWKS has not been read")?;
    let jwk = match kid {
        Some(kid) => set
            .find(kid)
            .ok_or_else(|| format!("no key of the JWKS has the token's `kid` {kid:?}"))?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return Err("the token names no key (`kid`) and the JWKS has several".into()),
    };
    if let Some(alg) = jwk.common.key_algorithm {
        if alg != KeyAlgorithm::RS256 {
            return Err(format!("the key the token names is for {alg:?}, not RS256"));
        }
    }
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Err("the key the token names is not a signing key (`use`)".into());
    }
    if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) {
        return Err("the key the token names is not an RSA key".into());
    }
    DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable JWK: {e}"))
}

/// The claims of `token` if its signature holds under `key` for algorithm `alg`. The
/// claims are not checked here: [`check_registered`] checks them, all by one rule.
pub fn verified_claims(token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Claims, String> {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Claims>(token, key, &v)
        .map(|data| data.claims)
        .map_err(|e| format!("the token is not valid: {e}"))
}

/// A claim's value as a time in seconds; `Err` when it is there and is not one.
pub fn time(claims: &Claims, k: &str) -> Result<Option<i64>, String> {
    match claims.get(k) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("the token's `{k}` is not a time in seconds")),
    }
}

/// The audiences a token names (`aud`, one or a list).
pub fn audiences(claims: &Claims) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// The registered claims of a token whose signature holds: issued by `issuer`, for
/// `audience`, at `now` (in seconds since the epoch). `whom` names the audience in the
/// refusal ("this API", "this console").
pub fn check_registered(
    claims: &Claims,
    issuer: &str,
    audience: &str,
    whom: &str,
    now: i64,
) -> Result<(), String> {
    let exp = time(claims, "exp")?.ok_or("the token has no expiry (`exp`)")?;
    if now > exp.saturating_add(LEEWAY_S) {
        return Err("the token has expired".into());
    }
    if let Some(nbf) = time(claims, "nbf")? {
        if nbf > now.saturating_add(LEEWAY_S) {
            return Err("the token is not valid yet (`nbf` is in the future)".into());
        }
    }
    if let Some(iat) = time(claims, "iat")? {
        if iat > now.saturating_add(LEEWAY_S) {
            return Err("the token was issued in the future (`iat`)".into());
        }
    }
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == issuer => {}
        Some(_) => {
            return Err(format!(
                "the token's issuer (`iss`) is not the one {whom} trusts"
            ))
        }
        None => return Err("the token names no issuer (`iss`)".into()),
    }
    let audiences = audiences(claims);
    if audiences.is_empty() {
        return Err("the token names no audience (`aud`)".into());
    }
    if !audiences.contains(&audience) {
        return Err(format!("the token is not for {whom} (`aud`)"));
    }
    Ok(())
}
