//! `POST /v1/callbacks/{id}/{token}`: a provider says an install (or a delivery) is
//! done. The worker put this URL in the provider order (HOSTKEY's
//! `post_install_callback`); the token is derived from `[secrets] key` and the job
//! id (`CallbackTokens`), so nothing is stored and nothing but the URL proves it.
//!
//! A valid call pokes the job: a waiting job is due now and its next poll sees the
//! news, instead of minutes later. The call itself is never trusted for anything
//! else (the poll asks the provider). A wrong token and an unknown job answer the
//! same 404, so the route does not tell which job ids exist.
//!
//! Seed 002 only says the URL is "invoked"; GAPS.md has it POSTed with an empty
//! body. GET is accepted too, and any body is ignored.

use crate::AppState;
use crate::error::ApiError;
use crate::jobs::is_job_id;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use provisioner_shared::store::{SignalKind, SignalOutcome};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/callbacks/{id}/{token}",
        post(provider_callback).get(provider_callback),
    )
}

async fn provider_callback(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if !is_job_id(&id) || !state.callback_tokens.verify(&id, &token) {
        return Err(ApiError::job_not_found(&id));
    }
    match state.store.signal(&id, SignalKind::Poke).await? {
        SignalOutcome::NotFound => Err(ApiError::job_not_found(&id)),
        // A late call for a job that no longer waits: nothing to do, and no news for
        // the caller either.
        SignalOutcome::Finished(_) | SignalOutcome::Parked => Ok(StatusCode::NO_CONTENT),
        SignalOutcome::Recorded { held } => {
            tracing::info!(job_id = %id, held, "provider callback: job poked");
            Ok(StatusCode::NO_CONTENT)
        }
    }
}
