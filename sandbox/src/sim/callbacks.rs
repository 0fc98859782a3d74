//! Outbound provider callbacks (HOSTKEY's `post_install_callback`): an empty POST
//! to a URL the client gave, sent in the background and recorded for tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::runtime::Handle;

/// One callback the simulator sent (or tried to).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallbackRecord {
    /// What the callback is about (e.g. the server id).
    pub subject: String,
    /// The URL it went to.
    pub url: String,
    /// The HTTP status answered; `None` when the request failed.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Sends callbacks and keeps a record of each; cheap to clone.
#[derive(Clone, Debug)]
pub struct CallbackSender {
    client: reqwest::Client,
    records: Arc<Mutex<Vec<CallbackRecord>>>,
    runtime: Handle,
}

impl Default for CallbackSender {
    fn default() -> Self {
        Self::new()
    }
}

impl CallbackSender {
    /// A sender spawning on the current tokio runtime, so that `send` also works
    /// from a thread outside it (a test reading a snapshot that settles state).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn new() -> Self {
        CallbackSender {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            records: Arc::default(),
            runtime: Handle::current(),
        }
    }

    /// POSTs an empty body to `url` in a background task.
    pub fn send(&self, subject: String, url: String) {
        let client = self.client.clone();
        let records = Arc::clone(&self.records);
        self.runtime.spawn(async move {
            let result = client
                .post(&url)
                .header(reqwest::header::CONTENT_LENGTH, "0")
                .send()
                .await;
            let (status, error) = match result {
                Ok(response) => (Some(response.status().as_u16()), None),
                Err(err) => (None, Some(err.without_url().to_string())),
            };
            tracing::debug!(%subject, ?status, "sandbox callback sent");
            records
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(CallbackRecord {
                    subject,
                    url,
                    status,
                    error,
                });
        });
    }

    /// Every callback sent so far (those still in flight are not listed yet).
    pub fn records(&self) -> Vec<CallbackRecord> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
