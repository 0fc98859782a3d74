//! Both sides of Standard Webhooks for tests: signed billing deliveries sent to the
//! API ([`Delivery`]), and a [`Receiver`] of job callbacks (a small axum server on
//! 127.0.0.1:0) that records what arrives and answers with a scripted status.

use crate::api::{Reply, TestApi};
use crate::config::{CALLBACK_SECRET, WEBHOOK_SECRET};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use provisioner_shared::webhook::{self, WebhookHeaders, WebhookKey};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A billing webhook delivery: the exact bytes and headers to send.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub body: Vec<u8>,
}

impl Delivery {
    /// `body` signed now with the test config's webhook secret, under `id`.
    pub fn signed(id: &str, body: &serde_json::Value) -> Delivery {
        Delivery::signed_with(
            WEBHOOK_SECRET,
            id,
            unix_now(),
            body.to_string().into_bytes(),
        )
    }

    /// `body` signed with `secret` at `timestamp`, under `id`.
    pub fn signed_with(secret: &str, id: &str, timestamp: i64, body: Vec<u8>) -> Delivery {
        let key = WebhookKey::parse(secret).expect("a test secret parses");
        Delivery {
            id: Some(id.to_owned()),
            timestamp: Some(timestamp.to_string()),
            signature: Some(key.sign(id, timestamp, &body)),
            body,
        }
    }

    /// POSTs it to `/v1/webhooks/billing`, without a bearer token.
    pub async fn send(&self, api: &TestApi) -> anyhow::Result<Reply> {
        let mut req = api
            .anonymous()
            .post(api.url("/v1/webhooks/billing"))
            .header("content-type", "application/json")
            .body(self.body.clone());
        if let Some(v) = &self.id {
            req = req.header(webhook::HEADER_ID, v);
        }
        if let Some(v) = &self.timestamp {
            req = req.header(webhook::HEADER_TIMESTAMP, v);
        }
        if let Some(v) = &self.signature {
            req = req.header(webhook::HEADER_SIGNATURE, v);
        }
        Reply::read(req.send().await?).await
    }
}

/// One callback as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    /// Whether it carries a valid signature by the test config's callback secret.
    pub fn verifies(&self) -> bool {
        let key = WebhookKey::parse(CALLBACK_SECRET).expect("the callback secret parses");
        let headers = WebhookHeaders {
            id: self.id.as_deref(),
            timestamp: self.timestamp.as_deref(),
            signature: self.signature.as_deref(),
        };
        webhook::verify(&[key], headers, &self.body, unix_now()).is_ok()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

type Script = Arc<dyn Fn(usize) -> u16 + Send + Sync>;

#[derive(Clone)]
struct ReceiverState {
    seen: Arc<Mutex<Vec<Received>>>,
    answer: Script,
}

/// A callback endpoint on 127.0.0.1:0. Stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    seen: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers the n-th request (0-based) with `answer(n)`.
    pub async fn start(
        answer: impl Fn(usize) -> u16 + Send + Sync + 'static,
    ) -> anyhow::Result<Receiver> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            seen: Arc::clone(&seen),
            answer: Arc::new(answer),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { url, seen, task })
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut seen = state.seen.lock().unwrap_or_else(|e| e.into_inner());
    let status = (state.answer)(seen.len());
    seen.push(Received {
        id: text(webhook::HEADER_ID),
        timestamp: text(webhook::HEADER_TIMESTAMP),
        signature: text(webhook::HEADER_SIGNATURE),
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
