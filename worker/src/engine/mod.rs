//! The engine: advances one job by one step, like a kube-rs reconciler.
//!
//! `Engine::drive` ([`drive`](drive.rs)) takes a job a worker has just leased and
//! runs its current step; while steps end in `Next` it keeps the lease and runs the
//! next one at once (no new claim, no reload). One step's path, file by file:
//!
//! 1. `attempt.rs`: signals first, then the current step, resolved by its provider
//!    from the plan's name, under the step timeout (a panic or a timeout becomes an
//!    outcome too); a cancel goes to `cancel.rs`, a money step to `money.rs`
//!    (intent before the call, reconcile before any retry).
//! 2. [`transition`] (pure, unit-tested): the step's [`Outcome`](crate::step::Outcome)
//!    becomes the new run state and a [`Next`](transition::Next).
//! 3. `drive.rs`: `Next` becomes the commit's `Schedule` and, once committed, what the
//!    drive does: run the next step, or end with a [`DriveEnd`] (with the due time
//!    the claim loop's hint needs).
//!
//! A commit that ends a job (or parks it in `needs_attention`) creates the job's
//! outbound callback in the same script when the job has a `callback_url` (the
//! outbox: `crate::callbacks` delivers it); `holds.rs` takes a new server's lock and
//! lets a finished job's locks expire; `trail.rs` saves the provider calls each
//! attempt made (`crate::audit`) after its commit.

mod attempt;
mod cancel;
mod drive;
mod guard;
mod holds;
mod lease;
mod money;
mod settings;
mod trail;
pub mod transition;

pub use lease::{Lease, LeaseError};
pub use settings::Settings;

use crate::metrics::WorkerMetrics;
use crate::providers::Providers;
use crate::step::AnyProvider;
use provisioner_shared::config::AuditConfig;
use provisioner_shared::job::JobState;
use provisioner_shared::secret::{CallbackTokens, Sealer};
use provisioner_shared::store::Store;
use provisioner_shared::time::Millis;
use std::sync::Arc;

/// How a drive ended, for the runtime (the claim loop's hints), metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveEnd {
    /// Released to the schedule (waiting, retrying, or handed on at shutdown), due
    /// again at `due` (Redis time).
    Released { due: Millis },
    /// Ended; `callback` is when its callback record is due, when the commit made one.
    Finished {
        state: JobState,
        callback: Option<Millis>,
    },
    /// Parked in `needs_attention`; `callback` as for `Finished`.
    Parked { callback: Option<Millis> },
    /// Another worker holds it now, or Redis could not be reached: the lease recovers it.
    Abandoned,
}

impl DriveEnd {
    /// When what this drive committed is next due in the job's shard (the job, or
    /// its callback record): the claim loop sleeps no longer than that.
    pub fn due(&self) -> Option<Millis> {
        match *self {
            DriveEnd::Released { due } => Some(due),
            DriveEnd::Finished { callback, .. } | DriveEnd::Parked { callback } => callback,
            DriveEnd::Abandoned => None,
        }
    }
}

pub struct Engine {
    store: Store,
    providers: Providers,
    sealer: Sealer,
    settings: Settings,
    /// `api.public_url` and the token key, when providers may call us back (and
    /// fetch a job's cloud-init document).
    provider_callbacks: Option<(String, CallbackTokens)>,
    /// Step outcomes counted for `/metrics` (flushed to Redis by the worker, not here).
    metrics: Arc<WorkerMetrics>,
    /// How much of each job's provider calls its trail keeps (`[audit]`).
    audit: AuditConfig,
}

impl Engine {
    pub fn new(store: Store, providers: Providers, sealer: Sealer, settings: Settings) -> Self {
        Engine {
            store,
            providers,
            sealer,
            settings,
            provider_callbacks: None,
            metrics: Arc::default(),
            audit: AuditConfig::default(),
        }
    }

    /// Keeps each job's provider calls as `audit` says (`[audit]`; else its defaults).
    pub fn with_audit(mut self, audit: AuditConfig) -> Self {
        self.audit = audit;
        self
    }

    /// Counts step outcomes into `metrics` (shared with the callback deliverer).
    pub fn with_metrics(mut self, metrics: Arc<WorkerMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<WorkerMetrics> {
        &self.metrics
    }

    /// Gives providers a callback URL per job (`{public_url}/v1/callbacks/{id}/{token}`)
    /// that cuts their waits short (HOSTKEY's `post_install_callback`).
    pub fn with_provider_callbacks(mut self, public_url: &str, tokens: CallbackTokens) -> Self {
        self.provider_callbacks = Some((public_url.to_owned(), tokens));
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The provider of a job's account; a job whose account this worker's config
    /// does not name cannot be stepped here.
    fn provider_of(&self, account: &str) -> Result<&dyn AnyProvider, String> {
        self.providers
            .get(account)
            .ok_or_else(|| format!("account `{account}` is not in this worker's config"))
    }
}

/// A stored step name its provider does not know (a job written by another version).
fn unknown_step(name: &str) -> String {
    format!("step `{name}` is unknown to this worker version")
}
