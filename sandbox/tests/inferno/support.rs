//! A tiny `api_client.php` client for the tests (deliberately not the worker's client).

use std::time::Duration;

use provisioner_sandbox::inferno::{InfernoOptions, InfernoSim};
use serde_json::Value;

pub const MINUTE: Duration = Duration::from_secs(60);

/// A frozen clock and no auto-pay: time moves and orders get paid only when a test
/// says so.
pub fn frozen() -> InfernoOptions {
    InfernoOptions {
        time_factor: 0.0,
        auto_pay: false,
        ..InfernoOptions::default()
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub cid: String,
    pub key: String,
}

impl Client {
    pub fn new(sim: &InfernoSim) -> Client {
        Client {
            http: reqwest::Client::new(),
            url: format!("{}/api_client.php", sim.base_url()),
            cid: sim.client_id().to_string(),
            key: sim.api_key().to_owned(),
        }
    }

    /// POSTs `action` with cid, key and `params` as a form; the raw body.
    pub async fn text(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut form = vec![("action", action), ("cid", &self.cid), ("key", &self.key)];
        form.extend_from_slice(params);
        let response = self
            .http
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "failures are HTTP 200 too");
        response.text().await.expect("body read")
    }

    /// Like [`Client::text`], read as JSON.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let body = self.text(action, params).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{action}: not JSON ({e}): {body}"))
    }

    /// A GET with everything in the query string, as the seed's examples show.
    pub async fn get(&self, query: &str) -> Value {
        let url = format!("{}?{query}", self.url);
        let body = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    /// `create` of product 303; the new order id.
    pub async fn create(&self) -> String {
        let created = self.call("create", &[("pid", "303")]).await;
        assert_eq!(created["result"], "success", "{created}");
        created["orderid"].to_string()
    }

    pub async fn status_of(&self, order: &str) -> Option<String> {
        let listed = self.call("orders", &[]).await;
        listed["orders"][order]["status"]
            .as_str()
            .map(str::to_owned)
    }

    pub async fn install(&self, order: &str, template: &str, run: &str) -> String {
        self.text(
            "install",
            &[("orderid", order), ("ostpl", template), ("run", run)],
        )
        .await
    }
}

/// Advances the simulator's virtual clock.
pub fn advance(sim: &InfernoSim, by: Duration) {
    sim.clock().advance(by);
}
