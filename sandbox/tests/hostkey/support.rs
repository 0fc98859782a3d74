//! A tiny invapi client for the tests (deliberately not the worker's client), and a
//! callback receiver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use provisioner_sandbox::hostkey::{HostkeyOptions, HostkeySim};
use provisioner_sandbox::sim::{Shutdown, SimServer};
use serde_json::Value;

pub const ROOT_PASS: &str = "Secret-Pass1";
pub const MINUTE: Duration = Duration::from_secs(60);

/// A frozen clock: time moves only when a test advances it.
pub fn frozen() -> HostkeyOptions {
    HostkeyOptions {
        time_factor: 0.0,
        ..HostkeyOptions::default()
    }
}

pub struct Invapi {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Invapi {
    pub async fn login(sim: &HostkeySim) -> Invapi {
        let mut api = Invapi {
            http: reqwest::Client::new(),
            base: sim.base_url().to_owned(),
            token: String::new(),
        };
        let answer = api
            .call("auth", &[("action", "login"), ("key", sim.api_key())])
            .await;
        api.token = answer["result"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {answer}"))
            .to_owned();
        api
    }

    /// POSTs a form; returns the HTTP status and raw body.
    pub async fn raw(&self, resource: &str, params: &[(&str, &str)]) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}/{resource}.php", self.base))
            .form(params)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body read"))
    }

    /// POSTs a form without the token; expects HTTP 200 and JSON.
    pub async fn call(&self, resource: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.raw(resource, params).await;
        assert_eq!(status, 200, "{resource} {params:?}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|err| panic!("{err}: {body}"))
    }

    /// Like `call`, with the session token added.
    pub async fn authed(&self, resource: &str, params: &[(&str, &str)]) -> Value {
        let mut all = params.to_vec();
        all.push(("token", &self.token));
        self.call(resource, &all).await
    }

    pub async fn order(&self, pin: &str, hostname: &str, extra: &[(&str, &str)]) -> Value {
        let mut params = vec![
            ("action", "order_instance"),
            ("deploy_period", "monthly"),
            ("deploy_notify", "false"),
            ("pin", pin),
            ("preset", "vm.mini"),
            ("location_name", "NL"),
            ("os_id", "187"),
            ("traffic_plan", "25"),
            ("root_pass", ROOT_PASS),
            ("hostname", hostname),
        ];
        params.extend_from_slice(extra);
        self.authed("eq", &params).await
    }

    pub async fn check(&self, key: &str) -> Value {
        self.call("eq_callback", &[("action", "check"), ("key", key)])
            .await
    }

    /// Orders, pays and waits out delivery; returns the server id.
    pub async fn delivered_server(&self, sim: &HostkeySim, hostname: &str) -> u64 {
        let order = self.order(&sim.pin(), hostname, &[("own_os", "1")]).await;
        let id: u64 = order["context"]["id"].as_str().unwrap().parse().unwrap();
        let invoices = self
            .authed(
                "whmcs",
                &[("action", "get_related_invoices"), ("id", &id.to_string())],
            )
            .await;
        let invoice = invoices["invoices"][0]["id"].to_string();
        let paid = self
            .authed(
                "whmcs",
                &[
                    ("action", "apply_credit"),
                    ("invoice_id", &invoice),
                    ("amount", "5.00"),
                ],
            )
            .await;
        assert_eq!(paid["invoicepaid"], true, "{paid}");
        sim.clock().advance(10 * MINUTE);
        self.authed("eq", &[("action", "update_servers")]).await;
        id
    }
}

/// Polls `condition` until it holds (bounded), for effects sent in the background.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..300 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// An HTTP server counting the POSTs it receives at `/hook`.
pub struct Receiver {
    pub server: SimServer,
    pub hits: Arc<Mutex<u32>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let hits = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&hits);
        let router = Router::new().route(
            "/hook",
            post(move || async move {
                *counter.lock().unwrap() += 1;
                "ok"
            }),
        );
        let server = SimServer::serve(router, Shutdown::default()).await.unwrap();
        Receiver { server, hits }
    }

    pub fn url(&self) -> String {
        format!("{}/hook", self.server.base_url())
    }

    pub fn hits(&self) -> u32 {
        *self.hits.lock().unwrap()
    }
}

/// `context.id` of an asynchronous answer.
pub fn server_id(answer: &Value) -> String {
    answer["context"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no context.id: {answer}"))
        .to_owned()
}

/// `key` of an asynchronous answer.
pub fn key(answer: &Value) -> String {
    answer["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key: {answer}"))
        .to_owned()
}
