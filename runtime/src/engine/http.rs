//! HTTP for operations whose endpoint is `http`: a POST of the message, the status code as
//! the reply (2xx accepted, 4xx rejected, 5xx application error, no answer refused).

use super::outbound::{http_attempt, SendAttempt};
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

pub(super) type HttpClient =
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// A client with its own connection pool, kept for the life of an operation.
pub(super) fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>()
}

pub(super) async fn post(
    client: &HttpClient,
    url: &str,
    body: &[u8],
    timeout: Duration,
) -> SendAttempt {
    let content_type = if body.starts_with(b"MSH") {
        "x-application/hl7-v2+er7"
    } else {
        "application/json"
    };
    let request = match axum::http::Request::post(url)
        .header("content-type", content_type)
        .body(Full::new(Bytes::copy_from_slice(body)))
    {
        Ok(r) => r,
        Err(e) => return http_attempt(None, format!("bad request for {url}: {e}")),
    };
    match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => {
            let mut a = http_attempt(
                None,
                format!(
                    "no HTTP response from {url} within {} ms",
                    timeout.as_millis()
                ),
            );
            a.class = "timeout".into();
            a
        }
        Ok(Err(e)) => http_attempt(None, format!("POST {url}: {e}")),
        Ok(Ok(resp)) => {
            let status = resp.status().as_u16();
            let text = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text[..text.len().min(300)]).to_string();
            http_attempt(Some(status), format!("HTTP {status} {text}"))
        }
    }
}
