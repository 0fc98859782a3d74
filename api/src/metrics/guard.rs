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
    pub(super) cap: Option<u32>,
    /// Cents ordered today (UTC) and the cap, with `max_amount_per_day`.
    pub(super) spent: Option<(u64, u64)>,
}

/// Every account with `max_open_orders`, in config order (one SCARD each).
pub(super) async fn read(store: &Store, config: &Config) -> Result<Vec<AccountGuard>, StoreError> {
    let mut out = Vec::new();
    for a in &config.accounts {
        let daily = config.daily_amount_cap(&a.name);
        if a.max_open_orders.is_none() && daily.is_none() {
            continue;
        }
        let spent = match daily {
            Some(d) => Some((store.guard_spent(&a.name, store.clock()).await?, d.cents)),
            None => None,
        };
        out.push(AccountGuard {
            account: a.name.clone(),
            open: store.guard_open(&a.name).await?,
            cap: a.max_open_orders,
            spent,
        });
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
    describe_gauge!(
        "provisioner_account_spent_today",
        "What an account with accounts[].max_amount_per_day has ordered today (UTC), in the provider's currency."
    );
    describe_gauge!(
        "provisioner_account_spent_today_cap",
        "The account's accounts[].max_amount_per_day."
    );
    for g in guards {
        gauge!("provisioner_account_open_orders", "account" => g.account.clone())
            .set(g.open as f64);
        if let Some(cap) = g.cap {
            gauge!("provisioner_account_open_orders_cap", "account" => g.account.clone())
                .set(f64::from(cap));
        }
        if let Some((spent, cap)) = g.spent {
            gauge!("provisioner_account_spent_today", "account" => g.account.clone())
                .set(spent as f64 / 100.0);
            gauge!("provisioner_account_spent_today_cap", "account" => g.account.clone())
                .set(cap as f64 / 100.0);
        }
    }
}
