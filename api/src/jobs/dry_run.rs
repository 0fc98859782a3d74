//! `POST /v1/jobs?dry_run=true` (or `"dry_run": true` in the body): the request is
//! parsed like a real one (bad input is the same 4xx), then handed to a worker
//! through Redis, which runs the provider's read-only checks. Nothing is written for
//! the job: no record, no idempotency key (a dry run ignores `Idempotency-Key`), no
//! lock, and no order at the provider.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use provisioner_shared::dry_run::{DryRunAsk, DryRunReport};
use serde_json::{Map, Value};
use std::time::Duration;
use tokio::time::Instant;

/// How often the api looks for the worker's answer.
const POLL: Duration = Duration::from_millis(50);

/// Whether the request asks for a dry run; takes `dry_run` out of the body so the
/// request parser (which refuses unknown fields) sees the real request.
pub(crate) fn wanted(query: Option<&str>, body: &mut Map<String, Value>) -> Result<bool, ApiError> {
    let in_query = match query_flag(query) {
        None => false,
        Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                "dry_run",
                format!("dry_run: must be true or false, not `{other}`"),
            ));
        }
    };
    let in_body = match body.remove("dry_run") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(ApiError::invalid("dry_run", "dry_run: must be a boolean"));
        }
    };
    Ok(in_query || in_body)
}

fn query_flag(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, "true"))))
        .find(|(k, _)| *k == "dry_run")
        .map(|(_, v)| v)
}

/// Asks a worker and waits up to `api.dry_run_timeout` for its answer (504 after).
pub(crate) async fn run(state: &AppState, ask: DryRunAsk) -> Result<Response, ApiError> {
    let payload = serde_json::to_string(&ask)
        .map_err(|e| ApiError::Internal(format!("cannot encode a dry run: {e}")))?;
    state.store.ask_dry_run(&payload).await?;
    let deadline = Instant::now() + state.config.api.dry_run_timeout;
    loop {
        if let Some(answer) = state.store.collect_dry_run(&ask.id).await? {
            let report: DryRunReport = serde_json::from_str(&answer).map_err(|e| {
                ApiError::Internal(format!("a worker's dry-run answer is unreadable: {e}"))
            })?;
            return Ok((StatusCode::OK, Json(report.to_json())).into_response());
        }
        if Instant::now() >= deadline {
            let withdrawn = state
                .store
                .withdraw_dry_run(&payload)
                .await
                .unwrap_or(false);
            if !withdrawn {
                // A worker took it just now: its answer expires on its own.
                tracing::info!(id = %ask.id, "dry run taken by a worker after the api gave up");
            }
            return Err(ApiError::client(
                StatusCode::GATEWAY_TIMEOUT,
                "dry_run_timeout",
                format!(
                    "no worker answered the dry run within {} (api.dry_run_timeout); are workers running?",
                    humantime::format_duration(state.config.api.dry_run_timeout)
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
