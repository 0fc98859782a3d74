//! The one way a provider client's request goes out and its answer comes back.
//!
//! Each client builds its own request (URL, authentication, form or JSON body) and
//! reads a 2xx body with its own parsers; in between, every provider call takes the
//! same path: the account's [`Gate`] admits it, reqwest sends it, a 429 pauses the
//! whole account, and a failure becomes a [`CallError`]: from the transport
//! ([`CallError::from_transport`]) or from the provider's own error body
//! ([`Peer::http_error`]), with the secrets the request carried masked in it
//! ([`KnownSecrets`]) before it is logged or returned. Log lines carry fields, never
//! bodies or parameters.

use std::borrow::Cow;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::Gate;
use super::error::retry_after;
use super::meter::{self, CallOutcome};
use super::redact::{MASK, is_secret_key, redact};
use crate::audit;
use crate::step::{CallError, KnownSecrets};

/// The parts of a call that are the provider's own: its name in errors and logs, and
/// how it reads a non-2xx answer (its error shape, else [`CallError::from_status`]).
#[derive(Clone, Copy)]
pub struct Peer {
    pub provider: &'static str,
    pub http_error: fn(status: u16, retry_after: Option<Duration>, body: &str) -> CallError,
}

/// What the log lines of one call say about it. Each client fills the fields its API
/// has; an absent field is not logged.
#[derive(Clone, Copy, Default)]
pub struct CallLog<'a> {
    pub method: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub route: Option<&'a str>,
    pub slug: Option<&'a str>,
    pub action: Option<&'a str>,
    pub server_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
}

impl CallLog<'_> {
    /// The `action` label of the calls counter: the API's own action name (HOSTKEY's
    /// `resource/action`), else the method and route template; never ids.
    fn action_label(&self) -> String {
        match (self.resource, self.action, self.route) {
            (Some(resource), Some(action), _) => format!("{resource}/{action}"),
            (None, Some(action), _) => action.to_owned(),
            (_, None, Some(route)) => match self.method {
                Some(method) => format!("{method} {route}"),
                None => route.to_owned(),
            },
            _ => "other".to_owned(),
        }
    }
}

/// One tracing event with the call's fields (`provider` first, as in every event of
/// a provider client).
macro_rules! call_event {
    ($level:ident, $peer:expr, $log:expr, $($rest:tt)+) => {
        tracing::$level!(
            provider = $peer.provider,
            method = $log.method,
            resource = $log.resource,
            route = $log.route,
            slug = $log.slug,
            action = $log.action,
            server_id = $log.server_id,
            order_id = $log.order_id,
            $($rest)+
        )
    };
}

/// Waits for the account's turn, then [`exchange`]s: the body of a 2xx answer.
pub async fn send(
    peer: &Peer,
    gate: &Gate,
    request: reqwest::RequestBuilder,
    log: CallLog<'_>,
    carried: &KnownSecrets,
) -> Result<String, CallError> {
    gate.admit().await?;
    exchange(peer, gate, request, log, carried).await
}

/// Sends a request the account's gate has already admitted and reads the answer:
/// the body of a 2xx answer, else the error it amounts to, with the secrets the
/// request carried (`carried`) masked. A 429 pauses every call of the account
/// (`gate.slow_down`). Every call that was sent is handed to the job's audit trail
/// (`crate::audit`), its bodies redacted as quotes are ([`redact`]) and `carried`
/// masked.
pub async fn exchange(
    peer: &Peer,
    gate: &Gate,
    request: reqwest::RequestBuilder,
    log: CallLog<'_>,
    carried: &KnownSecrets,
) -> Result<String, CallError> {
    let (client, built) = request.build_split();
    let request = match built {
        Ok(r) => r,
        Err(e) => {
            let err = CallError::from_transport(peer.provider, &e).scrubbed(carried);
            call_event!(warn, peer, log, error = %err, "request not built");
            return Err(err);
        }
    };
    let trail = Trail::of(peer, &request, log, carried);
    let started = Instant::now();
    let sent = client.execute(request).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            meter::count(
                peer.provider,
                log.action_label(),
                CallOutcome::of_transport(&e),
            );
            let err = CallError::from_transport(peer.provider, &e).scrubbed(carried);
            call_event!(warn, peer, log, elapsed_ms, error = %err, "request failed");
            trail.record(started, None, None, Some(err.to_string()), carried);
            return Err(err);
        }
    };
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    if status == 429 {
        gate.slow_down(wait).await;
    }
    let body = response
        .text()
        .await
        .map_err(|e| CallError::from_transport(peer.provider, &e).scrubbed(carried));
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let outcome = match &body {
        Ok(_) => CallOutcome::of_status(status),
        Err(_) => CallOutcome::CutOff,
    };
    meter::count(peer.provider, log.action_label(), outcome);
    match body {
        Ok(body) if (200..300).contains(&status) => {
            call_event!(debug, peer, log, status, elapsed_ms, "answered");
            trail.record(started, Some(status), Some(&body), None, carried);
            Ok(body)
        }
        Ok(body) => {
            let err = (peer.http_error)(status, wait, &body).scrubbed(carried);
            call_event!(warn, peer, log, status, elapsed_ms, error = %err, "HTTP error");
            trail.record(started, Some(status), Some(&body), None, carried);
            Err(err)
        }
        Err(err) => {
            call_event!(warn, peer, log, status, elapsed_ms, error = %err, "answer cut off");
            trail.record(started, Some(status), None, Some(err.to_string()), carried);
            Err(err)
        }
    }
}

/// Bodies longer than this are cut before they are redacted for the audit trail
/// (twice the largest `[audit] body_bytes`, so the trail's own cut, made after the
/// job's secrets are masked, always falls before this one).
const RAW_BODY_CAP: usize = 128 * 1024;

/// What the audit trail keeps of a request, read before it is sent: method, path
/// (no query string), action, and the body (or the query) redacted.
struct Trail {
    provider: &'static str,
    method: String,
    path: String,
    action: Option<String>,
    request: Option<String>,
}

impl Trail {
    fn of(
        peer: &Peer,
        request: &reqwest::Request,
        log: CallLog<'_>,
        carried: &KnownSecrets,
    ) -> Self {
        let form = request
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body = request
            .body()
            .and_then(|b| b.as_bytes())
            .filter(|b| !b.is_empty())
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(RAW_BODY_CAP)]).into_owned());
        let text = match (body, request.url().query()) {
            (Some(body), _) if form => Some(masked_form(&body, carried)),
            (Some(body), _) => Some(carried.scrub(&redact(&body)).into_owned()),
            (None, Some(query)) if !query.is_empty() => Some(masked_form(query, carried)),
            (None, _) => None,
        };
        Trail {
            provider: peer.provider,
            method: request.method().as_str().to_owned(),
            path: carried.scrub(request.url().path()).into_owned(),
            action: log.action.or(log.route).map(str::to_owned),
            request: text,
        }
    }

    fn record(
        self,
        started: Instant,
        status: Option<u16>,
        body: Option<&str>,
        error: Option<String>,
        carried: &KnownSecrets,
    ) {
        let response = body.map(|b| {
            let mut end = b.len().min(RAW_BODY_CAP);
            while !b.is_char_boundary(end) {
                end -= 1;
            }
            carried.scrub(&redact(&b[..end])).into_owned()
        });
        audit::record(audit::Exchange {
            provider: self.provider,
            method: self.method,
            path: self.path,
            action: self.action,
            status,
            latency: started.elapsed(),
            request: self.request,
            response,
            error,
        });
    }
}

/// A form (or query) with the value of every secret-looking parameter masked, the
/// others redacted as text, and the call's secrets masked wherever they are.
fn masked_form(form: &str, carried: &KnownSecrets) -> String {
    url::form_urlencoded::parse(form.as_bytes())
        .map(|(key, value)| {
            let value = if is_secret_key(&key, true) {
                MASK.to_owned()
            } else {
                let value = redact(&carried.scrub(&value));
                url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
            };
            let key: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Where a request keeps its parameters, and the secrets among them (masked in its
/// errors and its audit trail).
pub type ParamsMut<'s, 'a> = (
    &'s mut Vec<(&'static str, Cow<'a, str>)>,
    &'s mut Vec<&'a SecretString>,
);

/// The one way a request of a form- or query-parameter API (HOSTKEY, IDCloudHost)
/// gathers its parameters: a secret one is remembered as a secret as it is added.
pub trait Params<'a>: Sized {
    fn parts(&mut self) -> ParamsMut<'_, 'a>;

    fn param(mut self, key: &'static str, value: impl Into<Cow<'a, str>>) -> Self {
        self.parts().0.push((key, value.into()));
        self
    }

    fn opt(self, key: &'static str, value: Option<impl Into<Cow<'a, str>>>) -> Self {
        match value {
            Some(v) => self.param(key, v),
            None => self,
        }
    }

    fn secret(mut self, key: &'static str, value: &'a SecretString) -> Self {
        self.parts().1.push(value);
        self.param(key, value.expose_secret())
    }

    fn opt_secret(self, key: &'static str, value: Option<&'a SecretString>) -> Self {
        match value {
            Some(v) => self.secret(key, v),
            None => self,
        }
    }
}
