//! `spawn_api`: the real API (`provisioner_api::serve`) on 127.0.0.1:0 in a task,
//! and a client for it.

use crate::config::{API_TOKEN, CREDENTIALS_TOKEN};
use crate::wait_until;
use anyhow::{Context, bail};
use provisioner_api::ApiError;
use provisioner_shared::Config;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApi {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    /// Sends `Authorization: Bearer API_TOKEN` on every request.
    pub client: reqwest::Client,
    pub config: Arc<Config>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ApiError>>>,
}

/// A response, read whole: status, headers and the body as JSON (`Null` when the
/// body is empty or not JSON; `text` has it as sent).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn read(res: reqwest::Response) -> anyhow::Result<Reply> {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
            text,
        })
    }

    /// Fails with the whole reply unless the status is `status`.
    pub fn expect(self, status: StatusCode) -> anyhow::Result<Reply> {
        if self.status != status {
            bail!("expected {status}, got {}: {}", self.status, self.text);
        }
        Ok(self)
    }

    /// `error.code` of an error reply.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// `error.field` of an error reply.
    pub fn error_field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// `id` of a job reply.
    pub fn id(&self) -> &str {
        self.body["id"].as_str().unwrap_or("")
    }
}

/// Starts the API for `config` and waits until it answers `/healthz`.
pub async fn spawn_api(config: Config) -> anyhow::Result<TestApi> {
    crate::init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let config = Arc::new(config);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(provisioner_api::serve((*config).clone(), listener, async {
        let _ = rx.await;
    }));
    let mut auth = HeaderValue::from_str(&format!("Bearer {API_TOKEN}"))?;
    auth.set_sensitive(true);
    let client = reqwest::Client::builder()
        .default_headers(HeaderMap::from_iter([(AUTHORIZATION, auth)]))
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut api = TestApi {
        base_url,
        client,
        config,
        shutdown: Some(tx),
        task: Some(task),
    };
    let probe = reqwest::Client::new();
    let healthz = api.url("/healthz");
    let up = wait_until(
        "the API to answer /healthz",
        Duration::from_secs(15),
        || async {
            if api.task.as_ref().is_some_and(|t| t.is_finished()) {
                return Ok(Some(false));
            }
            Ok(match probe.get(&healthz).send().await {
                Ok(r) if r.status().is_success() => Some(true),
                _ => None,
            })
        },
    )
    .await?;
    if !up {
        let task = api.task.take().expect("the task is there until stop");
        let outcome = task.await.context("the API task panicked")?;
        bail!("the API stopped at start: {:?}", outcome.err());
    }
    Ok(api)
}

impl TestApi {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A client that sends no token.
    pub fn anonymous(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        Reply::read(req.send().await?).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Reply> {
        self.send(Method::POST, path, body).await
    }

    pub async fn post_job(&self, body: &Value) -> anyhow::Result<Reply> {
        self.post("/v1/jobs", Some(body)).await
    }

    pub async fn post_job_with_key(
        &self,
        body: &Value,
        idempotency_key: &str,
    ) -> anyhow::Result<Reply> {
        let res = self
            .client
            .post(self.url("/v1/jobs"))
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send()
            .await?;
        Reply::read(res).await
    }

    pub async fn get_job(&self, id: &str) -> anyhow::Result<Reply> {
        self.get(&format!("/v1/jobs/{id}")).await
    }

    /// `GET /v1/jobs/{id}/credentials` with [`CREDENTIALS_TOKEN`] (the plain test
    /// token lacks the `credentials` scope).
    pub async fn credentials(&self, id: &str) -> anyhow::Result<Reply> {
        let res = self
            .anonymous()
            .get(self.url(&format!("/v1/jobs/{id}/credentials")))
            .bearer_auth(CREDENTIALS_TOKEN)
            .send()
            .await?;
        Reply::read(res).await
    }

    /// `GET /v1/jobs?{query}`.
    pub async fn list_jobs(&self, query: &str) -> anyhow::Result<Reply> {
        self.get(&format!("/v1/jobs?{query}")).await
    }

    /// Polls the job until its state is `state`; fails early when it ends in another.
    pub async fn wait_for_state(
        &self,
        id: &str,
        state: &str,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let what = format!("job {id} to be {state}");
        wait_until(&what, timeout, || async {
            let job = self.get_job(id).await?.expect(StatusCode::OK)?.body;
            let now = job["state"].as_str().unwrap_or("");
            if now == state {
                return Ok(Some(job));
            }
            if matches!(now, "succeeded" | "failed" | "cancelled") {
                bail!("job {id} ended {now}, not {state}: {job}");
            }
            Ok(None)
        })
        .await
    }

    /// Polls the job until it has ended or needs attention (a state no worker moves
    /// it out of by itself), and returns it.
    pub async fn wait_for_end(&self, id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let what = format!("job {id} to end");
        wait_until(&what, timeout, || async {
            let job = self.get_job(id).await?.expect(StatusCode::OK)?.body;
            let now = job["state"].as_str().unwrap_or("");
            let ended = matches!(
                now,
                "succeeded" | "failed" | "cancelled" | "needs_attention"
            );
            Ok(ended.then_some(job))
        })
        .await
    }

    /// Shuts the API down gracefully and returns how `serve` ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .context("the API did not stop within 10 s")??
                .context("the API ended with an error")?;
        }
        Ok(())
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The text of a Prometheus page at `url` (`GET`, no token), after checking it
/// answered 200 in the text exposition format: the api's `/metrics` and a worker's.
pub async fn metrics_page(url: &str) -> anyhow::Result<String> {
    let res = reqwest::get(url).await?;
    anyhow::ensure!(
        res.status() == StatusCode::OK,
        "{url} answered {}",
        res.status()
    );
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    anyhow::ensure!(
        ct.starts_with("text/plain; version=0.0.4"),
        "{url}: content-type {ct}"
    );
    Ok(res.text().await?)
}
