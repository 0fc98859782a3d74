//! The HTTP surface: `/v1/[{slug}/]{route}` with the seed's methods, the `apikey`
//! header, form parameters (query strings for GET), errors as `{"errors": {...}}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;

use super::IdcloudhostEvent;
use super::state::{self, Account, Answer, Params, Refusal};
use super::views;
use crate::sim::{SimCore, VirtualTime, subject_of};

/// Everything a request handler needs.
#[derive(Clone)]
pub(super) struct App {
    pub core: SimCore<IdcloudhostEvent>,
    pub state: Arc<Mutex<Account>>,
}

pub(super) fn router(app: App) -> Router {
    Router::new()
        .route(
            "/v1/{*path}",
            any(
                |State(app): State<App>,
                 method: Method,
                 Path(path): Path<String>,
                 headers: HeaderMap,
                 RawQuery(query): RawQuery,
                 body: Bytes| async move {
                    handle(app, method, path, headers, query, body).await
                },
            ),
        )
        .fallback(|| async { render(Err(Refusal::not_found("Unknown API endpoint."))) })
        .with_state(app)
}

/// Where a route lives: in a location (VMs, floating IPs) or account-wide.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Location,
    Account,
}

/// The routes the simulator serves and the methods each takes.
const ROUTES: &[(&str, &[&str], Scope)] = &[
    ("config/locations", &["GET"], Scope::Account),
    ("config/vm_images", &["GET"], Scope::Account),
    (
        "user-resource/vm",
        &["GET", "POST", "DELETE"],
        Scope::Location,
    ),
    ("user-resource/vm/list", &["GET"], Scope::Location),
    ("user-resource/vm/reinstall", &["POST"], Scope::Location),
    ("user-resource/vm/start", &["POST"], Scope::Location),
    ("user-resource/vm/stop", &["POST"], Scope::Location),
    ("network/ip_addresses", &["GET"], Scope::Location),
    ("payment/billing_account", &["GET"], Scope::Account),
    ("payment/billing_account/list", &["GET"], Scope::Account),
    (
        "payment/billing_account/unpaid_amount",
        &["GET"],
        Scope::Account,
    ),
    ("payment/invoice", &["GET"], Scope::Account),
    ("payment/invoice/list", &["GET"], Scope::Account),
    ("payment/pay_invoice", &["POST"], Scope::Account),
    ("payment/pay_all", &["POST"], Scope::Account),
];

/// The first segments of slug-less routes; anything else first is a slug.
const TOP_LEVEL: [&str; 4] = ["user-resource", "network", "payment", "config"];

async fn handle(
    app: App,
    method: Method,
    path: String,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
) -> Response {
    let path = path.trim_matches('/');
    let (slug, route) = match path.split_once('/') {
        Some((first, rest)) if !TOP_LEVEL.contains(&first) => (Some(first.to_owned()), rest),
        _ => (None, path),
    };
    let Some((route, methods, scope)) = ROUTES.iter().find(|(r, _, _)| *r == route).copied() else {
        return render(Err(Refusal::not_found(format!(
            "Unknown API endpoint: /v1/{path}"
        ))));
    };
    let action = format!("{} {route}", method.as_str());
    let subject = parse_params(query.as_deref(), &body)
        .ok()
        .and_then(|p| subject_of(|name| p.get(name).map(str::to_owned)));
    let core = app.core.clone();
    core.gate(&action, subject.as_deref(), || async move {
        if let Some(refused) = refuse_key(&app, &headers) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "message": refused })),
            )
                .into_response();
        }
        if !methods.contains(&method.as_str()) {
            return render(Err(Refusal::with_status(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("Method {method} is not allowed for /v1/{route}"),
            )));
        }
        let params = match parse_params(query.as_deref(), &body) {
            Ok(p) => p,
            Err(refused) => return render(Err(refused)),
        };
        render(app.apply(&method, route, scope, slug.as_deref(), &params))
    })
    .await
}

/// The API gateway's key check: why the request is refused, in its words (see the
/// module docs), or `None`.
fn refuse_key(app: &App, headers: &HeaderMap) -> Option<&'static str> {
    let expected = state::lock(&app.state).opts.api_key.clone();
    match headers.get("apikey").and_then(|v| v.to_str().ok()) {
        None => Some("No API key found in request"),
        Some(key) if key != expected => Some("Invalid authentication credentials"),
        Some(_) => None,
    }
}

/// Query string first, then the form body over it.
fn parse_params(query: Option<&str>, body: &[u8]) -> Result<Params, Refusal> {
    let mut params = HashMap::new();
    for source in [query.unwrap_or("").as_bytes(), body] {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(source)
            .map_err(|_| Refusal::bad("Parameters must be form-encoded."))?;
        params.extend(pairs);
    }
    Ok(Params(params))
}

impl App {
    fn apply(
        &self,
        method: &Method,
        route: &str,
        scope: Scope,
        slug: Option<&str>,
        params: &Params,
    ) -> Answer {
        let now = self.core.clock.now();
        let mut account = state::lock(&self.state);
        account.settle(now);
        let location = match (scope, slug) {
            // GAPS: payment routes carry no location slug.
            (Scope::Account, Some(slug)) => {
                return Err(Refusal::not_found(format!(
                    "Unknown API endpoint: /v1/{slug}/{route}"
                )));
            }
            (Scope::Account, None) => String::new(),
            (Scope::Location, Some(slug)) if !account.knows_location(slug) => {
                return Err(Refusal::not_found(format!("Unknown location: {slug}")));
            }
            (Scope::Location, Some(slug)) => slug.to_owned(),
            (Scope::Location, None) => account.default_location(),
        };
        dispatch(&mut account, method.as_str(), route, &location, params, now)
    }
}

fn dispatch(
    account: &mut Account,
    method: &str,
    route: &str,
    location: &str,
    params: &Params,
    now: VirtualTime,
) -> Answer {
    match (method, route) {
        ("GET", "config/locations") => Ok(views::locations(account)),
        ("GET", "config/vm_images") => Ok(super::vms::vm_images()),
        ("POST", "user-resource/vm") => account.create_vm(location, params, now),
        ("GET", "user-resource/vm") => account.get_vm(location, params),
        ("DELETE", "user-resource/vm") => account.delete_vm(location, params, now),
        ("GET", "user-resource/vm/list") => account.list_vms(location),
        ("POST", "user-resource/vm/reinstall") => account.reinstall_vm(location, params, now),
        ("POST", "user-resource/vm/start") => account.start_vm(location, params, now),
        ("POST", "user-resource/vm/stop") => account.stop_vm(location, params, now),
        ("GET", "network/ip_addresses") => account.floating_ips(location, params),
        ("GET", "payment/billing_account") => account.billing_account(params),
        ("GET", "payment/billing_account/list") => account.billing_accounts(),
        ("GET", "payment/billing_account/unpaid_amount") => account.unpaid_amount(params),
        ("GET", "payment/invoice") => account.invoice_details(params),
        ("GET", "payment/invoice/list") => account.invoice_list(params),
        ("POST", "payment/pay_invoice") => account.pay_invoice(params, now),
        ("POST", "payment/pay_all") => account.pay_all(params, now),
        _ => Err(Refusal::not_found(format!(
            "Unknown API endpoint: /v1/{route}"
        ))),
    }
}

fn render(answer: Answer) -> Response {
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(Refusal { status, body }) => (status, Json(body)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_dispatched() {
        let clock = crate::sim::SimClock::new(0.0);
        let mut account = Account::new(
            super::super::IdcloudhostOptions::default(),
            crate::sim::Ledger::new(clock.clone()),
            clock,
        )
        .unwrap();
        for (route, methods, _) in ROUTES {
            for method in *methods {
                let answer = dispatch(
                    &mut account,
                    method,
                    route,
                    "cyc01",
                    &Params::default(),
                    VirtualTime::ZERO,
                );
                let unknown = answer.as_ref().is_err_and(|r| {
                    r.body["errors"]["Error"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("Unknown API endpoint"))
                });
                assert!(!unknown, "{method} {route} is not dispatched");
            }
        }
    }

    #[test]
    fn form_bodies_override_the_query() {
        let params = parse_params(Some("uuid=a&x=1"), b"uuid=b").unwrap();
        assert_eq!(params.get("uuid"), Some("b"));
        assert_eq!(params.get("x"), Some("1"));
    }
}
