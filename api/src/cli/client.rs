//! The HTTP side of `provctl`: one request at a time, the bearer token attached,
//! the API's error shape turned into a [`CliError`] that knows its exit code.

use super::Exit;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::time::Duration;

/// Why a command did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API answered with an error; `message` is its own words.
    #[error("{status}: {message}{}", field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Api {
        status: StatusCode,
        code: Option<String>,
        message: String,
        field: Option<String>,
    },
    /// The API could not be reached, or its answer not read.
    #[error("calling the api at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A local file, or stdin.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Something the user gave that is not usable (a token file that is empty, a
    /// request that is not JSON).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// Not found, or not allowed: the id or the token is wrong (exit 6); every other
    /// failure is exit 1.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Api { status, .. }
                if matches!(
                    *status,
                    StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) =>
            {
                Exit::NotFound
            }
            _ => Exit::Error,
        }
    }

    /// A failure worth trying again while watching (the API restarting, a blip).
    pub fn is_transient(&self) -> bool {
        match self {
            CliError::Transport { .. } => true,
            CliError::Api { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

/// A client of one API with one token (or none: the API then says 401).
pub struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<SecretString>,
}

impl Client {
    pub fn new(url: &str, token: Option<SecretString>) -> Result<Client, CliError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| CliError::Transport {
                url: url.to_owned(),
                source,
            })?;
        Ok(Client {
            http,
            url: url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.url))
    }

    /// Sends `req` with the token; a 2xx gives its JSON body, anything else the
    /// API's error in its own words.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t.expose_secret()),
            None => req,
        };
        let transport = |source| CliError::Transport {
            url: self.url.clone(),
            source,
        };
        let res = req.send().await.map_err(transport)?;
        let status = res.status();
        let text = res.text().await.map_err(transport)?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(body);
        }
        let e = &body["error"];
        let mut message = e["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| match &body {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        if status == StatusCode::UNAUTHORIZED && self.token.is_none() {
            message.push_str(
                " (no token given: set PROVISIONER_TOKEN, PROVISIONER_TOKEN_FILE or --token-file)",
            );
        }
        Err(CliError::Api {
            status,
            code: e["code"].as_str().map(str::to_owned),
            message,
            field: e["field"].as_str().map(str::to_owned),
        })
    }
}
