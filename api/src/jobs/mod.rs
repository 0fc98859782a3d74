//! `/v1/jobs`: enqueue, read, list, act on and follow jobs.
//!
//! - [`create`]: `POST /v1/jobs`, with [`idempotency`] and the [`server_lock`].
//! - [`list`]: `GET /v1/jobs`, paging an index newest first.
//! - [`actions`]: cancel, retry, resolve.
//! - [`events`]: `GET /v1/jobs/{id}/events` as server-sent events.
//! - [`credentials`]: `GET /v1/jobs/{id}/credentials`, a server's login.
//! - [`calls`]: `GET /v1/jobs/{id}/calls`, the job's provider calls (JSON or JSON lines).
//!
//! Every response body here is a `JobView`, which carries no secret, except the
//! credentials route's (only for a token with the `credentials` scope).

mod actions;
mod calls;
pub(crate) mod create;
mod credentials;
mod dry_run;
mod events;
mod guard;
mod idempotency;
mod list;
mod preflight;
pub(crate) mod server_lock;

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use provisioner_shared::job::{Job, JobView};
use std::sync::Mutex;
use std::time::Duration;
use ulid::{Generator, Ulid};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", post(create::create).get(list::list))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/cancel", post(actions::cancel))
        .route("/v1/jobs/{id}/retry", post(actions::retry))
        .route("/v1/jobs/{id}/resolve", post(actions::resolve))
        .route("/v1/jobs/{id}/events", get(events::events))
        .route("/v1/jobs/{id}/credentials", get(credentials::credentials))
        .route("/v1/jobs/{id}/calls", get(calls::calls))
}

async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = load_job(&state, &id).await?;
    Ok(job_response(StatusCode::OK, &job))
}

/// Loads and decodes a job; a malformed or unknown id is a 404.
pub(crate) async fn load_job(state: &AppState, id: &str) -> Result<Job, ApiError> {
    if !is_job_id(id) {
        return Err(ApiError::job_not_found(id));
    }
    try_load(state, id)
        .await?
        .ok_or_else(|| ApiError::job_not_found(id))
}

pub(crate) async fn try_load(state: &AppState, id: &str) -> Result<Option<Job>, ApiError> {
    match state.store.load(id).await? {
        Some(raw) => Ok(Some(raw.decode()?)),
        None => Ok(None),
    }
}

/// Job ids are ULIDs; anything else cannot name a job (and never reaches a key).
pub(crate) fn is_job_id(id: &str) -> bool {
    id.len() == 26 && Ulid::from_string(id).is_ok()
}

/// A new job id. Monotonic within this process, so that jobs created in the same
/// millisecond still list in the order they were made.
pub(crate) fn new_job_id() -> String {
    static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);
    let mut g = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(Generator::new)
        .generate()
        .unwrap_or_else(|_| Ulid::new())
        .to_string()
}

pub(crate) fn job_response(status: StatusCode, job: &Job) -> Response {
    (status, axum::Json(JobView::of(job))).into_response()
}

/// 202 (or 200 for a replay) with the job and where to find it.
pub(crate) fn created_response(status: StatusCode, job: &Job) -> Response {
    let mut res = job_response(status, job);
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id())) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res
}

/// How long a missing record may just be in the making before its writer counts as dead.
pub(crate) const CREATOR_GRACE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ulids_and_increase() {
        let a = new_job_id();
        let b = new_job_id();
        assert!(is_job_id(&a) && is_job_id(&b));
        assert!(b > a);
        assert!(!is_job_id("nope"));
        assert!(!is_job_id("{x}:job:01JD0000000000000000000000"));
    }
}
