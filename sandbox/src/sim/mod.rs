//! What every provider simulator is built from.
//!
//! A simulator module (`hostkey/`, and later `klikk/`, `inferno/`, `idcloudhost/`)
//! has the same layout:
//!
//! - `mod.rs`: the public handle (`XxxSim::start(XxxOptions)`, `server(id)`, …)
//!   around a [`SimHandle`], which gives every simulator `base_url()`, `ledger()`,
//!   `faults()`, `clock()` and `requests(action)`, and its ledger event enum;
//! - `routes.rs`: the provider's HTTP surface, exactly as its seed shows it; every
//!   request goes through [`SimCore::gate`] (counters, faults) before it touches state;
//! - `state.rs`: the provider's account as plain data with methods that apply one
//!   action each; time enters as a [`VirtualTime`] argument, and a `settle(now)`
//!   method applies what became due (returning the next due time for the [`Settler`]).
//!   When the actions outgrow one file they move to files named by concern
//!   (`hostkey/` has `sessions.rs`, `orders.rs`, `pxe.rs`, `billing.rs`, …), each an
//!   `impl Account` block over the data in `state.rs`.
//!
//! The shared parts live here: [`SimClock`] (compressed virtual time), [`Faults`]
//! (runtime knobs), [`Ledger`] (what moved money or touched machines),
//! [`RequestCounters`] and [`CallCounters`], [`SimServer`] (serving on a random port), [`SimHandle`] (a
//! running simulator's server and core), [`Settler`] (due
//! state changes without a ticker), [`CallbackSender`], and the `/_sandbox/*`
//! control routes ([`SimCore::control_routes`]).

mod callbacks;
mod clock;
mod control;
mod counters;
mod faults;
mod handle;
mod ledger;
mod server;
mod settler;

use std::future::Future;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use callbacks::{CallbackRecord, CallbackSender};
pub use clock::{SimClock, VirtualTime, sql_date, sql_datetime, unix_millis, unix_secs};
pub use counters::{
    CallCount, CallCounters, QUALIFIER_PARAMS, RequestCounters, SUBJECT_PARAMS, subject_of,
};
pub use faults::{
    Aftermath, EarlyCall, FaultKnobs, FaultPlan, Faults, FaultsConfig, FaultsError, Hang, Preface,
    RateLimit, Refusal,
};
pub use handle::SimHandle;
pub use ledger::{Ledger, LedgerEntry};
pub use server::{Shutdown, SimServer};
pub use settler::{Settler, SettlerWaker};

/// The parts every simulator shares, cheap to clone into handlers.
#[derive(Clone, Debug)]
pub struct SimCore<E> {
    /// Virtual time.
    pub clock: SimClock,
    /// Fault knobs.
    pub faults: Faults,
    /// What happened.
    pub ledger: Ledger<E>,
    /// Requests per action.
    pub requests: RequestCounters,
    /// Applied requests per (action, subject).
    pub calls: CallCounters,
    /// Fired when the simulator stops.
    pub shutdown: Shutdown,
}

impl<E> SimCore<E>
where
    E: Clone + Serialize + Send + Sync + 'static,
{
    /// A core whose clock runs `time_factor` times faster than real time and whose
    /// faults draw from an RNG seeded with `seed`.
    pub fn new(time_factor: f64, seed: u64) -> Self {
        let clock = SimClock::new(time_factor);
        SimCore {
            ledger: Ledger::new(clock.clone()),
            clock,
            faults: Faults::new(seed),
            requests: RequestCounters::default(),
            calls: CallCounters::default(),
            shutdown: Shutdown::default(),
        }
    }

    /// `/_sandbox/faults` (GET, POST), `/_sandbox/ledger`, `/_sandbox/requests`,
    /// `/_sandbox/calls`, `/_sandbox/early_calls`, `/_sandbox/clock` (GET, POST
    /// `{"advance_secs": N, "factor": F}`).
    pub fn control_routes(&self) -> Router {
        control::routes(self)
    }

    /// Runs one provider request through counters and faults: counts it under
    /// `action`, waits if slowed, refuses it (500/429, or a connection closed without
    /// an answer) without calling `apply`, or calls `apply` (counted under `action`
    /// and `subject`, see [`subject_of`]) and then answers, answers 500 anyway,
    /// garbles the answer, closes the connection, or holds the answer.
    pub async fn gate<F, Fut>(&self, action: &str, subject: Option<&str>, apply: F) -> Response
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Response>,
    {
        self.requests.hit(action);
        let plan = self.faults.decide(action);
        if !plan.delay.is_zero() {
            self.sleep(plan.delay).await;
        }
        match plan.refusal {
            Some(Refusal::ServerError) => {
                tracing::debug!(action, "sandbox fault: 500 before applying");
                return server_error();
            }
            Some(Refusal::TooManyRequests { retry_after_secs }) => {
                tracing::debug!(action, "sandbox fault: 429");
                return too_many_requests(retry_after_secs);
            }
            Some(Refusal::Reset) => {
                tracing::debug!(action, "sandbox fault: connection closed before applying");
                close_connection();
            }
            None => {}
        }
        let mut response = apply().await;
        self.calls.hit(action, subject);
        if let Some(preface) = plan.preface {
            tracing::debug!(action, "sandbox fault: text before the answer");
            response = prefaced(response, preface).await;
        }
        match plan.aftermath {
            Aftermath::Answer => response,
            Aftermath::ServerError => {
                tracing::debug!(action, "sandbox fault: 500 after applying");
                server_error()
            }
            Aftermath::Hang(hold) => {
                tracing::debug!(action, "sandbox fault: holding the answer");
                self.sleep(hold).await;
                response
            }
            Aftermath::Malformed => {
                tracing::debug!(action, "sandbox fault: answer cut short");
                truncated(response).await
            }
            Aftermath::Reset => {
                tracing::debug!(action, "sandbox fault: connection closed after applying");
                close_connection();
            }
        }
    }

    /// Sleeps real time, cut short when the simulator stops.
    async fn sleep(&self, duration: std::time::Duration) {
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            () = self.shutdown.wait() => {}
        }
    }
}

/// What a web server in front of a provider's API answers when the API behind it
/// fails: an HTML page, not the provider's JSON (clients must not read it as an answer).
pub const SERVER_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n<body><h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to complete your request.</p>\n<hr><address>sandbox fault</address></body></html>\n";

/// `response` with `preface.text` in front of its body (and its status replaced).
async fn prefaced(response: Response, preface: Preface) -> Response {
    let (mut parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut text = preface.text.into_bytes();
    text.extend_from_slice(&body);
    if let Some(status) = preface.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        parts.status = status;
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    // PHP sends its warnings as HTML.
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    Response::from_parts(parts, axum::body::Body::from(text))
}

/// A payload for [`close_connection`]'s unwind, so a reader of a core dump or a
/// debugger knows what it is.
#[derive(Debug)]
struct ConnectionClosedByFault;

/// Ends the request without an answer: the handler unwinds with
/// `resume_unwind` (which, unlike `panic!`, runs no panic hook and prints nothing),
/// the connection's task ends, and its socket is closed, so the client sees the
/// connection close before any byte of a response. axum offers no other way for a
/// handler to drop its connection.
fn close_connection() -> ! {
    std::panic::resume_unwind(Box::new(ConnectionClosedByFault))
}

/// The same answer with HTTP 200 and its body cut in half: never valid JSON (an
/// object or list loses its closing bracket), and `print_r` text loses its end.
async fn truncated(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = if bytes.len() > 1 {
        bytes.slice(..bytes.len() / 2)
    } else {
        axum::body::Bytes::from_static(b"{")
    };
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(cut))
}

fn server_error() -> Response {
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR_PAGE).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        "429 Too Many Requests (sandbox fault)",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}
