//! HTTP for operations whose endpoint is `http` (a POST of the message) or `fhir` (the
//! FHIR REST API of a server: a resource is created or updated under its type, a Bundle is
//! posted to the base). The status code is the reply (2xx accepted, 4xx rejected, 408,
//! 429 and 5xx an application error to retry, no answer refused), and a FHIR server's
//! OperationOutcome says why. The endpoint's credentials go with every request (see
//! `credentials`): a bearer token, basic authentication, or an OAuth2 token.

use super::credentials::{Credentials, OAuth, Secret};
use super::outbound::SendAttempt;
use accord_hl7::tls::ClientTls;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Pool = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An operation's HTTP client and its connection pool: HTTPS only when the endpoint has
/// TLS (never a plaintext fallback), plain HTTP otherwise. When the endpoint's
/// certificates are reloaded, the next request gets a new pool with them.
pub(super) struct HttpClient {
    tls: Option<ClientTls>,
    /// How long to wait for a connection (the endpoint's `timeout`).
    connect: Duration,
    pool: Mutex<(u64, Pool)>,
}

impl HttpClient {
    /// The pool for the endpoint's current certificates.
    fn pool(&self) -> Result<Pool, SendAttempt> {
        let Ok(mut pool) = self.pool.lock() else {
            return Err(http_attempt(None, "the HTTP client is unusable".into()));
        };
        if let Some(tls) = &self.tls {
            if tls.generation() != pool.0 {
                *pool = (
                    tls.generation(),
                    build(Some(tls), self.connect)
                        .map_err(|e| http_attempt(None, e.to_string()))?,
                );
            }
        }
        Ok(pool.1.clone())
    }
}

fn build(tls: Option<&ClientTls>, connect: Duration) -> Result<Pool, accord_hl7::tls::TlsError> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect));
    http.enforce_http(false);
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let connector = match tls {
        Some(tls) => {
            let b = builder
                .with_tls_config((*tls.config()).clone())
                .https_only();
            match tls.server_name() {
                Some(name) => {
                    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(name)
                        .map_err(|e| accord_hl7::tls::TlsError(e.to_string()))?;
                    b.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
                        .enable_http1()
                        .wrap_connector(http)
                }
                None => b.enable_http1().wrap_connector(http),
            }
        }
        None => builder
            .with_tls_config(accord_hl7::tls::trusting_nobody()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http),
    };
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// A client with its own connection pool, kept for the life of an operation; with `tls`
/// it speaks HTTPS only.
pub(super) fn client(
    tls: Option<ClientTls>,
    connect: Duration,
) -> Result<HttpClient, accord_hl7::tls::TlsError> {
    let pool = build(tls.as_ref(), connect)?;
    Ok(HttpClient {
        connect,
        pool: Mutex::new((tls.as_ref().map_or(0, ClientTls::generation), pool)),
        tls,
    })
}

/// Sends one request with the endpoint's credentials; the status and body, or the attempt
/// that says why there are none. With OAuth2, a token is asked for when none is held,
/// and a `401` makes it ask for a new one and send once more.
async fn exchange(
    client: &HttpClient,
    credentials: &Credentials,
    method: &str,
    url: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Bytes), SendAttempt> {
    let mut refreshed = false;
    loop {
        let authorization = match credentials {
            Credentials::None => None,
            Credentials::Header(secret) => Some(secret.clone()),
            Credentials::OAuth(o) => match o.held(Instant::now()) {
                Some(token) => Some(token),
                None => Some(token(client, o, timeout).await?),
            },
        };
        let kind = (content_type, content_type);
        let (status, text) = request(
            client,
            authorization.as_ref(),
            method,
            url,
            kind,
            body,
            timeout,
        )
        .await?;
        if let (401, Credentials::OAuth(o), false) = (status, credentials, refreshed) {
            // The token was revoked or the server's clock disagrees: one new token, once.
            o.forget();
            refreshed = true;
            tracing::info!(
                url,
                "401 from the peer: asking the token endpoint for a new token"
            );
            continue;
        }
        return Ok((status, text));
    }
}

/// A new token from the OAuth2 token endpoint. A refusal is a `refused` attempt, retried
/// as the contract says, since no message can go until the client is let in.
async fn token(client: &HttpClient, o: &OAuth, timeout: Duration) -> Result<Secret, SendAttempt> {
    let unix_now = jiff::Timestamp::now().as_second();
    let req = o.request(unix_now).map_err(|why| http_attempt(None, why))?;
    let kind = ("application/x-www-form-urlencoded", "application/json");
    let (status, body) = request(
        client,
        req.authorization.as_ref(),
        "POST",
        &req.url,
        kind,
        req.form.as_bytes(),
        timeout,
    )
    .await?;
    o.accept(status, &body, Instant::now())
        .map_err(|why| http_attempt(None, why))
}

/// Posts a JSON body (an alert to its webhook): the status, or why there is none.
pub(super) async fn post_json(
    client: &HttpClient,
    url: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<u16, String> {
    let kind = ("application/json", "*/*");
    match request(client, None, "POST", url, kind, body, timeout).await {
        Ok((status, _)) => Ok(status),
        Err(a) => Err(a.detail.unwrap_or(a.class)),
    }
}

/// A GET that accepts JSON (an identity provider's metadata and keys): the status and
/// body, or why there are none.
pub(super) async fn get(
    client: &HttpClient,
    url: &str,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let kind = ("application/json", "application/json");
    request(client, None, "GET", url, kind, &[], timeout)
        .await
        .map_err(|a| a.detail.unwrap_or(a.class))
}

/// Posts a form (a token request), with `authorization` when given: the status and body,
/// or why there are none.
pub(super) async fn post_form(
    client: &HttpClient,
    url: &str,
    authorization: Option<&Secret>,
    form: &str,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let kind = ("application/x-www-form-urlencoded", "application/json");
    request(
        client,
        authorization,
        "POST",
        url,
        kind,
        form.as_bytes(),
        timeout,
    )
    .await
    .map_err(|a| a.detail.unwrap_or(a.class))
}

/// One HTTP request: `kind` is its content type and what it accepts.
async fn request(
    client: &HttpClient,
    authorization: Option<&Secret>,
    method: &str,
    url: &str,
    (content_type, accept): (&str, &str),
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Bytes), SendAttempt> {
    let mut builder = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", content_type)
        .header("accept", accept);
    if let Some(Secret(value)) = authorization {
        let mut v = match axum::http::HeaderValue::from_str(value) {
            Ok(v) => v,
            Err(_) => {
                return Err(http_attempt(
                    None,
                    format!("the credentials for {url} cannot be sent in a header"),
                ))
            }
        };
        v.set_sensitive(true);
        builder = builder.header("authorization", v);
    }
    let request = match builder.body(Full::new(Bytes::copy_from_slice(body))) {
        Ok(r) => r,
        Err(e) => return Err(http_attempt(None, format!("bad request for {url}: {e}"))),
    };
    let pool = client.pool()?;
    match tokio::time::timeout(timeout, pool.request(request)).await {
        Err(_) => {
            let mut a = http_attempt(
                None,
                format!(
                    "no HTTP response from {url} within {} ms",
                    timeout.as_millis()
                ),
            );
            a.class = "timeout".into();
            Err(a)
        }
        Ok(Err(e)) => Err(http_attempt(None, format!("{method} {url}: {e}"))),
        Ok(Ok(resp)) => {
            let status = resp.status().as_u16();
            let text = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok((status, text))
        }
    }
}

pub(super) async fn post(
    client: &HttpClient,
    credentials: &Credentials,
    url: &str,
    body: &[u8],
    timeout: Duration,
) -> SendAttempt {
    let content_type = if body.starts_with(b"MSH") {
        "x-application/hl7-v2+er7"
    } else {
        "application/json"
    };
    match exchange(
        client,
        credentials,
        "POST",
        url,
        content_type,
        body,
        timeout,
    )
    .await
    {
        Err(a) => a,
        Ok((status, text)) => {
            let text = String::from_utf8_lossy(&text[..text.len().min(300)]).to_string();
            http_attempt(Some(status), format!("HTTP {status} {text}"))
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a search value.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How a resource goes to a FHIR server: a conditional update on its first identifier
/// (`PUT Patient?identifier=system|value`: created when no match, updated when one, 412
/// when several), else an update by its id, else a create; a Bundle (transaction,
/// batch) is posted to the base.
pub(super) fn fhir_request(base: &str, body: &[u8]) -> (&'static str, String) {
    let base = base.trim_end_matches('/');
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return ("POST", base.to_string());
    };
    let Some(kind) = v["resourceType"].as_str() else {
        return ("POST", base.to_string());
    };
    if kind == "Bundle" {
        return ("POST", base.to_string());
    }
    let first = &v["identifier"][0];
    if let (Some(system), Some(value)) = (first["system"].as_str(), first["value"].as_str()) {
        let search = format!("{}|{}", encode(system), encode(value));
        return ("PUT", format!("{base}/{kind}?identifier={search}"));
    }
    match v["id"].as_str() {
        Some(id) => ("PUT", format!("{base}/{kind}/{}", encode(id))),
        None => ("POST", format!("{base}/{kind}")),
    }
}

/// The issues of an OperationOutcome: `error invalid: Patient.gender: unknown code`.
pub(super) fn outcome_text(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v["resourceType"] != "OperationOutcome" {
        return None;
    }
    let issues: Vec<String> = v["issue"]
        .as_array()?
        .iter()
        .map(|i| {
            let what = i["diagnostics"]
                .as_str()
                .or_else(|| i["details"]["text"].as_str())
                .unwrap_or("");
            format!(
                "{} {}: {what}",
                i["severity"].as_str().unwrap_or("error"),
                i["code"].as_str().unwrap_or("unknown")
            )
        })
        .collect();
    Some(issues.join("; "))
}

/// Sends a FHIR resource (or Bundle) to the server at `base`. A 408, 429 or 5xx is an AE
/// (the server may take it later), any other 4xx an AR; the OperationOutcome's issues
/// are the detail.
pub(super) async fn fhir(
    client: &HttpClient,
    credentials: &Credentials,
    base: &str,
    body: &[u8],
    timeout: Duration,
) -> SendAttempt {
    let (method, url) = fhir_request(base, body);
    match exchange(
        client,
        credentials,
        method,
        &url,
        "application/fhir+json",
        body,
        timeout,
    )
    .await
    {
        Err(a) => a,
        Ok((status, text)) => {
            let why = outcome_text(&text).unwrap_or_else(|| {
                String::from_utf8_lossy(&text[..text.len().min(300)]).to_string()
            });
            let mut a = http_attempt(Some(status), format!("HTTP {status} {method} {url}: {why}"));
            if matches!(status, 408 | 429) {
                a.class = "AE".into();
            }
            a
        }
    }
}

/// An HTTP exchange's outcome as a reply class: 2xx `AA`, 4xx `AR`, other statuses `AE`,
/// and no response at all `refused`.
fn http_attempt(status: Option<u16>, detail: String) -> SendAttempt {
    let class = match status {
        Some(200..=299) => "AA",
        Some(400..=499) => "AR",
        Some(_) => "AE",
        None => "refused",
    };
    SendAttempt {
        class: class.into(),
        detail: Some(detail),
        reply: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_go_where_fhir_rest_puts_them() {
        let base = "http://fhir.example/r4/";
        let p = br#"{"resourceType":"Patient","id":"patient-1","identifier":[{"system":"urn:oid:1.2","value":"100 001"}]}"#;
        assert_eq!(
            fhir_request(base, p),
            (
                "PUT",
                "http://fhir.example/r4/Patient?identifier=urn%3Aoid%3A1.2|100%20001".into()
            )
        );
        let by_id = br#"{"resourceType":"Observation","id":"result-ORD1"}"#;
        assert_eq!(
            fhir_request(base, by_id),
            (
                "PUT",
                "http://fhir.example/r4/Observation/result-ORD1".into()
            )
        );
        let new = br#"{"resourceType":"Observation"}"#;
        assert_eq!(
            fhir_request(base, new),
            ("POST", "http://fhir.example/r4/Observation".into())
        );
        let bundle = br#"{"resourceType":"Bundle","type":"transaction"}"#;
        assert_eq!(
            fhir_request(base, bundle),
            ("POST", "http://fhir.example/r4".into())
        );
    }

    #[test]
    fn operation_outcomes_say_why() {
        let oo = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"Patient.gender: unknown code 'F'"},{"severity":"warning","code":"informational","details":{"text":"name is empty"}}]}"#;
        assert_eq!(
            outcome_text(oo).as_deref(),
            Some("error invalid: Patient.gender: unknown code 'F'; warning informational: name is empty")
        );
        assert_eq!(outcome_text(b"<html>"), None);
    }
}
