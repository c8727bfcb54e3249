//! The production's HTTP listeners (the FHIR facades, the admin endpoints), with the
//! limits a listener open to a network needs, from `[limits]`:
//!
//! - at most `max_connections` connections at once, and `max_connections_per_address`
//!   from one client address: more are closed on arrival, so parked sockets cannot
//!   exhaust the process's descriptors and stop the MLLP services beside it;
//! - a request's headers must arrive within `header_timeout_s`, and a connection idle that
//!   long between requests is closed (no half-sent request holds a slot for ever);
//! - a request, its body included, is answered within `request_timeout_s` (else `408`);
//! - each client address may make `requests_per_s` requests a second, `request_burst` at
//!   once (a token bucket); more are answered `429` with `Retry-After`.
//!
//! Every refusal is counted in `accord_http_refused_total{listener,reason}` and logged once
//! per client and reason per minute. Handlers find the client's address in the request's
//! extensions as [`ClientAddr`].

use super::Engine;
use accord_hl7::mllp::per_address::PerAddress;
use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The address of the client that sent a request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// How one listener differs from `[limits]`: its TLS, and its endpoint's `timeout`.
#[derive(Clone, Default)]
pub struct Listening {
    /// HTTPS only: a client whose handshake fails or does not finish within the header
    /// timeout is closed before a request is read.
    pub tls: Option<accord_hl7::tls::ServerTls>,
    /// Replaces `header_timeout_s`.
    pub header_timeout: Option<Duration>,
}

/// Serves `app` on `listener` (named `name` in metrics and logs) until the process ends.
pub async fn serve(
    engine: Arc<Engine>,
    name: String,
    listener: TcpListener,
    app: Router,
    how: Listening,
) {
    let tls = how.tls;
    let limits = engine.config.limits.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let addresses = PerAddress::new(limits.max_connections_per_address);
    let buckets = Arc::new(Buckets::new(limits.requests_per_s, limits.request_burst));
    let header_timeout = how
        .header_timeout
        .unwrap_or(Duration::from_secs(limits.header_timeout_s));
    let request_timeout = Duration::from_secs(limits.request_timeout_s);
    let refuse = {
        let (engine, name) = (engine.clone(), name.clone());
        Arc::new(move |peer: SocketAddr, reason: &'static str| {
            let label = super::metrics::RefusedLabel {
                listener: name.clone(),
                reason: reason.to_string(),
            };
            engine.metrics.http_refused.get_or_create(&label).inc();
            if let Some(n) = engine.notices.note(peer.ip(), reason) {
                tracing::warn!(listener = %name, %peer, reason, refused = n, "HTTP client refused (limits)");
            }
        })
    };
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // Out of descriptors or reset before it was accepted: wait for
                // connections to close rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = addresses.enter(peer.ip()) else {
            drop(tcp);
            refuse(peer, "per-address");
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(tcp);
            refuse(peer, "connections");
            continue;
        };
        let (app, buckets, refuse) = (app.clone(), buckets.clone(), refuse.clone());
        let (tls, engine, name) = (tls.clone(), engine.clone(), name.clone());
        tokio::spawn(async move {
            let stream: Box<dyn accord_hl7::mllp::Stream> = match &tls {
                None => Box::new(tcp),
                Some(tls) => match tokio::time::timeout(header_timeout, tls.accept(tcp)).await {
                    Ok(Ok(s)) => Box::new(s),
                    refused => {
                        let label = super::metrics::EndpointLabel {
                            endpoint: name.clone(),
                        };
                        engine.metrics.tls_refused.get_or_create(&label).inc();
                        if let Some(n) = engine.notices.note(peer.ip(), "tls") {
                            let why = match refused {
                                Ok(Err(e)) => e.to_string(),
                                _ => "the TLS handshake did not finish in time".into(),
                            };
                            tracing::warn!(listener = %name, %peer, refused = n, "TLS handshake refused: {}", super::shown::shown(&why));
                        }
                        drop(permit);
                        drop(slot);
                        return;
                    }
                },
            };
            let service = hyper::service::service_fn(
                move |mut req: Request<hyper::body::Incoming>| {
                    let (app, buckets, refuse) = (app.clone(), buckets.clone(), refuse.clone());
                    async move {
                        if let Err(wait) = buckets.take(peer.ip(), Instant::now()) {
                            refuse(peer, "rate");
                            return Ok::<_, Infallible>(too_many(wait));
                        }
                        req.extensions_mut().insert(ClientAddr(peer));
                        let answered =
                            tokio::time::timeout(request_timeout, app.oneshot(req.map(Body::new)))
                                .await;
                        match answered {
                            Ok(Ok(r)) => Ok(r),
                            Ok(Err(never)) => match never {},
                            Err(_) => {
                                refuse(peer, "request-timeout");
                                Ok(plain(
                                StatusCode::REQUEST_TIMEOUT,
                                "the request was not read and answered within limits.request_timeout_s\n",
                            ))
                            }
                        }
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
            drop(slot);
        });
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `429 Too Many Requests`, saying when to come back.
fn too_many(wait: Duration) -> Response<Body> {
    let mut r = plain(
        StatusCode::TOO_MANY_REQUESTS,
        "too many requests from this address: see Retry-After\n",
    );
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = header::HeaderValue::from_str(&seconds.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A token bucket per client address: `rate` tokens a second up to `burst`; a request
/// takes one. Buckets full again are forgotten when the table grows, so it holds only
/// the clients that asked lately.
pub struct Buckets {
    rate: f64,
    burst: f64,
    table: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Buckets {
    /// `rate` 0 is no limit.
    pub fn new(rate: u32, burst: u32) -> Buckets {
        Buckets {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`; or how long until one is there.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let Ok(mut table) = self.table.lock() else {
            return Ok(());
        };
        if table.len() > 10_000 {
            let (rate, burst) = (self.rate, self.burst);
            table.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = table.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_a_client_gets_its_rate_and_burst_and_no_more() {
        let b = Buckets::new(10, 5);
        let (a, other): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        for _ in 0..5 {
            assert!(b.take(a, t).is_ok());
        }
        let wait = b.take(a, t).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(
            b.take(other, t).is_ok(),
            "another client has its own bucket"
        );
        // A tenth of a second later, one more.
        let later = t + Duration::from_millis(100);
        assert!(b.take(a, later).is_ok());
        assert!(b.take(a, later).is_err());
        // No limit.
        let open = Buckets::new(0, 1);
        for _ in 0..1000 {
            assert!(open.take(a, t).is_ok());
        }
        assert_eq!(
            too_many(Duration::from_millis(1500)).headers()[header::RETRY_AFTER],
            "2"
        );
    }
}
