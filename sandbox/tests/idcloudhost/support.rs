//! A tiny IDCloudHost client for the tests (deliberately not the worker's client).

use std::time::Duration;

use provisioner_sandbox::idcloudhost::{IdcloudhostOptions, IdcloudhostSim};
use reqwest::Method;
use serde_json::Value;

pub const PASSWORD: &str = "Password123";
pub const MINUTE: Duration = Duration::from_secs(60);

/// A frozen clock: time moves only when a test advances it.
pub fn frozen() -> IdcloudhostOptions {
    IdcloudhostOptions {
        time_factor: 0.0,
        ..IdcloudhostOptions::default()
    }
}

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub fn new(sim: &IdcloudhostSim) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: sim.base_url().to_owned(),
            key: sim.api_key().to_owned(),
        }
    }

    /// Sends `params` as the query (GET) or a form (others) to `/v1/{path}`; returns
    /// the HTTP status and the body as JSON.
    pub async fn send(&self, method: Method, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}/v1/{path}", self.base);
        let req = self
            .http
            .request(method.clone(), url)
            .header("apikey", &self.key);
        let req = if method == Method::GET {
            req.query(params)
        } else {
            req.form(params)
        };
        let response = req.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, body)
    }

    /// Like `send`, expecting HTTP 200.
    pub async fn ok(&self, method: Method, path: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.send(method, path, params).await;
        assert_eq!(status, 200, "{path} {params:?}: {body}");
        body
    }

    /// Creates a VM named `name` in `slug` (`None`: the default location).
    pub async fn create(&self, slug: Option<&str>, name: &str, extra: &[(&str, &str)]) -> Value {
        let mut params = vec![
            ("name", name),
            ("description", "job-1"),
            ("os_name", "ubuntu"),
            ("os_version", "22.04-lts"),
            ("disks", "20"),
            ("vcpu", "2"),
            ("ram", "2048"),
            ("username", "example"),
            ("password", PASSWORD),
        ];
        params.extend_from_slice(extra);
        self.ok(Method::POST, &at(slug, "user-resource/vm"), &params)
            .await
    }
}

/// `{slug}/{route}` or `{route}`.
pub fn at(slug: Option<&str>, route: &str) -> String {
    match slug {
        Some(s) => format!("{s}/{route}"),
        None => route.to_owned(),
    }
}
