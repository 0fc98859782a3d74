//! `GET /v1/drift` (scope `read`): the last drift sweep's report, as the worker that
//! swept wrote it (issue 13 point 3). Read only: nothing here acts on a finding.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub(crate) async fn report(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let report = state.store.drift().await?;
    Ok(Json(match report {
        Some(r) => json!({
            "swept_at": r.swept_at.to_rfc3339(),
            "accounts": r.accounts,
            "findings": r.findings,
        }),
        None => json!({"swept_at": null, "accounts": [], "findings": []}),
    }))
}
