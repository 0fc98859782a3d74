//! Inferno's HTTP surface: `/api_client.php` with `action=` (GET or POST, seed §2),
//! JSON answers in PHP's style (`\/` escapes), `install` in `print_r` text, failures
//! as `{"result":"fail","message":"<text>"}` with HTTP 200 (GAPS.md); and
//! `POST /_sandbox/inferno/pay`, the customer paying an order outside the API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::InfernoEvent;
use super::state::{self, Account, Answer, Params, Refused, refuse};
use crate::sim::{SettlerWaker, SimCore, subject_of};

/// Everything a request handler needs.
#[derive(Clone)]
pub(super) struct App {
    pub core: SimCore<InfernoEvent>,
    pub state: Arc<Mutex<Account>>,
    pub settler: SettlerWaker,
}

pub(super) fn router(app: App) -> Router {
    Router::new()
        .route("/api_client.php", any(api_client))
        .route("/_sandbox/inferno/pay", post(pay))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 Not Found").into_response() })
        .with_state(app)
}

async fn api_client(
    State(app): State<App>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if method != Method::GET && method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed").into_response();
    }
    let params = match parse_params(query.as_deref(), &body, method == Method::POST) {
        Ok(p) => p,
        Err(refused) => return render(Err(refused)),
    };
    let action = params.get("action").unwrap_or_default().to_owned();
    let counted = if action.is_empty() {
        "(none)".to_owned()
    } else {
        action.clone()
    };
    let subject = subject_of(|p| params.get(p).map(str::to_owned));
    let core = app.core.clone();
    core.gate(&counted, subject.as_deref(), || async move {
        render(app.apply(&action, &params))
    })
    .await
}

/// Query string first, then a POST's form body over it (PHP's `$_REQUEST`).
fn parse_params(query: Option<&str>, body: &[u8], post: bool) -> Result<Params, Refused> {
    let decode = |bytes: &[u8]| {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
            .or_else(|_| refuse("parameters must be form-encoded"))
    };
    let mut params = Params::default();
    params.all.extend(decode(query.unwrap_or("").as_bytes())?);
    if post {
        let form: HashMap<String, String> = decode(body)?.into_iter().collect();
        params.all.extend(form.clone());
        params.body = form;
    }
    Ok(params)
}

impl App {
    fn apply(&self, action: &str, params: &Params) -> Result<Answer, Refused> {
        let now = self.core.clock.now();
        let result = {
            let mut account = state::lock(&self.state);
            account.settle(now);
            dispatch(&mut account, action, params, now)
        };
        self.settler.wake();
        result
    }
}

const ACTIONS: [&str; 12] = [
    "list",
    "create",
    "orders",
    "cancel",
    "install",
    "getinfo",
    "reboot",
    "stop",
    "boot",
    "sshkey.add",
    "sshkey.list",
    "sshkey.remove",
];

fn dispatch(
    account: &mut Account,
    action: &str,
    params: &Params,
    now: crate::sim::VirtualTime,
) -> Result<Answer, Refused> {
    if action.is_empty() {
        return refuse("missing required parameter action");
    }
    if !ACTIONS.contains(&action) {
        return refuse(format!("Unknown action {action}"));
    }
    // The seed's `list` example carries no cid or key.
    if action == "list" {
        return Ok(account.list());
    }
    account.authorize(params)?;
    match action {
        "create" => account.create(params, now),
        "orders" => Ok(account.list_orders()),
        "cancel" => account.cancel(params, now),
        "install" => Ok(account.install(params, now)),
        "getinfo" => account.getinfo(params),
        "reboot" | "stop" | "boot" => account.power(action, params, now),
        "sshkey.add" => account.sshkey_add(params),
        "sshkey.list" => Ok(account.sshkey_list()),
        "sshkey.remove" => account.sshkey_remove(params),
        _ => refuse(format!("Unknown action {action}")),
    }
}

/// PHP's `json_encode` escapes `/` as `\/`; in compact JSON a `/` can only occur
/// inside a string, so escaping every one is exact.
fn php_json(json: &str) -> String {
    json.replace('/', "\\/")
}

fn render(result: Result<Answer, Refused>) -> Response {
    let (body, content_type) = match result {
        Ok(Answer::Json(json)) => (php_json(&json), "application/json; charset=utf-8"),
        Ok(Answer::Text(text)) => (text, "text/html; charset=UTF-8"),
        Err(Refused(message)) => (
            php_json(&json!({ "result": "fail", "message": message }).to_string()),
            "application/json; charset=utf-8",
        ),
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    order_id: u64,
}

/// `POST /_sandbox/inferno/pay {"order_id": N}`: the customer pays the order.
async fn pay(State(app): State<App>, Json(request): Json<PayRequest>) -> Response {
    let now = app.core.clock.now();
    let paid = {
        let mut account = state::lock(&app.state);
        account.settle(now);
        account.pay(request.order_id, now)
    };
    app.settler.wake();
    if paid {
        Json(json!({ "order_id": request.order_id, "status": "Active" })).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no Pending or Active order {}", request.order_id) })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_parameters_override_the_query_and_are_told_apart() {
        let params = parse_params(Some("action=sshkey.add&sshkey=q"), b"sshkey=b", true).unwrap();
        assert_eq!(params.get("action"), Some("sshkey.add"));
        assert_eq!(params.get("sshkey"), Some("b"));
        assert_eq!(params.body.get("sshkey").map(String::as_str), Some("b"));
        let get = parse_params(Some("action=list&sshkey=q"), b"sshkey=b", false).unwrap();
        assert_eq!(get.get("sshkey"), Some("q"));
        assert!(get.body.is_empty());
    }

    #[test]
    fn slashes_are_escaped_like_php() {
        assert_eq!(php_json(r#"{"a":"b/c"}"#), r#"{"a":"b\/c"}"#);
    }
}
