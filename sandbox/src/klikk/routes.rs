//! Klikk's HTTP surface: JSON bodies with `action` POSTed to [`API_PATH`], signed
//! with `X-Account-Token` or HTTP Basic; refusals as HTTP 400/401/404 with
//! `{"status": <code>, "message": "<text>"}` (GAPS). Beside it, the sandbox's own
//! `POST /_sandbox/klikk/pay {"order_id": N}`: a customer paying the invoice.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::orders::Reply;
use super::state::{self, Account, Refused, bad_request};
use super::{API_PATH, KlikkEvent, KlikkOptions};
use crate::sim::{SettlerWaker, SimCore, subject_of};

/// Everything a request handler needs.
#[derive(Clone)]
pub(super) struct App {
    pub core: SimCore<KlikkEvent>,
    pub state: Arc<Mutex<Account>>,
    pub settler: SettlerWaker,
}

pub(super) fn router(app: App) -> Router {
    Router::new()
        .route(API_PATH, post(api))
        .route("/_sandbox/klikk/pay", post(pay))
        .with_state(app)
}

async fn api(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let body = read_body(&body);
    // Counters and faults go by the JSON `action`, e.g. `order_create`.
    let action = match &body {
        Ok(b) => b
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        Err(_) => String::new(),
    };
    let name = if action.is_empty() {
        "(no action)".to_owned()
    } else {
        action.clone()
    };
    // Numbers (`order_id`) and strings (`reference`) alike.
    let subject = body.as_ref().ok().and_then(|b| {
        subject_of(|p| {
            b.get(p).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        })
    });
    let core = app.core.clone();
    core.gate(&name, subject.as_deref(), || async move {
        render(app.apply(&headers, &action, body))
    })
    .await
}

fn read_body(body: &[u8]) -> Result<Map<String, Value>, Refused> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => bad_request("the request body must be a JSON object"),
        Err(e) => bad_request(format!("the request body is not JSON: {e}")),
    }
}

impl App {
    fn apply(
        &self,
        headers: &HeaderMap,
        action: &str,
        body: Result<Map<String, Value>, Refused>,
    ) -> Result<Reply, Refused> {
        let now = self.core.clock.now();
        let result = {
            let mut account = state::lock(&self.state);
            authorize(&account.opts, headers)?;
            let body = body?;
            account.settle(now);
            account.dispatch(action, &body, now)
        };
        self.settler.wake();
        result
    }
}

/// `X-Account-Token` when the header is sent (it must then be right), else HTTP Basic.
fn authorize(opts: &KlikkOptions, headers: &HeaderMap) -> Result<(), Refused> {
    let refused = |message: &str| {
        Err(Refused {
            status: 401,
            message: message.to_owned(),
        })
    };
    if let Some(token) = headers.get("x-account-token") {
        return if token.as_bytes() == opts.token.as_bytes() {
            Ok(())
        } else {
            refused("Invalid account token")
        };
    }
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return refused("Authentication required");
    };
    let credentials = authorization
        .strip_prefix("Basic ")
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    match credentials.as_deref().and_then(|c| c.split_once(':')) {
        Some((user, password)) if user == opts.username && password == opts.password => Ok(()),
        _ => refused("Authentication failed"),
    }
}

fn render(result: Result<Reply, Refused>) -> Response {
    match result {
        Ok(Reply::Json(value)) => Json(value).into_response(),
        Ok(Reply::Empty) => StatusCode::OK.into_response(),
        Err(refused) => refusal(refused),
    }
}

fn refusal(Refused { status, message }: Refused) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (code, Json(json!({ "status": status, "message": message }))).into_response()
}

/// `POST /_sandbox/klikk/pay {"order_id": N}`: pays the order's invoice.
async fn pay(State(app): State<App>, body: Bytes) -> Response {
    let order_id = read_body(&body).and_then(|b| {
        b.get("order_id")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            })
            .map_or_else(|| bad_request("order_id is required"), Ok)
    });
    let order_id = match order_id {
        Ok(id) => id,
        Err(refused) => return refusal(refused),
    };
    let now = app.core.clock.now();
    let paid = {
        let mut account = state::lock(&app.state);
        account.settle(now);
        account.mark_paid(order_id, now)
    };
    app.settler.wake();
    match paid {
        Ok((status, message)) => {
            Json(json!({ "order_id": order_id, "status": status, "message": message }))
                .into_response()
        }
        Err(refused) => refusal(refused),
    }
}
