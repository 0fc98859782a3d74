//! The invapi HTTP surface: `/<resource>.php` with `action=` dispatch, form
//! parameters, PHP-style JSON answers (`\/` escapes), failures as
//! `{"result": -1, "error": "..."}` with HTTP 200 (GAPS.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::HostkeyEvent;
use super::state::{self, Account, Answer, Params, Refused, refuse};
use crate::sim::{CallbackSender, SettlerWaker, SimCore, VirtualTime, subject_of};

/// The resources the simulator serves, each at `/<name>.php`.
const RESOURCES: [&str; 6] = ["auth", "eq", "whmcs", "eq_callback", "tag", "presets"];

/// The actions the seed marks "POST/GET"; every other action is POST only.
const GET_ALLOWED: [&str; 2] = ["eq/set_pin", "eq/check_pin"];

/// Everything a request handler needs.
#[derive(Clone)]
pub(super) struct App {
    pub core: SimCore<HostkeyEvent>,
    pub state: Arc<Mutex<Account>>,
    pub callbacks: CallbackSender,
    pub settler: SettlerWaker,
}

pub(super) fn router(app: App) -> Router {
    let mut router = Router::new();
    for resource in RESOURCES {
        router = router.route(
            &format!("/{resource}.php"),
            any(
                move |State(app): State<App>, method: Method, RawQuery(query), body: Bytes| async move {
                    handle(app, resource, method, query, body).await
                },
            ),
        );
    }
    router.fallback(unknown_resource).with_state(app)
}

async fn unknown_resource() -> Response {
    let mut response = render(refuse("unknown resource"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

async fn handle(
    app: App,
    resource: &'static str,
    method: Method,
    query: Option<String>,
    body: Bytes,
) -> Response {
    let params = match parse_params(query.as_deref(), &body) {
        Ok(params) => params,
        Err(refused) => return render(Err(refused)),
    };
    let action = params.0.get("action").cloned().unwrap_or_default();
    let name = format!("{resource}/{action}");
    let subject = subject_of(|p| params.get(p).map(str::to_owned));
    let core = app.core.clone();
    core.gate(&name, subject.as_deref(), || async move {
        render(app.apply(resource, &action, &method, &params))
    })
    .await
}

/// Query string first, then the form body over it (PHP's `$_REQUEST`).
fn parse_params(query: Option<&str>, body: &[u8]) -> Result<Params, Refused> {
    let mut params = HashMap::new();
    for source in [query.unwrap_or("").as_bytes(), body] {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(source)
            .or_else(|_| refuse("request: parameters must be form-encoded"))?;
        params.extend(pairs);
    }
    Ok(Params(params))
}

impl App {
    fn apply(
        &self,
        resource: &str,
        action: &str,
        method: &Method,
        params: &Params,
    ) -> Result<Answer, Refused> {
        let name = format!("{resource}/{action}");
        if *method != Method::POST
            && !(*method == Method::GET && GET_ALLOWED.contains(&name.as_str()))
        {
            return refuse(format!("{name}: use HTTP POST"));
        }
        let now = self.core.clock.now();
        let (result, callbacks) = {
            let mut account = state::lock(&self.state);
            account.settle(now);
            let result = dispatch(&mut account, resource, action, params, now);
            (result, account.take_callbacks())
        };
        for (subject, url) in callbacks {
            self.callbacks.send(subject, url);
        }
        self.settler.wake();
        result
    }
}

fn known(resource: &str, action: &str) -> bool {
    matches!(
        (resource, action),
        ("auth", "login" | "logout" | "info")
            | (
                "eq",
                "order_instance"
                    | "list"
                    | "show"
                    | "update_servers"
                    | "reinstall"
                    | "create_pxe"
                    | "boot_dev"
                    | "reboot"
                    | "on"
                    | "off"
                    | "clear_pxe"
                    | "status"
                    | "set_pin"
                    | "check_pin"
            )
            | (
                "whmcs",
                "get_related_invoices"
                    | "get_invoice"
                    | "get_invoices"
                    | "apply_credit"
                    | "get_client"
                    | "getcredits"
                    | "getcredit"
                    | "request_cancellation"
                    | "get_cancellation_requests"
            )
            | ("eq_callback", "check")
            | ("tag", "add" | "list" | "remove" | "clear")
            | ("presets", "list")
    )
}

fn dispatch(
    account: &mut Account,
    resource: &str,
    action: &str,
    params: &Params,
    now: VirtualTime,
) -> Result<Answer, Refused> {
    if action.is_empty() {
        return refuse(format!("{resource}: missing required parameter action"));
    }
    if !known(resource, action) {
        return refuse(format!("{resource}: unknown action {action}"));
    }
    match (resource, action) {
        ("auth", "login") => return account.login(params),
        // The seed's check takes only the key: no session token needed.
        ("eq_callback", "check") => return account.check(params, now),
        // The seed: "Session token not required."
        ("presets", "list") => return account.presets(params),
        _ => {}
    }
    let token = account.authorize(params.get("token"))?;
    let token = token.as_str();
    match (resource, action) {
        ("auth", "logout") => Ok(account.logout(token)),
        ("auth", "info") => Ok(account.info(token)),
        ("eq", "order_instance") => account.order_instance(token, params, now),
        ("eq", "list") => Ok(account.list(token, params)),
        ("eq", "show") => account.show(token, params),
        ("eq", "update_servers") => Ok(account.update_servers(token)),
        ("eq", "reinstall") => account.reinstall(token, params),
        ("eq", "create_pxe") => account.create_pxe(token, params, now),
        ("eq", "boot_dev") => account.boot_dev(token, params, now),
        ("eq", "reboot") => account.power(token, "reboot", params, now),
        ("eq", "on") => account.power(token, "on", params, now),
        ("eq", "off") => account.power(token, "off", params, now),
        ("eq", "clear_pxe") => account.clear_pxe(token, params, now),
        ("eq", "status") => account.power_status(token, params, now),
        ("eq", "set_pin") => account.set_pin(params),
        ("eq", "check_pin") => Ok(account.check_pin_action(params)),
        ("whmcs", "get_related_invoices") => account.related_invoices(params),
        ("whmcs", "get_invoice") => account.invoice(params),
        ("whmcs", "get_invoices") => Ok(account.invoice_list(params)),
        ("whmcs", "apply_credit") => account.apply_credit(params, now),
        ("whmcs", "get_client") => Ok(account.client()),
        // The seed's heading and action list say `getcredits`, its table `getcredit`.
        ("whmcs", "getcredits" | "getcredit") => Ok(account.credit_log()),
        ("whmcs", "request_cancellation") => account.request_cancellation(params, now),
        ("whmcs", "get_cancellation_requests") => Ok(account.cancellation_requests(params)),
        ("tag", tag_action) => account.tag(token, tag_action, params),
        _ => refuse(format!("{resource}: unknown action {action}")),
    }
}

/// PHP's `json_encode` escapes `/` as `\/`; in compact JSON a `/` can only occur
/// inside a string, so escaping every one is exact.
fn php_json(json: &str) -> String {
    json.replace('/', "\\/")
}

/// The failure shape, as a struct so that `result` comes first as in the seed.
#[derive(serde::Serialize)]
struct Failure {
    result: i32,
    error: String,
}

fn render(result: Result<Answer, Refused>) -> Response {
    let json = match result {
        Ok(Answer(json)) => json,
        Err(Refused(error)) => Answer::json(&Failure { result: -1, error }).0,
    };
    let mut response = php_json(&json).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashes_are_escaped_like_php() {
        assert_eq!(
            php_json(r#"{"scope":" (1/5) OS installation started"}"#),
            r#"{"scope":" (1\/5) OS installation started"}"#
        );
    }

    #[test]
    fn body_parameters_override_the_query() {
        let params = parse_params(Some("action=list&id=1"), b"id=2&token=t").unwrap();
        assert_eq!(params.get("action"), Some("list"));
        assert_eq!(params.get("id"), Some("2"));
        assert_eq!(params.get("token"), Some("t"));
    }

    #[test]
    fn every_served_action_is_known_and_others_are_not() {
        assert!(known("eq", "create_pxe"));
        assert!(known("eq_callback", "check"));
        assert!(!known("eq", "destroy"));
        assert!(!known("whmcs", "check"));
    }
}
