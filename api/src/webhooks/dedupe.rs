//! `webhook-id` de-duplication: a delivery the sender repeats (its retry after a lost
//! answer, or an exact replay) is acted on once.
//!
//! The id is a reservation (`provisioner_shared::store`'s one protocol) held by a
//! fresh token while the delivery is acted on, then settled with the answer (JSON)
//! it got. A later delivery with the same id gets that answer back. It is kept
//! `api.idempotency_ttl` (and never less than twice the 5-minute signature window),
//! so a duplicate cannot outlive its record inside the window a signature is
//! accepted in.
//!
//! - A delivery that failed (4xx/5xx after the signature passed) gives its id back:
//!   the sender's retry acts anew.
//! - Two copies at once: the second waits [`PENDING_GRACE`] for the first's answer.
//! - A handler that died mid-way leaves its token; after the grace a copy takes the
//!   id over and acts again. Acting twice is harmless by design: the service lock
//!   makes a second provision answer with the first job, a cancel or poke may
//!   repeat, a deprovision holds its server's lock.

use super::Answer;
use crate::AppState;
use crate::error::ApiError;
use crate::jobs::new_job_id;
use axum::http::StatusCode;
use provisioner_shared::store::{self, Claim, Subject};
use provisioner_shared::webhook::TOLERANCE;
use std::time::Duration;

/// How long a copy waits for another copy's answer before it takes over.
const PENDING_GRACE: Duration = Duration::from_secs(5);

pub(crate) enum Begin {
    /// First time (or taken over from a dead handler): act, then `finish`.
    Fresh(Guard),
    /// Acted on before: this is what it did.
    Seen(Answer),
}

/// This delivery's hold on its `webhook-id`.
pub(crate) struct Guard(store::Reservation);

fn ttl(state: &AppState) -> Duration {
    state.config.api.idempotency_ttl.max(TOLERANCE * 2)
}

pub(crate) async fn begin(state: &AppState, webhook_id: &str) -> Result<Begin, ApiError> {
    // `pending:` keeps the token readable as "not answered yet" by the previous
    // version while both run during a rolling deploy.
    let token = format!("pending:{}", new_job_id());
    let subject = Subject::Webhook { id: webhook_id };
    match state
        .store
        .reserve(
            subject,
            Claim::new(&token, None),
            Some(ttl(state)),
            PENDING_GRACE,
        )
        .await?
    {
        store::Reserved::Held(r) => Ok(Begin::Fresh(Guard(r))),
        store::Reserved::Settled(stored) => {
            serde_json::from_str(&stored).map(Begin::Seen).map_err(|e| {
                ApiError::Internal(format!("a stored webhook answer does not decode: {e}"))
            })
        }
        store::Reserved::Taken { .. } | store::Reserved::Mismatch | store::Reserved::Contended => {
            Err(ApiError::client(
                StatusCode::CONFLICT,
                "webhook_in_progress",
                "another delivery with this webhook-id is being handled; try again",
            )
            .with_field("webhook-id"))
        }
    }
}

impl Guard {
    /// Records what the delivery did, for its duplicates. Best effort: a failure
    /// leaves the token, and a duplicate then acts again after the grace (harmless).
    pub(crate) async fn finish(self, state: &AppState, answer: &Answer) {
        let json = serde_json::to_string(answer).expect("a webhook answer serialises");
        if let Err(e) = state.store.settle(&self.0, &json, ttl(state)).await {
            tracing::warn!(error = %e, "could not record a billing webhook's answer");
        }
    }

    /// Gives the id back after a delivery that did not go through.
    pub(crate) async fn release(self, state: &AppState) {
        if let Err(e) = state.store.release(&self.0).await {
            tracing::warn!(error = %e, "could not release a billing webhook's id");
        }
    }
}
