//! Typed client for Klikk's JSON API (seeds 000 and 001, with the conventions of
//! `GAPS.md`).
//!
//! Every call is a JSON body with `action` POSTed to the account's one configured
//! endpoint (`base_url`: neither seed names a URL). Authentication is the
//! `X-Account-Token` header when the account has a `token`, else HTTP Basic with
//! `username`/`password` (seed 000 accepts Basic and Digest; Basic needs no extra round
//! trip, and Digest would need the server's challenge first). Errors come as HTTP
//! 400/401/404 with `{"status", "message"}` (GAPS) and are quoted as Klikk wrote them.
//! Answers are read by the pure functions of [`parse`], so each documented shape is
//! unit-tested without a network.

mod answers;
mod bodies;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::providers::Gate;
use crate::providers::http::{self, CallLog, Peer};
use crate::step::{CallError, KnownSecrets};

pub use answers::{Order, OrderItem, Server, Stage, Status};
pub use bodies::{NewOrder, Os};
use parse::PROVIDER;
/// How a non-2xx answer reads; reachable for the fuzz targets (`crate::fuzzing`).
pub(crate) use parse::http_error;
pub use parse::{parse_cancelled, parse_order, parse_order_status, parse_orders, parse_servers};

const PEER: Peer = Peer {
    provider: PROVIDER,
    http_error: parse::http_error,
};

/// How a Klikk account signs its calls.
pub enum Auth {
    /// `X-Account-Token: <token>` (seed 000: "Token + IP-filter"; works with 2-factor).
    Token(SecretString),
    /// HTTP Basic with the portal credentials (not with 2-factor, seed 000 says).
    Basic {
        username: String,
        password: SecretString,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Token([REDACTED])"),
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"[REDACTED]")
                .finish(),
        }
    }
}

/// A client for one Klikk account.
pub struct KlikkApi {
    http: reqwest::Client,
    endpoint: Url,
    auth: Auth,
    timeout: Duration,
    /// The account's rate limit, shared by all workers.
    gate: Gate,
}

impl fmt::Debug for KlikkApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KlikkApi")
            .field("endpoint", &self.endpoint.as_str())
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl KlikkApi {
    pub fn new(http: reqwest::Client, endpoint: Url, auth: Auth, timeout: Duration) -> Self {
        KlikkApi {
            http,
            endpoint,
            auth,
            timeout,
            gate: Gate::unlimited(),
        }
    }

    /// Sends every call through `gate` (the account's shared rate limit).
    pub fn with_gate(mut self, gate: Gate) -> Self {
        self.gate = gate;
        self
    }

    /// `order_create` with one item. The answer names the new order; its status may
    /// already ask for payment (1xx: "The invoice is already created if so").
    pub async fn order_create(&self, order: &NewOrder<'_>) -> Result<Order, CallError> {
        self.send("order_create", &bodies::order_create(order), parse_order)
            .await
    }

    pub async fn order_status(&self, order_id: &str) -> Result<Order, CallError> {
        self.send(
            "order_status",
            &bodies::order_status(order_id),
            parse_order_status,
        )
        .await
    }

    /// `order_list`: every order of the account, newest first (GAPS).
    pub async fn order_list(&self) -> Result<Vec<Order>, CallError> {
        self.send("order_list", &bodies::order_list(), parse_orders)
            .await
    }

    /// `order_cancel` of the whole order, or of one item. "The order items will not be
    /// renewed and will be cancelled after end period"; an unknown order is `Rejected`
    /// with status 404, and a completed order stays as it is (GAPS).
    pub async fn order_cancel(
        &self,
        order_id: &str,
        order_item_id: Option<&str>,
    ) -> Result<(), CallError> {
        self.send(
            "order_cancel",
            &bodies::order_cancel(order_id, order_item_id),
            parse_cancelled,
        )
        .await
    }

    /// `server_list` of one order item (`None`: every server of the account).
    pub async fn server_list(&self, order_item_id: Option<&str>) -> Result<Vec<Server>, CallError> {
        self.send(
            "server_list",
            &bodies::server_list(order_item_id),
            parse_servers,
        )
        .await
    }

    /// The one place an HTTP request leaves this client, through [`http::send`]: the
    /// 2xx answer as `read` reads it. Every error has the account's token or password
    /// masked; nothing logs bodies or credentials.
    async fn send<T>(
        &self,
        action: &'static str,
        body: &Value,
        read: fn(&str) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let request = self
            .http
            .post(self.endpoint.clone())
            .timeout(self.timeout)
            .json(body);
        let request = match &self.auth {
            Auth::Token(token) => {
                let mut value = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                    CallError::NotSent {
                        provider: PROVIDER,
                        message: "the account's token cannot be sent in an HTTP header".into(),
                    }
                })?;
                value.set_sensitive(true);
                request.header("X-Account-Token", value)
            }
            Auth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        };

        let log = CallLog {
            action: Some(action),
            ..CallLog::default()
        };
        let sent = match &self.auth {
            Auth::Token(token) => KnownSecrets::new().with(token),
            Auth::Basic { password, .. } => KnownSecrets::new().with(password),
        };
        let body = http::send(&PEER, &self.gate, request, log, &sent).await?;
        read(&body).map_err(|e| e.scrubbed(&sent))
    }
}
