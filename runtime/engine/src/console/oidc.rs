//! Signing in to the console through the hospital's OpenID Connect provider (Entra ID,
//! ADFS, Keycloak...): the authorization code flow with PKCE (RFC 7636, `S256`), a `state`
//! bound to the browser by a cookie, and a `nonce` bound to the ID token. The provider is
//! found by discovery from its issuer, whose metadata must name that same issuer. The ID
//! token is checked by the rules the FHIR facade's tokens pass (`jwt`): RS256 by a key of
//! the provider's JWKS, issued by the issuer, for this client (`aud`, and `azp` when there
//! are several audiences), in date, with an `iat`, a `sub`, and the nonce of the sign-in
//! it answers. The operator's role comes from a claim whose values the configuration maps
//! to viewer, operator or admin; somebody the provider knows and the mapping does not is
//! refused, and so is a name that is a local operator's.

use super::auth::{self, Role};
use super::pages;
use super::settings::Operator;
use super::Console;
use crate::credentials::Secret;
use crate::http::{self, HttpClient};
use crate::jwt::{self, Claims, JWKS_REFRESH_S};
use accord_hl7::tls::{ClientIdentity, ClientTls, Pem};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The path the provider sends the browser back to; `redirect_url` must end with it.
pub const CALLBACK_PATH: &str = "/console/oidc/callback";
/// The cookie binding a sign-in in progress to the browser that started it.
pub const STATE_COOKIE: &str = "accord_oidc";
/// How long a sign-in may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// Sign-ins in progress at once; more are refused until some finish or lapse.
pub const MAX_PENDING: usize = 10_000;
/// Sign-ins in progress at once from one client address.
pub const MAX_PENDING_PER_ADDRESS: usize = 20;
/// How long a request to the provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `[console.oidc]`, checked.
#[derive(Clone)]
pub struct OidcSettings {
    /// The provider's issuer identifier, exactly as its tokens' `iss`.
    pub issuer: String,
    pub client_id: String,
    /// The client secret (a confidential client); without it the console is a public
    /// client and PKCE alone binds the code to it.
    pub client_secret: Option<String>,
    /// This console's callback as the provider knows it (registered with the provider).
    pub redirect_url: String,
    /// The sign-in button's words: "Sign in with {label}".
    pub label: String,
    /// The scopes asked for, `openid` first.
    pub scopes: Vec<String>,
    /// The claim holding the operator's groups or roles (a dotted path walks objects,
    /// e.g. `realm_access.roles`).
    pub roles_claim: String,
    /// The claim naming the operator in the console and the audit trail.
    pub name_claim: String,
    /// Which value of the roles claim grants which role; the highest held wins.
    pub roles: Vec<(String, Role)>,
    /// The value of the roles claim that grants unmasked patient data; without it,
    /// operators and admins see it and viewers do not.
    pub phi: Option<String>,
    /// The CAs the provider's certificate must chain to (a path or PEM), when not the
    /// system's.
    pub ca: Option<String>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("redirect_url", &self.redirect_url)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// Whether `url` may be one of the provider's or the callback's: HTTPS, or plain HTTP to
/// this machine (a provider on loopback, in development and tests).
fn acceptable_url(url: &str) -> Result<(), String> {
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if crate::config::is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "`{url}` is not https (plain HTTP is for loopback only)"
        )),
        _ => Err(format!("`{url}` is not an https URL")),
    }
}

impl OidcSettings {
    /// `[console.oidc]` from the configuration; `None` when absent.
    pub fn from_config(
        v: &Value,
        secret: &impl Fn(&Value) -> Result<Option<String>, String>,
    ) -> Result<Option<OidcSettings>, String> {
        if v.is_null() {
            return Ok(None);
        }
        let text = |k: &str| v[k].as_str().map(str::to_string);
        let needed = |k: &str| text(k).ok_or_else(|| format!("[console.oidc] has no `{k}`"));
        let issuer = needed("issuer")?;
        acceptable_url(&issuer).map_err(|e| format!("[console.oidc] issuer {e}"))?;
        let redirect_url = needed("redirect_url")?;
        acceptable_url(&redirect_url).map_err(|e| format!("[console.oidc] redirect_url {e}"))?;
        if !redirect_url.ends_with(CALLBACK_PATH) {
            return Err(format!(
                "[console.oidc] redirect_url `{redirect_url}` does not end with {CALLBACK_PATH}, where the console takes the provider's answer"
            ));
        }
        let client_secret = secret(&v["client_secret"])
            .map_err(|e| format!("[console.oidc] client_secret: {e}"))?;
        let mut scopes: Vec<String> = match v["scopes"].as_array() {
            Some(list) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            None => vec!["openid".into(), "profile".into()],
        };
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        let mut roles = vec![];
        if let Some(table) = v["roles"].as_object() {
            for (value, role) in table {
                let role = role.as_str().and_then(Role::parse).ok_or_else(|| {
                    format!("[console.oidc.roles] \"{value}\" must be viewer, operator or admin")
                })?;
                roles.push((value.clone(), role));
            }
        }
        if roles.is_empty() {
            return Err(
                "[console.oidc.roles] maps no claim value to a role, so nobody could sign in"
                    .into(),
            );
        }
        let ca = text("ca");
        if let Some(ca) = &ca {
            Pem::load(ca)
                .and_then(|p| p.certificates())
                .map_err(|e| format!("[console.oidc] ca: {}", e.0))?;
        }
        Ok(Some(OidcSettings {
            issuer,
            client_id: needed("client_id")?,
            client_secret,
            redirect_url,
            label: text("label").unwrap_or_else(|| "single sign-on".into()),
            scopes,
            roles_claim: text("roles_claim").unwrap_or_else(|| "roles".into()),
            name_claim: text("name_claim").unwrap_or_else(|| "preferred_username".into()),
            roles,
            phi: text("phi"),
            ca,
        }))
    }
}

/// The provider as discovered, and its keys as last read.
#[derive(Clone)]
struct Provider {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    jwks: JwkSet,
    jwks_read: Instant,
}

/// A sign-in sent to the provider and not yet back.
struct Pending {
    nonce: String,
    verifier: String,
    at: Instant,
    /// The client address that started it.
    address: String,
}

/// The console's OpenID Connect client.
pub struct Oidc {
    pub settings: OidcSettings,
    client: HttpClient,
    provider: tokio::sync::Mutex<Option<Provider>>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Oidc, String> {
        let tls = if settings.issuer.starts_with("https://") {
            let ca = match &settings.ca {
                Some(ca) => Some(Pem::load(ca).map_err(|e| e.0)?),
                None => None,
            };
            let id = ClientIdentity {
                ca,
                ..ClientIdentity::default()
            };
            Some(ClientTls::new(&id).map_err(|e| e.0)?)
        } else {
            None
        };
        Ok(Oidc {
            client: http::client(tls, TIMEOUT).map_err(|e| e.0)?,
            settings,
            provider: tokio::sync::Mutex::new(None),
            pending: Mutex::default(),
        })
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let (status, body) = http::get(&self.client, url, TIMEOUT).await?;
        if status != 200 {
            return Err(format!("{url} answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} did not answer JSON: {e}"))
    }

    async fn read_jwks(&self, uri: &str) -> Result<JwkSet, String> {
        serde_json::from_value(self.get_json(uri).await?)
            .map_err(|e| format!("the provider's JWKS {uri} is not valid: {e}"))
    }

    /// The provider, discovered on first use (and again after a failure).
    async fn provider(&self) -> Result<Provider, String> {
        let mut held = self.provider.lock().await;
        if let Some(p) = held.as_ref() {
            return Ok(p.clone());
        }
        let issuer = &self.settings.issuer;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let meta = self.get_json(&url).await?;
        if meta["issuer"].as_str() != Some(issuer.as_str()) {
            return Err(format!(
                "the provider's metadata names issuer {}, not {issuer}",
                meta["issuer"]
            ));
        }
        let endpoint = |k: &str| -> Result<String, String> {
            let url = meta[k]
                .as_str()
                .ok_or_else(|| format!("the provider's metadata has no `{k}`"))?;
            acceptable_url(url).map_err(|e| format!("the provider's {k} {e}"))?;
            Ok(url.to_string())
        };
        let jwks_uri = endpoint("jwks_uri")?;
        let p = Provider {
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            jwks: self.read_jwks(&jwks_uri).await?,
            jwks_uri,
            jwks_read: Instant::now(),
        };
        *held = Some(p.clone());
        Ok(p)
    }

    /// The key named `kid`, reading the JWKS again when it lacks it (a rotated key) and
    /// was last read long enough ago.
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, String> {
        self.provider().await?;
        let mut held = self.provider.lock().await;
        let p = held.as_mut().ok_or("the provider is not discovered")?;
        let found = jwt::pick(Some(&p.jwks), kid);
        if found.is_err() && p.jwks_read.elapsed() >= Duration::from_secs(JWKS_REFRESH_S) {
            p.jwks = self.read_jwks(&p.jwks_uri).await?;
            p.jwks_read = Instant::now();
            return jwt::pick(Some(&p.jwks), kid);
        }
        found
    }

    /// A new sign-in: its state, and the authorization request to send the browser to.
    async fn begin(&self, address: &str) -> Result<(String, String), String> {
        let p = self.provider().await?;
        let (state, nonce, verifier) = (auth::token(), auth::token(), auth::token());
        let challenge = {
            use base64::Engine as _;
            use sha2::Digest as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()))
        };
        self.remember(
            state.clone(),
            Pending {
                nonce: nonce.clone(),
                verifier,
                at: Instant::now(),
                address: address.to_string(),
            },
        )?;
        let s = &self.settings;
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", &s.client_id),
            ("redirect_uri", &s.redirect_url),
            ("scope", &s.scopes.join(" ")),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|e| e.to_string())?;
        let sep = if p.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok((state, format!("{}{sep}{query}", p.authorization_endpoint)))
    }

    /// Holds a sign-in sent to the provider, unless too many are in progress, in all or
    /// from its address (those that lapsed go first).
    fn remember(&self, state: String, sign_in: Pending) -> Result<(), String> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, s| s.at.elapsed() < PENDING_TTL);
        let from_there = pending
            .values()
            .filter(|p| p.address == sign_in.address)
            .count();
        if pending.len() >= MAX_PENDING || from_there >= MAX_PENDING_PER_ADDRESS {
            return Err("too many sign-ins are in progress; try again in a few minutes".into());
        }
        pending.insert(state, sign_in);
        Ok(())
    }

    /// The pending sign-in of `state`, once: it is forgotten as it is taken.
    fn take(&self, state: &str) -> Option<Pending> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .remove(state)
            .filter(|p| p.at.elapsed() < PENDING_TTL)
    }

    /// The provider's answer at the callback, checked, as the claims of its ID token.
    async fn finish(
        &self,
        headers: &HeaderMap,
        q: &HashMap<String, String>,
    ) -> Result<Claims, String> {
        if let Some(error) = q.get("error") {
            let said = q
                .get("error_description")
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(format!("the provider refused the sign-in: {error}{said}"));
        }
        // RFC 9207: a provider that names itself in its answer must be ours (no mix-up).
        if q.get("iss").is_some_and(|iss| *iss != self.settings.issuer) {
            return Err("the answer comes from another provider (`iss`)".into());
        }
        let state = q
            .get("state")
            .ok_or("the provider's answer has no `state`")?;
        let bound = auth::cookie(headers, STATE_COOKIE).ok_or(
            "this browser did not start this sign-in (it has no sign-in cookie); sign in again",
        )?;
        if !auth::same(state, &bound) {
            return Err("the answer's `state` is not this browser's sign-in; sign in again".into());
        }
        let pending = self
            .take(state)
            .ok_or("this sign-in has lapsed or was already used; sign in again")?;
        let code = q.get("code").ok_or("the provider's answer has no `code`")?;
        let p = self.provider().await?;
        let s = &self.settings;
        let form = serde_urlencoded::to_string([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &s.redirect_url),
            ("code_verifier", &pending.verifier),
            ("client_id", &s.client_id),
        ])
        .map_err(|e| e.to_string())?;
        let basic = s
            .client_secret
            .as_ref()
            .map(|secret| client_basic(&s.client_id, secret));
        let (status, body) = http::post_form(
            &self.client,
            &p.token_endpoint,
            basic.as_ref(),
            &form,
            TIMEOUT,
        )
        .await?;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status != 200 {
            return Err(format!(
                "the token endpoint answered {status}: {} {}",
                answer["error"].as_str().unwrap_or("(no error code)"),
                answer["error_description"].as_str().unwrap_or_default()
            ));
        }
        let id_token = answer["id_token"]
            .as_str()
            .ok_or("the token endpoint's answer has no `id_token`")?;
        let head = jsonwebtoken::decode_header(id_token)
            .map_err(|e| format!("the ID token is not a JWT: {e}"))?;
        if head.alg != Algorithm::RS256 {
            return Err(format!(
                "the ID token is signed with {:?}; the console accepts RS256",
                head.alg
            ));
        }
        let key = self.key(head.kid.as_deref()).await?;
        let claims = jwt::verified_claims(id_token, &key, head.alg)?;
        check_id_token(
            &claims,
            s,
            &pending.nonce,
            jiff::Timestamp::now().as_second(),
        )?;
        Ok(claims)
    }
}

/// `client_secret_basic` (RFC 6749 §2.3.1): the id and secret form-encoded, then joined.
fn client_basic(id: &str, secret: &str) -> Secret {
    use base64::Engine as _;
    let encode = |v: &str| {
        serde_urlencoded::to_string([("", v)])
            .map(|s| s[1..].to_string())
            .unwrap_or_default()
    };
    Secret(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(id),
            encode(secret)
        ))
    ))
}

/// The ID token's claims, against the settings, the sign-in's nonce and `now`
/// (OpenID Connect Core §3.1.3.7).
pub fn check_id_token(
    claims: &Claims,
    s: &OidcSettings,
    nonce: &str,
    now: i64,
) -> Result<(), String> {
    jwt::check_registered(claims, &s.issuer, &s.client_id, "this console", now)?;
    jwt::time(claims, "iat")?.ok_or("the ID token has no `iat`")?;
    let azp = claims.get("azp").map(|v| v.as_str().unwrap_or_default());
    if jwt::audiences(claims).len() > 1 && azp.is_none() {
        return Err("the ID token has several audiences and no `azp`".into());
    }
    if azp.is_some_and(|a| a != s.client_id) {
        return Err("the ID token was issued to another client (`azp`)".into());
    }
    match claims.get("nonce").and_then(Value::as_str) {
        Some(n) if auth::same(n, nonce) => {}
        Some(_) => {
            return Err("the ID token's nonce is not this sign-in's (a replayed token?)".into())
        }
        None => return Err("the ID token has no `nonce`".into()),
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => Ok(()),
        _ => Err("the ID token names no subject (`sub`)".into()),
    }
}

/// The strings at a dotted claim path: one string, or a list of them.
fn claim_values<'c>(claims: &'c Claims, path: &str) -> Vec<&'c str> {
    let mut parts = path.split('.');
    let Some(first) = parts.next().and_then(|p| claims.get(p)) else {
        return vec![];
    };
    let at = parts.try_fold(first, |v, p| v.get(p));
    match at {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// The operator a checked ID token signs in: named by the name claim (or `sub`), with the
/// highest role the roles claim maps to. Refused when it maps to none, or when the name is
/// a local operator's (the audit trail would not tell them apart).
pub fn operator_of(
    claims: &Claims,
    s: &OidcSettings,
    locals: &[Operator],
) -> Result<Operator, String> {
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = claims
        .get(&s.name_claim)
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(sub)
        .to_string();
    let held = claim_values(claims, &s.roles_claim);
    let role = s
        .roles
        .iter()
        .filter(|(value, _)| held.contains(&value.as_str()))
        .map(|(_, role)| *role)
        .max()
        .ok_or_else(|| {
            let mapped: Vec<&str> = s.roles.iter().map(|(v, _)| v.as_str()).collect();
            format!(
                "{name} has no console role: the `{}` claim holds none of {}",
                s.roles_claim,
                mapped.join(", ")
            )
        })?;
    if locals.iter().any(|o| o.name == name) {
        return Err(format!(
            "{name} is also a local operator's name; sign in with the local account, or rename one"
        ));
    }
    let phi = match &s.phi {
        Some(v) => held.contains(&v.as_str()),
        None => role != Role::Viewer,
    };
    Ok(Operator {
        name,
        role,
        hash: String::new(),
        phi,
    })
}

/// The state cookie: `Lax`, since the provider's answer is a navigation from its site;
/// only the callback's path sees it, and only for as long as a sign-in may take.
fn state_cookie(value: &str, secure: bool, max_age: u64) -> String {
    format!(
        "{STATE_COOKIE}={value}; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The login page with an error, and its status.
fn login_error(c: &Console, status: StatusCode, error: &str) -> Response {
    let mut page = pages::login_form(c, Some(error));
    *page.status_mut() = status;
    page
}

/// `GET /console/oidc/start`: sends the browser to the provider.
pub async fn start(
    State(c): State<Arc<Console>>,
    client: Option<axum::Extension<crate::http_listener::ClientAddr>>,
) -> Response {
    let Some(o) = &c.oidc else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match o.begin(&address_of(client)).await {
        Ok((state, url)) => (
            [
                (
                    header::SET_COOKIE,
                    state_cookie(&state, c.secure, PENDING_TTL.as_secs()),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            Redirect::to(&url),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "console: OpenID Connect sign-in cannot start");
            login_error(
                &c,
                StatusCode::BAD_GATEWAY,
                &format!("the identity provider cannot be used now: {e}"),
            )
        }
    }
}

/// `GET /console/oidc/callback`: the provider's answer. A good one opens a session; the
/// page that says so moves on to the dashboard itself, so the browser sends the new
/// `SameSite=Strict` cookie (a redirect in a chain the provider started would not).
pub async fn callback(
    State(c): State<Arc<Console>>,
    client: Option<axum::Extension<crate::http_listener::ClientAddr>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(o) = &c.oidc else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let address = address_of(client);
    // No password is guessed here, so no failure counts towards the logins' throttle: the
    // state, the PKCE verifier and the nonce are what a forger would have to guess.
    let clear = state_cookie("", c.secure, 0);
    let signed = o.finish(&headers, &q).await.and_then(|claims| {
        operator_of(&claims, &o.settings, &c.settings.operators).map(|op| (op, claims))
    });
    match signed {
        Ok((op, claims)) => {
            let id = c.sessions.open(&op);
            let sub = claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default();
            c.audit(
                &op.name,
                "console-login",
                format!(
                    "through OpenID Connect ({} sub {sub}), as {}, from {address}",
                    o.settings.issuer,
                    op.role.name()
                ),
            )
            .await;
            let page = c.render("entered.html", None, json!({ "operator": op.name }));
            (
                AppendHeaders([
                    (header::SET_COOKIE, auth::set_cookie(&id, c.secure)),
                    (header::SET_COOKIE, clear),
                ]),
                page,
            )
                .into_response()
        }
        Err(why) => {
            tracing::warn!(error = %why, address, "console: OpenID Connect sign-in refused");
            c.audit(
                "openid-connect",
                "console-login-failed",
                format!("{why}, from {address}"),
            )
            .await;
            let mut page = login_error(&c, StatusCode::UNAUTHORIZED, &why);
            page.headers_mut()
                .append(header::SET_COOKIE, header_value(&clear));
            page
        }
    }
}

/// The client's address, as the listener saw it.
fn address_of(client: Option<axum::Extension<crate::http_listener::ClientAddr>>) -> String {
    client
        .map(|axum::Extension(a)| a.0.ip().to_string())
        .unwrap_or_default()
}

fn header_value(v: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(v).unwrap_or(axum::http::HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OidcSettings {
        OidcSettings::from_config(
            &json!({
                "issuer": "https://login.example.org/realms/nhs",
                "client_id": "accord-console",
                "redirect_url": "https://accord.example.org:9443/console/oidc/callback",
                "roles_claim": "realm_access.roles",
                "roles": { "accord-viewers": "viewer", "accord-operators": "operator", "accord-admins": "admin" },
                "phi": "accord-phi",
            }),
            &|_| Ok(None),
        )
        .unwrap()
        .unwrap()
    }

    const NOW: i64 = 1_800_000_000;

    fn good() -> Value {
        json!({
            "iss": "https://login.example.org/realms/nhs", "aud": "accord-console",
            "exp": NOW + 300, "iat": NOW, "nonce": "n-1", "sub": "f81d4fae",
            "preferred_username": "olivia",
            "realm_access": { "roles": ["accord-operators", "offline_access"] },
        })
    }

    fn claims(v: Value) -> Claims {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn console_oidc_settings_that_cannot_work_are_refused() {
        let base = json!({
            "issuer": "https://idp.example", "client_id": "c",
            "redirect_url": "https://accord.example/console/oidc/callback",
            "roles": { "g": "viewer" },
        });
        let none = |_: &Value| Ok(None);
        assert!(OidcSettings::from_config(&base, &none).unwrap().is_some());
        for (key, value, why) in [
            ("issuer", json!("http://idp.example"), "not https"),
            ("issuer", Value::Null, "no `issuer`"),
            (
                "redirect_url",
                json!("https://accord.example/callback"),
                "does not end with",
            ),
            (
                "redirect_url",
                json!("http://accord.example/console/oidc/callback"),
                "not https",
            ),
            ("client_id", Value::Null, "no `client_id`"),
            ("roles", json!({}), "nobody could sign in"),
            ("roles", json!({ "g": "superuser" }), "must be viewer"),
        ] {
            let mut v = base.clone();
            match value {
                Value::Null => {
                    v.as_object_mut().unwrap().remove(key);
                }
                value => v[key] = value,
            }
            let got = OidcSettings::from_config(&v, &none);
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{key}: {got:?}"
            );
        }
        let mut loopback = base.clone();
        loopback["issuer"] = json!("http://127.0.0.1:8080");
        assert!(
            OidcSettings::from_config(&loopback, &none).is_ok(),
            "a provider on loopback"
        );
        let s = OidcSettings::from_config(&base, &none).unwrap().unwrap();
        assert_eq!(s.scopes, ["openid", "profile"]);
    }

    #[test]
    fn console_oidc_id_tokens_are_checked_claim_by_claim() {
        let s = settings();
        assert_eq!(check_id_token(&claims(good()), &s, "n-1", NOW), Ok(()));
        for (key, value, why) in [
            ("nonce", json!("n-2"), "not this sign-in's"),
            ("nonce", Value::Null, "no `nonce`"),
            ("aud", json!("another-client"), "not for this console"),
            (
                "iss",
                json!("https://evil.example"),
                "not the one this console trusts",
            ),
            ("exp", json!(NOW - 3600), "expired"),
            ("iat", Value::Null, "no `iat`"),
            ("sub", Value::Null, "no subject"),
            ("azp", json!("another-client"), "another client"),
            ("aud", json!(["accord-console", "api"]), "no `azp`"),
        ] {
            let mut c = good();
            match value {
                Value::Null => {
                    c.as_object_mut().unwrap().remove(key);
                }
                v => c[key] = v,
            }
            let got = check_id_token(&claims(c), &s, "n-1", NOW);
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{key}: {got:?}"
            );
        }
        let mut both = good();
        both["aud"] = json!(["accord-console", "api"]);
        both["azp"] = json!("accord-console");
        assert_eq!(check_id_token(&claims(both), &s, "n-1", NOW), Ok(()));
    }

    #[test]
    fn console_oidc_roles_come_from_the_claim_and_the_highest_wins() {
        let s = settings();
        let op = operator_of(&claims(good()), &s, &[]).unwrap();
        assert_eq!(
            (op.name.as_str(), op.role, op.phi),
            ("olivia", Role::Operator, false)
        );
        let mut c = good();
        c["realm_access"]["roles"] = json!(["accord-viewers", "accord-admins", "accord-phi"]);
        let op = operator_of(&claims(c), &s, &[]).unwrap();
        assert_eq!((op.role, op.phi), (Role::Admin, true));
        let mut c = good();
        c["realm_access"]["roles"] = json!(["offline_access"]);
        let e = operator_of(&claims(c), &s, &[]).unwrap_err();
        assert!(e.contains("no console role"), "{e}");
        let mut c = good();
        c.as_object_mut().unwrap().remove("preferred_username");
        assert_eq!(
            operator_of(&claims(c), &s, &[]).unwrap().name,
            "f81d4fae",
            "sub"
        );
        let local = Operator {
            name: "olivia".into(),
            role: Role::Viewer,
            hash: String::new(),
            phi: false,
        };
        let e = operator_of(&claims(good()), &s, &[local]).unwrap_err();
        assert!(e.contains("local operator"), "{e}");
    }

    #[test]
    fn console_oidc_sign_ins_are_bounded_per_address_taken_once_and_the_secret_is_form_encoded() {
        let o = Oidc::new(settings()).unwrap();
        let pending = |address: &str| Pending {
            nonce: "n".into(),
            verifier: "v".into(),
            at: Instant::now(),
            address: address.into(),
        };
        o.remember("s".into(), pending("192.0.2.1")).unwrap();
        for n in 1..MAX_PENDING_PER_ADDRESS {
            o.remember(format!("s{n}"), pending("192.0.2.1")).unwrap();
        }
        let e = o
            .remember("one more".into(), pending("192.0.2.1"))
            .unwrap_err();
        assert!(e.contains("too many sign-ins"), "{e}");
        o.remember("elsewhere".into(), pending("192.0.2.2"))
            .unwrap();
        assert!(o.take("s").is_some());
        assert!(o.take("s").is_none(), "a state is used once");
        let Secret(b) = client_basic("accord console", "p:a%ss");
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "accord+console:p%3Aa%25ss"
        );
    }
}
