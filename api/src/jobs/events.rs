//! `GET /v1/jobs/{id}/events`: server-sent events of one job.
//!
//! Sends an event `job` (data: the job JSON, id: the record version) whenever the
//! version changes, starting with the job as it is now. A stream wakes when the
//! job's write is announced (`crate::changes`), and re-reads the job every
//! `api.events_fallback_poll` in case an announcement was lost. The stream ends
//! after the job reaches a terminal state, when the job's record disappears, or
//! when the server shuts down. At most `api.max_event_streams` are open at once;
//! past it the answer is 503 `too_many_streams` with `Retry-After`.

use super::{load_job, try_load};
use crate::AppState;
use crate::changes::JobWatch;
use crate::error::ApiError;
use crate::layers::retry_after;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use provisioner_shared::job::{Job, JobView};
use std::convert::Infallible;
use tokio::sync::OwnedSemaphorePermit;

/// What a client refused for the stream cap is asked to wait, in seconds.
const RETRY_AFTER_SECS: u64 = 5;

pub(crate) async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let Ok(permit) = state.event_streams.clone().try_acquire_owned() else {
        return Err(too_many_streams(&state));
    };
    // Followed before the first read: a change between the read and the first
    // wait still wakes the stream.
    let watch = state.changes.watch(&state.store, state.closing(), &id);
    // Unknown ids are a plain 404, before the stream starts.
    let first = load_job(&state, &id)
        .await
        .map_err(IntoResponse::into_response)?;
    let open = Open {
        state,
        id,
        watch,
        _permit: permit,
    };
    let stream = futures::stream::unfold(
        (open, Follow::Start(Box::new(first))),
        |(mut open, follow)| async move {
            let (event, next) = follow.next(&mut open).await?;
            Some((event, (open, next)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn too_many_streams(state: &AppState) -> Response {
    let max = state.config.api.max_event_streams;
    let mut res = ApiError::client(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_streams",
        format!(
            "this api serves at most {max} event streams at once (api.max_event_streams); \
             try again later, or read GET /v1/jobs/{{id}}"
        ),
    )
    .into_response();
    let (name, value) = retry_after(RETRY_AFTER_SECS);
    res.headers_mut().insert(name, value);
    res
}

/// What an open stream holds: its job's wake-ups and its place under the cap.
struct Open {
    state: AppState,
    id: String,
    watch: JobWatch,
    _permit: OwnedSemaphorePermit,
}

enum Follow {
    Start(Box<Job>),
    /// The version and the JSON last sent: a claim bumps the version without
    /// changing what a client sees, so only a changed view is sent.
    Watching {
        version: u64,
        last: String,
    },
    Done,
}

impl Follow {
    async fn next(self, open: &mut Open) -> Option<(Result<Event, Infallible>, Follow)> {
        let (mut version, last) = match self {
            Follow::Start(job) => return Some(emit(&job)),
            Follow::Watching { version, last } => (version, last),
            Follow::Done => return None,
        };
        let state = &open.state;
        let id = open.id.as_str();
        let mut closing = state.closing();
        let fallback = state.config.api.events_fallback_poll;
        loop {
            tokio::select! {
                _ = closing.wait_for(|closed| *closed) => return None,
                _ = open.watch.changed() => {}
                _ = tokio::time::sleep(fallback) => {}
            }
            match try_load(state, id).await {
                Ok(Some(job)) if job.version != version => {
                    let (event, next) = emit(&job);
                    match &next {
                        Follow::Watching { last: now, .. } if *now == last => version = job.version,
                        _ => return Some((event, next)),
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return None,
                // Keep following: Redis may come back, and the client can hang up.
                Err(e) => {
                    tracing::warn!(job_id = id, error = %e.chain(), "job events: load failed")
                }
            }
        }
    }
}

fn emit(job: &Job) -> (Result<Event, Infallible>, Follow) {
    let view = JobView::of(job);
    let data = serde_json::to_string(&view).expect("a job view serialises");
    let event = Event::default().event("job").id(job.version.to_string());
    let next = if view.state.is_terminal() {
        Follow::Done
    } else {
        Follow::Watching {
            version: job.version,
            last: data.clone(),
        }
    };
    let event = event.data(data);
    (Ok(event), next)
}
