//! `webhook-id` de-duplication: a delivery the sender repeats (its retry after a lost
//! answer, or an exact replay) is acted on once.
//!
//! `{ns}:webhook:<sha256 of the id>` is taken with `SET NX PX` holding `pending:<token>`
//! while the delivery is acted on, then replaced by the answer (JSON) it got. A later
//! delivery with the same id gets that answer back. It is kept `api.idempotency_ttl`
//! (and never less than twice the 5-minute signature window), so a duplicate cannot
//! outlive its record inside the window a signature is accepted in.
//!
//! - A delivery that failed (4xx/5xx after the signature passed) gives its key back
//!   (compare-and-delete on its own token): the sender's retry acts anew.
//! - Two copies at once: the second waits [`PENDING_GRACE`] for the first's answer.
//! - A handler that died mid-way leaves `pending:`; after the grace a copy takes the
//!   key over (compare-and-set) and acts again. Acting twice is harmless by design:
//!   the service lock makes a second provision answer with the first job, a cancel
//!   or poke may repeat, a deprovision holds its server's lock.

use super::Answer;
use crate::AppState;
use crate::error::ApiError;
use crate::jobs::{new_job_id, poll_for};
use axum::http::StatusCode;
use provisioner_shared::webhook::TOLERANCE;
use sha2::{Digest, Sha256};
use std::time::Duration;

const PENDING: &str = "pending:";
/// How long a copy waits for another copy's answer before it takes over.
const PENDING_GRACE: Duration = Duration::from_secs(5);
/// Lost compare-and-sets before a delivery gives up and asks the sender to retry.
const ROUNDS: usize = 4;

pub(crate) enum Begin {
    /// First time (or taken over from a dead handler): act, then `finish`.
    Fresh(Guard),
    /// Acted on before: this is what it did.
    Seen(Answer),
}

/// This delivery's hold on its `webhook-id`.
pub(crate) struct Guard {
    key: String,
    token: String,
}

fn ttl(state: &AppState) -> Duration {
    state.config.api.idempotency_ttl.max(TOLERANCE * 2)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

enum Peek {
    Done(String),
    Gone,
}

pub(crate) async fn begin(state: &AppState, webhook_id: &str) -> Result<Begin, ApiError> {
    let store = &state.store;
    let key = store
        .keys()
        .named("webhook", &hex(&Sha256::digest(webhook_id.as_bytes())));
    let token = format!("{PENDING}{}", new_job_id());
    let ttl = ttl(state);
    for _ in 0..ROUNDS {
        let Some(existing) = store.put_if_absent(&key, &token, Some(ttl)).await? else {
            return Ok(Begin::Fresh(Guard { key, token }));
        };
        if !existing.starts_with(PENDING) {
            return seen(&existing);
        }
        let settled = poll_for(PENDING_GRACE, || async {
            Ok(match store.get_string(&key).await? {
                Some(v) if v.starts_with(PENDING) => None,
                Some(v) => Some(Peek::Done(v)),
                None => Some(Peek::Gone),
            })
        })
        .await?;
        match settled {
            Some(Peek::Done(v)) => return seen(&v),
            // The other copy failed and gave the key back: try to take it.
            Some(Peek::Gone) => continue,
            None => {
                if store
                    .compare_and_set(&key, &existing, &token, Some(ttl))
                    .await?
                {
                    tracing::warn!(
                        webhook_id,
                        "taking over a billing webhook whose handler did not finish"
                    );
                    return Ok(Begin::Fresh(Guard { key, token }));
                }
            }
        }
    }
    Err(ApiError::client(
        StatusCode::CONFLICT,
        "webhook_in_progress",
        "another delivery with this webhook-id is being handled; try again",
    )
    .with_field("webhook-id"))
}

fn seen(stored: &str) -> Result<Begin, ApiError> {
    serde_json::from_str(stored)
        .map(Begin::Seen)
        .map_err(|e| ApiError::Internal(format!("a stored webhook answer does not decode: {e}")))
}

impl Guard {
    /// Records what the delivery did, for its duplicates. Best effort: a failure
    /// leaves `pending:`, and a duplicate then acts again after the grace (harmless).
    pub(crate) async fn finish(self, state: &AppState, answer: &Answer) {
        let json = serde_json::to_string(answer).expect("a webhook answer serialises");
        if let Err(e) = state
            .store
            .compare_and_set(&self.key, &self.token, &json, Some(ttl(state)))
            .await
        {
            tracing::warn!(error = %e, "could not record a billing webhook's answer");
        }
    }

    /// Gives the id back after a delivery that did not go through.
    pub(crate) async fn release(self, state: &AppState) {
        if let Err(e) = state.store.compare_and_delete(&self.key, &self.token).await {
            tracing::warn!(error = %e, "could not release a billing webhook's id");
        }
    }
}
