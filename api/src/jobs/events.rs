//! `GET /v1/jobs/{id}/events`: server-sent events of one job.
//!
//! Polls the record every [`POLL`] and sends an event `job` (data: the job JSON, id:
//! the record version) whenever the version changes, starting with the job as it is
//! now. The stream ends after the job reaches a terminal state, when the job's record
//! disappears, or when the server shuts down.

use super::{load_job, try_load};
use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use provisioner_shared::job::{Job, JobView};
use std::convert::Infallible;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(250);

pub(crate) async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Unknown ids are a plain 404, before the stream starts.
    let first = load_job(&state, &id).await?;
    let stream = futures::stream::unfold(Follow::Start(Box::new(first)), move |follow| {
        let state = state.clone();
        let id = id.clone();
        async move { follow.next(&state, &id).await }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
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
    async fn next(self, state: &AppState, id: &str) -> Option<(Result<Event, Infallible>, Follow)> {
        let (mut version, last) = match self {
            Follow::Start(job) => return Some(emit(&job)),
            Follow::Watching { version, last } => (version, last),
            Follow::Done => return None,
        };
        let mut closing = state.closing();
        loop {
            tokio::select! {
                _ = closing.wait_for(|closed| *closed) => return None,
                _ = tokio::time::sleep(POLL) => {}
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
