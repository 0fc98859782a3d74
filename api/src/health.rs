//! Liveness and readiness probes; neither needs a token.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// How long readiness waits for Redis before calling it unreachable; shorter than a
/// typical probe timeout, so the probe gets our answer rather than its own.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up and serving HTTP. Never touches Redis: a Redis outage must not
/// get the API restarted.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready for traffic: Redis answers PING.
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({"status": "ready"}))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: redis did not answer");
            Err(unavailable())
        }
        Err(_) => {
            tracing::warn!("readiness: redis did not answer in time");
            Err(unavailable())
        }
    }
}

fn unavailable() -> ApiError {
    ApiError::client(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "redis is not reachable",
    )
}
