//! `POST /v1/jobs`: validate, reserve the idempotency key, take the server lock,
//! enqueue. The request is validated before anything touches Redis, so a rejected
//! request writes nothing.

use super::idempotency::{self, IdempotencyKey, Reserved, body_digest};
use super::server_lock::ServerLock;
use super::{created_response, new_job_id, try_load};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonObject;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use provisioner_shared::credentials;
use provisioner_shared::job::{Job, JobSpec, RunState, Signals};
use provisioner_shared::plan;
use provisioner_shared::request::{FieldError, JobKind, JobRequest, ParseContext};
use provisioner_shared::store::Holds;
use serde_json::Value;

pub(crate) async fn create(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    if super::dry_run::wanted(query.as_deref(), &mut body)? {
        let id = new_job_id();
        let request = parse(&state, &Value::Object(body), &id)?;
        let ask = provisioner_shared::dry_run::DryRunAsk { id, request };
        return super::dry_run::run(&state, ask).await;
    }
    let key = IdempotencyKey::from_headers(&headers)?;
    let body = Value::Object(body);
    let mut job_id = new_job_id();
    let mut request = parse(&state, &body, &job_id)?;
    let reservation = match key {
        None => None,
        Some(key) => {
            match idempotency::reserve(&state, &key, &body_digest(&body), &job_id).await? {
                Reserved::Replay(job) => {
                    // The first request may have died between writing the job and
                    // listing it: the replay lists it (idempotent).
                    state.store.index(&job.spec).await?;
                    return Ok(created_response(StatusCode::OK, &job));
                }
                Reserved::Create(r) => {
                    if r.job_id() != job_id {
                        // Taking over another request's reservation: its job id, and the
                        // secrets sealed for that id.
                        job_id = r.job_id().to_owned();
                        request = parse(&state, &body, &job_id)?;
                    }
                    Some(r)
                }
            }
        }
    };
    let holds = Holds {
        idempotency: reservation.as_ref().map(|r| r.key().to_owned()),
        locks: Vec::new(),
    };
    match create_job(&state, &job_id, request, holds).await {
        Ok((status, job)) => {
            if let Some(r) = &reservation {
                // The key lives as long as its job (the worker gives it its expiry
                // when the job ends).
                r.keep(&state).await;
            }
            Ok(created_response(status, &job))
        }
        Err(Failure {
            error,
            nothing_written,
        }) => {
            if let (true, Some(r)) = (nothing_written, reservation) {
                r.release(&state).await;
            }
            Err(error)
        }
    }
}

/// A request body → a valid request for job `job_id` (also for billing webhooks).
pub(crate) fn parse(
    state: &AppState,
    body: &Value,
    job_id: &str,
) -> Result<JobRequest, FieldError> {
    let cx = ParseContext {
        config: &state.config,
        sealer: &state.sealer,
        job_id,
    };
    let request = JobRequest::parse(body, &cx)?;
    // Unsigned callbacks could be forged by anyone who learns the URL, and a receiver
    // could not tell ours apart: without a key to sign with, none are sent.
    if request.callback_url.is_some() && state.config.callbacks.secret.is_none() {
        return Err(FieldError::new(
            "callback_url",
            "cannot be used here: this deployment has no [callbacks] secret to sign callbacks with",
        ));
    }
    Ok(request)
}

/// A creation that did not produce a job; `nothing_written` is true only when we
/// know the job record does not exist (so the idempotency key may be given back).
pub(crate) struct Failure {
    pub(crate) error: ApiError,
    pub(crate) nothing_written: bool,
}

impl Failure {
    fn nothing_written(error: impl Into<ApiError>) -> Self {
        Failure {
            error: error.into(),
            nothing_written: true,
        }
    }

    fn unknown(error: impl Into<ApiError>) -> Self {
        Failure {
            error: error.into(),
            nothing_written: false,
        }
    }
}

/// Takes the server lock a reinstall or deprovision needs, and enqueues. `holds`
/// are the keys the caller took for the job (its idempotency key, a service lock).
pub(crate) async fn create_job(
    state: &AppState,
    job_id: &str,
    request: JobRequest,
    holds: Holds,
) -> Result<(StatusCode, Job), Failure> {
    let place = super::guard::take(state, &request, job_id)
        .await
        .map_err(Failure::nothing_written)?;
    let created = write_job(state, job_id, request, holds).await;
    if let (Err(f), Some(place)) = (&created, place)
        && f.nothing_written
    {
        place.give_back(state).await;
    }
    created
}

/// [`create_job`] once the job has its place under the account's guardrail.
async fn write_job(
    state: &AppState,
    job_id: &str,
    request: JobRequest,
    mut holds: Holds,
) -> Result<(StatusCode, Job), Failure> {
    super::preflight::refuse_uncancellable_inferno_order(state, &request)
        .await
        .map_err(Failure::nothing_written)?;
    let lock = match (request.kind(), request.server_id()) {
        (JobKind::Reinstall | JobKind::Deprovision, Some(server_id)) => Some(
            ServerLock::acquire(state, &request.account, server_id.as_str(), job_id)
                .await
                .map_err(Failure::nothing_written)?,
        ),
        _ => None,
    };
    if let Some(lock) = &lock {
        holds.locks.push(lock.key().to_owned());
    }
    let now = state.store.clock();
    let spec = JobSpec {
        id: job_id.to_owned(),
        created_at: now,
        request,
        holds,
        request_id: crate::layers::current_request_id(),
    };
    let mut run = RunState::new(plan::plan(&spec.request), now);
    // A generated root password (sealed) and the warnings a given one calls for.
    credentials::prepare(&spec.request, &state.sealer, job_id, &mut run.outputs);
    if let Some(lock) = &lock {
        lock.confirm(state)
            .await
            .map_err(Failure::nothing_written)?;
    }
    let fresh = |spec, run| Job {
        spec,
        run,
        version: 1,
        fence: String::new(),
        signals: Signals::default(),
        callbacks: Vec::new(),
        credential_reads: Vec::new(),
    };
    match state.store.enqueue(&spec, &run).await {
        Ok(true) => {
            let req = &spec.request;
            state.metrics.job_enqueued(req.provider(), req.kind());
            tracing::info!(job_id, kind = %req.kind(), account = %req.account, "job enqueued");
            Ok((StatusCode::ACCEPTED, fresh(spec, run)))
        }
        // Only after an idempotency takeover: the request we took over from was slow,
        // not dead, and its write landed first. Its job is the answer.
        Ok(false) => match try_load(state, job_id).await {
            Ok(Some(job)) => Ok((StatusCode::OK, job)),
            Ok(None) => Err(Failure::unknown(ApiError::Internal(format!(
                "job {job_id} existed at enqueue but not right after"
            )))),
            Err(e) => Err(Failure::unknown(e)),
        },
        // The write may have landed even so (a lost reply, a failed index write):
        // look before undoing anything, and undo nothing if we cannot look.
        Err(e) => match state.store.state_of(job_id).await {
            Ok(Some(_)) => {
                state
                    .metrics
                    .job_enqueued(spec.request.provider(), spec.request.kind());
                tracing::warn!(job_id, error = %e, "job written, but enqueue reported an error; it may be missing from listings");
                Ok((StatusCode::ACCEPTED, fresh(spec, run)))
            }
            Ok(None) => {
                if let Some(lock) = &lock {
                    lock.release(state).await;
                }
                Err(Failure::nothing_written(e))
            }
            Err(_) => Err(Failure::unknown(e)),
        },
    }
}
