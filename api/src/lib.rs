//! Provisioner's HTTP API: the door through which jobs come in and are watched.
//!
//! - [`app`] builds the router; [`serve`] runs it on a listener until a shutdown
//!   future completes; [`run`] binds `api.listen` and stops on SIGTERM or Ctrl-C.
//! - `jobs`: `/v1/jobs` — enqueue (idempotency keys, one operation per server), read,
//!   list, cancel, retry, resolve, and the job's event stream.
//! - `webhooks`: `POST /v1/webhooks/billing`, Standard Webhooks–signed billing events
//!   (verified on the raw body, de-duplicated by `webhook-id`).
//! - `provider_callbacks`: `/v1/callbacks/{id}/{token}`, a provider's "install done"
//!   that makes the job's wait end now.
//! - `cloud_init`: `/v1/cloud-init/{id}/{token}`, the document that sets a Klikk
//!   server's root password and SSH keys when it first boots.
//! - `health`: `/healthz` (the process) and `/readyz` (Redis answers).
//! - `metrics`: `/metrics` in Prometheus text format (this process's counters, the
//!   schedule read from Redis, the workers' flushed counters) and the layer that
//!   counts requests by route template.
//! - `openapi`: `/openapi.json`, the OpenAPI document of every route, generated from
//!   the code (utoipa).
//! - `ui`: `/ui`, the dashboard (one static page, strict CSP).
//! - `session`: `/ui/session`, the dashboard's sign-in: a signed HttpOnly cookie
//!   that the token check accepts in place of a bearer token, with a CSRF token.
//! - `auth`: the bearer-token check in front of every token-guarded `/v1` route.
//! - `error`: [`ApiError`], the one error shape every answer uses.
//! - `extract`: body and query extractors whose rejections use that shape.
//! - `request_log`: one tracing line per request, without headers or bodies.
//! - `layers`: what wraps every route: `x-request-id` (kept or made, echoed, carried
//!   into the jobs a request creates), the request span, `api.request_timeout`.
//! - `changes`: one Redis subscriber per process that wakes the event streams of
//!   the jobs that changed.
//! - [`cli`]: `provctl`, the command-line client (its binary only calls
//!   [`cli::main`]); [`probe`]: `provisioner-api healthcheck`.
//!
//! The API never talks to a worker: it writes and reads jobs through
//! `provisioner_shared::store`, and the workers pick them up from Redis.

mod auth;
mod changes;
pub mod cli;
mod cloud_init;
mod drift;
mod error;
mod extract;
mod health;
mod jobs;
mod layers;
mod metrics;
mod openapi;
pub mod probe;
mod provider_callbacks;
mod request_log;
mod session;
mod ui;
mod webhooks;

pub use error::ApiError;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::get;
use provisioner_shared::Config;
use provisioner_shared::secret::{CallbackTokens, Sealer};
use provisioner_shared::store::Store;
use provisioner_shared::webhook::WebhookKey;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// What every handler gets: the store, the config and the sealer for job secrets.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub sealer: Sealer,
    /// `api.webhook_secret`: what billing webhooks may be signed with (empty: the
    /// billing webhook route is off).
    pub webhook_keys: Arc<[WebhookKey]>,
    /// Checks the tokens of provider callback URLs.
    pub callback_tokens: CallbackTokens,
    /// Signs and checks the dashboard's session cookies.
    pub(crate) sessions: Arc<session::Sessions>,
    /// This process's counters for `/metrics`.
    pub(crate) metrics: Arc<metrics::ApiMetrics>,
    /// Flipped at shutdown so that open event streams end (a graceful shutdown
    /// waits for every open connection, and an event stream would never close).
    closing: Arc<watch::Sender<bool>>,
    /// Wakes the event streams of the jobs that changed.
    pub(crate) changes: Arc<changes::Changes>,
    /// One permit per open event stream (`api.max_event_streams`).
    pub(crate) event_streams: Arc<Semaphore>,
}

impl AppState {
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        let sealer = config.sealer();
        let webhook_keys = config.webhook_keys().into();
        let callback_tokens = config.callback_tokens();
        let event_streams = Arc::new(Semaphore::new(config.api.max_event_streams));
        let sessions = Arc::new(session::Sessions::new(&config));
        AppState {
            store,
            config,
            sealer,
            webhook_keys,
            callback_tokens,
            sessions,
            metrics: Arc::default(),
            closing: Arc::new(watch::Sender::new(false)),
            changes: Arc::default(),
            event_streams,
        }
    }

    /// Ends every open event stream; new ones end at once.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

/// The whole router. Token-guarded `/v1` routes sit behind `auth`; routes that
/// carry their own proof (billing webhooks, provider callbacks, cloud-init
/// documents) and the public ones
/// (metrics, OpenAPI, dashboard) are merged beside them, outside that layer.
pub fn app(state: AppState) -> Router {
    let guarded = jobs::routes()
        .route("/v1/drift", get(drift::report))
        .route_layer(from_fn_with_state(state.clone(), auth::require_token));
    let public = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/openapi.json", get(openapi::document))
        .route("/ui", get(ui::page));
    let routes = Router::new()
        .merge(public)
        .merge(guarded)
        .merge(webhooks::routes())
        .merge(provider_callbacks::routes())
        .merge(cloud_init::routes())
        .merge(session::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    layers::around(routes, &state).with_state(state)
}

async fn not_found(uri: Uri) -> Response {
    error::render(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no route {}", uri.path()),
        None,
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error::render(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("{method} is not allowed on {}", uri.path()),
        None,
    )
}

/// Connects to Redis and serves on `listener` until `shutdown` completes, then
/// finishes the requests in flight.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    let config = Arc::new(config);
    let store = Store::connect(&config.redis, config.worker.shards).await?;
    if config.api.tokens.is_empty() {
        tracing::warn!("api.tokens is empty: every /v1 request will be refused");
    }
    let state = AppState::new(store, config);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "api listening");
    }
    let closer = state.clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            closer.close_streams();
        })
        .await
        .map_err(ApiError::Serve)
}

/// Binds `api.listen` and serves until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<(), ApiError> {
    let addr = config.api.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ApiError::Bind { addr, source })?;
    serve(
        config,
        listener,
        provisioner_shared::bootstrap::shutdown_signal(),
    )
    .await
}
