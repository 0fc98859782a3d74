//! The end-to-end harness: real Redis, the real API over real HTTP.
//!
//! - [`redis`]: [`TestRedis`], an isolated Redis (namespace) per test: `REDIS_URL`,
//!   else a `redis-server` of its own (the sandbox's `RedisServer`), else a container.
//! - [`config`]: [`test_config`], a valid `Config` with fast settings, and [`account`]
//!   to add upstream accounts.
//! - [`app`]: [`spawn_app`] → [`TestApp`], the whole stack a test asks for in one
//!   builder: Redis, the simulators it names with their accounts, config tweaks,
//!   the api and optionally a worker.
//! - [`api`]: [`spawn_api`] → [`TestApi`], the API on a random port with an
//!   authenticated client and helpers (`post_job`, `get_job`, `wait_for_state`).
//! - [`store`]: direct store access for what no API call arranges ([`force_state`]).
//!
//! - [`worker`]: [`spawn_worker`] → [`TestWorker`], the real worker in-process, with
//!   a graceful `shutdown` and an abrupt `abort` (a killed process).
//! - [`providers`]: the sandbox's simulators, started for a test, and their accounts.
//! - [`hooks`]: signed billing webhook deliveries, and a receiver of job callbacks.
//! - [`logs`]: [`CapturedLogs`], the log lines of the processes a test starts.
//! - [`browser`]: [`browser::Browser`], headless Chromium over WebDriver (the
//!   dashboard's test), skipped where no browser is installed unless `REQUIRE_BROWSER=1`.
//! - [`cluster`]: [`TestCluster`], a private 3-master Redis Cluster and a config on it.
//! - [`bench`]: `provisioner-bench` (issue 5), whose binary is `src/bin/`.
//! - [`chaos`]: the chaos target (issue 9): real `redis-server`, `provisioner-api` and
//!   `provisioner-worker` processes, killed, frozen and faulted; ledgers and call
//!   counters as evidence; canary secrets looked for everywhere.
//!
//! Tests read as a user's story: start Redis, the simulators, the API and a worker;
//! post a job; wait for its state; look at the simulator's ledger.
//!
//! The tests themselves are two binaries: `tests/e2e.rs`, with a module per area in
//! `tests/e2e/`, and `tests/chaos.rs`, with a module per scenario in `tests/chaos/`.

pub mod api;
pub mod app;
pub mod bench;
pub mod browser;
pub mod chaos;
pub mod cluster;
pub mod config;
pub mod hooks;
pub mod logs;
pub mod providers;
pub mod redis;
pub mod store;
pub mod worker;

pub use api::{Reply, TestApi, spawn_api};
pub use app::{AppBuilder, TestApp, spawn_app};
pub use cluster::TestCluster;
pub use config::{
    API_TOKEN, CALLBACK_SECRET, CREDENTIALS_TOKEN, WEBHOOK_SECRET, account, test_config,
};
pub use logs::CapturedLogs;
pub use redis::TestRedis;
pub use store::{connect_store, force_state};
pub use worker::{TestWorker, spawn_worker, spawn_worker_with};

use std::time::Duration;

/// Polls `check` every 25 ms until it yields `Some`, an error, or `timeout` passes
/// (then fails naming `what`). The one way tests wait: no fixed sleeps.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Logs to the test's captured output; `RUST_LOG` picks the level (default: warn).
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
