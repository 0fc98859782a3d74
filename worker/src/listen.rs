//! The worker's own small HTTP listener (`worker.listen`), so Prometheus scrapes
//! each worker directly: `GET /metrics` (this worker's recorder: step durations,
//! provider calls, lease takeovers) and `GET /healthz` (200 while its Redis
//! answers, 503 otherwise). No token, no other route; unset, nothing listens.

use crate::metrics::WorkerMetrics;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use provisioner_shared::store::Store;
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long `/healthz` waits for Redis: shorter than a typical probe timeout.
const REDIS_WITHIN: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Served {
    store: Store,
    metrics: Arc<WorkerMetrics>,
}

/// The bound listener, before it serves (binding at start makes a taken port an
/// error of the start, not a silent absence).
pub struct Listener {
    listener: TcpListener,
    served: Served,
}

impl Listener {
    /// Binds `addr` (port 0: any free port; see [`Listener::local_addr`]).
    pub async fn bind(
        addr: SocketAddr,
        store: Store,
        metrics: Arc<WorkerMetrics>,
    ) -> std::io::Result<Listener> {
        Ok(Listener {
            listener: TcpListener::bind(addr).await?,
            served: Served { store, metrics },
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` resolves.
    pub async fn serve(self, stop: impl Future<Output = ()> + Send + 'static) {
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(self.served);
        if let Err(e) = axum::serve(self.listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::warn!(error = %e, "the worker's metrics listener stopped");
        }
    }
}

async fn metrics(State(s): State<Served>) -> Response {
    let mut res = s.metrics.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

async fn healthz(State(s): State<Served>) -> Response {
    match tokio::time::timeout(REDIS_WITHIN, s.store.ping()).await {
        Ok(Ok(())) => Json(json!({"status": "ok"})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "healthz: redis did not answer");
            unavailable()
        }
        Err(_) => {
            tracing::warn!("healthz: redis did not answer in time");
            unavailable()
        }
    }
}

fn unavailable() -> Response {
    let body = json!({"status": "unavailable", "error": "redis is not reachable"});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
