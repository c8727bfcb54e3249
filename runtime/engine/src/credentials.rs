//! What an HTTP or FHIR operation sends to say who it is, from its endpoint's settings:
//!
//! - `token`: a static bearer token;
//! - `user` and `password`: HTTP basic authentication;
//! - `token_url` with `client_id`: an OAuth2 client-credentials grant (RFC 6749 §4.4),
//!   the client authenticated either with `client_secret` (HTTP basic, §2.3.1) or, as
//!   SMART Backend Services asks, with a JWT it signs with `signing_key`
//!   (`private_key_jwt`: RS384 for an RSA key, ES384 for a P-384 key; `signing_kid` names
//!   the key in the client's JWKS). `scope` is asked for when given.
//!
//! A granted token is used until 30 seconds before it expires; a `401` makes the sender
//! forget it and ask for a new one once (see `http::exchange`). [`Secret`] hides itself
//! from every `Debug`, so no secret reaches a log line, an error or the journal.

use super::config::{ConfigError, ResolvedEndpoint};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A credential: an `Authorization` header's value, a client secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(super) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How an operation authenticates to its peer.
#[derive(Debug)]
pub enum Credentials {
    None,
    /// The same `Authorization` header on every request.
    Header(Secret),
    /// A bearer token from an OAuth2 token endpoint.
    OAuth(OAuth),
}

/// How the client proves itself to the token endpoint.
enum ClientAuth {
    Secret(Secret),
    Jwt {
        key: EncodingKey,
        alg: Algorithm,
        kid: Option<String>,
    },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Secret(_) => f.write_str("client_secret(***)"),
            ClientAuth::Jwt { alg, kid, .. } => write!(f, "private_key_jwt({alg:?}, kid {kid:?})"),
        }
    }
}

/// An OAuth2 client-credentials client and the token it holds.
#[derive(Debug)]
pub struct OAuth {
    token_url: String,
    client_id: String,
    scope: Option<String>,
    auth: ClientAuth,
    held: Mutex<Option<(Secret, Instant)>>,
    assertions: AtomicU64,
}

/// A token request to send: a form POST.
pub struct TokenRequest {
    pub url: String,
    pub form: String,
    pub authorization: Option<Secret>,
}

/// A token is not used in its last this-much of life.
const EARLY: Duration = Duration::from_secs(30);

fn problem(e: &ResolvedEndpoint, what: String, help: &str) -> ConfigError {
    ConfigError {
        message: format!("endpoint `{}` ({}): {what}", e.name, e.loc),
        help: help.into(),
    }
}

fn basic(user: &str, password: &str) -> Secret {
    use base64::Engine as _;
    Secret(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    ))
}

/// A SMART signing key: RS384 for RSA, ES384 for EC (P-384). The key is tried by
/// signing, so a P-256 key is refused here rather than at the first token request.
fn signing_key(pem: &[u8]) -> Result<(EncodingKey, Algorithm), String> {
    let tries = [
        (EncodingKey::from_rsa_pem(pem), Algorithm::RS384),
        (EncodingKey::from_ec_pem(pem), Algorithm::ES384),
    ];
    for (key, alg) in tries {
        let Ok(key) = key else { continue };
        if jsonwebtoken::encode(&Header::new(alg), &serde_json::json!({}), &key).is_ok() {
            return Ok((key, alg));
        }
    }
    Err("not an RSA or EC P-384 private key in PEM (SMART Backend Services signs with RS384 or ES384)".into())
}

impl Credentials {
    /// The credentials endpoint `e` declares, or what is wrong with them.
    pub fn of(e: &ResolvedEndpoint) -> Result<Credentials, ConfigError> {
        let token_url = e.setting("token_url");
        let declared: Vec<&str> = ["token", "user", "token_url"]
            .into_iter()
            .filter(|k| e.setting(k).is_some())
            .collect();
        if declared.len() > 1 {
            return Err(problem(
                e,
                format!("declares {} at once", declared.join(" and ")),
                "an endpoint authenticates one way: a `token`, `user` and `password`, or an OAuth2 `token_url`",
            ));
        }
        if let Some(token) = e.setting("token") {
            return Ok(Credentials::Header(Secret(format!("Bearer {token}"))));
        }
        if let Some(user) = e.setting("user") {
            return Ok(Credentials::Header(basic(
                user,
                e.get("password").unwrap_or(""),
            )));
        }
        for orphan in [
            "client_id",
            "client_secret",
            "signing_key",
            "signing_kid",
            "scope",
        ] {
            if token_url.is_none() && e.setting(orphan).is_some() {
                return Err(problem(
                    e,
                    format!("has `{orphan}` without a `token_url`"),
                    "give the OAuth2 token endpoint as `token_url`, or remove the setting",
                ));
            }
        }
        let Some(token_url) = token_url else {
            return Ok(Credentials::None);
        };
        if !token_url.starts_with("https://") {
            return Err(problem(
                e,
                format!("token_url `{token_url}` is not https"),
                "client credentials and tokens are sent over TLS only: give the token endpoint's https:// URL",
            ));
        }
        if !e.setting("url").is_some_and(|u| u.starts_with("https://")) {
            return Err(problem(
                e,
                "has a `token_url`, and its own url is not https".into(),
                "a bearer token is sent over TLS only: give the endpoint an https:// URL",
            ));
        }
        let client_id = e.setting("client_id").ok_or_else(|| {
            problem(
                e,
                "has a `token_url` and no `client_id`".into(),
                "give the client id the authorisation server registered for the production",
            )
        })?;
        let auth = match (e.setting("client_secret"), e.setting("signing_key")) {
            (Some(secret), None) => ClientAuth::Secret(Secret(secret.to_string())),
            (None, Some(key)) => {
                let pem = accord_hl7::tls::Pem::load(key)
                    .map_err(|why| problem(e, format!("`signing_key`: {why}"), "give the PEM private key whose public key the authorisation server holds, or its file's path"))?;
                let (key, alg) = signing_key(&pem.0).map_err(|why| {
                    problem(e, format!("`signing_key`: {why}"), "make one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`, or `openssl ecparam -name secp384r1 -genkey -noout`")
                })?;
                ClientAuth::Jwt {
                    key,
                    alg,
                    kid: e.setting("signing_kid").map(str::to_string),
                }
            }
            (None, None) | (Some(_), Some(_)) => {
                return Err(problem(
                    e,
                    "an OAuth2 client needs exactly one of `client_secret` and `signing_key`".into(),
                    "`client_secret: secret(...)` for a shared secret, or `signing_key: secret(...)` for SMART Backend Services (private_key_jwt)",
                ))
            }
        };
        Ok(Credentials::OAuth(OAuth {
            token_url: token_url.to_string(),
            client_id: client_id.to_string(),
            scope: e.setting("scope").map(str::to_string),
            auth,
            held: Mutex::new(None),
            assertions: AtomicU64::new(0),
        }))
    }
}

impl OAuth {
    /// The held token as an `Authorization` header, while it has more than 30 s to live.
    pub fn held(&self, now: Instant) -> Option<Secret> {
        let held = self.held.lock().ok()?;
        held.as_ref()
            .filter(|(_, until)| *until > now + EARLY)
            .map(|(t, _)| t.clone())
    }

    /// Drops the held token (the peer answered 401).
    pub fn forget(&self) {
        if let Ok(mut held) = self.held.lock() {
            *held = None;
        }
    }

    /// The token request to make now.
    pub fn request(&self, unix_now: i64) -> Result<TokenRequest, String> {
        let mut form: Vec<(&str, String)> = vec![("grant_type", "client_credentials".into())];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.clone()));
        }
        let authorization = match &self.auth {
            ClientAuth::Secret(secret) => Some(basic(&self.client_id, &secret.0)),
            ClientAuth::Jwt { key, alg, kid } => {
                let n = self.assertions.fetch_add(1, Ordering::Relaxed);
                let claims = serde_json::json!({
                    "iss": self.client_id,
                    "sub": self.client_id,
                    "aud": self.token_url,
                    "exp": unix_now + 300,
                    "iat": unix_now,
                    "jti": format!("{}-{unix_now}-{n}", std::process::id()),
                });
                let mut header = Header::new(*alg);
                header.kid = kid.clone();
                let jwt = jsonwebtoken::encode(&header, &claims, key)
                    .map_err(|e| format!("cannot sign the client assertion: {e}"))?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", jwt));
                None
            }
        };
        Ok(TokenRequest {
            url: self.token_url.clone(),
            form: serde_urlencoded::to_string(&form).map_err(|e| e.to_string())?,
            authorization,
        })
    }

    /// Takes the token endpoint's answer: the token as an `Authorization` header, held
    /// for `expires_in` seconds (an hour when the answer does not say).
    pub fn accept(&self, status: u16, body: &[u8], now: Instant) -> Result<Secret, String> {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        if !(200..300).contains(&status) {
            let why = v["error_description"]
                .as_str()
                .or_else(|| v["error"].as_str())
                .unwrap_or("no reason given");
            return Err(format!(
                "the token endpoint {} answered {status}: {}",
                self.token_url,
                super::shown::shown(why)
            ));
        }
        let Some(token) = v["access_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(format!(
                "the token endpoint {} answered without an access_token",
                self.token_url
            ));
        };
        let life = Duration::from_secs(v["expires_in"].as_u64().unwrap_or(3600));
        let header = Secret(format!("Bearer {token}"));
        if let Ok(mut held) = self.held.lock() {
            *held = Some((header.clone(), now + life));
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(pairs: &[(&str, &str)]) -> ResolvedEndpoint {
        ResolvedEndpoint {
            name: "e".into(),
            transport: "fhir".into(),
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            loc: "x:1".into(),
        }
    }

    #[test]
    fn credentials_are_sent_as_declared_and_never_shown() {
        let Credentials::Header(bearer) =
            Credentials::of(&endpoint(&[("token", "t0ken")])).unwrap()
        else {
            panic!("a token is a header")
        };
        assert_eq!(bearer.0, "Bearer t0ken");
        assert_eq!(format!("{bearer:?}"), "Secret(***)");
        let Credentials::Header(b) =
            Credentials::of(&endpoint(&[("user", "hub"), ("password", "pw")])).unwrap()
        else {
            panic!("user and password are a header")
        };
        assert_eq!(b.0, "Basic aHViOnB3");
        assert!(matches!(
            Credentials::of(&endpoint(&[])).unwrap(),
            Credentials::None
        ));
    }

    #[test]
    fn credentials_oauth_settings_that_cannot_work_are_refused() {
        let https = ("token_url", "https://auth.example/token");
        let url = ("url", "https://fhir.example/r4");
        for (pairs, says) in [
            (vec![("token", "t"), https], "at once"),
            (vec![("client_id", "hub")], "without a `token_url`"),
            (
                vec![("token_url", "http://auth.example/token")],
                "not https",
            ),
            (vec![https], "url is not https"),
            (vec![https, url], "no `client_id`"),
            (vec![https, url, ("client_id", "hub")], "exactly one"),
            (
                vec![
                    https,
                    url,
                    ("client_id", "hub"),
                    (
                        "signing_key",
                        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                    ),
                ],
                "RS384 or ES384",
            ),
        ] {
            let e = Credentials::of(&endpoint(&pairs)).unwrap_err();
            assert!(e.message.contains(says), "{pairs:?}: {e:?}");
        }
    }

    #[test]
    fn credentials_a_token_is_held_until_shortly_before_it_expires() {
        let Credentials::OAuth(o) = Credentials::of(&endpoint(&[
            ("token_url", "https://auth.example/token"),
            ("url", "https://fhir.example/r4"),
            ("client_id", "hub"),
            ("client_secret", "s3cret"),
            ("scope", "system/Patient.cruds"),
        ]))
        .unwrap() else {
            panic!("an OAuth2 client")
        };
        let r = o.request(1_800_000_000).unwrap();
        assert_eq!(
            r.form,
            "grant_type=client_credentials&scope=system%2FPatient.cruds"
        );
        assert_eq!(r.authorization.unwrap().0, "Basic aHViOnMzY3JldA==");
        let t0 = Instant::now();
        assert!(o.held(t0).is_none());
        let got = o
            .accept(200, br#"{"access_token":"abc","expires_in":120}"#, t0)
            .unwrap();
        assert_eq!(got.0, "Bearer abc");
        assert_eq!(o.held(t0 + Duration::from_secs(89)), Some(got));
        assert!(o.held(t0 + Duration::from_secs(91)).is_none());
        o.forget();
        assert!(o.held(t0).is_none());
        let refused = o
            .accept(401, br#"{"error":"invalid_client"}"#, t0)
            .unwrap_err();
        assert!(refused.contains("401: invalid_client"), "{refused}");
        assert!(!format!("{o:?}").contains("s3cret"));
    }
}
