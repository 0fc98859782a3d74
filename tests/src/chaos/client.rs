//! The chaos test's HTTP client of the api process: every answer it reads is handed
//! to the [`LeakScan`] before anything else looks at it.

use super::canary::LeakScan;
use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct ChaosClient {
    http: reqwest::Client,
    base_url: String,
    token: String,
    scan: Arc<LeakScan>,
}

/// What became of a `POST /v1/jobs`.
#[derive(Debug, Clone, PartialEq)]
pub enum Posted {
    /// 202 (new) or 200 (the same `Idempotency-Key` again): the job exists.
    Accepted { id: String, status: u16 },
    /// A 4xx: the request itself is wrong (a test bug, or a contract change).
    Refused { status: u16, body: String },
    /// A 5xx, or no answer: the api or Redis is down; try again later.
    Unavailable(String),
}

impl ChaosClient {
    pub fn new(base_url: &str, token: &str, scan: Arc<LeakScan>) -> anyhow::Result<ChaosClient> {
        Ok(ChaosClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            scan,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn read(
        &self,
        what: &str,
        res: reqwest::Response,
    ) -> anyhow::Result<(StatusCode, String)> {
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .with_context(|| format!("reading {what}"))?;
        self.scan.check(&format!("api answer to {what}"), &bytes);
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Enqueues `body` under `Idempotency-Key: key` (the same key again answers the
    /// same job, so a POST whose answer was lost can be sent again).
    pub async fn post_job(&self, body: &Value, key: &str) -> Posted {
        let sent = self
            .http
            .post(format!("{}/v1/jobs", self.base_url))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await;
        let res = match sent {
            Ok(res) => res,
            Err(e) => return Posted::Unavailable(format!("no answer: {e}")),
        };
        let (status, text) = match self.read("POST /v1/jobs", res).await {
            Ok(answer) => answer,
            Err(e) => return Posted::Unavailable(format!("{e:#}")),
        };
        match status.as_u16() {
            200 | 202 => match serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
            {
                Some(id) => Posted::Accepted {
                    id,
                    status: status.as_u16(),
                },
                None => Posted::Refused {
                    status: status.as_u16(),
                    body: text,
                },
            },
            s @ 400..=499 if s != 409 || !text.contains("idempotency_in_progress") => {
                Posted::Refused {
                    status: s,
                    body: text,
                }
            }
            s => Posted::Unavailable(format!("HTTP {s}: {text}")),
        }
    }

    /// Posts until the job is accepted or `timeout` passes, sending the same
    /// `Idempotency-Key` every time.
    pub async fn post_job_until_accepted(
        &self,
        body: &Value,
        key: &str,
        timeout: Duration,
    ) -> anyhow::Result<(String, u32)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.post_job(body, key).await {
                Posted::Accepted { id, .. } => return Ok((id, tries)),
                Posted::Refused { status, body } => {
                    bail!("the api refused job {key} with {status}: {body}")
                }
                Posted::Unavailable(why) => {
                    if tokio::time::Instant::now() >= deadline {
                        bail!("job {key} was not accepted within {timeout:?}: {why}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// The job JSON, `None` for a 404.
    pub async fn get_job(&self, id: &str) -> anyhow::Result<Option<Value>> {
        let what = format!("GET /v1/jobs/{id}");
        let res = self
            .http
            .get(format!("{}/v1/jobs/{id}", self.base_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| what.clone())?;
        let (status, text) = self.read(&what, res).await?;
        match status {
            StatusCode::OK => Ok(Some(serde_json::from_str(&text)?)),
            StatusCode::NOT_FOUND => Ok(None),
            s => bail!("{what}: HTTP {s}: {text}"),
        }
    }

    /// Every job, newest first, through `GET /v1/jobs` page by page.
    pub async fn list_all(&self) -> anyhow::Result<Vec<Value>> {
        let mut jobs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/v1/jobs?limit=200", self.base_url);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let res = self
                .http
                .get(&url)
                .bearer_auth(&self.token)
                .send()
                .await
                .context("GET /v1/jobs")?;
            let (status, text) = self.read("GET /v1/jobs", res).await?;
            if status != StatusCode::OK {
                bail!("GET /v1/jobs: HTTP {status}: {text}");
            }
            let page: Value = serde_json::from_str(&text)?;
            jobs.extend(page["jobs"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
                _ => return Ok(jobs),
            }
        }
    }

    /// A billing webhook `body`, signed with `secret` (Standard Webhooks) under
    /// `webhook-id: id`; returns the status and the answer.
    pub async fn billing_webhook(
        &self,
        secret: &str,
        id: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, String)> {
        use provisioner_shared::webhook::{self, WebhookKey};
        let key = WebhookKey::parse(secret).map_err(|e| anyhow::anyhow!("{e}"))?;
        let raw = body.to_string();
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        let res = self
            .http
            .post(format!("{}/v1/webhooks/billing", self.base_url))
            .header("content-type", "application/json")
            .header(webhook::HEADER_ID, id)
            .header(webhook::HEADER_TIMESTAMP, ts.to_string())
            .header(webhook::HEADER_SIGNATURE, key.sign(id, ts, raw.as_bytes()))
            .body(raw)
            .send()
            .await
            .context("POST /v1/webhooks/billing")?;
        let (status, text) = self.read("POST /v1/webhooks/billing", res).await?;
        Ok((status.as_u16(), text))
    }

    /// `GET /metrics` (no token).
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let res = self
            .http
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .context("GET /metrics")?;
        let (status, text) = self.read("GET /metrics", res).await?;
        if status != StatusCode::OK {
            bail!("GET /metrics: HTTP {status}: {text}");
        }
        Ok(text)
    }

    /// True once `GET /readyz` answers 200 (the api reaches Redis).
    pub async fn ready(&self) -> bool {
        match self
            .http
            .get(format!("{}/readyz", self.base_url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(res) => {
                let ok = res.status().is_success();
                let _ = self.read("GET /readyz", res).await;
                ok
            }
            Err(_) => false,
        }
    }
}
