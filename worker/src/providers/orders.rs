//! What this deployment knows of one account's upstream orders, shared by all workers
//! through Redis: which job each order belongs to (providers without a client
//! reference reconcile by listing orders, and must never adopt another job's), and the
//! status last seen (the api refuses a deprovision the provider cannot carry out).

use provisioner_shared::store::{Store, StoreError};
use std::time::Duration;

/// How long a seen status is remembered: long past any job that could ask.
pub const STATUS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// One account's order claims and statuses.
#[derive(Clone)]
pub struct OrderRegistry {
    store: Store,
    account: String,
}

impl OrderRegistry {
    pub fn new(store: Store, account: &str) -> Self {
        OrderRegistry {
            store,
            account: account.to_owned(),
        }
    }

    /// Claims `order_id` for `job_id`: true when it is (now) this job's order.
    pub async fn claim(&self, order_id: &str, job_id: &str) -> Result<bool, StoreError> {
        self.store
            .claim_order(&self.account, order_id, job_id)
            .await
    }

    /// The job that claimed each of `order_ids`, if any.
    pub async fn claimants(&self, order_ids: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        self.store.order_claims(&self.account, order_ids).await
    }

    /// Remembers an order's status. Best effort: a lost write only means the api lets
    /// a deprovision through and the provider refuses it in its own words.
    pub async fn record_status(&self, order_id: &str, status: &str) {
        if let Err(e) = self
            .store
            .record_order_status(&self.account, order_id, status, STATUS_TTL)
            .await
        {
            tracing::warn!(account = %self.account, order_id, error = %e, "cannot record the order's status");
        }
    }
}
