//! Operator actions on one job: cancel, retry, resolve.
//!
//! Cancel and the retry of a live job are signals (recorded on the job; a worker
//! holding it acts at its commit, so a lease is never broken). Retry of a failed job
//! and resolve rewrite the run state with a compare-and-set on the version loaded,
//! and make the job due now.

use super::{CREATOR_GRACE, job_response, load_job, try_load};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonObject;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use provisioner_shared::job::{Job, JobState, Resolution};
use provisioner_shared::store::{
    Commit, CommitOutcome, Held, Schedule, SignalKind, SignalOutcome, Taken,
};
use serde_json::{Map, Value};
use std::time::Duration;

pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    signal(&state, &id, SignalKind::Cancel).await
}

pub(crate) async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut job = load_job(&state, &id).await?;
    match job.run.state {
        JobState::Failed => {
            let now = state.store.clock();
            job.retry_failed(now)
                .map_err(|m| ApiError::conflict("invalid_state", m))?;
            // Open again: it takes a place under its account's guardrail (a place
            // left by a retry that then fails to commit is pruned: the job ended).
            super::guard::take(&state, &job.spec.request, &id).await?;
            retake_holds(&state, &job).await?;
            commit_now(&state, job).await
        }
        JobState::Queued | JobState::Running | JobState::Waiting => {
            signal(&state, &id, SignalKind::Poke).await
        }
        JobState::NeedsAttention => {
            let now = state.store.clock();
            job.retry_parked(now).map_err(|_| needs_resolve())?;
            commit_now(&state, job).await
        }
        st @ (JobState::Succeeded | JobState::Cancelled) => Err(ApiError::conflict(
            "invalid_state",
            format!(
                "the job is {st}; only a failed job can be retried (or a waiting one polled now)"
            ),
        )),
    }
}

pub(crate) async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let resolution = parse_resolution(&body)?;
    let mut job = load_job(&state, &id).await?;
    let now = state.store.clock();
    job.resolve(resolution, now).map_err(|m| {
        ApiError::conflict(
            "invalid_state",
            format!("the job is {}; {m}", job.run.state),
        )
    })?;
    commit_now(&state, job).await
}

/// A failed job coming back to life takes back what it held (another job may own
/// its server now: then the retry is a 409 naming it), and its idempotency key
/// lives as long as it does again.
async fn retake_holds(state: &AppState, job: &Job) -> Result<(), ApiError> {
    for held in state.store.held_by(job) {
        match held {
            Held::Lock(key) => match state.store.take_lock(&key, job.id(), CREATOR_GRACE).await? {
                Taken::Held => {}
                Taken::Busy { holder, state: st } => {
                    return Err(ApiError::conflict(
                        "server_busy",
                        format!(
                            "job {holder} ({st}) holds what this job works on now; \
                             wait for it to finish, or cancel it, then retry"
                        ),
                    )
                    .with_field("server_id"));
                }
                Taken::Contended => {
                    return Err(ApiError::conflict(
                        "server_busy",
                        "another request is claiming what this job works on; try again",
                    )
                    .with_field("server_id"));
                }
            },
            Held::Idempotency(key) => {
                state.store.keep(&key, job.id(), None).await?;
            }
        }
    }
    Ok(())
}

/// Records a signal and answers with the job as it now stands.
async fn signal(state: &AppState, id: &str, kind: SignalKind) -> Result<Response, ApiError> {
    if !super::is_job_id(id) {
        return Err(ApiError::job_not_found(id));
    }
    match state.store.signal(id, kind).await? {
        SignalOutcome::NotFound => Err(ApiError::job_not_found(id)),
        SignalOutcome::Finished(st) => Err(ApiError::conflict(
            "invalid_state",
            format!("the job is already {st}"),
        )),
        SignalOutcome::Parked => Err(needs_resolve()),
        SignalOutcome::Recorded { held } => {
            tracing::info!(job_id = id, signal = ?kind, held, "signal recorded");
            let job = try_load(state, id)
                .await?
                .ok_or_else(|| ApiError::job_not_found(id))?;
            Ok(job_response(StatusCode::ACCEPTED, &job))
        }
    }
}

/// Writes an operator's change to a job nobody holds (failed or parked) and makes
/// it due now. The version check turns a concurrent change into a 409.
async fn commit_now(state: &AppState, mut job: Job) -> Result<Response, ApiError> {
    let run_json =
        serde_json::to_string(&job.run).map_err(|e| ApiError::Internal(e.to_string()))?;
    let outcome = state
        .store
        .commit(Commit {
            id: job.id(),
            version: job.version,
            fence: &job.fence,
            run_json: &run_json,
            state: job.run.state,
            schedule: Schedule::After(Duration::ZERO),
            pokes_seen: job.run.pokes_seen,
            cancel_seen: job.run.cancel_seen,
            callback: None,
        })
        .await?;
    match outcome {
        CommitOutcome::Committed { version, .. } => {
            tracing::info!(job_id = job.id(), state = %job.run.state, "operator action committed");
            job.version = version;
            Ok(job_response(StatusCode::ACCEPTED, &job))
        }
        CommitOutcome::Lost => Err(ApiError::conflict(
            "version_conflict",
            "the job changed meanwhile; try again",
        )),
    }
}

fn needs_resolve() -> ApiError {
    ApiError::conflict(
        "invalid_state",
        "the job needs attention: settle it with POST /v1/jobs/{id}/resolve (adopt, reorder or fail)",
    )
}

/// `{"action": "adopt", "order_id": "..."}` | `{"action": "reorder"}` | `{"action": "fail"}`.
fn parse_resolution(body: &Map<String, Value>) -> Result<Resolution, ApiError> {
    if let Some(k) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "action" | "order_id"))
    {
        return Err(ApiError::invalid(k, format!("{k}: is not a known field")));
    }
    let order_id = match body.get("order_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
        Some(_) => {
            return Err(ApiError::invalid(
                "order_id",
                "order_id: must be a string or a whole number",
            ));
        }
    };
    if let Some(id) = &order_id
        && (id.is_empty()
            || id.len() > 64
            || id.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(ApiError::invalid(
            "order_id",
            "order_id: must be 1 to 64 characters without spaces",
        ));
    }
    let action = match body.get("action") {
        None | Some(Value::Null) => return Err(ApiError::invalid("action", "action: is required")),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(ApiError::invalid("action", "action: must be a string")),
    };
    match action {
        "adopt" => Ok(Resolution::Adopt { order_id }),
        "reorder" | "fail" if order_id.is_some() => Err(ApiError::invalid(
            "order_id",
            format!("order_id: is only taken with action adopt, not {action}"),
        )),
        "reorder" => Ok(Resolution::Reorder),
        "fail" => Ok(Resolution::Fail),
        other => Err(ApiError::invalid(
            "action",
            format!("action: `{other}` is not one of adopt, reorder, fail"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Resolution, ApiError> {
        parse_resolution(v.as_object().unwrap())
    }

    fn field(e: ApiError) -> Option<String> {
        match e {
            ApiError::Client { field, .. } => field,
            _ => None,
        }
    }

    #[test]
    fn resolutions() {
        assert_eq!(
            parse(json!({"action": "adopt", "order_id": "5448"})).unwrap(),
            Resolution::Adopt {
                order_id: Some("5448".into())
            }
        );
        assert_eq!(
            parse(json!({"action": "reorder"})).unwrap(),
            Resolution::Reorder
        );
        assert_eq!(parse(json!({"action": "fail"})).unwrap(), Resolution::Fail);
        assert_eq!(
            field(parse(json!({})).unwrap_err()).as_deref(),
            Some("action")
        );
        assert_eq!(
            field(parse(json!({"action": "undo"})).unwrap_err()).as_deref(),
            Some("action")
        );
        assert_eq!(
            field(parse(json!({"action": 3})).unwrap_err()).as_deref(),
            Some("action")
        );
        assert_eq!(
            field(parse(json!({"action": "adopt", "order_id": ""})).unwrap_err()).as_deref(),
            Some("order_id")
        );
        assert_eq!(
            field(parse(json!({"action": "adopt", "order_id": [1]})).unwrap_err()).as_deref(),
            Some("order_id")
        );
        assert_eq!(
            field(parse(json!({"action": "fail", "order_id": "1"})).unwrap_err()).as_deref(),
            Some("order_id")
        );
    }
}
