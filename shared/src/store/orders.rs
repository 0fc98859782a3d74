//! What workers know of upstream orders beyond one job: which job an order belongs to
//! (for providers that take no client reference, such as Inferno, whose orders are
//! reconciled by listing them), and the last status a worker saw (so that the api can
//! refuse a deprovision the provider cannot carry out, without calling the provider).
//!
//! Both are single, untagged keys: `{ns}:order-claims:<account>` is a hash of order id
//! → job id; `{ns}:order-status:<account>:<order id>` holds a status word with a TTL.

use super::{Store, StoreError};
use redis::AsyncCommands;
use std::time::Duration;

impl Store {
    /// Claims `order_id` of `account` for `job_id`. True when the order is this job's
    /// (newly claimed, or claimed by it before); false when another job holds it.
    pub async fn claim_order(
        &self,
        account: &str,
        order_id: &str,
        job_id: &str,
    ) -> Result<bool, StoreError> {
        let key = self.keys.named("order-claims", account);
        let mut c = self.conn.clone();
        // A claim is never moved once set, so HSETNX then HGET cannot race.
        let _: bool = c.hset_nx(&key, order_id, job_id).await?;
        let holder: Option<String> = c.hget(&key, order_id).await?;
        Ok(holder.as_deref() == Some(job_id))
    }

    /// Which job claimed each of `order_ids` (in the same order), if any.
    pub async fn order_claims(
        &self,
        account: &str,
        order_ids: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.keys.named("order-claims", account);
        let mut c = self.conn.clone();
        let holders: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key)
            .arg(order_ids)
            .query_async(&mut c)
            .await?;
        Ok(holders)
    }

    /// Records the status a worker last saw for an order, for `ttl`.
    pub async fn record_order_status(
        &self,
        account: &str,
        order_id: &str,
        status: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.order_status_key(account, order_id);
        let mut c = self.conn.clone();
        c.pset_ex::<_, _, ()>(key, status, ttl.as_millis().max(1) as u64)
            .await?;
        Ok(())
    }

    /// The status a worker last recorded for an order, if it is still remembered.
    pub async fn order_status(
        &self,
        account: &str,
        order_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.get(self.order_status_key(account, order_id)).await?)
    }

    fn order_status_key(&self, account: &str, order_id: &str) -> String {
        self.keys
            .named("order-status", &format!("{account}:{order_id}"))
    }
}
