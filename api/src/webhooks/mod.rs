//! `POST /v1/webhooks/billing`: how a billing system triggers us (CONTRACT.md,
//! "Billing webhook"). Outside the bearer-token layer: the delivery carries its own
//! proof, a Standard Webhooks signature (`provisioner_shared::webhook`).
//!
//! A delivery goes through, in this order, and nothing is written before the last:
//! 1. the signature over the raw body, with any `api.webhook_secret` (401 when the
//!    signature is missing or matches none; 400 for a malformed or missing
//!    `webhook-id`/`webhook-timestamp`, or a timestamp more than 5 minutes away);
//! 2. the event ([`events::parse`]): 400 for a body that is not a JSON object, 422
//!    naming the field (`data.hostname`) for a bad event; a provision's request is
//!    built and checked like `POST /v1/jobs`;
//! 3. de-duplication on `webhook-id` ([`dedupe`]): a delivery seen before is answered
//!    with what was done then (200, `"duplicate": true`) and nothing is done again;
//! 4. the action ([`events::apply`]), answered 202 with a small JSON naming the jobs.
//!
//! An exact replay inside the 5-minute window is thus a harmless duplicate; outside
//! it, it is stale. Unknown event types are answered 202 `ignored` (senders add
//! event types over time; a 4xx would have them retry forever).

mod dedupe;
mod events;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::RawBody;
use crate::extract::header;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use provisioner_shared::webhook::{
    self, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookError, WebhookHeaders,
};
use serde::{Deserialize, Serialize};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/webhooks/billing", post(billing))
}

/// What a delivery did: the answer's body, and what a duplicate is answered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookAnswer)]
pub(crate) struct Answer {
    /// The event type.
    #[serde(rename = "type")]
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// `provision`, `already_provisioning`, `cancel`, `deprovision`,
    /// `already_deprovisioning`, `poke`, `nothing` or `ignored`.
    pub action: String,
    /// The jobs acted on or named.
    pub jobs: Vec<String>,
    pub message: String,
    /// Set on the answer to a delivery whose `webhook-id` was seen before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

async fn billing(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let handled = handle(&state, &headers, &body).await;
    // `provisioner_webhooks_total{result}`: fixed words only (actions, error codes).
    state.metrics.webhook(match &handled {
        Ok((_, answer)) if answer.duplicate => "duplicate",
        Ok((_, answer)) => &answer.action,
        Err(ApiError::Client { code, .. }) => code,
        Err(_) => "internal",
    });
    handled.map(|(status, answer)| (status, axum::Json(answer)).into_response())
}

/// Verifies, parses, de-duplicates and applies one delivery.
async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Answer), ApiError> {
    if state.webhook_keys.is_empty() {
        return Err(ApiError::not_found(
            "billing webhooks are off: api.webhook_secret is not configured",
        ));
    }
    let delivery = WebhookHeaders {
        id: header(headers, HEADER_ID)?,
        timestamp: header(headers, HEADER_TIMESTAMP)?,
        signature: header(headers, HEADER_SIGNATURE)?,
    };
    let now = (state.store.clock().0 / 1000) as i64;
    let verified = webhook::verify(&state.webhook_keys, delivery, body, now).map_err(refusal)?;
    let action = events::parse(state, body)?;
    let guard = match dedupe::begin(state, &verified.id).await? {
        dedupe::Begin::Seen(mut answer) => {
            answer.duplicate = true;
            tracing::info!(webhook_id = %verified.id, "billing webhook seen before; not acted on again");
            return Ok((StatusCode::OK, answer));
        }
        dedupe::Begin::Fresh(guard) => guard,
    };
    match events::apply(state, action).await {
        Ok(answer) => {
            tracing::info!(webhook_id = %verified.id, event = %answer.event, action = %answer.action, jobs = ?answer.jobs, "billing webhook applied");
            guard.finish(state, &answer).await;
            Ok((StatusCode::ACCEPTED, answer))
        }
        Err(e) => {
            // Nothing done (or nothing we can vouch for): the sender's retry acts again.
            guard.release(state).await;
            Err(e)
        }
    }
}

fn refusal(e: WebhookError) -> ApiError {
    let (status, code, field) = match &e {
        WebhookError::NoMatch | WebhookError::MissingHeader(HEADER_SIGNATURE) => (
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            HEADER_SIGNATURE,
        ),
        WebhookError::Stale { .. } | WebhookError::Future { .. } => {
            (StatusCode::BAD_REQUEST, "stale_timestamp", HEADER_TIMESTAMP)
        }
        WebhookError::MissingHeader(h) | WebhookError::BadHeader { header: h, .. } => {
            (StatusCode::BAD_REQUEST, "invalid_header", *h)
        }
        WebhookError::BadSecret(_) => {
            return ApiError::Internal(format!("a configured webhook secret is unusable: {e}"));
        }
    };
    tracing::info!(reason = %e, "billing webhook refused");
    ApiError::client(status, code, e.to_string()).with_field(field)
}
