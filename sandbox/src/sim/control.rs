//! The `/_sandbox/*` routes every simulator serves beside its provider API: the
//! fault knobs, the ledger, request and call counters, requests that came inside a
//! `Retry-After`, and the clock, for tests in other languages and for a person
//! poking at the demo with curl.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::SimCore;
use super::clock::{SimClock, unix_millis};
use super::faults::{Faults, FaultsConfig};
use super::ledger::Ledger;

/// The control routes for one simulator.
pub(super) fn routes<E>(core: &SimCore<E>) -> Router
where
    E: Clone + Serialize + Send + Sync + 'static,
{
    let faults = Router::new()
        .route("/_sandbox/faults", get(get_faults).post(set_faults))
        .with_state(core.faults.clone());
    let ledger = Router::new()
        .route("/_sandbox/ledger", get(get_ledger::<E>))
        .with_state(core.ledger.clone());
    let requests = Router::new()
        .route(
            "/_sandbox/requests",
            get(|State(counters): State<super::RequestCounters>| async move {
                Json(counters.all())
            }),
        )
        .with_state(core.requests.clone());
    let calls = Router::new()
        .route(
            "/_sandbox/calls",
            get(|State(calls): State<super::CallCounters>| async move {
                Json(json!({ "calls": calls.all() }))
            }),
        )
        .with_state(core.calls.clone());
    let early = Router::new()
        .route(
            "/_sandbox/early_calls",
            get(|State(faults): State<Faults>| async move {
                Json(json!({
                    "too_many_sent": faults.too_many_sent(),
                    "early_calls": faults.early_calls(),
                }))
            }),
        )
        .with_state(core.faults.clone());
    let clock = Router::new()
        .route("/_sandbox/clock", get(get_clock).post(set_clock))
        .with_state(core.clock.clone());
    faults
        .merge(ledger)
        .merge(requests)
        .merge(calls)
        .merge(early)
        .merge(clock)
}

async fn get_faults(State(faults): State<Faults>) -> Json<FaultsConfig> {
    Json(faults.config())
}

async fn set_faults(State(faults): State<Faults>, Json(config): Json<FaultsConfig>) -> Response {
    match faults.set(config) {
        Ok(()) => Json(faults.config()).into_response(),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": err.to_string() })),
        )
            .into_response(),
    }
}

async fn get_ledger<E>(State(ledger): State<Ledger<E>>) -> Response
where
    E: Clone + Serialize + Send + Sync + 'static,
{
    Json(json!({ "entries": ledger.entries() })).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ClockChange {
    advance_secs: Option<f64>,
    factor: Option<f64>,
}

fn clock_view(clock: &SimClock) -> serde_json::Value {
    let now = clock.now();
    json!({
        "factor": clock.factor(),
        "virtual_elapsed_ms": u64::try_from(now.since_start().as_millis()).unwrap_or(u64::MAX),
        "virtual_unix_ms": unix_millis(clock.wall(now)),
    })
}

async fn get_clock(State(clock): State<SimClock>) -> Json<serde_json::Value> {
    Json(clock_view(&clock))
}

async fn set_clock(State(clock): State<SimClock>, Json(change): Json<ClockChange>) -> Response {
    if let Some(factor) = change.factor {
        clock.set_factor(factor);
    }
    if let Some(secs) = change.advance_secs {
        match Duration::try_from_secs_f64(secs) {
            Ok(by) => clock.advance(by),
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": "advance_secs must be a non-negative number" })),
                )
                    .into_response();
            }
        }
    }
    Json(clock_view(&clock)).into_response()
}
