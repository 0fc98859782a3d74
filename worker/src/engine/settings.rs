//! The engine's knobs, read once from the config.

use provisioner_shared::config::{
    Config, DailyAmountCap, DeadlinesConfig, OpenOrdersCap, PollingConfig, RetryConfig,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// The engine's knobs, from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lease: Duration,
    pub step_timeout: Duration,
    pub max_chain: usize,
    pub polling: PollingConfig,
    pub retry: RetryConfig,
    pub deadlines: DeadlinesConfig,
    pub retention: Duration,
    /// A money call's "nothing there" counts only once its intent is this old.
    pub settle: Duration,
    /// How long an intent commit waits for its replicas (`redis.wait_timeout`).
    pub wait_timeout: Duration,
    /// How long a finished job's `Idempotency-Key` is still remembered.
    pub idempotency_ttl: Duration,
    /// `accounts[].max_open_orders` by account name (`guard.rs`).
    pub open_orders_caps: BTreeMap<String, OpenOrdersCap>,
    /// `accounts[].max_amount_per_day` by account name (`guard.rs`).
    pub daily_amount_caps: BTreeMap<String, DailyAmountCap>,
}

impl Settings {
    /// What must be left of a lease when a step starts: the step timeout and a margin
    /// for the commit after it (at most 2 s, and at most half of what the lease has
    /// beyond the step timeout, so a fresh lease always has room).
    pub fn step_reserve(&self) -> Duration {
        let spare = self.lease.saturating_sub(self.step_timeout) / 2;
        self.step_timeout + spare.min(Duration::from_secs(2))
    }

    pub fn from_config(c: &Config) -> Settings {
        Settings {
            lease: c.worker.lease,
            step_timeout: c.worker.step_timeout,
            max_chain: c.worker.max_chain,
            polling: c.polling.clone(),
            retry: c.retry.clone(),
            deadlines: c.deadlines.clone(),
            retention: c.retention.finished,
            settle: c.worker.settle,
            wait_timeout: c.redis.wait_timeout,
            idempotency_ttl: c.api.idempotency_ttl,
            open_orders_caps: c
                .accounts
                .iter()
                .filter_map(|a| Some((a.name.clone(), c.open_orders_cap(&a.name)?)))
                .collect(),
            daily_amount_caps: c
                .accounts
                .iter()
                .filter_map(|a| Some((a.name.clone(), c.daily_amount_cap(&a.name)?)))
                .collect(),
        }
    }
}
