//! One log line per request: method, route template, status and latency as tracing
//! fields. Never the URI, headers or body: they can carry tokens and secrets.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

pub(crate) async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    // The template (`/v1/jobs/{id}`), so ids do not explode the log's cardinality.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let latency_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    if route == "/healthz" || route == "/readyz" {
        tracing::debug!(%method, %route, status, latency_us, "request");
    } else {
        tracing::info!(%method, %route, status, latency_us, "request");
    }
    res
}
