//! Provisioner's shared crate: what the api and the worker agree on.
//!
//! - [`config`]: the typed configuration, loaded from TOML and env, validated once.
//! - [`request`]: job requests parsed at the API boundary (`JobRequest::parse`).
//! - [`net_guard`]: which hosts and addresses an outbound URL may reach (SSRF rules).
//! - [`plan`]: which named steps a job runs, per provider and kind.
//! - [`job`]: the job record in Redis and the job JSON the API shows.
//! - [`calls`]: one provider call of a job's audit trail.
//! - [`store`]: keys, Lua scripts and commands on Redis: enqueue, claim, commit, signal.
//! - [`secret`]: encryption of secrets at rest, secret values in the config, and the
//!   per-job tokens of provider callback and cloud-init URLs.
//! - [`password`]: root passwords generated to each provider's policy.
//! - [`credentials`]: how a job's root password reaches its server, per provider.
//! - [`dry_run`]: a dry run's request and answer, as the api and a worker pass them.
//! - [`error_chain`]: an error and its causes on one line (api, worker, callbacks).
//! - [`webhook`]: Standard Webhooks signatures (billing webhooks in, job callbacks out).
//! - [`bootstrap`]: what every binary does first: common arguments (clap), config
//!   load with exit 2, tracing (text or JSON), completions, the shutdown signal.
//! - [`failpoint`]: named crash and stall points, armed at run time for the chaos tests.
//! - `fuzzing` (hidden): the entry points of the fuzz targets in `fuzz/`.
//!
//! The api and the worker never call each other; they meet only in Redis, through
//! [`store`].

pub mod bootstrap;
pub mod calls;
pub mod config;
pub mod credentials;
pub mod drift;
pub mod dry_run;
pub mod error_chain;
pub mod failpoint;
#[doc(hidden)]
pub mod fuzzing;
pub mod job;
pub mod net_guard;
pub mod password;
pub mod plan;
pub mod provider;
pub mod request;
pub mod secret;
pub mod store;
pub mod time;
pub mod webhook;

pub use config::Config;
pub use error_chain::error_chain;
pub use job::{Job, JobState, JobView};
pub use provider::ProviderKind;
pub use request::{JobKind, JobRequest};
pub use store::Store;
pub use time::Millis;
