//! Admin HTTP: `/health` (the process answers), `/ready` (listeners bound, journal open,
//! workers running: 503 until then) and `/metrics` (Prometheus text format).

use super::Engine;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(engine)
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

/// Serves the admin endpoints on `listener` until the process ends.
pub async fn serve(engine: Arc<Engine>, listener: tokio::net::TcpListener) {
    let app = router(engine.clone());
    let how = super::http_listener::Listening {
        tls: engine.config.tls.server(super::tls::ADMIN),
        header_timeout: None,
    };
    super::http_listener::serve(engine, "admin".into(), listener, app, how).await;
}
