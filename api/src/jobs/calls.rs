//! `GET /v1/jobs/{id}/calls`: the job's audit trail of provider calls, oldest first
//! (issue 13), for a token with the `read` scope. A JSON array, or JSON lines (one
//! call per line) with `Accept: application/x-ndjson` or `?format=jsonl`, for export.
//!
//! The worker wrote each call already redacted (`provisioner_shared::calls`): this
//! route only reads the trail, which expires with its job.

use super::load_job;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The media type of the JSON lines export.
pub(crate) const JSON_LINES: &str = "application/x-ndjson";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallsQuery {
    format: Option<String>,
}

pub(crate) async fn calls(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<CallsQuery>,
) -> Result<Response, ApiError> {
    let lines = match query.format.as_deref() {
        Some("jsonl" | "ndjson") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                format!("format: `{other}` is not json or jsonl"),
            ));
        }
        None => wants_lines(&headers),
    };
    load_job(&state, &id).await?;
    let calls = state.store.calls(&id).await?;
    if !lines {
        return Ok((StatusCode::OK, axum::Json(calls)).into_response());
    }
    let mut body = String::new();
    for call in &calls {
        body.push_str(&serde_json::to_string(call).map_err(|e| ApiError::Internal(e.to_string()))?);
        body.push('\n');
    }
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_LINES));
    Ok(res)
}

/// Whether `Accept` asks for JSON lines (`application/x-ndjson`, `application/jsonl`).
fn wants_lines(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .any(|m| m == JSON_LINES || m == "application/jsonl")
}
