//! The layers around every route: the request id, the request span, the request
//! log, the counters and the request timeout.
//!
//! - `x-request-id`: a client's own is kept when it is sane ([`is_sane_request_id`]),
//!   else one is made (a UUID); either way the answer echoes it, the request's span
//!   and log line carry it, and a job the request creates keeps it (`request_id`),
//!   so the worker's step spans carry it too.
//! - `api.request_timeout`: a request still unanswered after it gets 408
//!   `request_timeout` (event streams are exempt: they are meant to stay open).

use crate::error;
use crate::{AppState, metrics, request_log};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The header a request id travels in, both ways.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client request id kept.
const MAX_REQUEST_ID: usize = 128;

/// Wraps `router` in every layer, outermost last.
pub(crate) fn around(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router
        .layer(DefaultBodyLimit::max(state.config.api.body_limit))
        .layer(from_fn_with_state(state.clone(), request_timeout))
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(from_fn(request_log::log_request))
        .layer(from_fn(scope_request_id))
        // Only the span: the request log above writes the one line per request
        // (never the URI: it can carry a token), inside this span.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(())
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(from_fn(drop_insane_request_id))
}

/// Letters, digits and `-_.:@/+=`, at most [`MAX_REQUEST_ID`] of them: UUIDs, ULIDs,
/// trace ids and base64 fit; nothing that could break a log line or a header.
pub(crate) fn is_sane_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@/+=".contains(b))
}

/// A client's `x-request-id` that is not sane (or comes twice) is dropped, so
/// that `SetRequestIdLayer` makes one.
async fn drop_insane_request_id(mut req: Request, next: Next) -> Response {
    let headers = req.headers_mut();
    let mut given = headers.get_all(&X_REQUEST_ID).iter();
    let keep = match (given.next(), given.next()) {
        (Some(id), None) => is_sane_request_id(id.as_bytes()),
        (None, _) => true,
        _ => false,
    };
    if !keep {
        headers.remove(&X_REQUEST_ID);
    }
    next.run(req).await
}

fn request_span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("http", method = %req.method(), route = %route, request_id = %id)
}

tokio::task_local! {
    /// The request id of the request being handled, for the code that creates a
    /// job: it is reached from several routes (`POST /v1/jobs`, billing webhooks)
    /// and would otherwise take the id through each of their signatures.
    static REQUEST_ID: Option<String>;
}

async fn scope_request_id(req: Request, next: Next) -> Response {
    let id = request_id(req.headers());
    REQUEST_ID.scope(id, next.run(req)).await
}

/// The request id of the request being handled (None outside a request).
pub(crate) fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok().flatten()
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Answers 408 when the handler has not answered within `api.request_timeout`
/// (the handler is dropped). Event streams are exempt. Ours rather than
/// tower-http's `TimeoutLayer`, whose 408 has an empty body: every answer has the
/// error envelope.
async fn request_timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let streams = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str().ends_with("/events"));
    if streams {
        return next.run(req).await;
    }
    let limit = state.config.api.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(timeout = ?limit, "request timed out");
            error::render(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                &format!("the request was not answered within api.request_timeout ({limit:?})"),
                None,
            )
        }
    }
}

/// `Retry-After` in seconds, for answers that ask the client to come back.
pub(crate) fn retry_after(secs: u64) -> (HeaderName, HeaderValue) {
    (axum::http::header::RETRY_AFTER, HeaderValue::from(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        for ok in [
            "abc",
            "0b6f3c1e-6a1b-4c1d-9d2e-2b7f0e1c9a11",
            "01JD0000000000000000000000",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "dGVzdA==",
        ] {
            assert!(is_sane_request_id(ok.as_bytes()), "{ok}");
        }
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for bad in ["", "a b", "a\nb", "é", "<script>", "a;b", long.as_str()] {
            assert!(!is_sane_request_id(bad.as_bytes()), "{bad:?}");
        }
    }
}
