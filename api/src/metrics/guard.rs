//! The spend guardrails' figures at scrape time: per capped account, its open
//! provisions (read from Redis) and its cap (from the config).

use ::metrics::{describe_gauge, gauge};
use provisioner_shared::Config;
use provisioner_shared::store::{Store, StoreError};

/// One capped account's figures.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AccountGuard {
    pub(super) account: String,
    pub(super) open: u64,
    pub(super) cap: u32,
}

/// Every account with `max_open_orders`, in config order (one SCARD each).
pub(super) async fn read(store: &Store, config: &Config) -> Result<Vec<AccountGuard>, StoreError> {
    let mut out = Vec::new();
    for a in &config.accounts {
        if let Some(cap) = a.max_open_orders {
            out.push(AccountGuard {
                account: a.name.clone(),
                open: store.guard_open(&a.name).await?,
                cap,
            });
        }
    }
    Ok(out)
}

pub(super) fn record(guards: &[AccountGuard]) {
    describe_gauge!(
        "provisioner_account_open_orders",
        "Open provisions of an account with accounts[].max_open_orders: enqueued and not yet ended."
    );
    describe_gauge!(
        "provisioner_account_open_orders_cap",
        "The account's accounts[].max_open_orders: an enqueue past it is refused (422 cap_reached)."
    );
    for g in guards {
        gauge!("provisioner_account_open_orders", "account" => g.account.clone())
            .set(g.open as f64);
        gauge!("provisioner_account_open_orders_cap", "account" => g.account.clone())
            .set(f64::from(g.cap));
    }
}
