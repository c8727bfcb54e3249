//! Admin HTTP: `/health` (the process answers), `/ready` (listeners bound, journal open,
//! workers running: 503 until then), `/metrics` (Prometheus text format), and the
//! operations console under `/console` when the configuration has a `[console]`
//! (`console`: its own logins, sessions and roles; the admin token is not asked there).
//!
//! With `[admin] token`, `/metrics` answers only a request that carries it as a bearer
//! token (compared in constant time), and `401` otherwise; the refusal is counted in
//! `accord_http_refused_total{listener="admin",reason="unauthorised"}` and logged once per
//! client per minute. `/health` and `/ready` stay open: they are what a load balancer's or
//! an orchestrator's probe asks, and say nothing but "up".

use super::credentials::Secret;
use super::http_listener::ClientAddr;
use super::Engine;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn router(engine: Arc<Engine>) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(engine.clone(), token_asked));
    let console = super::console::router(engine.clone());
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .merge(guarded)
        .with_state(engine);
    match console {
        Some(console) => app.merge(console),
        None => app,
    }
}

async fn ready(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    if engine.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

async fn metrics(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        engine.metrics.encode(),
    )
}

/// Lets the request through when no token is configured or it carries the token.
async fn token_asked(State(engine): State<Arc<Engine>>, request: Request, next: Next) -> Response {
    let Some(token) = engine.reloaded.admin_token(&engine.config.admin_token) else {
        return next.run(request).await;
    };
    if carries(request.headers(), &token) {
        return next.run(request).await;
    }
    let label = super::metrics::RefusedLabel {
        listener: "admin".into(),
        reason: "unauthorised".into(),
    };
    engine.metrics.http_refused.get_or_create(&label).inc();
    if let Some(ClientAddr(peer)) = request.extensions().get::<ClientAddr>().copied() {
        if let Some(n) = engine.notices.note(peer.ip(), "unauthorised") {
            tracing::warn!(listener = "admin", %peer, refused = n, "admin request without the admin token refused");
        }
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"accord-admin\"")],
        "this listener asks for its bearer token ([admin] token)\n",
    )
        .into_response()
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in time that does
/// not depend on where the two first differ.
fn carries(headers: &HeaderMap, token: &Secret) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (given, wanted) = (given.trim().as_bytes(), token.0.as_bytes());
    given.len() == wanted.len()
        && given
            .iter()
            .zip(wanted)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

/// Serves the admin endpoints on `listener` until the process ends.
pub async fn serve(engine: Arc<Engine>, listener: tokio::net::TcpListener) {
    let app = router(engine.clone());
    let how = super::http_listener::Listening {
        tls: engine.config.tls.server(super::tls::ADMIN),
        header_timeout: None,
    };
    super::http_listener::serve(engine, "admin".into(), listener, app, how).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_the_admin_token_must_match_whole() {
        let token = Secret("0123456789abcdef0123456789abcdef".into());
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            carries(&h, &token)
        };
        assert!(with("Bearer 0123456789abcdef0123456789abcdef"));
        assert!(!with("Bearer 0123456789abcdef0123456789abcdee"));
        assert!(!with("Bearer 0123456789abcdef"), "a prefix");
        assert!(!with("Basic 0123456789abcdef0123456789abcdef"));
        assert!(!carries(&HeaderMap::new(), &token));
    }
}
